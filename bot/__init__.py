"""Helpline assistant for people caught in human trafficking in Belgium.

The package is split by part: ``language`` (detection), ``nlu`` (Rasa pipeline
components), ``dialogue`` (NLG and the in-process assistant), ``i18n`` (gettext
catalogs), ``content`` (the one data file of phone numbers) and ``cli``.
"""

import os

# No telemetry, no chatty TensorFlow logs; set before Rasa or TensorFlow is imported.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LANGUAGES = ("nl", "fr", "en", "de")
DEFAULT_LANGUAGE = "en"
