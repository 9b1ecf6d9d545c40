"""Rasa pipeline component: the language of a message and the target of a switch.

It adds ``language`` to the parse data (``{"language", "confidence", "sure"}``)
and, only when it is sure, a ``language`` entity that fills the conversation's
sticky ``language`` slot. Short or neutral messages add no entity, so "ok" or a
number never changes the language. A message in none of the four languages
becomes the ``other_language`` intent. The channel's hint (e.g. Telegram's
``language_code``) arrives as ``metadata.language_hint`` and only breaks ties.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import LANGUAGES
from bot.language.detection import LanguageGuesser, normalise_hint, requested_language
from bot.nlu.intent_override import set_intent

LANGUAGE_KEY = "language"
SET_LANGUAGE = "set_language"
OTHER_LANGUAGE = "other_language"
UNSURE_CLASSIFIER = 0.6
RUNNER_UP_CONFIDENCE = 0.2


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class LanguageDetector(GraphComponent, IntentClassifier):
    """Detects the message language (lingua, offline) and language switch requests."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, guesser: LanguageGuesser) -> None:
        self._guesser = guesser

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageDetector":
        return cls(LanguageGuesser())

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._process_one(message)
        return messages

    def _process_one(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        metadata = message.get("metadata") or {}
        hint = normalise_hint(metadata.get("language_hint")) if isinstance(metadata, dict) else None
        guess = self._guesser.guess(text, hint)
        message.set(LANGUAGE_KEY, guess.as_dict(), add_to_output=True)

        intent = (message.get(INTENT) or {}).get("name")
        confidence = (message.get(INTENT) or {}).get("confidence") or 0.0
        if guess.language == "other" and guess.sure and (
                guess.by_script or intent == OTHER_LANGUAGE or confidence < UNSURE_CLASSIFIER):
            # Statistics over short Latin-script text are weak: a foreign language is
            # only decided when the script, or the classifier too, points that way.
            set_intent(message, OTHER_LANGUAGE, guess.confidence)
            return
        if guess.language == "other":
            guess = self._guesser.guess(text, hint, allow_other=False)
            message.set(LANGUAGE_KEY, guess.as_dict(), add_to_output=True)
        if intent == OTHER_LANGUAGE and guess.sure:
            # The classifier thought "other", but the text is in one of ours:
            # take its next choice, or admit that it was not understood.
            runner_up = next((r for r in message.get(INTENT_RANKING_KEY) or []
                              if r.get("name") not in (OTHER_LANGUAGE, "nlu_fallback")), None)
            if runner_up and runner_up.get("confidence", 0.0) >= RUNNER_UP_CONFIDENCE:
                set_intent(message, runner_up["name"], runner_up["confidence"])
            else:
                set_intent(message, "nlu_fallback", guess.confidence)

        value: Optional[str] = None
        if intent == SET_LANGUAGE:
            value = requested_language(text, guess.language)
        elif guess.sure and guess.language in LANGUAGES:
            value = guess.language
        if value:
            entities = [e for e in (message.get(ENTITIES) or []) if e.get("entity") != LANGUAGE_KEY]
            entities.append({
                "entity": LANGUAGE_KEY,
                "value": value,
                "start": 0,
                "end": len(text),
                "confidence_entity": guess.confidence,
                "extractor": self.__class__.__name__,
            })
            message.set(ENTITIES, entities, add_to_output=True)

