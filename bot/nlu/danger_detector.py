"""Rasa pipeline component: how likely a message says someone is in danger right now.

The intent classifier spreads its attention over 24 intents; a message about danger
now that is worded unlike the training data often lands on "disclosure" or "out of
scope". This component is a second opinion on that one question: a binary logistic
regression (emergency vs everything else, classes balanced) over TF-IDF word 1-2 grams
and character 2-5 grams of the message in lower case without accents. It adds
``danger`` (a probability) to the parse data; :mod:`bot.nlu.safety_net` decides what to
do with it.

Training uses scikit-learn. Prediction does not build a sparse matrix: the model is
kept as one table per n-gram kind (n-gram -> IDF weight and coefficient), and a
message's score is computed from its n-gram counts exactly as scikit-learn would
(sublinear TF, IDF, L2 norm per kind, then the logistic function), in about a fifth of
the time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language.detection import fold

DANGER_KEY = "danger"
EMERGENCY = "emergency"
MODEL_FILE = "danger_detector.json"
# The n-gram kinds: (analyzer, smallest n, largest n, min_df).
NGRAM_KINDS: Tuple[Tuple[str, int, int, int], ...] = (("word", 1, 2, 1), ("char_wb", 2, 5, 2))

Table = Dict[str, Tuple[float, float]]  # n-gram -> (IDF, coefficient)


def _vectorizer(analyzer: str, low: int, high: int, min_df: int) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=analyzer, ngram_range=(low, high), min_df=min_df,
                           sublinear_tf=True)


class DangerScorer:
    """The trained model in prediction form: ``score(text)`` is P(danger now)."""

    def __init__(self, intercept: float, tables: Sequence[Table]) -> None:
        self.intercept = intercept
        self.tables = list(tables)
        self.analyzers: List[Callable[[str], List[str]]] = [
            _vectorizer(*kind).build_analyzer() for kind in NGRAM_KINDS]

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[bool], c: float, max_iter: int,
            random_state: int) -> "DangerScorer":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_union

        vectorizers = [_vectorizer(*kind) for kind in NGRAM_KINDS]
        union = make_union(*vectorizers)
        matrix = union.fit_transform([fold(t) for t in texts])
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter,
                                 random_state=random_state)
        clf.fit(matrix, list(labels))
        coef, offset, tables = clf.coef_[0], 0, []
        for vectorizer in vectorizers:
            # `idf_` is recomputed from a sparse matrix on every access: read it once (reading
            # it per n-gram took about 70 s of training for 122,711 n-grams).
            idf = vectorizer.idf_
            tables.append({gram: (float(idf[j]), float(coef[offset + j]))
                           for gram, j in vectorizer.vocabulary_.items()})
            offset += len(vectorizer.vocabulary_)
        return cls(float(clf.intercept_[0]), tables)

    def score(self, text: str) -> float:
        z = self.intercept
        folded = fold(text or "")
        for analyzer, table in zip(self.analyzers, self.tables):
            weighted, squares = 0.0, 0.0
            for gram, count in Counter(analyzer(folded)).items():
                entry = table.get(gram)
                if entry is None:
                    continue
                value = (1.0 + math.log(count)) * entry[0]
                squares += value * value
                weighted += value * entry[1]
            if squares:
                z += weighted / math.sqrt(squares)
        if z < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self) -> Dict[str, Any]:
        return {"intercept": self.intercept, "tables": self.tables}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "DangerScorer":
        tables = [{gram: (entry[0], entry[1]) for gram, entry in table.items()}
                  for table in data["tables"]]
        return cls(float(data["intercept"]), tables)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class DangerDetector(GraphComponent):
    """Adds ``danger`` (probability that someone is in immediate danger) to each message."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 30.0, "max_iter": 3000, "random_state": 2026}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 scorer: Optional[DangerScorer] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.scorer = scorer

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "DangerDetector":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = [e.get(INTENT) == EMERGENCY for e in examples]
        if not any(labels) or all(labels):
            return self._resource
        self.scorer = DangerScorer.fit([e.get(TEXT) for e in examples], labels, self.config["C"],
                                       self.config["max_iter"], self.config["random_state"])
        with self._model_storage.write_to(self._resource) as folder:
            (folder / MODEL_FILE).write_text(json.dumps(self.scorer.to_json()), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DangerDetector":
        try:
            with model_storage.read_from(resource) as folder:
                data = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, DangerScorer.from_json(data))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        if self.scorer is None:
            return messages
        for message in messages:
            message.set(DANGER_KEY, round(self.scorer.score(message.get(TEXT) or ""), 4),
                        add_to_output=True)
        return messages
