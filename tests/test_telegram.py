"""The Telegram connector over real HTTP: PTB talks to a fake Bot API on 127.0.0.1.

The connector runs with the real trained assistant, long-polling the fake (and,
in the webhook test, behind the real Sanic service). Every test waits on the
calls the fake records (no sleeps) and checks that no name, username or token
of the person's chat reaches the logs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from typing import Any, Dict, List

import aiohttp
import pytest

from bot.connectors.identity import conversation_id
from bot.connectors.service import build_app
from bot.connectors.telegram import (FORGET_NO, FORGET_YES, SECRET_HEADER, WEBHOOK_PATH,
                                     CallbackPayloads, RecentMessages, TelegramConfig,
                                     TelegramConnector, split_text)
from bot.content.contacts import contacts
from tests import samples
from tests.fake_bot_api import FIRST_NAME, LAST_NAME, USERNAME, Call, FakeBotAPI

TOKEN = "424242:polling-test-token"
WEBHOOK_TOKEN = "434343:webhook-test-token"
CHOICES = ["/request_human", "/ask_contacts", "/ask_information"]
LANGUAGE_PAYLOADS = [f'/set_language{{"language": "{code}"}}' for code in ("nl", "fr", "en", "de")]
CHAT_IDS = itertools.count(7100001)


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def fake():
    async with FakeBotAPI(TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
async def connector(assistant, settings, fake):
    connector = TelegramConnector(assistant, settings,
                                  TelegramConfig(token=TOKEN, api_url=fake.base_url, poll_timeout=5))
    await asyncio.wait_for(connector.start(), 30)
    yield connector
    await asyncio.wait_for(connector.stop(), 30)


@pytest.fixture
def chat() -> int:
    return next(CHAT_IDS)


@pytest.fixture(scope="module")
def safety_question(assistant):
    """The question after a disclosure, as sent in ``language`` (with the emergency number)."""
    return lambda language: assistant.nlg.render("utter_ask_safe", language)["text"]


@pytest.fixture(scope="module")
def numbers(settings) -> Dict[str, str]:
    return {key: c.phone for key, c in contacts(settings.contacts_file).items()}


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


# -- helpers ----------------------------------------------------------------------------
def keyboard(call: Call) -> List[Dict[str, Any]]:
    markup = call.params.get("reply_markup") or {}
    return [row[0] for row in markup.get("inline_keyboard", [])]


def callback_data(call: Call) -> List[str]:
    return [button["callback_data"] for button in keyboard(call)]


def assert_nothing_personal_logged(logs, *also: str) -> None:
    for secret in (FIRST_NAME, LAST_NAME, USERNAME, TOKEN, WEBHOOK_TOKEN, *also):
        assert secret not in logs.text


def sender_id(settings, chat: int) -> str:
    return conversation_id("tg", chat, settings.conversation_key)


async def language_slot(assistant, settings, chat: int):
    tracker = await assistant.agent.tracker_store.retrieve(sender_id(settings, chat))
    return tracker.get_slot("language") if tracker else None


async def disclose(fake, safety_question, chat: int, language: str, hint: str) -> Call:
    """The person discloses; returns the safety question the bot asks."""
    fake.queue(fake.message(chat, samples.DISCLOSURE[language], language_code=hint))
    return await fake.wait_for_text(chat, safety_question(language))


def message_id(call: Call) -> int:
    return call.result["message_id"]


# -- conversations ------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["nl", "fr", "en", "de"])
async def test_disclosure_is_answered_in_order_in_the_persons_language(
        connector, fake, safety_question, assistant, settings, chat, logs, language):
    question = await disclose(fake, safety_question, chat, language, hint=language)
    sent = fake.sent_to(chat)
    # The acknowledgement first, then the one safety question with its buttons.
    assert len(sent) == 2 and sent[1] is question and sent[0].params["text"] != question.params["text"]
    assert callback_data(question) == ["/affirm", "/deny"]
    assert fake.calls_for(chat, "sendChatAction")
    assert await language_slot(assistant, settings, chat) == language
    # The conversation is keyed by the hashed chat id, never the chat id itself.
    assert str(chat) not in set(await assistant.agent.tracker_store.keys())
    assert_nothing_personal_logged(logs, samples.DISCLOSURE[language])


async def test_button_press_is_answered_keyboard_removed_then_next_reply(
        connector, fake, safety_question, chat, logs):
    question = await disclose(fake, safety_question, chat, "en", hint="en")
    press = fake.queue(fake.press(chat, message_id(question), "/affirm"))
    query_id = press["callback_query"]["id"]
    reply = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == chat
                                and callback_data(c) == CHOICES)
    answered = [c for c in fake.calls if c.method == "answerCallbackQuery"
                and c.params.get("callback_query_id") == query_id]
    edited = [c for c in fake.calls_for(chat, "editMessageReplyMarkup")
              if c.params.get("message_id") == message_id(question)]
    assert len(answered) == 1 and len(edited) == 1
    assert not edited[0].params.get("reply_markup")
    assert "reply_markup" not in fake.messages[message_id(question)]
    order = fake.calls.index
    assert order(answered[0]) < order(edited[0]) < order(reply)
    assert_nothing_personal_logged(logs)


async def test_photo_gets_a_kind_answer_with_the_numbers_in_the_apps_language(
        connector, fake, assistant, chat, numbers, logs):
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    fake.queue(fake.message(chat, language_code="de", photo=photo))
    answer = await fake.wait_for_text(chat, assistant.nlg.system_text("telegram.text_only", "de"))
    assert numbers["emergency"] in answer.params["text"]
    assert numbers["helpline"] in answer.params["text"]
    assert not fake.calls_for(chat, "sendChatAction")  # the assistant was not asked
    assert_nothing_personal_logged(logs)


async def test_voice_note_is_answered_in_the_conversations_language(
        connector, fake, safety_question, assistant, settings, chat, numbers, logs):
    # The app says English, but the person writes French: the conversation's language wins.
    await disclose(fake, safety_question, chat, "fr", hint="en")
    fake.queue(fake.message(chat, language_code="en", voice={"file_id": "v1", "file_unique_id": "u2",
                                                             "duration": 3}))
    answer = await fake.wait_for_text(chat, assistant.nlg.system_text("telegram.text_only", "fr"))
    assert numbers["emergency"] in answer.params["text"]
    assert numbers["helpline"] in answer.params["text"]
    fake.queue(fake.edited(chat, "changed my mind", language_code="en"))
    await fake.wait_for_text(chat, assistant.nlg.system_text("telegram.edited", "fr"))
    assert_nothing_personal_logged(logs, "changed my mind")


async def test_language_command_offers_four_languages_and_switches(
        connector, fake, assistant, settings, chat, logs):
    fake.queue(fake.message(chat, "/language", language_code="nl"))
    offer = await fake.wait_for_text(chat, assistant.nlg.system_text("telegram.choose_language", "nl"))
    assert [b["text"] for b in keyboard(offer)] == ["Nederlands", "Français", "English", "Deutsch"]
    assert callback_data(offer) == LANGUAGE_PAYLOADS
    fake.queue(fake.press(chat, message_id(offer), LANGUAGE_PAYLOADS[1], language_code="nl"))
    reply = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == chat
                                and "français" in c.params["text"].lower())
    assert reply.status == 200
    assert await language_slot(assistant, settings, chat) == "fr"
    assert "reply_markup" not in fake.messages[message_id(offer)]
    assert_nothing_personal_logged(logs)


@pytest.mark.parametrize("batch_fails", [False, True], ids=["deleteMessages", "deleteMessage"])
async def test_forget_asks_then_deletes_the_messages_and_the_conversation(
        connector, fake, safety_question, assistant, settings, chat, logs, batch_fails):
    nlg = assistant.nlg
    if batch_fails:
        # Deleting in one batch fails: each message is deleted on its own.
        fake.fail_next("deleteMessages", times=1, status=500, chat_id=chat)
    question_text = nlg.system_text("telegram.forget_question", "en")
    await disclose(fake, safety_question, chat, "en", hint="en")

    # Cancel first: nothing is deleted, the conversation stays.
    fake.queue(fake.message(chat, "/forget"))
    ask = await fake.wait_for_text(chat, question_text)
    assert callback_data(ask) == [FORGET_YES, FORGET_NO]
    fake.queue(fake.press(chat, message_id(ask), FORGET_NO))
    await fake.wait_for_text(chat, nlg.system_text("telegram.forget_cancelled", "en"))
    assert await language_slot(assistant, settings, chat) == "en"

    fake.queue(fake.message(chat, "/forget"))
    ask = await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == chat
                              and c.params["text"] == question_text and c is not ask)
    fake.queue(fake.press(chat, message_id(ask), FORGET_YES))
    done = await fake.wait_for_text(chat, nlg.system_text("telegram.forgotten", "en"))

    deletes = [c for c in fake.calls_for(chat) if c.method.startswith("deleteMessage") and c.status == 200]
    assert {c.method for c in deletes} == {"deleteMessage" if batch_fails else "deleteMessages"}
    deleted = {int(i) for c in deletes for i in c.params.get("message_ids", [c.params.get("message_id")])}
    theirs = {m["message_id"] for m in fake.sent_by_person(chat)}
    ours = {message_id(c) for c in fake.sent_to(chat) if c is not done}
    assert len(theirs) == 3 and len(ours) == 5
    assert deleted == theirs | ours
    assert all(fake.calls.index(c) < fake.calls.index(done) for c in deletes)
    assert await assistant.agent.tracker_store.retrieve(sender_id(settings, chat)) is None
    assert_nothing_personal_logged(logs)


async def test_one_chats_replies_stay_in_order(connector, fake, safety_question, assistant, chat):
    # The disclosure needs the assistant (slow); /help does not (fast): it must still come last.
    fake.queue(fake.message(chat, samples.DISCLOSURE["en"], language_code="en"))
    fake.queue(fake.message(chat, "/help", language_code="en"))
    help_text = assistant.nlg.system_text("telegram.help", "en")
    await fake.wait_for_text(chat, help_text)
    texts = [c.params["text"] for c in fake.sent_to(chat)]
    assert texts[1:] == [safety_question("en"), help_text]


async def test_rate_limited_message_is_retried_after_retry_after_and_delivered(
        connector, fake, assistant, chat, logs):
    fake.fail_next("sendMessage", times=1, status=429, chat_id=chat)
    fake.queue(fake.message(chat, "/help", language_code="nl"))
    help_text = assistant.nlg.system_text("telegram.help", "nl")
    await fake.wait_for_text(chat, help_text)
    tries = fake.calls_for(chat, "sendMessage")
    assert [c.status for c in tries] == [429, 200]
    assert tries[0].params["text"] == help_text
    assert tries[1].at - tries[0].at >= 1.0  # retry_after honoured
    assert_nothing_personal_logged(logs)


async def test_server_error_is_retried_and_the_reply_delivered(connector, fake, assistant, chat, logs):
    fake.fail_next("sendMessage", times=1, status=500, chat_id=chat)
    fake.queue(fake.message(chat, "/help", language_code="fr"))
    help_text = assistant.nlg.system_text("telegram.help", "fr")
    await fake.wait_for_text(chat, help_text)
    tries = fake.calls_for(chat, "sendMessage")
    assert [c.status for c in tries] == [500, 200]
    assert tries[0].params["text"] == tries[1].params["text"] == help_text
    assert_nothing_personal_logged(logs)


async def test_telegram_failure_still_gives_the_emergency_numbers(
        connector, fake, assistant, chat, numbers, logs):
    from bot.connectors.telegram import SERVER_ERROR_RETRIES

    fake.fail_next("sendMessage", times=SERVER_ERROR_RETRIES + 1, status=500, chat_id=chat)
    fake.queue(fake.message(chat, samples.GREETING["en"], language_code="en"))
    failsafe = await fake.wait_for_text(chat, assistant.nlg.system_text("service.internal_error", "en"))
    assert numbers["emergency"] in failsafe.params["text"]
    assert "while answering" in logs.text
    assert_nothing_personal_logged(logs, samples.GREETING["en"])


async def test_start_greets_in_the_apps_language(connector, fake, assistant, chat, logs):
    fake.queue(fake.message(chat, "/start", language_code="de"))
    greeting = await fake.wait_for_text(chat, assistant.nlg.render("utter_greet", "de")["text"])
    assert greeting.params["text"] != assistant.nlg.render("utter_greet", "en")["text"]
    assert len(callback_data(greeting)) == 3
    assert_nothing_personal_logged(logs)


# -- webhook mode, behind the real service ---------------------------------------------------
async def test_webhook_mode_checks_the_secret(assistant, settings, logs):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
    async with FakeBotAPI(WEBHOOK_TOKEN) as fake:
        connector = TelegramConnector(assistant, settings, TelegramConfig.from_env({
            "TELEGRAM_BOT_TOKEN": WEBHOOK_TOKEN, "TELEGRAM_API_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": url, "TELEGRAM_WEBHOOK_SECRET": "right-secret_0"}))
        app = build_app(assistant, settings, name="telegram-webhook-test")
        connector.attach(app)
        server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
        await server.startup()
        await server.before_start()
        await server.after_start()
        try:
            await asyncio.wait_for(connector.ready.wait(), 30)
            assert fake.webhook["url"] == url and fake.webhook["secret_token"] == "right-secret_0"
            assert not [c for c in fake.calls if c.method == "getUpdates"]  # no polling
            await check_webhook(fake, assistant, url)
        finally:
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()
        assert connector.application is None
    assert_nothing_personal_logged(logs)


async def check_webhook(fake, assistant, url):
    chat = next(CHAT_IDS)
    wrong = fake.message(chat, "hello", language_code="en")
    right = fake.message(chat, "/help", language_code="en")
    async with aiohttp.ClientSession() as session:
        for headers in ({SECRET_HEADER: "wrong-secret"}, {}):
            async with session.post(url, json={"update_id": 1, **wrong}, headers=headers) as resp:
                assert resp.status == 403
        async with session.post(url, data=b"{not json", headers={SECRET_HEADER: "right-secret_0"}) as resp:
            assert resp.status == 400
        async with session.post(url, json={"update_id": 2, **right},
                                headers={SECRET_HEADER: "right-secret_0"}) as resp:
            assert resp.status == 200
    help_text = assistant.nlg.system_text("telegram.help", "en")
    await fake.wait_for_text(chat, help_text)
    # Had the rejected update got through, its replies would have come first (one chat, in order).
    assert [c.params["text"] for c in fake.sent_to(chat)] == [help_text]


# -- the small parts ------------------------------------------------------------------------
def test_long_replies_are_split_at_paragraphs_within_the_limit():
    paragraph = "word " * 500  # 2500 characters
    text = "\n\n".join([paragraph.strip()] * 4)
    parts = split_text(text)
    assert len(parts) == 4 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == text
    emoji = "😢" * 3000  # 6000 UTF-16 units, no place to cut
    parts = split_text(emoji)
    assert [len(p.encode("utf-16-le")) // 2 for p in parts] == [4096, 1904]
    assert split_text("   ") == [] and split_text("short") == ["short"]


def test_long_button_payloads_are_mapped_to_short_callback_data():
    payloads = CallbackPayloads(capacity=2)
    short = '/set_language{"language": "fr"}'
    assert payloads.data_for(short) == short
    long = '/inform{"topic": "' + "x" * 80 + '"}'
    data = payloads.data_for(long)
    assert len(data.encode()) <= 64 and payloads.payload_for(data) == long
    payloads.data_for("/a" + "y" * 70)
    payloads.data_for("/b" + "z" * 70)
    assert payloads.payload_for(data) is None  # evicted: the map stays small


def test_recent_message_ids_are_kept_at_most_48_hours():
    now = [0.0]
    recent = RecentMessages(clock=lambda: now[0], sweep_every=60.0)
    recent.remember("tg-a", 1)
    now[0] = 47 * 3600.0
    recent.remember("tg-a", 2)
    recent.remember("tg-b", 3)
    now[0] = 49 * 3600.0
    recent.remember("tg-c", 4)  # the sweep drops what is 48 hours old
    assert len(recent) == 3
    assert recent.take("tg-a") == [2]
    assert recent.take("tg-a") == []
    now[0] = 96 * 3600.0
    recent.remember("tg-d", 5)
    assert len(recent) == 2 and recent.take("tg-b") == [] and recent.take("tg-c") == [4]


def test_config_from_env():
    config = TelegramConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x"})
    assert config.api_url == "https://api.telegram.org/bot"
    assert config.file_url == "https://api.telegram.org/file/bot"
    assert config.webhook_url is None and len(config.webhook_secret) >= 32
    assert TelegramConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).webhook_secret != config.webhook_secret
    with pytest.raises(ValueError):
        TelegramConfig.from_env({})
    with pytest.raises(ValueError):
        TelegramConfig.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_WEBHOOK_SECRET": "no spaces"})


def test_fake_decodes_json_parameters_only():
    from tests.fake_bot_api import decode_params

    assert decode_params({"chat_id": "12", "text": "12", "reply_markup": json.dumps({"a": 1})}) == {
        "chat_id": 12, "text": "12", "reply_markup": {"a": 1}}
