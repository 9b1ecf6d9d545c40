"""``python -m bot train`` trains only when data, config or domain changed."""

from __future__ import annotations

import subprocess
import sys


def test_train_is_a_no_op_when_nothing_changed(settings):
    from bot.dialogue.assistant import latest_model

    before = sorted(p.name for p in settings.model_dir.iterdir())
    result = subprocess.run([sys.executable, "-m", "bot", "train"], cwd=settings.root,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in settings.model_dir.iterdir()) == before
    assert result.stdout.strip().splitlines()[-1] == str(latest_model(settings))
