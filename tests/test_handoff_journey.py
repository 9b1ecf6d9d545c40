"""The whole handoff journey end to end, over real HTTP, against ``python -m bot serve``.

One service subprocess (real trained model, its own SQLite database, an operator made
with ``python -m bot operators add``) serves the web chat, the console and Telegram
(pointed at the fake Bot API of ``tests/fake_bot_api.py``, run in this process).

- Web: a person's page in headless Chromium discloses exploitation, asks for a human
  and sees the handoff message; an operator, in a second browser context, logs in,
  takes the case from the top of the queue, reads the transcript, replies (the
  person's page shows it), reads the person's answer, hands back (the person sees the
  hand-back text and the assistant answers again) and closes the case.
- Telegram: the same, the person writing through fake updates and the operator using
  the console with aiohttp (cookie jar, CSRF token from the forms).

Waits are on readiness lines, responses, page contents and recorded Bot API calls.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from bot.dialogue.nlg import CatalogNLG
from bot.storage.database import Database
from bot.storage.models import AuditEntry, Case
from tests import samples
from tests.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
TOKEN = "515151:journey-test-token"
LOGIN = "journey-operator"
PASSWORD = "a journey password long enough"
START_TIMEOUT_S = 120
TIMEOUT_MS = 15_000  # above the web chat's 4 s polling interval, with room to spare
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCALES = {"nl": "nl-BE", "fr": "fr-BE"}
ASSISTANT_REPLIES = "#log .msg.bot:not(.intro):not(.counsellor) .text"
COUNSELLOR_MESSAGES = "#log .msg.counsellor .text"
TELEGRAM_CHAT = 8200001
TELEGRAM_LANGUAGE = "de"
OPERATOR_REPLY = {
    "nl": "Goedendag, ik ben een consulent van het centrum. Bent u nu veilig?",
    "fr": "Bonjour, je suis conseillere du centre. Etes-vous en securite maintenant ?",
    "de": "Guten Tag, ich bin Beraterin des Zentrums. Sind Sie jetzt in Sicherheit?",
}
PERSON_ANSWER = {
    "nl": "ja ik ben nu even alleen op mijn kamer",
    "fr": "oui je suis seule dans ma chambre pour le moment",
    "de": "ja ich bin gerade allein in meinem zimmer",
}


# ---------------------------------------------------------------- the service


@dataclass
class Service:
    base: str
    database_url: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_operator(env: Dict[str, str]) -> None:
    done = subprocess.run([str(PYTHON), "-m", "bot", "operators", "add", LOGIN, "--centre", "payoke",
                           "--role", "operator"], cwd=ROOT, env=env, input=PASSWORD + "\n",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


async def drain(stream: asyncio.StreamReader) -> None:
    """Reads the service's stdout to the end, so that it never blocks on a full pipe."""
    while await stream.readline():
        pass


async def wait_ready(stream: asyncio.StreamReader, ready: str) -> bool:
    while True:
        line = (await stream.readline()).decode()
        if not line:
            return False  # the process ended
        if line.strip() == ready:
            return True


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
async def service(tmp_path_factory, fake) -> AsyncIterator[Service]:
    folder = tmp_path_factory.mktemp("journey")
    port = free_port()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false",
           "DATABASE_URL": f"sqlite:///{folder / 'journey.db'}",
           "HANDOFF_REMINDER_MINUTES": "120",  # no reminder in the middle of a journey
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url}
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    add_operator(env)
    errors = (folder / "stderr.txt").open("w")
    process = await asyncio.create_subprocess_exec(
        str(PYTHON), "-m", "bot", "serve", "--port", str(port), cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
    base = f"http://127.0.0.1:{port}"
    drained = None
    try:
        ready = await asyncio.wait_for(wait_ready(process.stdout, f"ready on {base}"), START_TIMEOUT_S)
        assert ready, (folder / "stderr.txt").read_text()[-3000:]
        drained = asyncio.get_running_loop().create_task(drain(process.stdout))
        yield Service(base, env["DATABASE_URL"])
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 40)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if drained is not None:
            await drained
        errors.close()


@pytest.fixture(scope="module")
def nlg(settings) -> CatalogNLG:
    return CatalogNLG(settings=settings)


def case_record(service: Service, case_id: int) -> Dict[str, Any]:
    """What the database holds about one case: status, channel, language, turns, audit."""
    db = Database(service.database_url)
    try:
        with db.session() as session:
            case = session.get(Case, case_id)
            actions = [e.action for e in session.query(AuditEntry).filter_by(case_id=case_id)
                       .order_by(AuditEntry.id)]
            return {"status": case.status, "channel": case.channel, "language": case.language,
                    "urgency": case.urgency, "turns": [(t.who, t.text) for t in case.turns],
                    "actions": actions, "outcome": case.outcome}
    finally:
        db.dispose()


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        await chromium.close()


