"""Held-out NLU sets (tests/nlu, never trained on): quality per language.

The test holds the model to FLOORS (no regression); ``python -m bot evaluate``
prints the figures against the project's GOALS.
"""

from __future__ import annotations

import pytest

from bot import LANGUAGES
from bot.cli.evaluate import FLOORS, evaluate


@pytest.fixture(scope="module")
async def scores(assistant, settings):
    return await evaluate(assistant, settings.root / "tests" / "nlu")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_heldout_goals(scores, language):
    score = scores[language]
    assert score.examples >= 200
    report = {name: round(getattr(score, name), 3) for name in FLOORS}
    assert score.failures(FLOORS) == [], report


def test_heldout_is_not_in_the_training_data(settings):
    from rasa.shared.nlu.training_data.loading import load_data

    trained = {m.get("text").strip().lower() for m in load_data(str(settings.root / "nlu")).intent_examples}
    for language in LANGUAGES:
        heldout = load_data(str(settings.root / "tests" / "nlu" / f"heldout_{language}.yml"))
        overlap = [m.get("text") for m in heldout.intent_examples if m.get("text").strip().lower() in trained]
        assert overlap == [], language
