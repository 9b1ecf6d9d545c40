"""The handoff: a person who asks for a human gets a counsellor in the same chat.

Real trained assistant, real SQLite database (migrated), real REST endpoint over HTTP
for the web chat's mailbox of counsellor messages.
"""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from bot.handoff.service import HandoffService, urgency_of
from bot.storage import repository as repo
from bot.storage.database import Database
from bot.storage.models import AuditEntry, Case
from tests import samples
from tests.in_process import serving


@pytest.fixture
def handoff(assistant, tmp_path):
    """The assistant with handoffs on (restored afterwards: the assistant is shared)."""
    db = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    db.migrate()
    service = HandoffService(db, assistant)
    outbox = service.outbox
    with db.session() as session:
        operator_id = repo.add_operator(session, f"op-{uuid.uuid4().hex[:6]}", "payoke",
                                        "a long enough password").id
    assistant.handoffs = service
    yield service, outbox, operator_id
    assistant.handoffs = None
    db.dispose()


def the_case(service, sender):
    with service.db.session() as session:
        case = session.query(Case).filter(Case.conversation_id == sender).one()
        return {"id": case.id, "status": case.status, "urgency": case.urgency, "language": case.language,
                "channel": case.channel, "intents": case.summary["intents"], "centre": case.centre,
                "forms": case.summary["forms"],
                "turns": [(t.who, t.text) for t in case.turns]}


WEB = {"channel": "web"}


async def test_asking_for_a_human_opens_a_case_and_pauses_the_assistant(assistant, handoff, sender):
    service, _, _ = handoff
    await assistant.turn(sender, samples.DISCLOSURE["fr"], WEB)
    replies = await assistant.turn(sender, samples.HUMAN["fr"], WEB)
    opened = assistant.nlg.system_text("handoff.opened", "fr")
    assert replies[-2]["text"] == opened
    assert [b["payload"] for b in replies[-1]["buttons"]] == ["/centre pagasa", "/centre payoke", "/centre surya"]
    case = the_case(service, sender)
    assert case["status"] == "open" and case["centre"] is None  # the shared queue
    assert case["urgency"] == "high" and case["language"] == "fr" and case["channel"] == "web"
    assert case["intents"][:2] == ["disclose_exploitation", "request_human"]
    assert {"labour", "documents"} <= set(case["forms"])
    assert ("person", samples.DISCLOSURE["fr"]) in case["turns"]
    assert any(who == "bot" for who, _ in case["turns"])
    tracker = await assistant.agent.tracker_store.retrieve(sender)
    assert tracker.is_paused()

    # While the counsellor has it, the assistant is silent and /restart cannot bypass it.
    assert await assistant.turn(sender, "hallo? is er iemand", WEB) == []
    assert await assistant.turn(sender, "/restart", WEB) == []
    assert ("person", "hallo? is er iemand") in the_case(service, sender)["turns"]
    assert (await assistant.agent.tracker_store.retrieve(sender)).is_paused()


async def test_the_person_may_choose_a_centre(assistant, handoff, sender):
    service, _, _ = handoff
    await assistant.turn(sender, samples.HUMAN["nl"], WEB)
    replies = await assistant.turn(sender, "/centre payoke", WEB)
    assert replies == [{"recipient_id": sender, "text": assistant.nlg.system_text("handoff.centre_chosen", "nl")}]
    case = the_case(service, sender)
    assert case["centre"] == "payoke" and case["status"] == "open"
    assert ("person", "/centre payoke") not in case["turns"]


async def test_operator_reply_reaches_the_person_and_hand_back_resumes(assistant, handoff, sender):
    service, outbox, operator_id = handoff
    await assistant.turn(sender, samples.EMERGENCY["en"], WEB)
    await assistant.turn(sender, "/affirm", WEB)  # yes to a counsellor
    case = the_case(service, sender)
    assert case["urgency"] == "emergency"

    await service.reply(case["id"], operator_id, "Hello, I am Anna from the centre. Are you safe?")
    assert outbox.take(sender) == [{"text": "Hello, I am Anna from the centre. Are you safe?", "from": "counsellor"}]
    assert ("operator", "Hello, I am Anna from the centre. Are you safe?") in the_case(service, sender)["turns"]

    await service.hand_back(case["id"], operator_id)
    assert outbox.take(sender) == [{"text": assistant.nlg.system_text("handoff.handed_back", "en"), "from": "assistant"}]
    replies = await assistant.turn(sender, samples.GREETING["en"], WEB)
    assert replies and replies[0]["text"]
    with service.db.session() as session:
        actions = [e.action for e in session.query(AuditEntry).filter_by(case_id=case["id"])]
    assert actions == ["replied", "handed_back"]


