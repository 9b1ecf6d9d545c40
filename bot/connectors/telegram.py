"""Telegram in front of the assistant, on python-telegram-bot (PTB).

:class:`TelegramConnector` runs a PTB ``Application`` inside the service's Sanic
loop: ``attach(app)`` starts it after the server starts and stops it before the
server stops. With ``TELEGRAM_WEBHOOK_URL`` Telegram posts updates to
``POST /webhooks/telegram`` (checked against a secret token); without it the
connector long-polls, and with ``REDIS_URL`` set it polls only while it holds the
Redis lease of :mod:`bot.connectors.telegram_lease`, so that at most one replica
calls ``getUpdates`` at a time (every replica still sends). Each chat is one
conversation with the id ``conversation_id("tg", chat_id, key)``; names, usernames
and phone numbers are never logged or stored, and only message ids are remembered
(for ``/forget``).

What a person gets: text goes to the assistant and every reply comes back in
order (buttons as an inline keyboard, long texts split); ``/start``, ``/help``,
``/language`` and ``/forget``; a kind answer with the emergency numbers for
photos, voice notes and anything else that is not text; and, whatever fails,
still the emergency numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from sanic import response
from sanic.request import Request
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType, MessageLimit
from telegram.error import NetworkError, TelegramError
from telegram.ext import (AIORateLimiter, Application, ApplicationBuilder, BaseHandler,
                          BaseUpdateProcessor, CallbackQueryHandler, CommandHandler,
                          ContextTypes, MessageHandler, filters)

from bot import DEFAULT_LANGUAGE, LANGUAGES
from bot.connectors.identity import conversation_id
from bot.connectors.telegram_lease import PollerLease
from bot.language.detection import normalise_hint

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
ID_CHANNEL = "tg"  # the channel name inside the hashed conversation id
DEFAULT_API_URL = "https://api.telegram.org/bot"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
MAX_RETRIES = 3  # on 429, honouring retry_after
SERVER_ERROR_RETRIES = 3  # on 5xx and time-outs (NetworkError), with a growing pause
SERVER_ERROR_BACKOFF_S = 0.5
MAX_CALLBACK_BYTES = 64
MAX_DELETE_BATCH = 100
RECENT_MAX_AGE = 48 * 3600.0  # Telegram lets a bot delete messages for 48 hours
GREET_PAYLOAD = "/greet"
FORGET_YES = "tg:forget:yes"
FORGET_NO = "tg:forget:no"
FAILSAFE_TEXT = "service.internal_error"
LANGUAGE_BUTTONS = (("Nederlands", "nl"), ("Français", "fr"), ("English", "en"), ("Deutsch", "de"))
EMPTY_TEXT = "…"  # Telegram refuses an empty message; buttons need one


# -- configuration -------------------------------------------------------------------
@dataclass(frozen=True)
class TelegramConfig:
    """What the connector needs from the environment."""

    token: str
    api_url: str = DEFAULT_API_URL
    webhook_url: Optional[str] = None
    webhook_secret: str = ""
    poll_timeout: float = 30.0
    request_timeout: float = 10.0  # per call to the Bot API: a hanging API counts as a failure

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "TelegramConfig":
        token = environ.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        secret = environ.get("TELEGRAM_WEBHOOK_SECRET", "").strip() or secrets.token_urlsafe(32)
        if not SECRET_PATTERN.match(secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET may only hold A-Z, a-z, 0-9, _ and - (1 to 256)")
        return cls(token=token,
                   api_url=environ.get("TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL,
                   webhook_url=environ.get("TELEGRAM_WEBHOOK_URL", "").strip() or None,
                   webhook_secret=secret)

    @property
    def file_url(self) -> str:
        """PTB's ``base_file_url`` next to the API's: ``.../bot`` -> ``.../file/bot``."""
        base = self.api_url.rstrip("/")
        return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file"


# -- small parts ---------------------------------------------------------------------
def utf16_units(char: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return 2 if ord(char) > 0xFFFF else 1


def _fitting_prefix(text: str, limit: int) -> int:
    units = 0
    for index, char in enumerate(text):
        units += utf16_units(char)
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> List[str]:
    """Parts of at most ``limit`` units, cut at a paragraph, line or word where possible."""
    parts: List[str] = []
    rest = (text or "").strip()
    while rest:
        end = max(_fitting_prefix(rest, limit), 1)
        if end < len(rest):
            cuts = (rest.rfind(sep, 0, end + 1) for sep in ("\n\n", "\n", " "))
            end = next((cut for cut in cuts if cut > end // 2), end)
        parts.append(rest[:end].rstrip())
        rest = rest[end:].lstrip()
    return parts


@dataclass(frozen=True)
class Person:
    """One private chat, as the connector may know it: no name, no username."""

    chat_id: int
    sender_id: str  # the hashed conversation id
    language_hint: Optional[str]


class RecentMessages:
    """Ids of each conversation's recent messages (the person's and the bot's), for ``/forget``.

    Keyed by the hashed conversation id; ids only, at most ``per_conversation``
    of them; an id older than ``max_age`` is never given out and is dropped at
    the next sweep (one a minute at most, when messages come in).
    """

    def __init__(self, max_age: float = RECENT_MAX_AGE, per_conversation: int = 500,
                 clock: Callable[[], float] = time.monotonic, sweep_every: float = 60.0) -> None:
        self._max_age = max_age
        self._per_conversation = per_conversation
        self._clock = clock
        self._sweep_every = sweep_every
        self._last_sweep = clock()
        self._ids: Dict[str, Deque[Tuple[float, int]]] = {}

    def remember(self, sender_id: str, message_id: int) -> None:
        now = self._clock()
        self._sweep(now)
        ids = self._ids.setdefault(sender_id, deque(maxlen=self._per_conversation))
        ids.append((now, message_id))

    def take(self, sender_id: str) -> List[int]:
        """The conversation's ids still young enough, forgetting them all."""
        now = self._clock()
        self._sweep(now)
        ids = self._ids.pop(sender_id, ())
        return sorted({message_id for at, message_id in ids if now - at < self._max_age})

    def __len__(self) -> int:
        return sum(len(ids) for ids in self._ids.values())

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < self._sweep_every:
            return
        self._last_sweep = now
        for sender_id in list(self._ids):
            ids = self._ids[sender_id]
            while ids and now - ids[0][0] >= self._max_age:
                ids.popleft()
            if not ids:
                del self._ids[sender_id]


