"""What a process of the assistant loads: TensorFlow comes with Rasa, JAX does not.

TensorFlow tries to import JAX (for converting models to TFLite) and goes on without it;
``bot`` stops that import, which saves about 105 MB in every process.
"""

from __future__ import annotations

import subprocess
import sys

from bot.settings import Settings


def test_tensorflow_is_imported_without_jax():
    check = ("import sys, bot, tensorflow, rasa.core.agent; "
             "print(sys.modules.get('jax', 'absent'), 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                         cwd=Settings.from_env().root, timeout=300).stdout.split()
    assert out == ["None", "True"]
