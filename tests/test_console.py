"""The operators' console over real HTTP: login and lockout, CSRF, centres, queue, actions, escaping.

Each test serves a fresh console (a Sanic app on 127.0.0.1 with a migrated SQLite
database in tmp_path) and talks to it with aiohttp; one test drives Debian's headless
Chromium with Playwright. Time is an injected clock, so idle expiry needs no waiting.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, List, Optional

import aiohttp
import pytest

from sanic import Sanic
from sqlalchemy import select

from bot.connectors.service import SECURITY_HEADERS
from bot.console import console_blueprint
from bot.dialogue.nlg import CatalogNLG
from bot.storage import repository as repo
from bot.storage.database import Database
from bot.storage.models import AuditEntry, Case, Turn
from tests.in_process import serving as serving_app

PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
START = dt.datetime(2030, 6, 15, 12, 0)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Clock:
    now: dt.datetime = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, minutes: int) -> None:
        self.now += dt.timedelta(minutes=minutes)


@dataclass
class Handoffs:
    """Records what the console asks of the live handoffs (the real ones relay to chats)."""

    calls: List[tuple] = field(default_factory=list)

    async def reply(self, case_id: int, operator_id: int, text: str) -> None:
        self.calls.append(("reply", case_id, operator_id, text))

    async def hand_back(self, case_id: int, operator_id: int) -> None:
        self.calls.append(("hand_back", case_id, operator_id))


@dataclass
class Console:
    base: str
    db: Database
    clock: Clock
    ids: dict

    def case(self, centre: Optional[str], urgency: str = "normal", minutes_ago: int = 0,
             text: str = "I need help at work", language: str = "fr", status: str = "open") -> int:
        with self.db.session() as session:
            case = repo.open_case(session, f"web-{uuid.uuid4().hex}", "web", language, urgency,
                                  centre, intents=["ask_help"], forms=["labour"],
                                  now=self.clock() - dt.timedelta(minutes=minutes_ago))
            repo.add_turn(session, case, "person", text, language, "ask_help", case.created_at)
            if status == "closed":
                repo.close(session, case, None, "other", None, self.clock())
            return case.id

    def load(self, case_id: int) -> Case:
        with self.db.session() as session:
            return session.get(Case, case_id)

    def audit(self, case_id: int) -> List[tuple]:
        with self.db.session() as session:
            rows = session.execute(select(AuditEntry).where(AuditEntry.case_id == case_id)
                                   .order_by(AuditEntry.id)).scalars()
            return [(row.action, row.operator_id) for row in rows]

    def turns(self, case_id: int) -> List[tuple]:
        with self.db.session() as session:
            rows = session.execute(select(Turn).where(Turn.case_id == case_id)
                                   .order_by(Turn.id)).scalars()
            return [(row.who, row.text, row.language) for row in rows]


@pytest.fixture(scope="module")
def nlg(settings):
    return CatalogNLG(settings=settings)


@asynccontextmanager
async def serving(tmp_path, nlg, settings, handoffs: Any = None):
    url = f"sqlite:///{tmp_path / f'console-{uuid.uuid4().hex[:8]}.db'}"
    db = Database(url)
    db.migrate()
    with db.session() as session:
        ids = {login: repo.add_operator(session, login, centre, PASSWORD, role, now=START).id
               for login, centre, role in [("ana", "payoke", "operator"),
                                           ("bram", "pagasa", "operator"),
                                           ("chef", "payoke", "supervisor")]}
    clock = Clock()
    app = Sanic(f"console-test-{uuid.uuid4().hex[:8]}")
    app.blueprint(console_blueprint(db, nlg.system_text, settings, handoffs, clock=clock))
    try:
        async with serving_app(app) as base_url:
            yield Console(base_url, db, clock, ids)
    finally:
        db.dispose()


@pytest.fixture
async def console(tmp_path, nlg, settings):
    async with serving(tmp_path, nlg, settings) as running:
        yield running


@pytest.fixture
async def client():
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def row_ids(html: str) -> List[int]:
    return [int(i) for i in re.findall(r'<tr class="urgency-\w+" data-id="(\d+)"', html)]


async def get(client, url, **kwargs):
    async with client.get(url, allow_redirects=False, **kwargs) as resp:
        return resp.status, resp.headers, await resp.text()


async def post(client, url, data, **kwargs):
    async with client.post(url, data=data, allow_redirects=False, **kwargs) as resp:
        return resp.status, resp.headers, await resp.text()


async def login(client, console, name="ana", password=PASSWORD):
    _, _, page = await get(client, console.base + "/console/login")
    return await post(client, console.base + "/console/login",
                      {"csrf": csrf_of(page), "login": name, "password": password})


async def logged_in(client, console, name="ana") -> str:
    """Logs in and returns the session's CSRF token (from the queue page)."""
    status, headers, _ = await login(client, console, name)
    assert status == 303 and headers["Location"] == "/console/"
    _, _, page = await get(client, console.base + "/console/")
    return csrf_of(page)


