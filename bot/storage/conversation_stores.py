"""Where Rasa keeps conversations, and how replicas take turns on one, from endpoints.yml.

``endpoints.yml`` names Rasa's tracker store and lock store with environment
variables (``${DATABASE_URL}``, ``${REDIS_URL}``). :func:`load_endpoints` reads it
the way a helpline needs: a section whose variables are not set is left out, so the
embedded default (no ``REDIS_URL``) keeps an in-process lock, and ``DATABASE_URL``
falls back to the SQLite file of the handoff storage. With PostgreSQL and Redis set,
every replica reads and writes the same conversations (Rasa's SQL tracker store) and
one message of a conversation is handled at a time across all of them
(:class:`RedisConversationLockStore`).

When the tracker store or Redis fails during a turn, the turn goes on (Rasa's
fail-safe tracker store keeps the conversation in memory meanwhile; the lock falls
back to this process) and :func:`troubled` tells the assistant to add the emergency
numbers to its reply.

:class:`TurnCachedTrackerStore` reads a conversation once per turn: the assistant
holds the conversation's lock for the whole turn, so what was read (and then saved)
at its start is still the truth at its end, and the handoff checks and Rasa share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import os
import re
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Mapping, Optional, Tuple

import yaml
from rasa.core.lock_store import LockError, LockStore
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore, create_engine_kwargs
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import create_engine, exc, insert, text
from sqlalchemy.orm import sessionmaker

from bot.storage import shared_redis
from bot.storage.database import default_url, engine_options, ping_after_idle, sqlite_for_a_service

logger = logging.getLogger(__name__)

VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")
LOCK_LIFETIME_S = float(os.environ.get("CONVERSATION_LOCK_SECONDS", "15"))
LOCK_WAIT_S = 20.0
# Turns of different conversations in progress at once in one process (the rest queue).
TURN_CONCURRENCY = max(1, int(os.environ.get("TURN_CONCURRENCY", "16")))
LOCK_POLL_S = 0.005
EVENTS_BY_CONVERSATION = "ix_events_sender_id_id"
VERSION_QUERY = text("SELECT MIN(id), MAX(id) FROM events WHERE sender_id = :sender_id")

class _Turn:
    """What one turn (one task, under the conversation's lock) has seen so far."""

    def __init__(self) -> None:
        self.trouble: List[str] = []
        self.trackers: Dict[str, Any] = {}


_turn: contextvars.ContextVar[Optional[_Turn]] = contextvars.ContextVar("conversation_turn", default=None)


def begin_turn() -> None:
    """Start a turn in this task: storage trouble is collected, trackers are read once."""
    _turn.set(_Turn())


def end_turn() -> None:
    _turn.set(None)


def report_trouble(part: str, error: BaseException) -> None:
    """Log a storage failure (its type only: errors can quote conversation data)."""
    logger.error("%s unavailable (%s); the turn goes on without it", part, type(error).__name__)
    turn = _turn.get()
    if turn is not None:
        turn.trouble.append(part)


def troubled() -> bool:
    turn = _turn.get()
    return bool(turn and turn.trouble)


class TurnCachedTrackerStore(TrackerStore):
    """Any tracker store, read at most once per conversation and turn (see the module
    docstring); outside a turn every call goes straight to the store."""

    def __init__(self, inner: TrackerStore) -> None:
        self.inner = inner
        super().__init__(inner.domain, inner.event_broker)

    @property
    def domain(self) -> Any:
        return self.inner.domain

    @domain.setter
    def domain(self, domain: Any) -> None:
        if hasattr(self, "inner"):
            self.inner.domain = domain

    async def retrieve(self, sender_id: str) -> Any:
        turn = _turn.get()
        if turn is not None and sender_id in turn.trackers:
            return turn.trackers[sender_id]
        tracker = await self.inner.retrieve(sender_id)
        if turn is not None:
            # A new conversation is looked up once too (it is created by this turn).
            turn.trackers[sender_id] = tracker
        return tracker

    async def save(self, tracker: Any) -> None:
        turn = _turn.get()
        if turn is not None and turn.trackers.get(tracker.sender_id, tracker) is None:
            # Looked up in this turn and not found: the turn's new tracker has nothing stored.
            mark_new = getattr(self.inner, "mark_new", None)
            if mark_new is not None:
                mark_new(tracker)
        await self.inner.save(tracker)
        if turn is not None:
            turn.trackers[tracker.sender_id] = tracker

    async def keys(self) -> Any:
        return await self.inner.keys()

    async def retrieve_full_tracker(self, sender_id: str) -> Any:
        return await self.inner.retrieve_full_tracker(sender_id)


def load_endpoints(path: Path, environ: Mapping[str, str] = os.environ) -> Dict[str, EndpointConfig]:
    """The sections of ``path`` whose ``${VARIABLES}`` are all set, with their values in."""
    values = dict(environ)
    values.setdefault("DATABASE_URL", default_url())
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}  # no resolvers
    endpoints: Dict[str, EndpointConfig] = {}
    for name, section in raw.items():
        if not isinstance(section, dict):
            continue
        needed = {v for value in section.values() if isinstance(value, str) for v in VARIABLE.findall(value)}
        if any(not values.get(variable) for variable in needed):
            continue
        filled = {key: VARIABLE.sub(lambda m: values[m.group(1)], value) if isinstance(value, str) else value
                  for key, value in section.items()}
        endpoints[name] = EndpointConfig.from_dict(filled)
    return endpoints


