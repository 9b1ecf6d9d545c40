"""The assistant in-process: one Rasa agent, one call per turn, never silent.

:class:`Assistant` loads the trained model once. :meth:`Assistant.turn` handles
one message and returns the replies; if anything inside fails, the person still
gets the emergency numbers in their language (``service.internal_error``), and when
the conversation storage or the shared lock failed during the turn, the reply is
followed by the same numbers (see :mod:`bot.storage.conversation_stores`).
"""

from __future__ import annotations

import datetime
import gc
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.model import get_latest_model
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot import DEFAULT_LANGUAGE
from bot.dialogue.graph_runner import SequentialGraphRunner
from bot.dialogue import state_history
from bot.dialogue.nlg import CatalogNLG, conversation_language
from bot.language.detection import normalise_hint
from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage import conversation_stores, event_types

logger = logging.getLogger(__name__)

NLG_ENDPOINT = EndpointConfig(type="bot.dialogue.nlg.CatalogNLG")
MAX_TEXT_CHARS = 4000


class ModelNotFound(RuntimeError):
    """No trained model: run ``python -m bot train`` (``make run`` does)."""


def latest_model(settings: Settings) -> Path:
    found = get_latest_model(str(settings.model_dir)) if settings.model_dir.exists() else None
    if not found:
        raise ModelNotFound(f"no trained model in {settings.model_dir}; run `python -m bot train`")
    return Path(found)


