"""The danger detector: its fast scorer is scikit-learn's model, and the safety net uses it."""

from __future__ import annotations

import json

import pytest
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language.detection import fold
from bot.nlu.danger_detector import NGRAM_KINDS, DangerScorer, _vectorizer
from bot.nlu.safety_net import SafetyNet

TEXTS = ["he is hitting me now", "they are at the door with a knife", "help they lock me in",
         "il me frappe maintenant", "ils sont devant la porte", "hij slaat me nu",
         "what is the weather tomorrow", "my boss pays my overtime", "thank you",
         "where is the station", "is this anonymous", "mijn baas betaalt goed"]
LABELS = [True] * 6 + [False] * 6


def test_fast_score_is_scikit_learns_probability():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    scorer = DangerScorer.fit(TEXTS, LABELS, c=30.0, max_iter=1000, random_state=1)
    union = make_union(*[_vectorizer(*kind) for kind in NGRAM_KINDS])
    clf = LogisticRegression(C=30.0, class_weight="balanced", max_iter=1000, random_state=1)
    clf.fit(union.fit_transform([fold(t) for t in TEXTS]), LABELS)
    for text in ["Hé, il me FRAPPE là", "the weather is nice", "", "🙂", "door door door knife"]:
        expected = clf.predict_proba(union.transform([fold(text)]))[0, 1]
        assert scorer.score(text) == pytest.approx(expected, abs=1e-9)


def test_saved_scorer_scores_the_same():
    scorer = DangerScorer.fit(TEXTS, LABELS, c=30.0, max_iter=1000, random_state=1)
    again = DangerScorer.from_json(json.loads(json.dumps(scorer.to_json())))
    for text in TEXTS:
        assert again.score(text) == scorer.score(text)
    assert scorer.score("they are at the door") > 0.5 > scorer.score("where is the weather")


def message(text: str, intent: str, danger: float) -> Message:
    found = Message(data={TEXT: text})
    found.set(INTENT, {"name": intent, "confidence": 0.9})
    found.set("intent_ranking", [{"name": intent, "confidence": 0.9}])
    found.set("danger", danger)
    return found


@pytest.mark.parametrize("text, intent, danger, expected", [
    ("they wait for me downstairs", "out_of_scope", 0.9, "emergency"),
    ("they wait for me downstairs", "disclose_exploitation", 0.36, "emergency"),
    ("they wait for me downstairs", "disclose_exploitation", 0.2, "disclose_exploitation"),
    # an answer to "are you safe right now?" stays an answer
    ("yes I am safe right now", "affirm", 0.95, "affirm"),
    # a benign pattern (a film) keeps the net out of it
    ("a documentary about human trafficking, is it realistic", "out_of_scope", 0.9, "out_of_scope"),
])
def test_safety_net_follows_the_danger_score(text, intent, danger, expected):
    net = SafetyNet({"danger_threshold": 0.35})
    [processed] = net.process([message(text, intent, danger)])
    assert processed.get(INTENT)["name"] == expected
    assert processed.get("safety_net")["danger_likely"] is (expected == "emergency")


@pytest.mark.parametrize("text", [
    "mijn collega is van de stelling gevallen en de baas wil geen ziekenwagen bellen",
    "je suis cachée dans l'armoire, je peux pas faire de bruit",
    "two men are holding my arm at the station, pls",
    "meine kleine Schwester wurde gerade von dem Mann mitgenommen, der uns hergebracht hat",
])
async def test_the_trained_model_sees_danger_worded_unlike_its_data(assistant, text):
    parsed = await assistant.parse(text)
    assert parsed["danger"] >= 0.35
    assert parsed["intent"]["name"] == "emergency"