def create_stores(endpoints: Mapping[str, EndpointConfig], domain: Any) -> Dict[str, Any]:
    """Keyword arguments for ``Agent.load``: the tracker store and lock store configured."""
    stores: Dict[str, Any] = {}
    if "tracker_store" in endpoints:
        stores["tracker_store"] = TrackerStore.create(endpoints["tracker_store"], domain)
    if "lock_store" in endpoints:
        stores["lock_store"] = LockStore.create(endpoints["lock_store"])
    return stores


class ConversationSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, named in ``endpoints.yml``, with these changes:

    - a pooled connection that sat idle is checked before use
      (:func:`~bot.storage.database.ping_after_idle`), so that after the database
      restarts the first turn gets a fresh connection instead of a dead one;
    - PostgreSQL commits conversation events without waiting for the disk flush, and the
      version check below runs outside a transaction;
    - it remembers how many events of the current session it read, so that saving
      inserts the new ones without first counting the stored ones again (Rasa's ``save``
      runs a COUNT over the conversation on every turn). Safe because the
      conversation's lock is held from the read to the save; a tracker it did not read
      is counted as Rasa does;
    - it keeps the trackers it saved last (up to ``CONVERSATION_CACHE_SIZE``, each for at
      most ``CONVERSATION_CACHE_SECONDS``) with the first and last event id they were
      saved at. The next read asks the database only for those two ids (an index on
      ``(sender_id, id)`` makes that two look-ups): when another replica wrote to the
      conversation, or it was erased, they differ and the conversation is read in full
      as before; otherwise the kept tracker is handed out (once: it leaves the cache
      until it is saved again, so a turn that fails before saving never leaves a
      half-changed tracker behind). Rebuilding a tracker from its stored events was the
      largest part of a turn's storage cost.
    """

    STORED = "_helpline_stored_events"
    VERSION = "_helpline_event_ids"  # (first, last) event id when read or saved here
    CACHE_SIZE = int(os.environ.get("CONVERSATION_CACHE_SIZE", "1000"))
    CACHE_SECONDS = float(os.environ.get("CONVERSATION_CACHE_SECONDS", "1800"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = create_engine(url, **self._engine_kwargs(url))
        sqlite_for_a_service(self.engine)
        ping_after_idle(self.engine)
        self.sessionmaker = sessionmaker(bind=self.engine)
        self._index_events_by_conversation()
        # The version check is one SELECT: no transaction around it (no ROLLBACK round trip).
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT") \
            if self.engine.dialect.name == "postgresql" else self.engine
        # Built once: SQLAlchemy then keys its compiled-statement cache without a traversal.
        table = self.SQLEvent.__table__
        self._insert = insert(table)
        self._insert_returning = insert(table).returning(table.c.id)
        # conversation -> (saved at, (first event id, last event id), tracker), oldest first
        self._saved: "OrderedDict[str, Tuple[float, Tuple[Any, Any], Any]]" = OrderedDict()

    @staticmethod
    def _engine_kwargs(url: Any) -> Dict[str, Any]:
        """Rasa's engine settings and ours; on PostgreSQL, conversation events are committed
        without waiting for the disk flush (``synchronous_commit=off``: a database crash
        can lose the last fraction of a second of conversation, never corrupt it). The
        handoff database (cases, operators' messages, the outbox) keeps full durability."""
        kwargs = {**create_engine_kwargs(url), **engine_options(str(url))}
        if str(url).startswith("postgresql"):
            connect_args = dict(kwargs.get("connect_args") or {})
            connect_args["options"] = f"{connect_args.get('options', '')} -c synchronous_commit=off".strip()
            kwargs["connect_args"] = connect_args
        return kwargs

    def mark_new(self, tracker: Any) -> None:
        """A tracker of a conversation found to have no events (under its lock): its first
        save inserts all its events without counting the stored ones first."""
        if getattr(tracker, self.STORED, None) is None:
            setattr(tracker, self.STORED, 0)
            setattr(tracker, self.VERSION, (None, None))

    def _index_events_by_conversation(self) -> None:
        """An index on (sender_id, id): a conversation's first and last event id are then
        two index look-ups. Without it PostgreSQL answers MIN/MAX(id) of one conversation
        by walking the primary key through every conversation's events."""
        try:
            with self.engine.begin() as connection:
                connection.execute(text(f"CREATE INDEX IF NOT EXISTS {EVENTS_BY_CONVERSATION} "
                                        "ON events (sender_id, id)"))
        except exc.SQLAlchemyError as error:  # another replica creating it at the same moment
            logger.info("events index not created here (%s)", type(error).__name__)

    @staticmethod
    def _version(connection: Any, sender_id: str) -> Tuple[Any, Any]:
        """The conversation's first and last event id (None, None when it has none)."""
        return tuple(connection.execute(VERSION_QUERY, {"sender_id": sender_id}).one())

    def _keep(self, sender_id: str, version: Tuple[Any, Any], tracker: Any) -> None:
        now = time.monotonic()
        self._saved.pop(sender_id, None)
        self._saved[sender_id] = (now, version, tracker)
        while self._saved:
            oldest_at, _, _ = next(iter(self._saved.values()))
            if len(self._saved) <= self.CACHE_SIZE and now - oldest_at <= self.CACHE_SECONDS:
                break
            self._saved.popitem(last=False)

    def drop_kept(self, sender_id: Optional[str] = None) -> None:
        """Forget the kept tracker of one conversation (or of all): it was erased."""
        if sender_id is None:
            self._saved.clear()
        else:
            self._saved.pop(sender_id, None)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Any:
        """Rasa's read, without building an ORM object per event (only their JSON), or
        the tracker this replica saved last if nothing changed since (see the class)."""
        from rasa.shared.core.trackers import DialogueStateTracker

        kept = None if fetch_events_from_all_sessions else self._saved.pop(sender_id, None)
        if kept is not None:
            saved_at, version, tracker = kept
            if time.monotonic() - saved_at <= self.CACHE_SECONDS \
                    and self._current_version(sender_id) == version:
                return tracker
        rows, version = self._read(sender_id, fetch_events_from_all_sessions)
        if not rows or not self.domain:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, rows, self.domain.slots)
        setattr(tracker, self.STORED, len(tracker.events))
        setattr(tracker, self.VERSION, version)
        return tracker

    def _current_version(self, sender_id: str) -> Tuple[Any, Any]:
        with self._reader.connect() as connection:
            return self._version(connection, sender_id)

    def _read(self, sender_id: str, fetch_events_from_all_sessions: bool) -> Tuple[List[Any], Any]:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions) \
                .with_entities(self.SQLEvent.data).all()
            version = self._version(session.connection(), sender_id) if rows else None
        return [json.loads(row.data) for row in rows], version

    @staticmethod
    def _rows(tracker: Any, events: Any) -> List[Dict[str, Any]]:
        rows = []
        for event in events:
            data = event.as_dict()
            rows.append({"sender_id": tracker.sender_id, "type_name": event.type_name,
                         "timestamp": data.get("timestamp"),
                         "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
                         "action_name": data.get("name"), "data": json.dumps(data)})
        return rows

    async def save(self, tracker: Any) -> None:
        """Rasa's save, as one multi-row INSERT instead of an ORM object per event."""
        await self.stream_events(tracker)
        version = self._write(tracker)
        setattr(tracker, self.STORED, len(tracker.events))
        setattr(tracker, self.VERSION, version)
        self._keep(tracker.sender_id, version, tracker)

    def _write(self, tracker: Any) -> Tuple[Any, Any]:
        """Stores the tracker's new events; returns its (first, last) event id.

        A tracker read here (or saved here before) knows which of its events are stored
        and the ids it was read at: its new events go in on one connection, and where the
        database returns the new ids (PostgreSQL) no further query is needed."""
        stored, known = getattr(tracker, self.STORED, None), getattr(tracker, self.VERSION, None)
        if stored is None or stored > len(tracker.events) or known is None:
            with self.session_scope() as session:  # a tracker not read here: counted as Rasa does
                rows = self._rows(tracker, super()._additional_events(session, tracker))
                if rows:
                    session.execute(self._insert, rows)
                version = self._version(session.connection(), tracker.sender_id)
                session.commit()
            return version
        rows = self._rows(tracker, itertools.islice(tracker.events, stored, None))
        if not rows:
            return known
        with self.engine.begin() as connection:
            if getattr(connection.dialect, "insert_executemany_returning", False):
                ids = connection.execute(self._insert_returning, rows).scalars().all()
                # A new conversation's first id is its first event's.
                return (known[0] if known[0] is not None else min(ids)), max(ids)
            connection.execute(self._insert, rows)
            return self._version(connection, tracker.sender_id)