def clean_text(text: Any) -> str:
    """Text a person sent, made safe to parse: str, no NUL/control bytes, bounded length."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = "".join(ch for ch in text if ch in "\n\t" or ch >= " ")
    return text[:MAX_TEXT_CHARS].strip()


def settle_model_memory() -> int:
    """Take the loaded model out of the garbage collector's sight; returns the number
    of objects frozen.

    The model is half a million Python objects that live as long as the process. Every
    full collection walked them all (about 270 ms on a 2-core machine), and while it ran
    no turn moved: under load every few seconds a burst of replies waited a quarter of a
    second. What loading left behind is collected first; the rest is frozen (moved to a
    permanent generation the collector skips). Objects created afterwards, such as the
    conversations, are collected as usual. A frozen object caught in a reference cycle is
    never freed, which is why a process loads one model for its whole life.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class Assistant:
    """The Rasa agent plus a failsafe reply."""

    def __init__(self, agent: Agent, settings: Settings) -> None:
        self.agent = agent
        self.settings = settings
        # Set by the service when handoffs to counsellors are on (bot.handoff.service).
        self.handoffs: Optional[Any] = None
        # Set by the service to count messages (bot.observability.metrics).
        self.metrics: Optional[Any] = None
        self.nlg = CatalogNLG(domain=agent.domain or Domain.load(str(settings.root / "domain.yml")),
                                        settings=settings)

    @classmethod
    def load(cls, settings: Optional[Settings] = None, model_path: Optional[Path] = None,
             endpoints: Optional[Path] = None, **agent_kwargs: Any) -> "Assistant":
        """The latest model; with ``endpoints`` (endpoints.yml), its tracker and lock stores
        (see :func:`bot.storage.conversation_stores.load_endpoints`), else in memory."""
        configure_logging()
        settings = settings or Settings.from_env()
        path = model_path or latest_model(settings)
        domain = Domain.load(str(settings.root / "domain.yml"))
        if endpoints is not None:
            agent_kwargs.update(conversation_stores.create_stores(
                conversation_stores.load_endpoints(endpoints), domain))
        agent_kwargs["tracker_store"] = conversation_stores.TurnCachedTrackerStore(
            agent_kwargs.get("tracker_store") or InMemoryTrackerStore(domain))
        agent_kwargs.setdefault("lock_store", conversation_stores.LocalConversationLockStore())
        event_types.install()
        state_history.install()
        agent = Agent.load(str(path), generator=NLG_ENDPOINT, **agent_kwargs)
        agent.processor.graph_runner = SequentialGraphRunner.replacing(agent.processor.graph_runner)
        # Rasa's fail-safe store would log the error text, which can quote what was said.
        agent.tracker_store._on_tracker_store_error = (
            lambda error: conversation_stores.report_trouble("tracker store", error))
        settle_model_memory()
        return cls(agent, settings)

    @property
    def conversations(self) -> Any:
        """The tracker store itself (inside Rasa's fail-safe wrapper and the turn cache)."""
        store = getattr(self.agent.tracker_store, "_tracker_store", self.agent.tracker_store)
        return getattr(store, "inner", store)

    async def parse(self, text: str, language_hint: Optional[str] = None) -> Dict[str, Any]:
        """NLU only: intent, language, safety net."""
        message = UserMessage(clean_text(text), metadata={"language_hint": language_hint})
        return await self.agent.processor.parse_message(message)

    async def turn(self, sender_id: str, text: Any,
                   metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """One turn of one conversation; always at least one reply, except while a
        counsellor has the conversation (then the assistant stays silent)."""
        started = time.perf_counter()
        metadata = dict(metadata or {})
        channel = metadata.get("channel") or "other"
        cleaned = clean_text(text)
        output = CollectingOutputChannel()
        conversation_stores.begin_turn()
        language: Optional[str] = None
        try:
            # The whole turn holds the conversation's lock (across replicas with Redis),
            # so the tracker is read once and stays true until the turn is over.
            async with self.agent.lock_store.lock(sender_id):
                if self.handoffs is not None and await self._with_human(sender_id):
                    # The message does not reach Rasa at all, so "/restart" cannot bypass the human.
                    replies = await self.handoffs.person_message(sender_id, cleaned) if cleaned else []
                    self._count(channel, None, started)
                    return replies
                if not cleaned:
                    # An empty message (or only control bytes) still gets a kind answer.
                    cleaned = "/nlu_fallback"
                await self.agent.processor.handle_message(
                    UserMessage(cleaned, output, sender_id, input_channel=metadata.get("channel"),
                                metadata=metadata))
                replies = [self._reply(m) for m in output.messages]
                tracker = await self.agent.tracker_store.retrieve(sender_id)
                language = conversation_language(tracker) if tracker is not None else None
                if self.handoffs is not None:
                    replies += await self.handoffs.after_turn(sender_id, channel if channel != "other" else "web",
                                                              tracker)
        except Exception as exc:  # noqa: BLE001 - the person must get an answer whatever failed
            logger.error("turn failed (%s); sending the failsafe reply", type(exc).__name__)
            self._count(channel, None, started, failsafe="error")
            return [self.failsafe(sender_id, metadata.get("language_hint"))]
        finally:
            trouble = conversation_stores.troubled()
            conversation_stores.end_turn()
        if trouble or not replies:
            replies.append(self.failsafe(sender_id, language or metadata.get("language_hint")))
        self._count(channel, language, started, failsafe="storage" if trouble else None)
        return replies

    def _count(self, channel: str, language: Optional[str], started: float,
               failsafe: Optional[str] = None) -> None:
        if self.metrics is not None:
            self.metrics.message(channel, language, time.perf_counter() - started)
            if failsafe:
                self.metrics.failsafe_reply(failsafe)

    async def _with_human(self, sender_id: str) -> bool:
        """Paused with a live case; a paused conversation without one resumes."""
        tracker = await self.agent.tracker_store.retrieve(sender_id)
        if tracker is None or not tracker.is_paused():
            return False
        if self.handoffs.live_case_id(sender_id) is not None:
            return True
        await self.handoffs.resume(sender_id)
        return False

    async def forget(self, sender_id: str) -> None:
        """Erase everything held about one conversation: its tracker, and what waits for it
        (under the conversation's lock, so that no turn saves it again meanwhile)."""
        async with self.agent.lock_store.lock(sender_id):
            self._forget_tracker(sender_id)
        if self.handoffs is not None:
            await self.handoffs.forget(sender_id)

    def _forget_tracker(self, sender_id: str) -> None:
        store = self.conversations
        if isinstance(store, InMemoryTrackerStore):
            store.store.pop(sender_id, None)
        elif isinstance(store, SQLTrackerStore):
            with store.session_scope() as session:
                session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender_id).delete()
                session.commit()
            if hasattr(store, "drop_kept"):
                store.drop_kept(sender_id)
        else:
            raise NotImplementedError(f"forgetting is not implemented for {type(store).__name__}")

    async def forget_older_than(self, moment: "datetime.datetime") -> int:
        """Erase conversations whose last event is older than ``moment`` (retention)."""
        store = self.conversations
        if isinstance(store, SQLTrackerStore):
            from bot.storage.repository import purge_conversations

            with store.session_scope() as session:
                erased = purge_conversations(session, moment)
                session.commit()
            if hasattr(store, "drop_kept"):
                store.drop_kept()
            return erased
        cutoff = moment.replace(tzinfo=datetime.timezone.utc).timestamp()
        if not isinstance(store, InMemoryTrackerStore):
            return 0
        old = []
        for sender_id in list(await store.keys()):
            tracker = await store.retrieve(sender_id)
            if tracker is not None and tracker.events and tracker.events[-1].timestamp < cutoff:
                old.append(sender_id)
        for sender_id in old:
            store.store.pop(sender_id, None)
        return len(old)

    def failsafe(self, sender_id: str, language_hint: Optional[str] = None) -> Dict[str, Any]:
        text = self.nlg.system_text("service.internal_error",
                                              normalise_hint(language_hint) or DEFAULT_LANGUAGE)
        return {"recipient_id": sender_id, "text": text}

    @staticmethod
    def _reply(message: Dict[str, Any]) -> Dict[str, Any]:
        reply = {"recipient_id": message.get("recipient_id"), "text": message.get("text") or ""}
        if message.get("buttons"):
            reply["buttons"] = [{"title": b["title"], "payload": b["payload"]} for b in message["buttons"]]
        return reply
