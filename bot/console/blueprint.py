"""The console's routes under /console: login, queue, case pages and actions, audit log.

Every page but the login page needs a session (else a redirect to the login page);
every POST needs the session's CSRF token (else 403). Actions write the audit log
through ``bot.storage.repository`` and answer with a 303 back to the page.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

from sanic import Blueprint, response
from sanic.request import Request

from bot import LANGUAGES
from bot.connectors.service import SECURITY_HEADERS
from bot.console import cases
from bot.console.pages import Pages, Texts, language
from bot.console.sessions import Clock, ConsoleSession, SessionStore, same_token
from bot.storage import repository as repo
from bot.storage.database import Database
from bot.storage.models import CENTRES, Operator

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC = {"console.css": "text/css; charset=utf-8",
          "console.js": "application/javascript; charset=utf-8"}
SESSION_COOKIE = "console_session"
LOGIN_COOKIE = "console_login"
LOGIN_URL = "/console/login"
OUTCOMES = ("referred", "advice_given", "no_further_contact", "other")
NOTICES = ("conflict", "invalid", "queued")
MAX_NOTE = 2000
MAX_REPLY = 4000
Auth = Tuple[ConsoleSession, Operator]


def idle_minutes() -> int:
    try:
        return max(1, int(os.environ.get("CONSOLE_IDLE_MINUTES", "30")))
    except ValueError:
        return 30


class Console:
    """The state of one console: database, texts, sessions (in the database, so that any
    replica serves any operator), optional live handoffs and metrics."""

    def __init__(self, db: Database, texts: Texts, handoffs: Any, clock: Clock,
                 metrics: Any = None) -> None:
        self.db = db
        self.handoffs = handoffs
        self.clock = clock
        self.metrics = metrics
        self.secure = os.environ.get("CONSOLE_SECURE_COOKIES") == "1"
        self.store = SessionStore(db, clock, dt.timedelta(minutes=idle_minutes()))
        self.pages = Pages(texts, self.secure)

    # --- cookies and sessions -----------------------------------------------------

    def set_cookie(self, resp: response.HTTPResponse, name: str, value: str,
                   max_age: Optional[int] = None) -> None:
        resp.cookies[name] = value
        cookie = resp.cookies[name]
        cookie["path"], cookie["httponly"], cookie["samesite"] = "/console", True, "Strict"
        if max_age is not None:
            cookie["max-age"] = max_age
        if self.secure:
            cookie["secure"] = True

    def auth(self, request: Request, touch: bool = True) -> Optional[Auth]:
        """The session and its operator, or None (expired, unknown, disabled operator)."""
        token = request.cookies.get(SESSION_COOKIE)
        found = self.store.get(token, touch)
        if found is None:
            return None
        with self.db.session() as session:
            operator = session.get(Operator, found.operator_id)
        if operator is None or operator.disabled:
            self.store.end(token)
            return None
        return found, operator

    def csrf_ok(self, request: Request, found: ConsoleSession) -> bool:
        return same_token(request.form.get("csrf"), found.csrf)

    def forbidden(self, request: Request) -> response.HTTPResponse:
        return self.pages.render(request, "error.html", status=403, message="forbidden",
                                 operator=None, csrf="")

    def not_found(self, request: Request, auth: Auth) -> response.HTTPResponse:
        return self.pages.render(request, "error.html", status=404, message="not_found",
                                 operator=auth[1], csrf=auth[0].csrf)

    # --- login ----------------------------------------------------------------------

    def login_page(self, request: Request, failed: bool = False) -> response.HTTPResponse:
        token = secrets.token_urlsafe(32)
        resp = self.pages.render(request, "login.html", status=401 if failed else 200,
                                 failed=failed, csrf=token, operator=None)
        self.set_cookie(resp, LOGIN_COOKIE, token)
        return resp

    def login(self, request: Request) -> response.HTTPResponse:
        if not same_token(request.form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
            return self.forbidden(request)
        login, password = request.form.get("login") or "", request.form.get("password") or ""
        with self.db.session() as session:
            operator = repo.verify_password(session, login[:64], password[:1024], self.clock())
        if operator is None:
            return self.login_page(request, failed=True)
        self.store.end(request.cookies.get(SESSION_COOKIE))
        resp = response.redirect("/console/", status=303)
        self.set_cookie(resp, SESSION_COOKIE, self.store.start(operator.id))
        self.set_cookie(resp, LOGIN_COOKIE, "", max_age=0)
        return resp

    def logout(self, request: Request) -> response.HTTPResponse:
        self.store.end(request.cookies.get(SESSION_COOKIE))
        resp = response.redirect(LOGIN_URL, status=303)
        self.set_cookie(resp, SESSION_COOKIE, "", max_age=0)
        return resp

    # --- pages ----------------------------------------------------------------------

    def queue_rows(self, request: Request, operator: Operator) -> Tuple[dict, list]:
        chosen = cases.filters(request.args, LANGUAGES)
        with self.db.session() as session:
            found = cases.queue(session, operator, chosen)
            now = self.clock()
            rows = [cases.row(case, now) for case in found]
        return chosen, [self.labelled(request, row) for row in rows]

    def labelled(self, request: Request, row: dict) -> dict:
        """A queue row with its urgency, status and centre in the console's language."""
        text = lambda key: self.pages.texts(f"console.{key}", language(request))  # noqa: E731
        centre = text("shared") if row["centre"] == repo.SHARED_QUEUE else row["centre"]
        return dict(row, urgency_label=text(f"urgency_{row['urgency']}"),
                    status_label=text(f"status_{row['status']}"), centre_label=centre)

    def queue_page(self, request: Request, auth: Auth) -> response.HTTPResponse:
        chosen, rows = self.queue_rows(request, auth[1])
        return self.pages.render(request, "queue.html", rows=rows, chosen=chosen,
                                 operator=auth[1], csrf=auth[0].csrf,
                                 statuses=cases.STATUS_FILTERS, urgencies=repo.URGENCIES)

    def queue_json(self, request: Request, auth: Auth) -> response.HTTPResponse:
        _, rows = self.queue_rows(request, auth[1])
        return response.json({"cases": rows})

    def case_page(self, request: Request, auth: Auth, case_id: int) -> response.HTTPResponse:
        with self.db.session() as session:
            case = cases.find_case(session, auth[1], case_id)
            if case is None:
                return self.not_found(request, auth)
            repo.record(session, auth[1], "viewed", case, self.clock())
            shown = cases.details(case)
            delivery = cases.delivery(session, case_id)
        notice = request.args.get("notice")
        return self.pages.render(request, "case.html", case=shown, operator=auth[1],
                                 csrf=auth[0].csrf, outcomes=OUTCOMES, centres=CENTRES,
                                 notice=notice if notice in NOTICES else "", delivery=delivery)

    def turns_json(self, request: Request, auth: Auth, case_id: int) -> response.HTTPResponse:
        """The transcript of a case, for the case page's live updates."""
        with self.db.session() as session:
            case = cases.find_case(session, auth[1], case_id)
            if case is None:
                return response.json({"error": "not_found"}, status=404)
            turns = cases.details(case)["turns"]
        who = lambda key: self.pages.texts(f"console.who_{key}", language(request))  # noqa: E731
        return response.json({"turns": [dict(turn, who_label=who(turn["who"])) for turn in turns]})

    def audit_page(self, request: Request, auth: Auth) -> response.HTTPResponse:
        if auth[1].role not in cases.SUPERVISING_ROLES:
            return self.forbidden(request)
        with self.db.session() as session:
            entries = cases.audit(session, auth[1].centre)
        return self.pages.render(request, "audit.html", entries=entries, operator=auth[1],
                                 csrf=auth[0].csrf)

    # --- actions --------------------------------------------------------------------

    async def act(self, request: Request, auth: Auth, case_id: int,
                  action: str) -> response.HTTPResponse:
        handler = ACTIONS.get(action)
        with self.db.session() as session:
            visible = cases.find_case(session, auth[1], case_id) is not None
        if handler is None or not visible:
            return self.not_found(request, auth)
        try:
            notice = await handler(self, request, auth[1], case_id)
        except repo.CaseError:
            notice = "conflict"
        return self.back(auth[1], case_id, notice)

    def back(self, operator: Operator, case_id: int, notice: str) -> response.HTTPResponse:
        """To the case page, or to the queue when the case went to another centre."""
        with self.db.session() as session:
            still = cases.find_case(session, operator, case_id) is not None
        target = f"/console/cases/{case_id}" if still else "/console/"
        if notice and still:
            target += f"?notice={notice}"
        return response.redirect(target, status=303)

    async def claim(self, request: Request, operator: Operator, case_id: int) -> str:
        with self.db.session() as session:
            case = repo.claim(session, cases.find_case(session, operator, case_id), operator, self.clock())
            waited = (case.claimed_at - case.created_at).total_seconds()
        if self.metrics is not None:
            self.metrics.claimed(waited)
        return ""

    async def close(self, request: Request, operator: Operator, case_id: int) -> str:
        outcome = request.form.get("outcome")
        if outcome not in OUTCOMES:
            return "invalid"
        note = (request.form.get("note") or "").strip()[:MAX_NOTE] or None
        with self.db.session() as session:
            repo.close(session, cases.find_case(session, operator, case_id), operator, outcome,
                       note, self.clock())
        return ""

    async def transfer(self, request: Request, operator: Operator, case_id: int) -> str:
        target = request.form.get("centre")
        if target != repo.SHARED_QUEUE and target not in CENTRES:
            return "invalid"
        centre = None if target == repo.SHARED_QUEUE else target
        with self.db.session() as session:
            repo.transfer(session, cases.find_case(session, operator, case_id), operator, centre,
                          self.clock())
        return ""

    async def reply(self, request: Request, operator: Operator, case_id: int) -> str:
        text = (request.form.get("text") or "").strip()
        if not text or len(text) > MAX_REPLY:
            return "invalid"
        if self.handoffs is not None:
            # "queued": the channel is down; the outbox delivers it when it is back.
            return "queued" if await self.handoffs.reply(case_id, operator.id, text) == "queued" else ""
        with self.db.session() as session:
            case = cases.find_case(session, operator, case_id)
            if case.status == "closed":
                return "conflict"
            repo.add_turn(session, case, "operator", text, case.language, None, self.clock())
            repo.record(session, operator, "replied", case, self.clock())
        return ""

    async def hand_back(self, request: Request, operator: Operator, case_id: int) -> str:
        if self.handoffs is not None:
            await self.handoffs.hand_back(case_id, operator.id)
            return ""
        with self.db.session() as session:
            repo.record(session, operator, "handed_back",
                        cases.find_case(session, operator, case_id), self.clock())
        return ""


