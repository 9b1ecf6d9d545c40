"""A small Telegram Bot API server on 127.0.0.1 for the connector's tests.

It speaks the Bot API's protocol under ``/bot<token>/<method>`` (form-encoded or
JSON requests, ``{"ok": ..., "result": ...}`` answers), holds updates for
``getUpdates`` long polling (offsets confirm them, an empty poll waits on an
event until its timeout), records every call and can be told to answer the next
calls of a method with 429 (``retry_after``) or 500, or leave them unanswered for a
while (``stall_next``: a Bot API that times out). Also builds the updates a
person's Telegram app would cause (messages, photos, voice notes, button presses).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from aiohttp import web

# Parameters whose form-encoded value is JSON (numbers, booleans, objects, lists).
JSON_PARAMETERS = frozenset({
    "chat_id", "message_id", "message_ids", "offset", "limit", "timeout", "reply_markup",
    "allowed_updates", "drop_pending_updates", "max_connections", "show_alert", "cache_time",
    "disable_notification", "protect_content", "link_preview_options", "reply_parameters",
    "entities", "allow_sending_without_reply", "message_thread_id", "allow_paid_broadcast",
})
MAX_POLL_SECONDS = 30.0

# Who the fake person is: none of this may ever reach a log.
FIRST_NAME = "Qwilhelmina"
LAST_NAME = "Zorbalova"
USERNAME = "qwil_zorb_private"


@dataclass
class Call:
    """One request the connector made, with its parameters and how it was answered."""

    method: str
    params: Dict[str, Any]
    status: int = 200
    result: Any = None
    at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> Optional[int]:
        value = self.params.get("chat_id")
        return int(value) if value is not None else None


@dataclass
class Failure:
    method: str
    times: int
    status: int
    chat_id: Optional[int] = None
    stall_s: float = 0.0  # wait this long before answering (a time-out for the client)


def decode_params(raw: Dict[str, str]) -> Dict[str, Any]:
    params: Dict[str, Any] = {}
    for key, value in raw.items():
        if key in JSON_PARAMETERS and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        params[key] = value
    return params


def person(chat_id: int, language_code: Optional[str]) -> Dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": FIRST_NAME, "last_name": LAST_NAME,
            "username": USERNAME}
    if language_code:
        user["language_code"] = language_code
    return user


def private_chat(chat_id: int) -> Dict[str, Any]:
    return {"id": chat_id, "type": "private", "first_name": FIRST_NAME, "last_name": LAST_NAME,
            "username": USERNAME}


class FakeBotAPI:
    """``async with FakeBotAPI(token) as fake:``; point the bot at ``fake.base_url``."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: List[Call] = []
        self.messages: Dict[int, Dict[str, Any]] = {}
        self.webhook: Dict[str, Any] = {}
        self.queued: List[Dict[str, Any]] = []
        self._updates: List[Dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._failures: List[Failure] = []
        self._new_update = asyncio.Event()
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: Optional[web.AppRunner] = None
        self.port = 0

    # -- server ------------------------------------------------------------------
    async def __aenter__(self) -> "FakeBotAPI":
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        self._closing = True
        self._new_update.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What ``TELEGRAM_API_URL`` is set to."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        failure = self._take_failure(method, params)
        if failure is not None:
            await self._record(Call(method, params, failure.status))
            if failure.stall_s:
                await asyncio.sleep(failure.stall_s)  # the server hangs: the client times out
            return self._failure_response(failure.status)
        answer = getattr(self, f"_api_{method}", None)
        if answer is None:
            return self._error(404, "Not Found: method not found")
        result = await answer(params) if asyncio.iscoroutinefunction(answer) else answer(params)
        if isinstance(result, web.Response):
            await self._record(Call(method, params, result.status))
            return result
        await self._record(Call(method, params, result=result))
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    async def _params(request: web.Request) -> Dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body or {})
        form = await request.post()
        params = {key: value for key, value in form.items() if isinstance(value, str)}
        params.update({key: value for key, value in request.query.items()})
        return decode_params(params)

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description},
                                 status=code)

    def _failure_response(self, status: int) -> web.Response:
        if status == 429:
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": "Too Many Requests: retry after 1",
                                      "parameters": {"retry_after": 1}}, status=429)
        return self._error(status, "Internal Server Error")

    def _take_failure(self, method: str, params: Dict[str, Any]) -> Optional[Failure]:
        for failure in self._failures:
            chat_matches = failure.chat_id is None or str(failure.chat_id) == str(params.get("chat_id"))
            if failure.method == method and chat_matches and failure.times > 0:
                failure.times -= 1
                return failure
        return None

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # -- the Bot API methods ------------------------------------------------------------
    def _api_getMe(self, _: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Helpline",
                "username": "helpline_test_bot", "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _api_getUpdates(self, params: Dict[str, Any]) -> List[Dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        while not self._updates and not self._closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except asyncio.TimeoutError:
                break
        return list(self._updates[: int(params.get("limit") or 100)])

    def _api_sendMessage(self, params: Dict[str, Any]) -> Dict[str, Any]:
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": private_chat(int(params["chat_id"])), "text": params["text"],
                   "from": self._api_getMe({})}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[message["message_id"]] = message
        return message

    def _api_editMessageReplyMarkup(self, params: Dict[str, Any]) -> Any:
        message = self.messages.get(int(params.get("message_id") or 0))
        if message is None:
            return self._error(400, "Bad Request: message to edit not found")
        message = {k: v for k, v in message.items() if k != "reply_markup"}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[message["message_id"]] = message
        return message

    def _api_answerCallbackQuery(self, _: Dict[str, Any]) -> bool:
        return True

    def _api_deleteMessage(self, params: Dict[str, Any]) -> bool:
        self.messages.pop(int(params["message_id"]), None)
        return True

    def _api_deleteMessages(self, params: Dict[str, Any]) -> bool:
        for message_id in params["message_ids"]:
            self.messages.pop(int(message_id), None)
        return True

    def _api_sendChatAction(self, _: Dict[str, Any]) -> bool:
        return True

    def _api_setWebhook(self, params: Dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _api_deleteWebhook(self, _: Dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _api_getWebhookInfo(self, _: Dict[str, Any]) -> Dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    # -- what the tests do -----------------------------------------------------------
    def fail_next(self, method: str, times: int = 1, status: int = 429,
                  chat_id: Optional[int] = None) -> None:
        """Answer the next ``times`` calls of ``method`` (for ``chat_id``) with ``status``."""
        self._failures.append(Failure(method, times, status, chat_id))

    def stall_next(self, method: str, times: int = 1, seconds: float = 2.0,
                   chat_id: Optional[int] = None) -> None:
        """Leave the next ``times`` calls of ``method`` unanswered for ``seconds`` (then 504)."""
        self._failures.append(Failure(method, times, 504, chat_id, seconds))

    def heal(self) -> None:
        """Answer everything normally again."""
        self._failures.clear()

    def queue(self, update: Dict[str, Any]) -> Dict[str, Any]:
        """Hold ``update`` for the next ``getUpdates``; gives it the next update_id."""
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self.queued.append(update)
        self._new_update.set()
        return update

    def message(self, chat_id: int, text: Optional[str] = None, language_code: Optional[str] = "en",
                **content: Any) -> Dict[str, Any]:
        """An update with a message the person sent (text, or e.g. ``photo=[...]``)."""
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": private_chat(chat_id), "from": person(chat_id, language_code), **content}
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    def edited(self, chat_id: int, text: str, language_code: Optional[str] = "en") -> Dict[str, Any]:
        update = self.message(chat_id, text, language_code)
        update["message"]["edit_date"] = int(time.time())
        return {"edited_message": update["message"]}

    def press(self, chat_id: int, message_id: int, data: str,
              language_code: Optional[str] = "en") -> Dict[str, Any]:
        """An update for a button press on the bot's message ``message_id``."""
        return {"callback_query": {"id": f"cb-{message_id}-{len(self.calls)}",
                                   "from": person(chat_id, language_code),
                                   "chat_instance": f"ci-{chat_id}", "data": data,
                                   "message": self.messages[message_id]}}

    def calls_for(self, chat_id: int, method: Optional[str] = None) -> List[Call]:
        return [c for c in self.calls if c.chat_id == chat_id and (method is None or c.method == method)]

    def sent_by_person(self, chat_id: int) -> List[Dict[str, Any]]:
        """The messages the person sent in the chat (as queued), in order."""
        return [u["message"] for u in self.queued
                if "message" in u and u["message"]["chat"]["id"] == chat_id]

    def sent_to(self, chat_id: int) -> List[Call]:
        """Messages delivered to the chat, in order."""
        return [c for c in self.calls_for(chat_id, "sendMessage") if c.status == 200]

    async def wait_for(self, match: Callable[[Call], bool], timeout: float = 30.0) -> Call:
        """The first recorded call that ``match``es, waiting for it up to ``timeout``."""
        def found() -> Optional[Call]:
            return next((c for c in self.calls if match(c)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(found), timeout)
            return found()

    async def wait_for_text(self, chat_id: int, text: str, timeout: float = 30.0) -> Call:
        return await self.wait_for(lambda c: c.method == "sendMessage" and c.status == 200
                                   and c.chat_id == chat_id and c.params.get("text") == text, timeout)