class CallbackPayloads:
    """Button payloads as ``callback_data`` (at most 64 bytes); longer ones via a small map."""

    PREFIX = "tg:p:"

    def __init__(self, capacity: int = 2048) -> None:
        self._capacity = capacity
        self._payloads: "OrderedDict[str, str]" = OrderedDict()

    def data_for(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(self.PREFIX):
            return payload
        data = self.PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self._payloads[data] = payload
        self._payloads.move_to_end(data)
        while len(self._payloads) > self._capacity:
            self._payloads.popitem(last=False)
        return data

    def payload_for(self, data: str) -> Optional[str]:
        """The payload a button stood for; None when it is no longer known."""
        if data.startswith(self.PREFIX):
            return self._payloads.get(data)
        return data


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat one after another.

    PTB's own semaphore is set wide so that it never queues (its queueing is not
    first-come first-served); the real limit is taken after the chat's lock,
    which is.
    """

    def __init__(self, max_concurrent: int = 32) -> None:
        super().__init__(max_concurrent_updates=1_000_000)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._locks: Dict[Any, asyncio.Lock] = {}
        self._waiting: Dict[Any, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        key = chat.id if chat is not None else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


# -- the connector ------------------------------------------------------------------
Action = Callable[[Person, Update], Awaitable[None]]


class TelegramConnector:
    """The assistant on Telegram; see the module docstring."""

    def __init__(self, assistant: Any, settings: Any, config: TelegramConfig,
                 addresses: Optional[Any] = None, lease: Optional[PollerLease] = None) -> None:
        self.assistant = assistant
        self.settings = settings
        self.config = config
        self.nlg = assistant.nlg  # the assistant's CatalogNLG
        self.recent = RecentMessages()
        self.payloads = CallbackPayloads()
        # Hashed conversation id -> chat id, so that a counsellor's reply can reach the
        # chat: sealed in the shared database (bot.storage.addresses) when ``addresses``
        # is given, so any replica can send it, else in this process's memory only.
        self.addresses = addresses
        self.chats: Dict[str, int] = {}
        self.application: Optional[Application] = None
        self.ready = asyncio.Event()
        self._starter: Optional[asyncio.Task] = None
        # In polling mode with a lease, only its holder polls (see bot.connectors.telegram_lease).
        self.lease = lease
        self._poller: Optional[asyncio.Task] = None

    @classmethod
    def from_env(cls, assistant: Any, settings: Any, environ: Mapping[str, str] = os.environ,
                 addresses: Optional[Any] = None) -> "TelegramConnector":
        config = TelegramConfig.from_env(environ)
        redis_url = environ.get("REDIS_URL", "").strip()
        lease = PollerLease(redis_url) if redis_url and not config.webhook_url else None
        return cls(assistant, settings, config, addresses, lease)

    @property
    def mode(self) -> str:
        return "webhook" if self.config.webhook_url else "polling"

    # -- lifecycle ----------------------------------------------------------------
    def attach(self, app: Any) -> None:
        """Start and stop with the Sanic ``app``; in webhook mode, add its route."""
        app.register_listener(self._after_server_start, "after_server_start")
        app.register_listener(self._before_server_stop, "before_server_stop")
        if self.config.webhook_url:
            app.add_route(self._webhook, WEBHOOK_PATH, methods=["POST"], name="telegram_webhook")

    async def _after_server_start(self, _app: Any, _loop: Any) -> None:
        self._starter = asyncio.get_running_loop().create_task(self._keep_starting())

    async def _before_server_stop(self, _app: Any, _loop: Any) -> None:
        await self.stop()

    async def _keep_starting(self, first_delay: float = 1.0, max_delay: float = 60.0) -> None:
        """Start; while Telegram cannot be reached the rest of the service runs on."""
        delay = first_delay
        while True:
            try:
                await self.start()
                return
            except Exception as exc:  # noqa: BLE001 - retried; the web chat must not die of it
                logger.error("telegram connector could not start (%s); retrying in %.0f s",
                             type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)

    async def start(self) -> None:
        if self.application is None:
            self.application = self._build()
        application = self.application
        await application.initialize()
        if self.config.webhook_url:
            await application.bot.set_webhook(self.config.webhook_url,
                                              secret_token=self.config.webhook_secret,
                                              allowed_updates=list(ALLOWED_UPDATES))
        if not application.running:
            await application.start()
        if application.updater is not None and self.lease is not None:
            if self._poller is None:  # polls while it holds the lease
                self._poller = asyncio.get_running_loop().create_task(
                    self.lease.keep(self._start_polling, self._stop_polling))
        elif application.updater is not None and not application.updater.running:
            await self._start_polling()
        self.ready.set()
        logger.info("telegram connector started (%s)", self.mode)

    async def stop(self) -> None:
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        self._starter = None
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        self.ready.clear()
        await self._stop_polling()
        if self.lease is not None:  # after polling stopped: another replica takes over at once
            await self.lease.release()
            await self.lease.close()
        application, self.application = self.application, None
        if application is None:
            return
        if application.running:
            await application.stop()
        await application.shutdown()
        logger.info("telegram connector stopped")

    async def _start_polling(self) -> None:
        updater = self.application.updater if self.application is not None else None
        if updater is not None and not updater.running:
            await updater.start_polling(timeout=int(self.config.poll_timeout),
                                        allowed_updates=list(ALLOWED_UPDATES))

    async def _stop_polling(self) -> None:
        updater = self.application.updater if self.application is not None else None
        if updater is not None and updater.running:
            await updater.stop()

    def _build(self) -> Application:
        builder = (ApplicationBuilder()
                   .token(self.config.token)
                   .base_url(self.config.api_url)
                   .base_file_url(self.config.file_url)
                   .rate_limiter(AIORateLimiter(max_retries=MAX_RETRIES))
                   .connect_timeout(self.config.request_timeout)
                   .read_timeout(self.config.request_timeout)
                   .write_timeout(self.config.request_timeout)
                   .pool_timeout(self.config.request_timeout)
                   .concurrent_updates(ChatOrderedProcessor())
                   .job_queue(None))
        if self.config.webhook_url:
            builder = builder.updater(None)
        application = builder.build()
        application.add_handlers(self._handlers())
        application.add_error_handler(self._on_error)
        return application

    def _handlers(self) -> List[BaseHandler]:
        private = filters.ChatType.PRIVATE
        new = private & filters.UpdateType.MESSAGE
        return [
            MessageHandler(private & filters.UpdateType.EDITED_MESSAGE, self._guard(self._on_edited)),
            CommandHandler("start", self._guard(self._on_start), filters=new),
            CommandHandler("help", self._guard(self._on_help), filters=new),
            CommandHandler("language", self._guard(self._on_language), filters=new),
            CommandHandler("forget", self._guard(self._on_forget), filters=new),
            MessageHandler(new & filters.TEXT, self._guard(self._on_text)),
            CallbackQueryHandler(self._guard(self._on_button)),
            MessageHandler(new & ~filters.StatusUpdate.ALL, self._guard(self._on_other)),
        ]

    # -- webhook --------------------------------------------------------------------
    def _secret_matches(self, given: Optional[str]) -> bool:
        return given is not None and hmac.compare_digest(given.encode("utf-8"),
                                                         self.config.webhook_secret.encode("utf-8"))

    async def _webhook(self, request: Request) -> response.HTTPResponse:
        if not self._secret_matches(request.headers.get(SECRET_HEADER)):
            return response.json({"error": "forbidden"}, status=403)
        application = self.application
        if application is None or not self.ready.is_set():
            return response.json({"error": "unavailable"}, status=503)
        try:
            data = json.loads(request.body or b"")
            update = Update.de_json(data, application.bot) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None:
            return response.json({"error": "malformed_update"}, status=400)
        await application.update_queue.put(update)
        return response.json({"ok": True})

    # -- handlers ---------------------------------------------------------------------
    def _guard(self, action: Action) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
        """A PTB callback around ``action``: remembers the message id, never fails silently."""
        async def callback(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
            person = self._person(update)
            if person is None:
                return
            if update.message is not None:
                self.recent.remember(person.sender_id, update.message.message_id)
            try:
                await action(person, update)
            except Exception as exc:  # noqa: BLE001 - the person must still get the numbers
                logger.error("telegram: %s while answering; sending the emergency numbers",
                             type(exc).__name__)
                await self._failsafe(person)
        return callback

    def _person(self, update: Update) -> Optional[Person]:
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return None  # a helpline talks in private chats only
        user = update.effective_user
        sender_id = conversation_id(ID_CHANNEL, chat.id, self.settings.conversation_key)
        if self.addresses is not None:
            self.addresses.remember(sender_id, CHANNEL, str(chat.id))
        else:
            self.chats[sender_id] = chat.id
        return Person(chat.id, sender_id, user.language_code if user is not None else None)

    async def deliver(self, sender_id: str, text: str, source: str = "counsellor") -> None:
        """Send a counsellor's (or the assistant's) message to the conversation's chat,
        retried like any reply. LookupError when the chat is unknown (forgotten: the
        outbox gives up), ConnectionError while the connector is not running (retried)."""
        chat_id = self.chats.get(sender_id)
        if chat_id is None and self.addresses is not None:
            found = self.addresses.lookup(sender_id)
            chat_id = int(found) if found is not None else None
        if chat_id is None:
            raise LookupError("this Telegram conversation is not known")
        if self.application is None or not self.ready.is_set():
            raise ConnectionError("the Telegram connector is not running")
        await self._send(Person(chat_id, sender_id, None), text)

    async def _on_text(self, person: Person, update: Update) -> None:
        await self._converse(person, update.message.text)

    async def _on_start(self, person: Person, _update: Update) -> None:
        await self._converse(person, GREET_PAYLOAD)

    async def _on_help(self, person: Person, _update: Update) -> None:
        await self._say(person, "help")

    async def _on_language(self, person: Person, _update: Update) -> None:
        buttons = [{"title": title, "payload": f'/set_language{{"language": "{code}"}}'}
                   for title, code in LANGUAGE_BUTTONS]
        await self._say(person, "choose_language", buttons)

    async def _on_forget(self, person: Person, _update: Update) -> None:
        language = await self._language(person)
        buttons = [{"title": self._text("forget_yes", language), "payload": FORGET_YES},
                   {"title": self._text("forget_no", language), "payload": FORGET_NO}]
        await self._send(person, self._text("forget_question", language), buttons)

    async def _on_other(self, person: Person, _update: Update) -> None:
        await self._say(person, "text_only")

    async def _on_edited(self, person: Person, _update: Update) -> None:
        await self._say(person, "edited")

    async def _on_button(self, person: Person, update: Update) -> None:
        query = update.callback_query
        await self._settle_button(query)
        data = query.data or ""
        if data == FORGET_YES:
            await self._forget(person)
        elif data == FORGET_NO:
            await self._say(person, "forget_cancelled")
        else:
            # As if the person had typed the payload; an unknown one gets the kind fallback.
            await self._converse(person, self.payloads.payload_for(data) or "")

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("telegram: %s in the bot", type(context.error).__name__)

    # -- doing things -------------------------------------------------------------------
    async def _converse(self, person: Person, text: str) -> None:
        await self._typing(person)
        replies = await self.assistant.turn(person.sender_id, text,
                                            {"channel": CHANNEL, "language_hint": person.language_hint})
        for reply in replies:
            await self._send(person, reply.get("text") or "", reply.get("buttons"))

    async def _say(self, person: Person, key: str, buttons: Optional[Sequence[Dict[str, str]]] = None) -> None:
        await self._send(person, self._text(key, await self._language(person)), buttons)

    def _text(self, key: str, language: str) -> str:
        return self.nlg.system_text(f"telegram.{key}", language)

    async def _language(self, person: Person) -> str:
        """The conversation's language if known, else the app's language if spoken here, else English."""
        slot = None
        try:
            tracker = await self.assistant.agent.tracker_store.retrieve(person.sender_id)
            slot = tracker.get_slot("language") if tracker is not None else None
        except Exception as exc:  # noqa: BLE001 - the hint will do
            logger.warning("telegram: %s while reading the conversation's language", type(exc).__name__)
        if slot in LANGUAGES:
            return slot
        return normalise_hint(person.language_hint) or DEFAULT_LANGUAGE

    async def _send(self, person: Person, text: str,
                    buttons: Optional[Sequence[Dict[str, str]]] = None) -> None:
        """Send ``text`` (split when too long; the keyboard on the last part), remembering ids."""
        parts = split_text(text) or ([EMPTY_TEXT] if buttons else [])
        for index, part in enumerate(parts):
            markup = self._keyboard(buttons) if buttons and index == len(parts) - 1 else None
            message = await self._send_one(person.chat_id, part, markup)
            self.recent.remember(person.sender_id, message.message_id)

    async def _send_one(self, chat_id: int, text: str, markup: Optional[InlineKeyboardMarkup]) -> Message:
        """One sendMessage, retried on a 5xx or a time-out; the rate limiter handles 429."""
        for attempt in range(SERVER_ERROR_RETRIES + 1):
            try:
                return await self.application.bot.send_message(chat_id, text, reply_markup=markup)
            except NetworkError as exc:
                if attempt == SERVER_ERROR_RETRIES:
                    raise
                logger.warning("telegram: %s while sending; retry %d", type(exc).__name__, attempt + 1)
                await asyncio.sleep(SERVER_ERROR_BACKOFF_S * 2 ** attempt)
        raise AssertionError("unreachable")

    def _keyboard(self, buttons: Sequence[Dict[str, str]]) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b["title"], callback_data=self.payloads.data_for(b["payload"]))]
             for b in buttons])

    async def _typing(self, person: Person) -> None:
        with contextlib.suppress(TelegramError):
            await self.application.bot.send_chat_action(person.chat_id, ChatAction.TYPING)

    async def _settle_button(self, query: Any) -> None:
        """Answer the press and take the keyboard off its message; neither may stop the reply."""
        try:
            await query.answer()
            if isinstance(query.message, Message):
                await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError as exc:
            logger.warning("telegram: %s while settling a button press", type(exc).__name__)

    async def _forget(self, person: Person) -> None:
        language = await self._language(person)  # before the tracker is gone
        await self.assistant.forget(person.sender_id)
        self.chats.pop(person.sender_id, None)
        await self._delete(person, self.recent.take(person.sender_id))
        await self._send(person, self._text("forgotten", language))

    async def _delete(self, person: Person, message_ids: List[int]) -> None:
        bot = self.application.bot
        for start in range(0, len(message_ids), MAX_DELETE_BATCH):
            batch = message_ids[start:start + MAX_DELETE_BATCH]
            try:
                await bot.delete_messages(person.chat_id, batch)
            except TelegramError:
                for message_id in batch:
                    with contextlib.suppress(TelegramError):
                        await bot.delete_message(person.chat_id, message_id)

    async def _failsafe(self, person: Person) -> None:
        try:
            language = await self._language(person)
            await self._send(person, self.nlg.system_text(FAILSAFE_TEXT, language))
        except Exception as exc:  # noqa: BLE001 - nothing more can be done; say what failed
            logger.error("telegram: %s while sending the failsafe reply", type(exc).__name__)