@dataclass
class Watched:
    """One browser context and what it did: foreign requests, console errors."""

    context: Any
    foreign: List[str]
    errors: List[str]


async def open_context(browser: Any, service: Service, locale: str) -> Tuple[Any, Watched]:
    context = await browser.new_context(locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    local = urlsplit(service.base).netloc
    watched = Watched(context, [], [])

    def check(request: Any) -> None:
        if urlsplit(request.url).netloc != local and not request.url.startswith("data:"):
            watched.foreign.append(request.url)

    context.on("request", check)
    page = await context.new_page()
    page.on("console", lambda m: m.type == "error" and watched.errors.append(m.text))
    page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
    return page, watched


async def person_says(page: Any, text: str) -> List[Dict[str, Any]]:
    """Types ``text`` in the web chat and returns the replies the service gave to it."""
    async with page.expect_response(lambda r: r.url.endswith("/webhooks/rest/webhook")) as answer:
        await page.fill("#message", text)
        await page.press("#message", "Enter")
    replies = await (await answer.value).json()
    await expect(page.locator("#typing")).to_be_hidden()
    return replies


async def operator_logs_in(page: Any, service: Service) -> None:
    await page.goto(service.base + "/console/login")
    await page.fill("#login", LOGIN)
    await page.fill("#password", PASSWORD)
    await page.click("form.login button[type=submit]")
    await page.wait_for_url(service.base + "/console/")


async def operator_submits(page: Any, action: str) -> None:
    async with page.expect_navigation():
        await page.click(f"form[action$='/{action}'] button[type=submit]")


# ---------------------------------------------------------------- web chat + console


@pytest.mark.parametrize("language", ["nl", "fr"])
async def test_web_chat_handoff_journey(browser, service, nlg, language):
    person, person_watch = await open_context(browser, service, LOCALES[language])
    operator, operator_watch = await open_context(browser, service, "en-GB")
    try:
        await person.goto(service.base + "/")
        await expect(person.locator("html")).to_have_attribute("lang", language)

        # The person discloses, then asks for a human: the handoff message, in their language.
        await person_says(person, samples.DISCLOSURE[language])
        replies = await person_says(person, samples.HUMAN[language])
        opened = nlg.system_text("handoff.opened", language)
        assert opened in [reply["text"] for reply in replies]
        await expect(person.locator(ASSISTANT_REPLIES, has_text=opened)).to_have_count(1)

        # The operator logs in and finds the case at the top of the queue.
        await operator_logs_in(operator, service)
        top = operator.locator("#queue tbody tr").first
        await expect(top).to_have_attribute("data-status", "open")
        await expect(top).to_have_attribute("data-urgency", "high")
        case_id = int(await top.get_attribute("data-id"))
        await top.locator("a").click()
        await operator.wait_for_url(f"{service.base}/console/cases/{case_id}")
        assert case_record(service, case_id)["channel"] == "web"

        await operator_submits(operator, "claim")
        await expect(operator.locator("form[action$='/claim']")).to_have_count(0)
        transcript = operator.locator(".transcript .who-person .text")
        await expect(transcript.first).to_have_text(samples.DISCLOSURE[language])

        # The operator's reply reaches the person's page (the page polls every 4 s).
        await operator.fill("#reply-text", OPERATOR_REPLY[language])
        await operator_submits(operator, "reply")
        await expect(person.locator(COUNSELLOR_MESSAGES)).to_have_text([OPERATOR_REPLY[language]])

        # The person answers; the assistant stays silent; the answer appears live on the
        # operator's case page (polled), without a reload.
        assert await person_says(person, PERSON_ANSWER[language]) == []
        await expect(transcript.last).to_have_text(PERSON_ANSWER[language], timeout=15_000)

        # Hand back: the person is told, and the assistant answers again.
        await operator_submits(operator, "hand_back")
        handed_back = nlg.system_text("handoff.handed_back", language)
        # Said by the assistant, not by the counsellor.
        await expect(person.locator(ASSISTANT_REPLIES).last).to_have_text(handed_back)
        await expect(person.locator(COUNSELLOR_MESSAGES)).to_have_text([OPERATOR_REPLY[language]])
        before = await person.locator(ASSISTANT_REPLIES).count()
        replies = await person_says(person, samples.GREETING[language])
        assert replies and all(r["text"] for r in replies)
        assert replies[0]["text"] != nlg.system_text("service.internal_error", language)
        await expect(person.locator(ASSISTANT_REPLIES)).to_have_count(before + len(replies))

        # The operator closes the case; the database holds the whole journey.
        await operator.select_option("#close-outcome", "advice_given")
        await operator_submits(operator, "close")
        record = case_record(service, case_id)
        assert record["status"] == "closed" and record["outcome"] == "advice_given"
        assert record["language"] == language
        assert ("operator", OPERATOR_REPLY[language]) in record["turns"]
        assert record["turns"][-1] == ("person", PERSON_ANSWER[language])
        assert [a for a in record["actions"] if a != "viewed"] == [
            "claimed", "replied", "handed_back", "closed"]
    finally:
        await person_watch.context.close()
        await operator_watch.context.close()
    for watched in (person_watch, operator_watch):
        assert watched.foreign == [] and watched.errors == []


# ---------------------------------------------------------------- Telegram + console


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def fetch(client: aiohttp.ClientSession, url: str, data: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
    """GET (or POST ``data``) following redirects; (final status, body)."""
    if data is None:
        async with client.get(url) as answer:
            return answer.status, await answer.text()
    async with client.post(url, data=data) as answer:
        return answer.status, await answer.text()


async def console_login(client: aiohttp.ClientSession, service: Service) -> None:
    _, page = await fetch(client, service.base + "/console/login")
    status, page = await fetch(client, service.base + "/console/login",
                               {"csrf": csrf_of(page), "login": LOGIN, "password": PASSWORD})
    assert status == 200 and 'id="queue"' in page


async def console_act(client: aiohttp.ClientSession, service: Service, case_id: int,
                      action: str, **fields: str) -> str:
    """Posts one action with the case page's CSRF token; returns the case page after it."""
    _, page = await fetch(client, f"{service.base}/console/cases/{case_id}")
    status, page = await fetch(client, f"{service.base}/console/cases/{case_id}/{action}",
                               dict(fields, csrf=csrf_of(page)))
    assert status == 200 and 'class="notice"' not in page
    return page


def telegram_says(fake: FakeBotAPI, text: str) -> None:
    fake.queue(fake.message(TELEGRAM_CHAT, text, language_code=TELEGRAM_LANGUAGE))


async def test_telegram_handoff_journey(service, fake, nlg):
    language, chat = TELEGRAM_LANGUAGE, TELEGRAM_CHAT
    opened = nlg.system_text("handoff.opened", language)
    telegram_says(fake, samples.DISCLOSURE[language])
    telegram_says(fake, samples.HUMAN[language])
    await fake.wait_for_text(chat, opened, timeout=60)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        await console_login(client, service)
        async with client.get(service.base + "/console/queue.json") as answer:
            top = (await answer.json())["cases"][0]
        assert (top["status"], top["channel"], top["urgency"], top["language"]) == (
            "open", "telegram", "high", language)
        case_id = top["id"]

        page = await console_act(client, service, case_id, "claim")
        assert f"/console/cases/{case_id}/claim" not in page
        assert samples.DISCLOSURE[language] in page

        reply = OPERATOR_REPLY[language]
        await console_act(client, service, case_id, "reply", text=reply)
        await fake.wait_for_text(chat, reply)

        # The person answers; the chat's updates run in order, so once /help is answered
        # the answer before it has reached the case. The assistant said nothing to it.
        sent_before = len(fake.sent_to(chat))
        telegram_says(fake, PERSON_ANSWER[language])
        telegram_says(fake, "/help")
        await fake.wait_for_text(chat, nlg.system_text("telegram.help", language))
        assert len(fake.sent_to(chat)) == sent_before + 1
        _, page = await fetch(client, f"{service.base}/console/cases/{case_id}")
        assert PERSON_ANSWER[language] in page

        await console_act(client, service, case_id, "hand_back")
        await fake.wait_for_text(chat, nlg.system_text("handoff.handed_back", language))
        earlier = {id(call) for call in fake.calls}
        telegram_says(fake, samples.GREETING[language])
        answer = await fake.wait_for(lambda c: id(c) not in earlier and c.method == "sendMessage"
                                     and c.status == 200 and c.chat_id == chat)
        assert answer.params["text"] and answer.params["text"] != nlg.system_text(
            "service.internal_error", language)

        await console_act(client, service, case_id, "close", outcome="referred")
    record = case_record(service, case_id)
    assert record["status"] == "closed" and record["channel"] == "telegram"
    assert ("operator", reply) in record["turns"] and ("person", PERSON_ANSWER[language]) in record["turns"]
    assert [a for a in record["actions"] if a != "viewed"] == ["claimed", "replied", "handed_back", "closed"]
