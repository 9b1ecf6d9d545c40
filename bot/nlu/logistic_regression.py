"""Rasa's logistic regression intent classifier, with its weights laid out for speed.

scikit-learn computes ``X @ coef_.T`` for every message; with the C-ordered ``coef_``
that Rasa loads, ``coef_.T`` is not contiguous and SciPy copies the whole weight matrix
(24 intents x 83,000 n-grams) on every prediction: about 1.1 ms of a 10 ms turn.
Storing ``coef_`` in Fortran order makes ``coef_.T`` contiguous: the same numbers, the
same predictions, 0.05 ms. And for a message with only sparse features (this pipeline),
its row is built from the featurizers' sentence rows alone: Rasa's way also copies and
glues the per-token (sequence) features it then throws away, and glues the row to an
empty dense block through SciPy's general ``hstack``/``vstack`` (together about 0.8 ms
of a turn).

Training first hands the memory freed by the components trained before it back to the
system: the solver holds about a dozen arrays the size of the weights at once, and the
process's peak is reached here.
"""

from __future__ import annotations

import ctypes
import gc
from typing import Any, List, Optional

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.logistic_regression_classifier import (
    LogisticRegressionClassifier as RasaLogisticRegressionClassifier,
)
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, vstack


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LogisticRegressionClassifier(RasaLogisticRegressionClassifier):
    """Rasa's classifier (same training, same persistence), faster at prediction."""

    @classmethod
    def load(cls, *args: Any, **kwargs: Any) -> "LogisticRegressionClassifier":
        component = super().load(*args, **kwargs)
        contiguous_weights(component.clf)
        return component

    def train(self, training_data: TrainingData) -> Resource:
        release_freed_memory()
        return super().train(training_data)

    def process(self, messages: List[Message]) -> List[Message]:
        """Rasa's prediction; a message with no known word or character n-gram at all
        (emoji only, another script, noise) gets confidence 0 instead of the classifier's
        prior guess, so that the fallback classifier marks it "not understood". Without
        this, crying emoji answered "are you safe right now?" with "yes"."""
        messages = super().process(messages)
        for message in messages:
            if knows_nothing(message):
                intent = message.get(INTENT) or {}
                message.set(INTENT, {**intent, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY,
                            [{**r, "confidence": 0.0} for r in message.get(INTENT_RANKING_KEY) or []],
                            add_to_output=True)
        return messages

    def _create_X(self, messages: List[Message]) -> csr_matrix:
        """Rasa's matrix (sentence-level features, float), built directly when there are
        no dense features; otherwise Rasa's own way."""
        rows = []
        for message in messages:
            row = sentence_row(message)
            if row is None:
                return super()._create_X(messages)
            rows.append(row)
        return rows[0] if len(rows) == 1 else csr_matrix(vstack(rows))


def sentence_row(message: Message) -> Optional[csr_matrix]:
    """The message's sparse sentence features of all featurizers side by side (in the
    order Rasa combines them), as one float row; None when there are dense features
    or no sparse ones."""
    parts = []
    for features in message.features:
        if features.attribute != TEXT or features.type != FEATURE_TYPE_SENTENCE:
            continue
        if not features.is_sparse():
            return None
        parts.append(features.features)
    if not parts:
        return None
    columns, values, width = [], [], 0
    for part in parts:
        part = part.tocoo()
        columns.append(part.col + width)
        values.append(part.data)
        width += part.shape[1]
    column = np.concatenate(columns)
    return csr_matrix((np.concatenate(values).astype(np.float64), (np.zeros(len(column), dtype=np.int32), column)),
                      shape=(1, width))


def knows_nothing(message: Message) -> bool:
    """Whether the message has sparse sentence features and all of them are zero."""
    found = False
    for features in message.features:
        if features.attribute == TEXT and features.type == FEATURE_TYPE_SENTENCE:
            if not features.is_sparse() or features.features.nnz:
                return False
            found = True
    return found


def contiguous_weights(clf: Any) -> None:
    """Fortran-ordered ``coef_`` (a no-op before training)."""
    if getattr(clf, "coef_", None) is not None:
        clf.coef_ = np.asfortranarray(clf.coef_)


def release_freed_memory() -> None:
    """Collect garbage and ask glibc to return free heap pages to the system (about 110 MB
    after the danger detector's training); a no-op where there is no glibc."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
