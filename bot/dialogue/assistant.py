"""The assistant in-process: one Rasa agent, one call per turn, never silent.

:class:`Assistant` loads the trained model once. :meth:`Assistant.turn` handles
one message and returns the replies; if anything inside fails, the person still
gets the emergency numbers in their language (``utter_internal_error``).
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.model import get_latest_model
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot import DEFAULT_LANGUAGE
from bot.dialogue.nlg import CatalogNLG
from bot.language.detection import normalise_hint
from bot.logs import configure_logging
from bot.settings import Settings

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


class Assistant:
    """The Rasa agent plus a failsafe reply."""

    def __init__(self, agent: Agent, settings: Settings) -> None:
        self.agent = agent
        self.settings = settings
        # Set by the service when handoffs to counsellors are on (bot.handoff.service).
        self.handoffs: Optional[Any] = None
        self.nlg = CatalogNLG(domain=agent.domain or Domain.load(str(settings.root / "domain.yml")),
                                        settings=settings)

    @classmethod
    def load(cls, settings: Optional[Settings] = None, model_path: Optional[Path] = None,
             **agent_kwargs: Any) -> "Assistant":
        configure_logging()
        settings = settings or Settings.from_env()
        path = model_path or latest_model(settings)
        agent = Agent.load(str(path), generator=NLG_ENDPOINT, **agent_kwargs)
        return cls(agent, settings)

    async def parse(self, text: str, language_hint: Optional[str] = None) -> Dict[str, Any]:
        """NLU only: intent, language, safety net."""
        message = UserMessage(clean_text(text), metadata={"language_hint": language_hint})
        return await self.agent.processor.parse_message(message)

    async def turn(self, sender_id: str, text: Any,
                   metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """One turn of one conversation; always at least one reply, except while a
        counsellor has the conversation (then the assistant stays silent)."""
        metadata = dict(metadata or {})
        cleaned = clean_text(text)
        output = CollectingOutputChannel()
        try:
            if self.handoffs is not None and await self._with_human(sender_id):
                # The message does not reach Rasa at all, so "/restart" cannot bypass the human.
                return await self.handoffs.person_message(sender_id, cleaned) if cleaned else []
            if not cleaned:
                # An empty message (or only control bytes) still gets a kind answer.
                cleaned = "/nlu_fallback"
            await self.agent.handle_message(
                UserMessage(cleaned, output, sender_id, input_channel=metadata.get("channel"),
                            metadata=metadata))
            replies = [self._reply(m) for m in output.messages]
            if self.handoffs is not None:
                tracker = await self.agent.tracker_store.retrieve(sender_id)
                replies += await self.handoffs.after_turn(sender_id, metadata.get("channel") or "web", tracker)
        except Exception:  # noqa: BLE001 - the person must get an answer whatever failed
            logger.exception("turn failed; sending the failsafe reply")
            return [self.failsafe(sender_id, metadata.get("language_hint"))]
        return replies or [self.failsafe(sender_id, metadata.get("language_hint"))]

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
        """Erase everything held about one conversation (its tracker)."""
        from rasa.core.tracker_store import InMemoryTrackerStore

        store = getattr(self.agent.tracker_store, "_tracker_store", self.agent.tracker_store)
        if isinstance(store, InMemoryTrackerStore):
            store.store.pop(sender_id, None)
        else:
            raise NotImplementedError(f"forgetting is not implemented for {type(store).__name__}")

    async def forget_older_than(self, moment: "datetime.datetime") -> int:
        """Erase conversations whose last event is older than ``moment`` (retention)."""
        from rasa.core.tracker_store import InMemoryTrackerStore

        store = getattr(self.agent.tracker_store, "_tracker_store", self.agent.tracker_store)
        if not isinstance(store, InMemoryTrackerStore):
            return 0
        cutoff = moment.replace(tzinfo=datetime.timezone.utc).timestamp()
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
