"""Language detection: sure only when it should change the conversation's language."""

from __future__ import annotations

import pytest

from bot.language.detection import LanguageGuesser, normalise_hint, requested_language


@pytest.fixture(scope="module")
def guesser():
    return LanguageGuesser()


@pytest.mark.parametrize("text,language", [
    ("mijne baas heeft mijn paspoort afgepakt", "nl"),
    ("ge moet mij helpen, ik zit hier vast en ze betalen mij nie", "nl"),
    ("il a pris mon passeport et je dois rembourser", "fr"),
    ("jsuis bloquee ici ils me payent pas", "fr"),
    ("he took my passport and i cannot leave", "en"),
    ("i no have papers boss say i must work more", "en"),
    ("er hat meinen pass genommen und ich darf nicht raus", "de"),
    ("ich nix geld bekommen seit drei monate", "de"),
])
def test_clear_sentences_are_sure(guesser, text, language):
    guess = guesser.guess(text)
    assert guess.language == language and guess.sure


@pytest.mark.parametrize("text", ["ok", "ja", "112", "😢", "merci", "ok ok", "hallo"])
def test_short_or_neutral_messages_are_never_sure(guesser, text):
    assert not guesser.guess(text).sure


@pytest.mark.parametrize("text", [
    "necesito ayuda por favor, no me pagan",
    "potrzebuje pomocy, szef zabral moj paszport",
    "مساعدة من فضلك أنا محتجز",
    "мне нужна помощь, у меня забрали паспорт",
])
def test_other_languages_are_recognised(guesser, text):
    guess = guesser.guess(text)
    assert guess.language == "other" and guess.sure


def test_hint_breaks_ties_but_never_makes_a_guess_sure(guesser):
    assert guesser.guess("hallo", "de").language == "de"
    assert guesser.guess("hallo", "nl").language == "nl"
    assert not guesser.guess("hallo", "de").sure
    # A clear sentence beats the hint.
    assert guesser.guess("il a pris mon passeport et je dois rembourser", "de").language == "fr"


@pytest.mark.parametrize("text,written_in,target", [
    ("kunnen we in het frans praten", "nl", "fr"),
    ("english please", "en", "en"),
    ("auf deutsch bitte", "de", "de"),
    ("en néerlandais svp", "fr", "nl"),
    ("can we speak french instead of english", "en", "fr"),
    ("ik wil verder in het Vlaams", "nl", "nl"),
    ("i don't know", "en", None),
])
def test_requested_language(text, written_in, target):
    assert requested_language(text, written_in) == target


@pytest.mark.parametrize("code,expected", [("nl-BE", "nl"), ("fr", "fr"), ("de_AT", "de"),
                                           ("es", None), (None, None), (5, None)])
def test_normalise_hint(code, expected):
    assert normalise_hint(code) == expected