class LocalConversationLockStore(LockStore):
    """One turn of a conversation at a time within this process (the embedded default):
    the turns of one conversation queue on an asyncio lock, in order, without polling
    (Rasa's in-memory lock store polls once a second).

    And at most ``TURN_CONCURRENCY`` turns of different conversations at once: the others
    wait their turn in order of arrival before touching storage. Under a burst, hundreds of
    turns interleaving on one event loop would each wait seconds for a reply already
    received (a database or Redis time-out firing although the server answered); queued,
    they are answered in about the same total time."""

    def __init__(self) -> None:
        self._local: Dict[str, List[Any]] = {}  # conversation -> [asyncio.Lock, users]
        # one semaphore per event loop (a semaphore belongs to the loop it first waited on)
        self._slots: "weakref.WeakKeyDictionary[Any, asyncio.Semaphore]" = weakref.WeakKeyDictionary()
        super().__init__()

    @contextlib.asynccontextmanager
    async def _local_turn(self, conversation_id: str) -> AsyncIterator[None]:
        entry = self._local.setdefault(conversation_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                loop = asyncio.get_running_loop()
                slots = self._slots.get(loop)
                if slots is None:
                    slots = self._slots[loop] = asyncio.Semaphore(TURN_CONCURRENCY)
                async with slots:
                    yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                self._local.pop(conversation_id, None)

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME_S,
                   wait_time_in_seconds: float = LOCK_POLL_S) -> AsyncIterator[None]:
        async with self._local_turn(conversation_id):
            yield None

    # Rasa's ticket API is not used with these stores: ``lock`` is all the agent calls.
    def get_lock(self, conversation_id: str) -> None:
        return None

    def delete_lock(self, conversation_id: str) -> None:
        return None

    def save_lock(self, lock: Any) -> None:
        return None


