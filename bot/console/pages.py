"""Rendering of the console pages: Jinja2 with autoescape on, and the console's language.

The language comes from ``?lang=``, then the ``console_lang`` cookie, then the
browser's Accept-Language (nl/fr/en/de), else English. Texts are the
``console.*`` keys of ``bot/content/texts/console.yml`` through ``texts(key, lang)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import response
from sanic.request import Request

from bot import DEFAULT_LANGUAGE, LANGUAGES

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LANG_COOKIE = "console_lang"
HTML = "text/html; charset=utf-8"
Texts = Callable[[str, str], str]


def environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _accepted(header: str) -> Optional[str]:
    """The first of our languages in an Accept-Language header, by quality."""
    choices = []
    for position, part in enumerate(header.split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        choices.append((-weight, position, tag.split("-")[0].strip().lower()))
    return next((tag for _, _, tag in sorted(choices) if tag in LANGUAGES), None)


def language(request: Request) -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    saved = request.cookies.get(LANG_COOKIE)
    if saved in LANGUAGES:
        return saved
    return _accepted(request.headers.get("accept-language", "")) or DEFAULT_LANGUAGE


class Pages:
    """Renders a template with the console texts of the request's language."""

    def __init__(self, texts: Texts, secure: bool) -> None:
        self.env = environment()
        self.texts = texts
        self.secure = secure

    def render(self, request: Request, name: str, status: int = 200,
               **context: Any) -> response.HTTPResponse:
        lang = language(request)
        text = lambda key: self.texts(f"console.{key}", lang)  # noqa: E731
        body = self.env.get_template(name).render(lang=lang, t=text, languages=LANGUAGES,
                                                  **context)
        resp = response.html(body, status=status)
        if request.args.get("lang") in LANGUAGES:
            self.remember_language(resp, lang)
        return resp

    def remember_language(self, resp: response.HTTPResponse, lang: str) -> None:
        resp.cookies[LANG_COOKIE] = lang
        cookie = resp.cookies[LANG_COOKIE]
        cookie["path"], cookie["httponly"], cookie["samesite"] = "/console", True, "Strict"
        cookie["max-age"] = 365 * 24 * 3600
        if self.secure:
            cookie["secure"] = True
