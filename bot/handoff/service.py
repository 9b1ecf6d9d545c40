"""Opens handoff cases and relays messages between the person and the operators.

When the assistant has offered a human (``utter_human``), :meth:`HandoffService.open`
stores a case (urgency from what was said, the conversation so far as its transcript)
in the shared queue and pauses the Rasa conversation: while a human is on it the
assistant stays silent, and commands such as ``/restart`` cannot bypass the human.
The person's messages are added to the case; an operator's reply is stored with the
transcript and queued in the :class:`~bot.handoff.outbox.Outbox` in one transaction,
then reaches the person through the channel the conversation came from: fetched by
the web chat, pushed to Telegram (``register_channel``), retried until it is through. Handing back
resumes the conversation and the assistant says so; the case stays with the operator
until it is closed. A paused conversation whose case was closed resumes by itself.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional

from rasa.shared.core.events import BotUttered, ConversationPaused, ConversationResumed, UserUttered

from bot import DEFAULT_LANGUAGE, LANGUAGES
from bot.dialogue.nlg import conversation_language
from bot.handoff.forms import forms_mentioned
from bot.handoff.outbox import Outbox
from bot.storage import repository as repo
from bot.storage.addresses import AddressBook
from bot.storage.database import Database
from bot.storage.models import CENTRES, Case

logger = logging.getLogger(__name__)

# (conversation id, text, source) -> sent; source is "counsellor" or "assistant".
Deliver = Callable[[str, str, str], Awaitable[None]]
PULL_CHANNELS = ("web",)  # the person's client fetches its messages
OFFER_ACTION = "utter_human"
CENTRE_PAYLOAD = re.compile(r"^/centre (pagasa|payoke|surya)$")
LIVE_STATUSES = ("open", "claimed")


def urgency_of(intents: Iterable[str]) -> str:
    seen = set(intents)
    if "emergency" in seen:
        return "emergency"
    if seen & {"disclose_exploitation", "ask_if_victim"}:
        return "high"
    return "normal"


def intents_of(tracker: Any) -> List[str]:
    """The person's intents in this conversation, in order, each once."""
    found: List[str] = []
    for event in tracker.events:
        if isinstance(event, UserUttered):
            name = (event.intent or {}).get("name")
            if name and name not in found:
                found.append(name)
    return found


