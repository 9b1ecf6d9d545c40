"""The web chat: a calm chat page, an embeddable widget and a neutral page.

``web_blueprint(assistant, settings)`` serves, next to the REST endpoint that the
page talks to (``/webhooks/rest/webhook`` and ``/webhooks/rest/end``):

- ``GET /`` and ``GET /chat``: the chat page (``static/index.html``);
- ``GET /webchat/chat.js``, ``/webchat/chat.css``, ``/webchat/widget.js``: its files;
- ``GET /webchat/texts/<lang>``: the page's texts in nl/fr/en/de as JSON, rendered
  from ``bot/content/texts/webchat.yml`` through the catalogs (numbers filled in);
- ``GET /neutral``: a plain recipe page that the quick exit replaces the chat with;
- ``GET /widget-demo``: a page of this origin that opens the chat with ``widget.js``;
- ``GET /favicon.ico``: empty (204), so that no page of the service logs a 404 for it.

Every file is static: no inline script or style, nothing from another origin, as
the service's Content-Security-Policy demands. The conversation itself lives only
in the browser's sessionStorage; the server keeps nothing of the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Tuple

from sanic import Blueprint, response
from sanic.request import Request

from bot import LANGUAGES
from bot.connectors.rest import error

STATIC_DIR = Path(__file__).resolve().parent / "static"
TEXTS_PREFIX = "webchat."
HTML = "text/html; charset=utf-8"

# URL -> (file in static/, content type).
FILES: Dict[str, Tuple[str, str]] = {
    "/": ("index.html", HTML),
    "/chat": ("index.html", HTML),
    "/neutral": ("neutral.html", HTML),
    "/widget-demo": ("widget-demo.html", HTML),
    "/neutral.css": ("neutral.css", "text/css; charset=utf-8"),
    "/webchat/chat.js": ("chat.js", "application/javascript; charset=utf-8"),
    "/webchat/chat.css": ("chat.css", "text/css; charset=utf-8"),
    "/webchat/widget.js": ("widget.js", "application/javascript; charset=utf-8"),
}


def page_texts(nlg: Any, language: str) -> Dict[str, str]:
    """Every ``webchat.*`` text in ``language``, keyed without the prefix."""
    return {key[len(TEXTS_PREFIX):]: nlg.system_text(key, language)
            for key in nlg.system_texts if key.startswith(TEXTS_PREFIX)}


def file_handler(body: bytes, content_type: str) -> Callable[[Request], Awaitable[response.HTTPResponse]]:
    async def serve(_: Request) -> response.HTTPResponse:
        return response.raw(body, content_type=content_type)

    return serve


def add_files(bp: Blueprint) -> None:
    for number, (uri, (name, content_type)) in enumerate(FILES.items()):
        body = (STATIC_DIR / name).read_bytes()
        bp.add_route(file_handler(body, content_type), uri, methods=["GET"], name=f"file_{number}")


def web_blueprint(assistant: Any, settings: Any) -> Blueprint:
    """The chat page and its texts for ``assistant`` (``settings`` kept for symmetry
    with the other connectors; the texts come from the assistant's catalogs)."""
    bp = Blueprint("web")
    add_files(bp)
    texts = {language: page_texts(assistant.nlg, language) for language in LANGUAGES}

    @bp.get("/favicon.ico")
    async def favicon(_: Request) -> response.HTTPResponse:
        return response.empty()

    @bp.get("/webchat/texts/<language>")
    async def webchat_texts(_: Request, language: str) -> response.HTTPResponse:
        if language not in texts:
            return error(404, "not_found", f"Texts exist for {', '.join(LANGUAGES)}.")
        return response.json(texts[language], ensure_ascii=False)

    return bp
