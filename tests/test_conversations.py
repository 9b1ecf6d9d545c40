"""Real conversations with the trained Rasa model, in each of the four languages."""

from __future__ import annotations

import json

import pytest

from bot import LANGUAGES
from tests import samples


def joined(replies) -> str:
    return "\n".join(r["text"] for r in replies)


async def test_emergency_first_reply_gives_112_and_101(assistant, sender, language, numbers):
    replies = await assistant.turn(sender, samples.EMERGENCY[language])
    first = replies[0]["text"]
    assert numbers["emergency"] in first and numbers["police"] in first
    # Then a counsellor is offered, with buttons, and the 24/7 line.
    assert numbers["helpline"] in joined(replies[1:])
    assert replies[-1].get("buttons")


async def test_disclosure_is_acknowledged_then_one_safety_check(assistant, sender, language):
    replies = await assistant.turn(sender, samples.DISCLOSURE[language])
    assert len(replies) == 2
    safety_buttons = replies[1]["buttons"]
    assert [b["payload"] for b in safety_buttons] == ["/affirm", "/deny"]
    # "I am safe" leads to the person's choice: counsellor, 24/7 line or information.
    choices = await assistant.turn(sender, "/affirm")
    assert [b["payload"] for b in choices[0]["buttons"]] == [
        "/request_human", "/ask_contacts", "/ask_information"]


async def test_not_safe_after_disclosure_gives_emergency_numbers(assistant, sender, language, numbers):
    await assistant.turn(sender, samples.DISCLOSURE[language])
    replies = await assistant.turn(sender, "/deny")
    assert numbers["emergency"] in replies[0]["text"]


async def test_crying_emoji_after_the_safety_question_is_not_read_as_yes(assistant, sender, language, numbers):
    await assistant.turn(sender, samples.DISCLOSURE[language])
    replies = await assistant.turn(sender, "😭😭😭")
    # Not the choices that follow "I am safe": "not understood", with the emergency number.
    assert not any(b["payload"] == "/request_human" for r in replies for b in r.get("buttons") or [])
    assert numbers["emergency"] in replies[0]["text"]
    parsed = await assistant.parse("😭😭😭")
    assert parsed["intent"]["name"] == "nlu_fallback"


async def test_an_answer_out_of_scope_still_gives_the_emergency_number(assistant, sender, language, numbers):
    # A message about danger misread as out of scope must not leave the person without 112.
    await assistant.turn(sender, samples.GREETING[language])
    replies = await assistant.turn(sender, "/out_of_scope")
    assert numbers["emergency"] in replies[0]["text"]


async def test_replies_stay_in_the_persons_language(assistant, sender, language, settings, numbers):
    from bot.i18n.catalogs import Translations

    translations = Translations(settings.locales_dir)
    replies = await assistant.turn(sender, samples.DISCLOSURE[language])
    expected = translations.gettext(language, "Are you safe right now? If you are in danger, call {emergency_phone}.")
    assert replies[1]["text"] == expected.format(emergency_phone=numbers["emergency"])
    # "ok" or a number never flips the language.
    for neutral in ("ok", "112", "😢"):
        more = await assistant.turn(sender, neutral)
        tracker = await assistant.agent.tracker_store.retrieve(sender)
        assert tracker.get_slot("language") == language, neutral
        assert more


async def test_switching_language_with_a_button_and_in_words(assistant, sender):
    await assistant.turn(sender, samples.GREETING["nl"])
    replies = await assistant.turn(sender, '/set_language{"language": "fr"}')
    assert "français" in replies[0]["text"].lower()
    replies = await assistant.turn(sender, samples.DISCLOSURE["fr"])
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    assert tracker.get_slot("language") == "fr"
    replies = await assistant.turn(sender, "can we speak english please")
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    assert tracker.get_slot("language") == "en"
    assert "English" in replies[0]["text"]


async def test_channel_hint_is_only_a_prior(assistant, sender):
    # A neutral first message follows the hint ...
    replies = await assistant.turn(sender, "hallo", {"language_hint": "de-AT"})
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    assert tracker.get_slot("language") is None
    assert replies[0]["text"] == assistant.nlg.render("utter_greet", "de")["text"]
    # ... but what the person writes decides.
    await assistant.turn(sender, samples.DISCLOSURE["fr"], {"language_hint": "de"})
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    assert tracker.get_slot("language") == "fr"


async def test_request_for_a_human_is_honoured_mid_conversation(assistant, sender, language, numbers):
    await assistant.turn(sender, samples.BYSTANDER[language])
    replies = await assistant.turn(sender, samples.HUMAN[language])
    assert numbers["helpline"] in joined(replies)


async def test_bystander_gets_how_to_report_and_what_not_to_do(assistant, sender, language, numbers):
    replies = await assistant.turn(sender, samples.BYSTANDER[language])
    text = joined(replies)
    for key in ("emergency", "police", "helpline", "childfocus"):
        assert numbers[key] in text, key
    assert len(replies) == 2  # the second message: don't confront, the inspection is not anonymous


async def test_a_language_we_do_not_speak_gets_all_four_and_the_numbers(assistant, sender, numbers, settings):
    from bot.i18n.catalogs import Translations

    replies = await assistant.turn(sender, samples.OTHER_LANGUAGE)
    assert len(replies) == 1
    text = replies[0]["text"]
    assert numbers["helpline"] in text and numbers["emergency"] in text
    translations = Translations(settings.locales_dir)
    source = "I can only write in Dutch, French, English and German."
    for language in LANGUAGES:
        first_sentence = translations.gettext(language, assistant.agent.domain.responses[
            "utter_other_language"][0]["text"]).split(".")[0]
        assert first_sentence in text, language
    assert source.split(".")[0] in text


@pytest.mark.parametrize("text", [
    "", "   ", "\x00\x01\x02", "😢😢😢", "x" * 100_000, "؟؟؟", "\u202eevil rtl\u202c", "{}", "/",
    '/set_language{"language": "xx"}', "/unknown_intent", json.dumps({"a": 1}),
])
async def test_bad_input_always_gets_a_kind_answer(assistant, sender, numbers, text):
    replies = await assistant.turn(sender, text)
    assert replies and all(r["text"] for r in replies)


async def test_internal_failure_still_gives_the_emergency_numbers(assistant, sender, numbers, monkeypatch):
    async def broken(message):
        raise RuntimeError("tracker store down")

    monkeypatch.setattr(assistant.agent.processor, "handle_message", broken)
    replies = await assistant.turn(sender, "help", {"language_hint": "nl"})
    assert numbers["emergency"] in replies[0]["text"]
    assert numbers["helpline"] in replies[0]["text"]