class HandoffService:
    """Cases in ``db`` for the conversations of ``assistant``."""

    def __init__(self, db: Database, assistant: Any, outbox: Optional[Outbox] = None,
                 addresses: Optional[AddressBook] = None) -> None:
        self.db = db
        self.assistant = assistant
        self.outbox = outbox or Outbox(db)
        self.addresses = addresses  # push channels' sealed chat addresses, when any

    def register_channel(self, channel: str, deliver: Deliver) -> None:
        """``channel`` is a push channel whose messages ``deliver`` sends."""
        self.outbox.register_sender(channel, deliver)

    def reachable(self, channel: str) -> bool:
        return channel in PULL_CHANNELS or channel in self.outbox.senders

    def _live(self, session: Any, sender_id: str) -> Optional[Case]:
        return (session.query(Case)
                .filter(Case.conversation_id == sender_id, Case.status.in_(LIVE_STATUSES))
                .order_by(Case.id.desc()).first())

    def live_case_id(self, sender_id: str) -> Optional[int]:
        with self.db.session() as session:
            case = self._live(session, sender_id)
            return case.id if case else None

    async def after_turn(self, sender_id: str, channel: str, tracker: Any) -> List[Dict[str, Any]]:
        """Open a case when this turn offered a human; returns extra replies for the person."""
        if tracker is None or not self._offered_in_last_turn(tracker):
            return []
        language = conversation_language(tracker)
        await self.open(sender_id, channel, language, tracker)
        text = self.assistant.nlg.system_text
        return [
            {"recipient_id": sender_id, "text": text("handoff.opened", language)},
            {"recipient_id": sender_id, "text": text("handoff.choose_centre", language),
             "buttons": [{"title": text(f"handoff.centre_{centre}", language), "payload": f"/centre {centre}"}
                         for centre in CENTRES]},
        ]

    @staticmethod
    def _offered_in_last_turn(tracker: Any) -> bool:
        for event in reversed(tracker.events):
            if isinstance(event, UserUttered):
                return False
            if getattr(event, "action_name", None) == OFFER_ACTION:
                return True
        return False

    async def open(self, sender_id: str, channel: str, language: str, tracker: Any) -> int:
        intents = intents_of(tracker)
        said = [e.text for e in tracker.events if isinstance(e, UserUttered) and e.text]
        with self.db.session() as session:
            case = self._live(session, sender_id) or repo.open_case(
                session, sender_id, channel, language if language in LANGUAGES else DEFAULT_LANGUAGE,
                urgency_of(intents), None, intents, forms_mentioned(said))
            if not case.turns:
                self._copy_transcript(session, case, tracker.events)
            case_id = case.id
        tracker.update(ConversationPaused())
        await self.assistant.agent.tracker_store.save(tracker)
        logger.info("handoff case %s opened", case_id)
        return case_id

    @staticmethod
    def _copy_transcript(session: Any, case: Case, events: Iterable[Any]) -> None:
        for event in events:
            if isinstance(event, UserUttered) and event.text:
                repo.add_turn(session, case, "person", event.text,
                              intent=(event.intent or {}).get("name"))
            elif isinstance(event, BotUttered) and event.text:
                repo.add_turn(session, case, "bot", event.text)

    async def resume(self, sender_id: str) -> None:
        """Un-pause a conversation whose case is gone (closed without a hand back)."""
        tracker = await self.assistant.agent.tracker_store.retrieve(sender_id)
        if tracker is not None and tracker.is_paused():
            tracker.update(ConversationResumed())
            await self.assistant.agent.tracker_store.save(tracker)

    async def person_message(self, sender_id: str, text: str) -> List[Dict[str, Any]]:
        """Add the person's message to their live case (or take their choice of a centre);
        returns what to answer: nothing, unless a centre was chosen."""
        choice = CENTRE_PAYLOAD.match(text)
        with self.db.session() as session:
            case = self._live(session, sender_id)
            if case is None:
                return []
            if not choice:
                repo.add_turn(session, case, "person", text)
                return []
            if case.status == "open" and case.centre is None:
                repo.transfer(session, case, None, choice.group(1))
            language = case.language
        return [{"recipient_id": sender_id,
                 "text": self.assistant.nlg.system_text("handoff.centre_chosen", language)}]

    async def reply(self, case_id: int, operator_id: int, text: str) -> str:
        """Store an operator's reply and send it to the person through their channel.

        Returns "sent" (pushed now), "waiting" (the web chat fetches it) or "queued"
        (the channel failed: it is retried until it is through). A conversation on a
        channel this service cannot reach raises CaseError and nothing is stored."""
        with self.db.session() as session:
            case, operator = self._case_and_operator(session, case_id, operator_id)
            sender_id, channel = case.conversation_id, case.channel
            if not self.reachable(channel):
                raise repo.CaseError(f"no delivery for channel {channel}")
            repo.add_turn(session, case, "operator", text)
            repo.record(session, operator, "replied", case)
            self.outbox.add(session, sender_id, channel, text, "counsellor", case_id)
        return await self._push(channel, sender_id)

    async def hand_back(self, case_id: int, operator_id: int) -> None:
        """Let the assistant answer again, saying so; the case stays until it is closed."""
        with self.db.session() as session:
            case, operator = self._case_and_operator(session, case_id, operator_id)
            repo.record(session, operator, "handed_back", case)
            sender_id, channel, language = case.conversation_id, case.channel, case.language
        async with self.assistant.agent.lock_store.lock(sender_id):  # not during a turn of the person
            tracker = await self.assistant.agent.tracker_store.retrieve(sender_id)
            if tracker is not None:
                tracker.update(ConversationResumed())
                await self.assistant.agent.tracker_store.save(tracker)
                language = tracker.get_slot("language") or language
        await self.deliver(channel, sender_id,
                           self.assistant.nlg.system_text("handoff.handed_back", language), "assistant",
                           case_id=case_id)

    @staticmethod
    def _case_and_operator(session: Any, case_id: int, operator_id: int) -> Any:
        from bot.storage.models import Operator

        case = session.get(Case, case_id)
        if case is None or case.conversation_id is None:
            raise repo.CaseError("no such live case")
        return case, session.get(Operator, operator_id)

    async def deliver(self, channel: str, sender_id: str, text: str, source: str = "assistant",
                      case_id: Optional[int] = None) -> str:
        """Queue ``text`` for a conversation and push it if its channel is a push channel;
        returns like :meth:`reply`. A channel nobody can reach here is skipped."""
        if not self.reachable(channel):
            logger.warning("no delivery for channel %s", channel)
            return "unreachable"
        self.outbox.put(sender_id, channel, text, source, case_id)
        return await self._push(channel, sender_id)

    async def _push(self, channel: str, sender_id: str) -> str:
        if channel in PULL_CHANNELS:
            return "waiting"
        try:
            await self.outbox.flush(sender_id)
        except Exception as exc:  # noqa: BLE001 - the outbox worker retries
            logger.warning("push failed (%s); the outbox retries", type(exc).__name__)
        return "queued" if self.outbox.waiting(sender_id) else "sent"

    async def forget(self, sender_id: str) -> None:
        """Erase what waits for a conversation that the person erased, and its address."""
        self.outbox.forget(sender_id)
        if self.addresses is not None:
            self.addresses.forget(sender_id)

    def forget_older_than(self, moment: Any) -> None:
        """Retention: undelivered messages and addresses older than ``moment``."""
        self.outbox.forget_older_than(moment)
        if self.addresses is not None:
            self.addresses.forget_older_than(moment)
