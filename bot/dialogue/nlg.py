"""Rasa NLG that speaks the person's language.

Rasa picks the response (``utter_*``) as usual; this generator translates its
text and button titles with the gettext catalogs of the conversation's
language and fills ``{placeholders}`` from ``bot/content/contacts.yml``.
Configured in ``endpoints.yml`` as ``nlg: type: bot.dialogue.nlg.CatalogNLG``.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Dict, Optional, Text


from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import DEFAULT_LANGUAGE, LANGUAGES
from bot.content.contacts import placeholders
from bot.i18n.catalogs import Translations, system_texts
from bot.language.detection import normalise_hint
from bot.settings import Settings

logger = logging.getLogger(__name__)

# Said in all four languages at once, for a person whose language we do not speak.
ALL_LANGUAGES_RESPONSES = frozenset({"utter_other_language"})


def conversation_language(tracker: DialogueStateTracker) -> str:
    """The sticky slot; else this message's best guess; else the channel hint; else English."""
    slot = tracker.get_slot("language")
    if slot in LANGUAGES:
        return slot
    parse = tracker.latest_message.parse_data if tracker.latest_message else {}
    guess = (parse or {}).get("language") or {}
    if guess.get("language") in LANGUAGES:
        return guess["language"]
    metadata = tracker.latest_message.metadata if tracker.latest_message else {}
    hint = normalise_hint((metadata or {}).get("language_hint"))
    return hint or DEFAULT_LANGUAGE


class CatalogNLG(TemplatedNaturalLanguageGenerator):
    """Templated NLG whose texts come from the gettext catalogs."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None,
                 domain: Optional[Domain] = None, settings: Optional[Settings] = None) -> None:
        domain = domain or Domain.empty()
        super().__init__(domain.responses)
        self.settings = settings or Settings.from_env()
        self.translations = Translations(self.settings.locales_dir)
        self.system_texts = system_texts(self.settings.root)
        self._values = {lang: placeholders(self.settings.contacts_file, lang) for lang in LANGUAGES}

    async def generate(self, utter_action: Text, tracker: DialogueStateTracker,
                       output_channel: Text, **kwargs: Any) -> Optional[Dict[Text, Any]]:
        return self.render(utter_action, conversation_language(tracker), output_channel)

    def render(self, utter_action: Text, language: str,
               output_channel: Text = "") -> Optional[Dict[Text, Any]]:
        """The response ``utter_action`` in ``language``, placeholders filled."""
        variations = self.responses.get(utter_action)
        if not variations:
            return None
        # One variation per response: a helpline says the same thing the same way.
        response = copy.deepcopy(variations[0])
        response.pop("condition", None)
        languages = LANGUAGES if utter_action in ALL_LANGUAGES_RESPONSES else (language,)
        texts = [self._text(response["text"], lang) for lang in languages] if response.get("text") else []
        if texts:
            # One message (Rasa splits a text on blank lines), one line per language.
            response["text"] = "\n".join(texts)
        for button in response.get("buttons") or []:
            button["title"] = self._text(button["title"], language)
        return response

    def system_text(self, key: str, language: str) -> str:
        """A text said outside the dialogue model (``bot/content/texts/``), e.g. ``service.internal_error``."""
        return self._text(self.system_texts[key], language)

    def _text(self, msgid: str, language: str) -> str:
        text = self.translations.gettext(language, msgid)
        try:
            return text.format(**self._values.get(language, self._values[DEFAULT_LANGUAGE]))
        except (KeyError, IndexError, ValueError):
            # Never let a broken translation silence the reply: use the source text.
            logger.error("catalog text of %s could not be filled", language)
            return msgid.format(**self._values[DEFAULT_LANGUAGE])