async def test_a_reply_that_cannot_be_delivered_is_not_stored_as_sent(assistant, handoff, sender):
    service, _, operator_id = handoff
    await assistant.turn(sender, samples.HUMAN["en"], {"channel": "telegram"})  # no Telegram here
    case = the_case(service, sender)
    with pytest.raises(repo.CaseError):
        await service.reply(case["id"], operator_id, "hello?")
    assert ("operator", "hello?") not in the_case(service, sender)["turns"]


async def test_a_case_closed_without_hand_back_lets_the_assistant_answer_again(assistant, handoff, sender):
    service, _, operator_id = handoff
    await assistant.turn(sender, samples.HUMAN["de"], WEB)
    case = the_case(service, sender)
    with service.db.session() as session:
        repo.close(session, session.get(Case, case["id"]), None, "referred", "")
    replies = await assistant.turn(sender, samples.GREETING["de"], WEB)
    assert replies and not (await assistant.agent.tracker_store.retrieve(sender)).is_paused()


@pytest.mark.parametrize("text,forms", [
    ("my boss took my passport and i must pay back the trip", {"labour", "documents", "debt"}),
    ("ze dwingen me te bedelen op straat", {"begging"}),
    ("ils veulent que je couche avec des clients", {"sexual"}),
    ("ich muss fuer die familie putzen und kochen", {"domestic"}),
    ("hello, how are you", set()),
])
def test_forms_of_exploitation_are_recognised(text, forms):
    from bot.handoff.forms import forms_mentioned

    assert set(forms_mentioned([text])) == forms


@pytest.mark.parametrize("intents,urgency", [
    (["greet", "emergency"], "emergency"), (["disclose_exploitation"], "high"),
    (["ask_if_victim", "request_human"], "high"), (["request_human"], "normal")])
def test_urgency_follows_what_was_said(intents, urgency):
    assert urgency_of(intents) == urgency


async def test_web_chat_fetches_counsellor_messages_over_http(assistant, settings, tmp_path):
    from bot.connectors.identity import conversation_id
    from bot.connectors.service import build_app
    from bot.handoff.outbox import Outbox

    db = Database(f"sqlite:///{tmp_path / 'outbox.db'}")
    db.migrate()
    outbox = Outbox(db)
    app = build_app(assistant, settings, name=f"outbox-{uuid.uuid4().hex[:6]}", outbox=outbox)
    async with serving(app) as base_url:
        outbox.put(conversation_id("web", "browser-1", settings.conversation_key), "web",
                   "from the counsellor", "counsellor")
        async with aiohttp.ClientSession() as session:
            url = f"{base_url}/webhooks/rest/messages"
            async with session.post(url, data=json.dumps({"sender": "browser-1"})) as resp:
                assert resp.status == 200
                assert await resp.json() == [{"recipient_id": "browser-1", "text": "from the counsellor",
                                              "from": "counsellor"}]
            async with session.post(url, data=json.dumps({"sender": "browser-1"})) as resp:
                assert await resp.json() == []  # handed over once
            async with session.post(url, data=b"nope") as resp:
                assert resp.status == 400


async def test_waiting_person_is_reminded_once_with_the_numbers(assistant, handoff, sender, numbers):
    import datetime as dt

    from bot.handoff.jobs import HandoffJobs

    service, outbox, _ = handoff
    await assistant.turn(sender, samples.HUMAN["nl"], WEB)
    outbox.take(sender)
    now = repo.utcnow()
    jobs = HandoffJobs(service, clock=lambda: now + dt.timedelta(minutes=5))
    assert await jobs.remind_unclaimed() == 0  # not waiting long enough yet
    jobs.clock = lambda: now + jobs.reminder_after + dt.timedelta(minutes=1)
    assert await jobs.remind_unclaimed() == 1
    reminder = outbox.take(sender)
    assert reminder == [{"text": assistant.nlg.system_text("handoff.unclaimed", "nl"), "from": "assistant"}]
    assert numbers["helpline"] in reminder[0]["text"] and numbers["emergency"] in reminder[0]["text"]
    assert await jobs.remind_unclaimed() == 0  # once
    assert the_case(service, sender)["status"] == "open"  # the case stays open


async def test_retention_purges_old_transcripts_and_conversations(assistant, handoff, sender):
    import datetime as dt

    from bot.handoff.jobs import HandoffJobs

    service, _, _ = handoff
    await assistant.turn(sender, samples.HUMAN["en"], WEB)
    case = the_case(service, sender)
    with service.db.session() as session:
        repo.close(session, session.get(Case, case["id"]), None, "referred", "")
    jobs = HandoffJobs(service, clock=lambda: repo.utcnow() + dt.timedelta(days=jobs.retention_days + 1))
    assert await jobs.purge() >= 1
    with service.db.session() as session:
        purged = session.get(Case, case["id"])
        assert purged.turns == [] and purged.conversation_id is None
        assert repo.aggregates(session)  # counts survive
    assert await assistant.agent.tracker_store.retrieve(sender) is None or not (
        await assistant.agent.tracker_store.retrieve(sender)).events