Action = Callable[[Console, Request, Operator, int], Awaitable[str]]
ACTIONS: Dict[str, Action] = {"claim": Console.claim, "close": Console.close, "transfer": Console.transfer,
                 "reply": Console.reply, "hand_back": Console.hand_back}


def add_static(bp: Blueprint) -> None:
    for number, (name, content_type) in enumerate(STATIC.items()):
        body = (STATIC_DIR / name).read_bytes()

        async def serve(_: Request, body: bytes = body,
                        content_type: str = content_type) -> response.HTTPResponse:
            return response.raw(body, content_type=content_type)

        bp.add_route(serve, f"/static/{name}", methods=["GET"], name=f"static_{number}")


def add_pages(bp: Blueprint, console: Console) -> None:
    def page(handler: Callable[..., Any], touch: bool = True) -> Callable[..., Any]:
        async def guarded(request: Request, **kwargs: Any) -> response.HTTPResponse:
            auth = console.auth(request, touch)
            if auth is None:
                return response.redirect(LOGIN_URL, status=303)
            return handler(request, auth, **kwargs)

        return guarded

    bp.add_route(page(console.queue_page), "/", methods=["GET"], name="queue")
    bp.add_route(page(console.audit_page), "/audit", methods=["GET"], name="audit")
    bp.add_route(page(console.case_page), "/cases/<case_id:int>", methods=["GET"], name="case")

    @bp.get("/queue.json")
    async def queue_json(request: Request) -> response.HTTPResponse:
        # Polling is not activity: an open tab alone does not keep a session alive.
        auth = console.auth(request, touch=False)
        if auth is None:
            return response.json({"error": "login_required"}, status=401)
        return console.queue_json(request, auth)

    @bp.get("/cases/<case_id:int>/turns.json")
    async def turns_json(request: Request, case_id: int) -> response.HTTPResponse:
        auth = console.auth(request, touch=False)
        if auth is None:
            return response.json({"error": "login_required"}, status=401)
        return console.turns_json(request, auth, case_id)


