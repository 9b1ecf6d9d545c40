"""Rasa's REST channel format over HTTP, so existing Rasa chat clients work.

``POST /webhooks/rest/webhook`` takes ``{"sender", "message", "metadata"?}`` and
returns a list of ``{"recipient_id", "text", "buttons"?}``. Bad input gets a clear
JSON error (400/413/415), never a 500; an empty or odd message still gets a kind
reply. ``POST /webhooks/rest/end`` forgets a conversation (the quick exit).
``POST /webhooks/rest/messages`` hands over what a counsellor wrote since the last
call (the web chat polls it), from the shared :class:`~bot.handoff.outbox.Outbox`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Optional, Tuple

from sanic import Blueprint, response
from sanic.request import Request

from bot.connectors.identity import conversation_id

logger = logging.getLogger(__name__)

CHANNEL = "web"
MAX_SENDER_CHARS = 128


def error(status: int, code: str, message: str) -> response.HTTPResponse:
    return response.json({"error": code, "message": message}, status=status)


def parse_request(request: Request) -> Tuple[Optional[Dict[str, Any]], Optional[response.HTTPResponse]]:
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, error(400, "malformed_json", "The body must be a JSON object.")
    if not isinstance(body, dict):
        return None, error(400, "malformed_json", "The body must be a JSON object.")
    sender = body.get("sender")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return None, error(400, "invalid_sender",
                           f'"sender" must be a non-empty string of at most {MAX_SENDER_CHARS} characters.')
    return body, None


def rest_blueprint(assistant: Any, key: bytes, outbox: Optional[Any] = None) -> Blueprint:
    """The REST endpoints bound to one assistant; ``key`` hashes the senders; ``outbox``
    (when handoffs are on) holds what counsellors wrote."""
    bp = Blueprint("rest", url_prefix="/webhooks/rest")

    @bp.get("/")
    async def health(_: Request) -> response.HTTPResponse:
        return response.json({"status": "ok"})

    @bp.post("/webhook")
    async def receive(request: Request) -> response.HTTPResponse:
        body, problem = parse_request(request)
        if problem:
            return problem
        sender = body["sender"]
        message = body.get("message")
        if not isinstance(message, str):
            message = ""  # a number, null or an object is treated like an empty message
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        hint = metadata.get("language") if isinstance(metadata.get("language"), str) else None
        replies = await assistant.turn(conversation_id(CHANNEL, sender, key), message,
                                       {"channel": CHANNEL, "language_hint": hint})
        return response.json([{**reply, "recipient_id": sender} for reply in replies])

    @bp.post("/messages")
    async def messages(request: Request) -> response.HTTPResponse:
        body, problem = parse_request(request)
        if problem:
            return problem
        waiting = outbox.take(conversation_id(CHANNEL, body["sender"], key)) if outbox is not None else []
        return response.json([{"recipient_id": body["sender"], **message} for message in waiting])

    @bp.post("/end")
    async def end(request: Request) -> response.HTTPResponse:
        body, problem = parse_request(request)
        if problem:
            return problem
        await assistant.forget(conversation_id(CHANNEL, body["sender"], key))
        return response.json({"ended": True})

    return bp
