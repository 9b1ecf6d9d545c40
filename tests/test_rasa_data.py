"""Rasa's own checks: the training data is valid, and the test stories pass end to end."""

from __future__ import annotations

import subprocess
import sys


def rasa(settings, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    # `python -m rasa` keeps the project on sys.path so the custom components load.
    return subprocess.run([sys.executable, "-m", "rasa", *args], cwd=settings.root,
                          capture_output=True, text=True, timeout=timeout)


def test_rasa_data_validate_is_clean(settings):
    result = rasa(settings, "data", "validate", "--fail-on-warnings",
                  "--data", "nlu", "stories", "--domain", "domain.yml", "--config", "config.yml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_test_stories_in_four_languages_pass(settings, tmp_path):
    from bot.dialogue.assistant import latest_model

    # Only the NLG of endpoints.yml: the stores there name deployment variables.
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("nlg:\n  type: bot.dialogue.nlg.CatalogNLG\n")
    result = rasa(settings, "test", "core", "--model", str(latest_model(settings)),
                  "--stories", "tests/stories", "--endpoints", str(endpoints),
                  "--fail-on-prediction-errors", "--out", str(tmp_path / "results"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert not failed.exists() or "story:" not in failed.read_text()
