"""Helpline assistant for people caught in human trafficking in Belgium.

The package is split by part: ``language`` (detection), ``nlu`` (Rasa pipeline
components), ``dialogue`` (NLG and the in-process assistant), ``i18n`` (gettext
catalogs), ``content`` (the one data file of phone numbers) and ``cli``.
"""

import os
import sys

# No telemetry, no chatty TensorFlow logs; set before Rasa or TensorFlow is imported.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# TensorFlow (which Rasa imports) tries to import JAX, for converting models to TFLite, and
# goes on without it. Nothing here converts models; JAX would cost every process (assistant,
# training, classify) about 105 MB and a second of start-up. `import jax` fails from here on.
sys.modules.setdefault("jax", None)  # type: ignore[arg-type]

LANGUAGES = ("nl", "fr", "en", "de")
DEFAULT_LANGUAGE = "en"
