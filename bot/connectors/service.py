"""The one service process: every channel in front of one in-process assistant.

``build_app`` returns a Sanic app with the REST/web chat endpoints, the web chat
page (when its files exist), health checks, security headers and JSON errors.
Telegram (python-telegram-bot) is attached by ``bot.cli.serve`` when a token is set.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request

from bot.connectors.rest import error, rest_blueprint
from bot.settings import Settings

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 128 * 1024
GRACEFUL_SHUTDOWN_S = 15.0
KEEP_ALIVE_S = 75
SECURITY_HEADERS = {
    # No inline script or style, nothing from other origins.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


def build_app(assistant: Any, settings: Settings, name: str = "helpline",
              web: Optional[Any] = None, outbox: Optional[Any] = None,
              database: Optional[Any] = None, metrics: Optional[Any] = None) -> Sanic:
    """``web`` is an optional blueprint serving the chat page and widget; ``outbox``
    holds counsellors' messages for web conversations; ``database`` (the handoff
    storage) and the shared lock (Redis, when the assistant has one) are checked by
    ``/readyz``; ``metrics`` are served at ``/metrics``."""
    app = Sanic(name, configure_logging=False)  # our JSON logs, no access log
    app.config.REQUEST_MAX_SIZE = MAX_REQUEST_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # On SIGTERM: stop accepting, let the messages being answered finish (graceful).
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = GRACEFUL_SHUTDOWN_S
    # Longer than a load balancer's idle timeout (nginx: 60 s): it closes first, never us
    # under a request in flight.
    app.config.KEEP_ALIVE_TIMEOUT = KEEP_ALIVE_S
    app.ctx.assistant = assistant
    app.ctx.draining = False  # set on SIGTERM: not ready any more, still answering
    app.blueprint(rest_blueprint(assistant, settings.conversation_key, outbox))
    if web is not None:
        app.blueprint(web)

    @app.get("/healthz")
    async def healthz(_: Request) -> response.HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/readyz")
    async def readyz(_: Request) -> response.HTTPResponse:
        """Ready when the model is loaded and the database and Redis answer; 503 otherwise."""
        checks = {"model": bool(assistant.agent.is_ready()), "accepting": not app.ctx.draining}
        if database is not None:
            checks["database"] = database.ping()
        lock_store = getattr(assistant.agent, "lock_store", None)
        if hasattr(lock_store, "ping"):
            checks["redis"] = await lock_store.ping()
        ready = all(checks.values())
        return response.json({"status": "ready" if ready else "not_ready", "checks": checks},
                             status=200 if ready else 503)

    if metrics is not None:
        from bot.observability.metrics import CONTENT_TYPE

        @app.get("/metrics")
        async def prometheus(_: Request) -> response.HTTPResponse:
            return response.raw(metrics.render(), content_type=CONTENT_TYPE)

    @app.middleware("response")
    async def security_headers(_: Request, resp: response.HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(header, value)

    @app.exception(SanicException)
    async def http_error(_: Request, exc: SanicException) -> response.HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(status, "bad_request")
        return error(status, code, str(exc) if status != 500 else "Internal error.")

    @app.exception(Exception)
    async def unexpected(_: Request, exc: Exception) -> response.HTTPResponse:
        logger.error("unexpected error %s", type(exc).__name__)
        return error(500, "internal_error", "Internal error.")

    return app