def add_forms(bp: Blueprint, console: Console) -> None:
    @bp.get("/login")
    async def login_page(request: Request) -> response.HTTPResponse:
        if console.auth(request) is not None:
            return response.redirect("/console/", status=303)
        return console.login_page(request)

    @bp.post("/login")
    async def login(request: Request) -> response.HTTPResponse:
        return console.login(request)

    async def checked(request: Request) -> Optional[Any]:
        auth = console.auth(request)
        if auth is None:
            return response.redirect(LOGIN_URL, status=303)
        if not console.csrf_ok(request, auth[0]):
            return console.forbidden(request)
        return auth

    @bp.post("/logout")
    async def logout(request: Request) -> response.HTTPResponse:
        auth = await checked(request)
        return auth if isinstance(auth, response.HTTPResponse) else console.logout(request)

    @bp.post("/cases/<case_id:int>/<action:str>")
    async def action(request: Request, case_id: int, action: str) -> response.HTTPResponse:
        auth = await checked(request)
        if isinstance(auth, response.HTTPResponse):
            return auth
        return await console.act(request, auth, case_id, action)


def console_blueprint(db: Database, texts: Texts, settings: Any, handoffs: Any = None,
                      clock: Optional[Clock] = None, metrics: Any = None) -> Blueprint:
    """The console for ``db``; ``texts(key, lang)`` renders ``console.*`` texts,
    ``handoffs`` (optional) relays replies and hand-backs to live conversations,
    ``clock`` (tests) replaces the naive-UTC wall clock, ``metrics`` (optional) counts
    the time to claim. ``settings`` is kept for symmetry with the other connectors."""
    console = Console(db, texts, handoffs, clock or repo.utcnow, metrics)
    bp = Blueprint("console", url_prefix="/console")
    add_static(bp)
    add_pages(bp, console)
    add_forms(bp, console)

    @bp.middleware("response")
    async def security_headers(_: Request, resp: response.HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(header, value)

    bp.ctx.console = console
    return bp
