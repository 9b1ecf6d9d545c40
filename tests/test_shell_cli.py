"""``python -m bot shell``: a terminal conversation, buttons by number."""

from __future__ import annotations

import subprocess
import sys


def test_shell_conversation_with_a_numbered_button(settings, numbers):
    script = "\n".join([
        "my boss took my passport and i have not been paid for months",
        "1",  # the first button of the safety question: "Yes, I am safe"
        "/language nl",
        "/quit",
    ]) + "\n"
    result = subprocess.run([sys.executable, "-m", "bot", "shell"], input=script, cwd=settings.root,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Are you safe right now?" in out
    assert "[1] Yes, I am safe" in out
    assert "What would you like to do?" in out  # the button was pressed
    assert "Nederlands" in out  # the language switch answered in Dutch