async def act(client, console, case_id, action, csrf, **fields):
    return await post(client, f"{console.base}/console/cases/{case_id}/{action}",
                      dict(fields, csrf=csrf))


# ---------------------------------------------------------------- login and sessions


async def test_unauthenticated_requests_go_to_the_login_page(console, client):
    case_id = console.case("payoke")
    for path in ("/console/", f"/console/cases/{case_id}", "/console/audit"):
        status, headers, _ = await get(client, console.base + path)
        assert (status, headers["Location"]) == (303, "/console/login"), path
    status, _, _ = await get(client, console.base + "/console/queue.json")
    assert status == 401
    status, headers, _ = await post(client, f"{console.base}/console/cases/{case_id}/claim", {})
    assert (status, headers["Location"]) == (303, "/console/login")
    assert console.load(case_id).status == "open"


async def test_login_cookie_is_strict_and_logout_ends_the_session(console, client):
    status, headers, _ = await login(client, console)
    cookie = next(v for v in headers.getall("Set-Cookie") if v.startswith("console_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    status, headers, page = await get(client, console.base + "/console/")
    assert status == 200 and 'id="queue"' in page
    for header, value in SECURITY_HEADERS.items():
        assert headers[header] == value
    status, headers, _ = await post(client, console.base + "/console/logout",
                                    {"csrf": csrf_of(page)})
    assert (status, headers["Location"]) == (303, "/console/login")
    status, _, _ = await get(client, console.base + "/console/")
    assert status == 303


async def test_secure_cookies_when_asked(tmp_path, nlg, settings, monkeypatch, client):
    monkeypatch.setenv("CONSOLE_SECURE_COOKIES", "1")
    async with serving(tmp_path, nlg, settings) as running:
        _, headers, page = await get(client, running.base + "/console/login")
        first = headers["Set-Cookie"]
        token = re.search(r"console_login=([^;]+)", first).group(1)
        # The client keeps Secure cookies for https only: send the login cookie by hand.
        status, headers, _ = await post(client, running.base + "/console/login",
                                        {"csrf": csrf_of(page), "login": "ana",
                                         "password": PASSWORD},
                                        headers={"Cookie": f"console_login={token}"})
    assert status == 303 and "Secure" in first
    cookie = next(v for v in headers.getall("Set-Cookie") if v.startswith("console_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_five_wrong_passwords_lock_the_account(console, client):
    for _ in range(5):
        status, _, page = await login(client, console, password="wrong")
        assert status == 401 and "Login failed" in page
    status, _, _ = await login(client, console)
    assert status == 401
    status, _, _ = await get(client, console.base + "/console/")
    assert status == 303
    status, _, _ = await login(client, console, name="chef")  # other accounts still work
    assert status == 303


async def test_idle_sessions_expire_and_polling_is_not_activity(console, client):
    await logged_in(client, console)
    console.clock.advance(29)
    assert (await get(client, console.base + "/console/"))[0] == 200
    console.clock.advance(20)
    assert (await get(client, console.base + "/console/queue.json"))[0] == 200
    console.clock.advance(11)
    assert (await get(client, console.base + "/console/queue.json"))[0] == 401
    status, headers, _ = await get(client, console.base + "/console/")
    assert (status, headers["Location"]) == (303, "/console/login")


async def test_posts_without_the_right_csrf_token_are_refused(console, client):
    case_id = console.case("payoke")
    csrf = await logged_in(client, console)
    assert (await post(client, f"{console.base}/console/cases/{case_id}/claim", {}))[0] == 403
    assert (await act(client, console, case_id, "claim", "x" + csrf))[0] == 403
    assert (await post(client, console.base + "/console/logout", {}))[0] == 403
    assert console.load(case_id).status == "open" and console.audit(case_id) == []
    status, _, _ = await post(client, console.base + "/console/login",
                              {"login": "ana", "password": PASSWORD})
    assert status == 403


async def test_language_follows_lang_then_cookie_then_accept_language(console, client):
    status, _, page = await get(client, console.base + "/console/login",
                                headers={"Accept-Language": "de-BE,de;q=0.9,en;q=0.5"})
    assert status == 200 and '<html lang="de">' in page
    _, _, page = await get(client, console.base + "/console/login?lang=fr",
                           headers={"Accept-Language": "de"})
    assert '<html lang="fr">' in page
    _, _, page = await get(client, console.base + "/console/login",
                           headers={"Accept-Language": "de"})
    assert '<html lang="fr">' in page  # remembered in the cookie
    _, _, page = await get(client, console.base + "/console/login?lang=en")
    assert '<html lang="en">' in page and "<h1>Log in</h1>" in page
    _, _, page = await get(client, console.base + "/console/login?lang=xx")
    assert '<html lang="en">' in page


# ---------------------------------------------------------------- queue and centres


async def test_operator_sees_own_centre_and_shared_queue_only(console, client):
    own, shared, other = console.case("payoke"), console.case(None), console.case("pagasa")
    csrf = await logged_in(client, console)
    _, _, page = await get(client, console.base + "/console/")
    assert sorted(row_ids(page)) == sorted([own, shared])
    status_other, _, other_page = await get(client, f"{console.base}/console/cases/{other}")
    status_unknown, _, unknown_page = await get(client, f"{console.base}/console/cases/99999")
    assert status_other == status_unknown == 404 and other_page == unknown_page
    assert (await act(client, console, other, "claim", csrf))[0] == 404
    assert console.load(other).status == "open" and console.audit(other) == []
    assert (await get(client, f"{console.base}/console/cases/{shared}"))[0] == 200


async def test_queue_puts_emergencies_first_then_the_longest_waiting(console, client):
    normal_old = console.case("payoke", "normal", minutes_ago=90)
    emergency_new = console.case(None, "emergency", minutes_ago=1)
    high = console.case("payoke", "high", minutes_ago=5, language="nl")
    emergency_old = console.case("payoke", "emergency", minutes_ago=30)
    closed = console.case("payoke", "emergency", minutes_ago=120, status="closed")
    await logged_in(client, console)
    _, _, page = await get(client, console.base + "/console/")
    expected = [emergency_old, emergency_new, high, normal_old]
    assert row_ids(page) == expected
    async with client.get(console.base + "/console/queue.json") as resp:
        rows = (await resp.json())["cases"]
    assert [r["id"] for r in rows] == expected
    assert rows[0]["waiting_minutes"] == 30 and rows[0]["urgency_label"] == "Emergency"
    _, _, page = await get(client, console.base + "/console/?status=closed")
    assert row_ids(page) == [closed]
    _, _, page = await get(client, console.base + "/console/?status=all")
    assert row_ids(page) == expected + [closed]
    _, _, page = await get(client, console.base + "/console/?urgency=high")
    assert row_ids(page) == [high]
    _, _, page = await get(client, console.base + "/console/?language=fr&urgency=emergency")
    assert row_ids(page) == [emergency_old, emergency_new]


# ---------------------------------------------------------------- case page and actions


async def test_claim_transfer_and_close_are_audited(console, client):
    case_id, moved = console.case("payoke"), console.case("payoke")
    csrf = await logged_in(client, console)
    ana = console.ids["ana"]
    status, headers, _ = await act(client, console, case_id, "claim", csrf)
    assert (status, headers["Location"]) == (303, f"/console/cases/{case_id}")
    case = console.load(case_id)
    assert (case.status, case.claimed_by) == ("claimed", ana)
    _, headers, _ = await act(client, console, case_id, "claim", csrf)
    assert headers["Location"].endswith("?notice=conflict")
    await act(client, console, case_id, "transfer", csrf, centre="shared")
    case = console.load(case_id)
    assert (case.centre, case.status, case.claimed_by) == (None, "open", None)
    _, headers, _ = await act(client, console, case_id, "close", csrf, outcome="nonsense")
    assert headers["Location"].endswith("?notice=invalid") and console.load(case_id).status == "open"
    await act(client, console, case_id, "close", csrf, outcome="referred", note="sent to <b>")
    case = console.load(case_id)
    assert (case.status, case.outcome, case.note) == ("closed", "referred", "sent to <b>")
    assert console.audit(case_id) == [("claimed", ana), ("transferred", ana), ("closed", ana)]
    _, headers, _ = await act(client, console, moved, "transfer", csrf, centre="pagasa")
    assert headers["Location"] == "/console/" and console.load(moved).centre == "pagasa"
    assert (await get(client, f"{console.base}/console/cases/{moved}"))[0] == 404


async def test_reply_is_stored_as_an_operator_turn(console, client):
    case_id = console.case("payoke", language="nl")
    csrf = await logged_in(client, console)
    _, headers, _ = await act(client, console, case_id, "reply", csrf, text="  ")
    assert headers["Location"].endswith("?notice=invalid")
    status, _, _ = await act(client, console, case_id, "reply", csrf, text="We can help you.")
    assert status == 303
    assert console.turns(case_id)[-1] == ("operator", "We can help you.", "nl")
    await act(client, console, case_id, "hand_back", csrf)
    ana = console.ids["ana"]
    assert console.audit(case_id) == [("replied", ana), ("handed_back", ana)]


async def test_reply_and_hand_back_go_through_the_handoffs(tmp_path, nlg, settings, client):
    handoffs = Handoffs()
    async with serving(tmp_path, nlg, settings, handoffs) as running:
        case_id = running.case(None)
        csrf = await logged_in(client, running)
        await act(client, running, case_id, "reply", csrf, text="Hello")
        await act(client, running, case_id, "hand_back", csrf)
        ana = running.ids["ana"]
        assert handoffs.calls == [("reply", case_id, ana, "Hello"), ("hand_back", case_id, ana)]
        assert len(running.turns(case_id)) == 1


async def test_case_page_shows_metadata_and_escapes_the_transcript(console, client):
    case_id = console.case("payoke", "high", text=XSS)
    await logged_in(client, console)
    status, _, page = await get(client, f"{console.base}/console/cases/{case_id}")
    assert status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<script>alert" not in page and "<img" not in page
    assert "ask_help" in page and "labour" in page and "High" in page
    assert console.audit(case_id) == [("viewed", console.ids["ana"])]


async def test_audit_log_is_for_supervisors_of_the_centre(console, client):
    own, other = console.case("payoke"), console.case("pagasa")
    with console.db.session() as session:
        repo.record(session, None, "viewed", session.get(Case, own))
        repo.record(session, None, "viewed", session.get(Case, other))
    await logged_in(client, console, "ana")
    assert (await get(client, console.base + "/console/audit"))[0] == 403
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as chef:
        await logged_in(chef, console, "chef")
        status, _, page = await get(chef, console.base + "/console/audit")
    assert status == 200
    assert f'data-case="{own}"' in page and f'data-case="{other}"' not in page


# ---------------------------------------------------------------- in a real browser


async def test_browser_shows_hostile_text_inertly_and_flags_new_emergencies(console):
    from playwright.async_api import async_playwright

    case_id = console.case("payoke", text=XSS)
    dialogs, errors, foreign, failed = [], [], [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on("dialog", lambda dialog: dialogs.append(dialog.message))
            # Errors in the console are CSP violations and failed loads (favicon.ico is
            # served by the web chat's blueprint in the real service, not here).
            page.on("console", lambda msg: errors.append(msg.text)
                    if msg.type == "error" and "404" not in msg.text else None)
            page.on("response", lambda resp: failed.append(resp.url)
                    if resp.status >= 400 and not resp.url.endswith("/favicon.ico") else None)
            page.on("request", lambda req: foreign.append(req.url)
                    if not req.url.startswith(console.base) else None)
            await page.goto(console.base + "/console/cases/1")
            await page.fill("#login", "ana")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit] >> text=Log in")
            await page.wait_for_url(console.base + "/console/")
            await page.goto(f"{console.base}/console/cases/{case_id}")
            assert await page.locator(".turn .text").inner_text() == XSS
            await page.goto(console.base + "/console/")
            assert not (await page.title()).startswith("(!)")
            emergency = console.case(None, "emergency")
            await page.wait_for_selector(f'tr[data-id="{emergency}"]', timeout=15_000)
            await page.wait_for_function("document.title.indexOf('(!) ') === 0", timeout=5_000)
            first = await page.locator("#queue tbody tr").first.get_attribute("data-id")
            assert first == str(emergency)
        finally:
            await browser.close()
    assert dialogs == [] and errors == [] and foreign == [] and failed == []


async def test_the_case_page_says_which_messages_have_not_reached_the_person(console, client, nlg):
    from bot.handoff.outbox import Outbox

    case_id = console.case("payoke")
    with console.db.session() as session:
        conversation = session.get(Case, case_id).conversation_id
    outbox = Outbox(console.db, console.clock)
    for said in ("one", "two"):
        outbox.put(conversation, "web", said, "counsellor", case_id)
    failed = outbox.put(conversation, "telegram", "three", "counsellor", case_id)
    with console.db.session() as session:
        from bot.storage.models import OutboxMessage

        session.get(OutboxMessage, failed).failed_at = console.clock()
    await logged_in(client, console)
    _, _, page = await get(client, f"{console.base}/console/cases/{case_id}?lang=nl")
    assert html.escape(nlg.system_text("console.delivery_waiting", "nl"), quote=False) + " 2" in page
    assert html.escape(nlg.system_text("console.delivery_failed", "nl"), quote=False) + " 1" in page
    outbox.take(conversation)  # the web chat fetched its two
    _, _, page = await get(client, f"{console.base}/console/cases/{case_id}?lang=nl")
    assert nlg.system_text("console.delivery_waiting", "nl")[:20] not in page