class RedisConversationLockStore(LocalConversationLockStore):
    """One turn of a conversation at a time across replicas, with a Redis lock.

    Rasa's own Redis lock store reads and writes its ticket list without atomicity
    and polls once a second; this one takes an atomic ``SET NX PX`` lock (redis-py's
    ``Lock``, released by a Lua check of its token), polls every 5 ms, and expires
    after ``CONVERSATION_LOCK_SECONDS`` (15) so that a replica that dies mid-turn
    cannot block the conversation for long. Within a replica the turns of one
    conversation queue on an asyncio lock first (in order, no Redis polling). If Redis
    cannot be reached the turn runs under the local lock alone and reports trouble.
    """

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, url: Optional[str] = None,
                 key_prefix: Optional[str] = None) -> None:
        config = endpoint_config.kwargs if endpoint_config is not None else {}
        url = url or (endpoint_config.url if endpoint_config is not None else None)
        if not url:
            raise ValueError("RedisConversationLockStore needs a redis:// url")
        self.red = shared_redis.connect(url)
        self.prefix = f"{key_prefix or config.get('key_prefix') or 'helpline'}:lock:"
        super().__init__()

    @contextlib.asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME_S,
                   wait_time_in_seconds: float = LOCK_POLL_S) -> AsyncIterator[None]:
        import redis.exceptions

        async with self._local_turn(conversation_id):
            shared = self.red.lock(self.prefix + conversation_id, timeout=LOCK_LIFETIME_S,
                                   sleep=LOCK_POLL_S, blocking_timeout=LOCK_WAIT_S)
            try:
                acquired = await shared.acquire()
            except (redis.exceptions.RedisError, OSError) as error:
                report_trouble("lock store", error)
                shared = None
            else:
                if not acquired:
                    raise LockError(f"conversation busy for more than {LOCK_WAIT_S:.0f} s")
            try:
                yield None
            finally:
                if shared is not None:
                    with contextlib.suppress(redis.exceptions.RedisError, OSError):
                        await shared.release()

    async def ping(self) -> bool:
        try:
            return bool(await self.red.ping())
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
