"""The REST endpoint over real HTTP: the right format, and bad input never a 500 or silence."""

from __future__ import annotations

import json

import aiohttp
import pytest

from bot.connectors.service import SECURITY_HEADERS, build_app
from tests import samples
from tests.in_process import serving


@pytest.fixture(scope="module")
async def base_url(assistant, settings):
    async with serving(build_app(assistant, settings, name="rest-test")) as url:
        yield url


async def post(base_url, path, data, content_type="application/json"):
    async with aiohttp.ClientSession() as session:
        async with session.post(base_url + path, data=data, headers={"Content-Type": content_type}) as resp:
            return resp.status, resp.headers, await resp.read()


async def test_rest_format_and_security_headers(base_url, numbers):
    body = json.dumps({"sender": "abc", "message": samples.EMERGENCY["en"], "metadata": {"language": "en"}})
    status, headers, raw = await post(base_url, "/webhooks/rest/webhook", body)
    assert status == 200
    replies = json.loads(raw)
    assert all(r["recipient_id"] == "abc" for r in replies)
    assert numbers["emergency"] in replies[0]["text"]
    assert any("buttons" in r for r in replies)
    for header, value in SECURITY_HEADERS.items():
        assert headers[header] == value
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


@pytest.mark.parametrize("message", [
    "", "😢🙏😢", "x" * 100_000, "\u202bמשהו לא בסדר\u202c", "مرحبا، أحتاج مساعدة", None, 42,
    {"nested": True}, "<script>alert(1)</script>", "\x00\x01binary\xff",
])
async def test_odd_messages_still_get_a_kind_reply(base_url, message, numbers):
    body = json.dumps({"sender": "odd", "message": message, "unknown": {"field": 1}})
    status, _, raw = await post(base_url, "/webhooks/rest/webhook", body)
    assert status == 200
    replies = json.loads(raw)
    assert replies and all(r["text"] for r in replies)


@pytest.mark.parametrize("data,code", [
    (b"{not json", "malformed_json"),
    (b"\xff\xfe\x00binary", "malformed_json"),
    (b"[1, 2, 3]", "malformed_json"),
    (b"", "malformed_json"),
    (json.dumps({"message": "hi"}).encode(), "invalid_sender"),
    (json.dumps({"sender": "", "message": "hi"}).encode(), "invalid_sender"),
    (json.dumps({"sender": "s" * 500, "message": "hi"}).encode(), "invalid_sender"),
])
async def test_malformed_requests_get_a_clear_json_error(base_url, data, code):
    status, _, raw = await post(base_url, "/webhooks/rest/webhook", data)
    assert status == 400
    assert json.loads(raw)["error"] == code


async def test_too_large_body_is_refused_with_json(base_url):
    status, _, raw = await post(base_url, "/webhooks/rest/webhook", b"x" * (200 * 1024))
    assert status == 413
    assert json.loads(raw)["error"] == "too_large"


async def test_end_forgets_the_conversation(base_url, assistant, settings):
    from bot.connectors.identity import conversation_id

    await post(base_url, "/webhooks/rest/webhook", json.dumps({"sender": "bye", "message": samples.DISCLOSURE["nl"]}))
    sender_id = conversation_id("web", "bye", settings.conversation_key)
    assert (await assistant.agent.tracker_store.retrieve(sender_id)).get_slot("language") == "nl"
    status, _, raw = await post(base_url, "/webhooks/rest/end", json.dumps({"sender": "bye"}))
    assert status == 200 and json.loads(raw) == {"ended": True}
    tracker = await assistant.agent.tracker_store.retrieve(sender_id)
    assert tracker is None or tracker.get_slot("language") is None


def test_conversation_ids_are_keyed_hashes():
    from bot.connectors.identity import conversation_id

    first = conversation_id("tg", 123456789, b"key-one")
    assert first.startswith("tg-") and "123456789" not in first
    assert first == conversation_id("tg", 123456789, b"key-one")
    assert first != conversation_id("tg", 123456789, b"key-two")
    assert first != conversation_id("web", 123456789, b"key-one")


@pytest.mark.parametrize("reachable", [True, False])
async def test_readiness_checks_the_model_and_the_database(assistant, settings, tmp_path, reachable):
    from bot.storage.database import Database

    # Nothing listens on port 1 of loopback: the connection is refused at once.
    url = f"sqlite:///{tmp_path / 'ready.db'}" if reachable else "postgresql://postgres@127.0.0.1:1/none"
    app = build_app(assistant, settings, name=f"ready-{reachable}", database=Database(url))
    async with serving(app) as base:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/readyz") as resp:
                body = await resp.json()
    assert body["checks"] == {"model": True, "accepting": True, "database": reachable}
    assert resp.status == (200 if reachable else 503)
