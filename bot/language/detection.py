"""Language detection for chat messages: offline (lingua), sticky-friendly.

:func:`LanguageGuesser.guess` says which of nl/fr/en/de a message is in, or
``other``, and whether it is sure enough to change the conversation's language.
Short or language-neutral messages ("ok", "ja", "112", emoji) are never sure, so
they never flip the language; the conversation slot keeps the last sure value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Dict, Iterable, Optional

from lingua import Language, LanguageDetectorBuilder

from bot import LANGUAGES

_SPOKEN = {
    Language.DUTCH: "nl",
    Language.FRENCH: "fr",
    Language.ENGLISH: "en",
    Language.GERMAN: "de",
}
# Latin-script languages a person in Belgium may write in instead. Afrikaans is
# left out on purpose: informal Flemish is too often mistaken for it.
_OTHER_LATIN = (
    Language.SPANISH, Language.PORTUGUESE, Language.ITALIAN, Language.POLISH,
    Language.ROMANIAN, Language.TURKISH, Language.ALBANIAN, Language.VIETNAMESE,
    Language.HUNGARIAN, Language.CZECH, Language.SLOVAK, Language.CROATIAN,
    Language.LITHUANIAN, Language.TAGALOG, Language.SOMALI, Language.SWAHILI,
    Language.INDONESIAN,
)

SURE_CONFIDENCE = 0.6
SURE_MARGIN = 0.35  # or this far ahead of the next language
OTHER_CONFIDENCE = 0.9
MIN_WORDS_TO_BE_SURE = 3
MIN_LETTERS_TO_BE_SURE = 12
HINT_WEIGHT = 0.25

# Names of the four languages, written in any of the four (accents stripped).
_LANGUAGE_NAMES: Dict[str, str] = {
    "nl": r"nederlands\w*|dutch|neerlandais|niederlandisch\w*|niederlaendisch\w*|vlaams\w*|flamand\w*|flemish|flamisch\w*|flaemisch\w*",
    "fr": r"frans|franse|french|francais\w*|franzosisch\w*|franzoesisch\w*|frz",
    "en": r"engels\w*|english|anglais\w*|englisch\w*|inglese|ingles",
    "de": r"duits\w*|german|allemand\w*|deutsch\w*",
}
_NAME_PATTERNS = {code: re.compile(rf"\b(?:{names})\b") for code, names in _LANGUAGE_NAMES.items()}
_WORD = re.compile(r"[^\W\d_]+")


def fold(text: str) -> str:
    """Lower case without accents, for matching words typed with or without them."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class Guess:
    """The language of one message. ``sure`` means: may change the conversation's language."""

    language: Optional[str]  # nl/fr/en/de, "other", or None (no letters at all)
    confidence: float
    sure: bool
    by_script: bool = False  # "other" because the text is not in Latin script

    def as_dict(self) -> Dict[str, object]:
        return {"language": self.language, "confidence": round(self.confidence, 3),
                "sure": self.sure}


# Everyday chat words that settle short messages where statistics cannot.
_SHORT_WORDS: Dict[str, frozenset] = {
    "nl": frozenset("hallo hoi dag goeiedag goeiemorgen goeienavond dank bedankt merci "
                    "ja nee neen jawel allee amai oke hulp help alsjeblieft aub "
                    "alstublieft wat waarom hoe ik".split()),
    "fr": frozenset("bonjour bonsoir salut coucou merci oui non ouais daccord aide "
                    "svp stp pourquoi comment quoi je moi".split()),
    "en": frozenset("hello hi hey thanks thank thx yes yeah yep no nope please pls "
                    "help what why how okay".split()),
    "de": frozenset("hallo moin servus danke ja nein jo nee hilfe bitte was warum "
                    "wie ich mich tschuss tschuess".split()),
}


def _latin_share(letters: str) -> float:
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    return latin / len(letters)


class LanguageGuesser:
    """Two preloaded lingua detectors; build once per process (about 150 MB).

    A high-accuracy detector chooses among nl/fr/en/de; a small low-accuracy one
    over more languages tells whether the message is in none of them.
    """

    def __init__(self) -> None:
        self._ours = (
            LanguageDetectorBuilder.from_languages(*_SPOKEN)
            .with_preloaded_language_models()
            .build()
        )
        self._all = (
            LanguageDetectorBuilder.from_languages(*_SPOKEN, *_OTHER_LATIN)
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
        )

    def guess(self, text: str, hint: Optional[str] = None, allow_other: bool = True) -> Guess:
        """Guess the language of ``text``; ``hint`` (e.g. Telegram's language code) is a prior.

        With ``allow_other=False`` the answer is the closest of nl/fr/en/de.
        """
        words = _WORD.findall(text or "")
        letters = "".join(words)
        if not letters:
            return Guess(None, 0.0, False)
        if allow_other and _latin_share(letters) < 0.5:
            # Arabic, Cyrillic, Ge'ez, CJK, ... : none of the four languages.
            return Guess("other", 1.0, len(letters) >= 4, by_script=True)

        long_enough = len(words) >= MIN_WORDS_TO_BE_SURE and len(letters) >= MIN_LETTERS_TO_BE_SURE
        if long_enough and allow_other:
            other = sum(v.value for v in self._all.compute_language_confidence_values(text)
                        if v.language not in _SPOKEN)
            if other >= OTHER_CONFIDENCE:
                return Guess("other", other, True)

        scores: Dict[str, float] = {code: 0.0 for code in LANGUAGES}
        for value in self._ours.compute_language_confidence_values(text):
            scores[_SPOKEN[value.language]] = value.value
        top, runner_up = sorted(scores.values(), reverse=True)[:2]
        best = max(scores, key=scores.get)
        if long_enough and (top >= SURE_CONFIDENCE or top - runner_up >= SURE_MARGIN):
            return Guess(best, scores[best], True)

        # Short or unclear: everyday words and the channel's hint break ties,
        # but never make the guess sure enough to change the conversation's language.
        folded = {fold(word) for word in words}
        weighted = dict(scores)
        for code, vocabulary in _SHORT_WORDS.items():
            weighted[code] += 1.0 * len(folded & vocabulary)
        if hint in weighted:
            weighted[hint] += HINT_WEIGHT
        best = max(weighted, key=weighted.get)
        return Guess(best, scores[best], False)


def requested_language(text: str, written_in: Optional[str] = None) -> Optional[str]:
    """The language a person asks to switch to ("in het Frans aub" -> "fr"), if named.

    When several are named ("French instead of English"), the one the message is
    not written in wins.
    """
    folded = fold(text or "")
    named = [code for code, pattern in _NAME_PATTERNS.items() if pattern.search(folded)]
    if not named:
        return None
    if len(named) > 1:
        others = [code for code in named if code != written_in]
        if others:
            named = others
        # Keep the order of mention for what is left.
        named.sort(key=lambda code: _NAME_PATTERNS[code].search(folded).start())
    return named[0]


def normalise_hint(code: Optional[str], allowed: Iterable[str] = LANGUAGES) -> Optional[str]:
    """``"nl-BE"`` -> ``"nl"``; anything not spoken here -> None."""
    if not code or not isinstance(code, str):
        return None
    short = code.strip().lower().replace("_", "-").split("-")[0]
    return short if short in set(allowed) else None
