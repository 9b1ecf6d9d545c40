"""The web chat in a real browser: Debian's headless Chromium against the real service.

The service runs as ``python -m bot serve`` in a subprocess (the real trained model);
Chromium is driven with Playwright. Every page of every test is watched: no request
may leave 127.0.0.1 and nothing may be logged as an error in the console (which is
where Chromium reports Content-Security-Policy violations).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest
import yaml
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import async_playwright

from bot import LANGUAGES
from bot.content.contacts import contacts, placeholders
from bot.i18n.catalogs import Translations
from tests import samples


ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 120
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 780}
LOCALES = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB", "de": "de-BE"}
CHOICES = ["/request_human", "/ask_contacts", "/ask_information"]
BOT_REPLIES = "#log .msg.bot:not(.intro)"
HTML_PAGES = ("/", "/chat", "/neutral", "/widget-demo")


# ---------------------------------------------------------------- the service


@dataclass
class Service:
    base: str
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pump_lines(stream: Any, lines: "queue.Queue[str]") -> None:
    """Reads the service's stdout to the end, so that it never blocks on a full pipe."""
    for line in stream:
        lines.put(line)
    lines.put("")


def wait_ready(lines: "queue.Queue[str]", ready: str) -> bool:
    while True:
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            return False
        if not line:
            return False  # the process ended
        if line.strip() == ready:
            return True


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Service:
    port = free_port()
    python = ROOT / ".venv" / "bin" / "python"
    folder = tmp_path_factory.mktemp("service")
    errors = folder / "stderr.txt"
    with errors.open("w") as err:
        process = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "bot", "serve", "--port", str(port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
            env={**os.environ, "RASA_TELEMETRY_ENABLED": "false",
                 "DATABASE_URL": f"sqlite:///{folder / 'webchat.db'}"})
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=pump_lines, args=(process.stdout, lines), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_ready(lines, f"ready on {base}"), errors.read_text()[-3000:]
        yield Service(base, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def http(service: Service, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Any, bytes]:
    """(status, headers, body) of one request to the service; headers ignore case."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(service.base + path, data=data,
                                     headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.headers, answer.read()


def page_texts(service: Service, language: str) -> Dict[str, str]:
    return json.loads(http(service, f"/webchat/texts/{language}")[2])


# ---------------------------------------------------------------- expected texts


@pytest.fixture(scope="module")
def expected(settings):
    """``expected(response, language)`` -> (text, button titles) as the assistant renders them."""
    responses = yaml.safe_load((settings.root / "domain.yml").read_text(encoding="utf-8"))["responses"]
    translations = Translations(settings.locales_dir)

    def render(name: str, language: str) -> Tuple[str, List[str]]:
        values = placeholders(settings.contacts_file, language)
        variation = responses[name][0]
        text = translations.gettext(language, variation["text"]).format(**values)
        titles = [translations.gettext(language, b["title"]) for b in variation.get("buttons") or []]
        return text, titles

    return render


@pytest.fixture(scope="module")
def numbers(settings) -> Dict[str, str]:
    return {key: c.phone for key, c in contacts(settings.contacts_file).items()}


# ---------------------------------------------------------------- the browser


@dataclass
class Watch:
    """What one browser context did: every request, every console error."""

    requests: List[Any] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    allow_errors: bool = False

    def attach(self, context: Any) -> None:
        context.on("request", lambda request: self.requests.append(request))
        context.on("page", self.attach_page)

    def attach_page(self, page: Any) -> None:
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def foreign_requests(self, base: str) -> List[str]:
        local = urlsplit(base)
        return [r.url for r in self.requests
                if (urlsplit(r.url).scheme, urlsplit(r.url).netloc) != (local.scheme, local.netloc)
                and not r.url.startswith("data:")]

    def webhook_bodies(self) -> List[Dict[str, Any]]:
        return [json.loads(r.post_data) for r in self.requests if r.url.endswith("/webhooks/rest/webhook")]


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
async def open_page(browser, service):
    """``await open_page(locale=..., **context_options)`` -> (page, watch); checked after the test."""
    opened: List[Tuple[Any, Watch]] = []

    async def open_one(locale: str = "en-GB", **options: Any) -> Tuple[Any, Watch]:
        context = await browser.new_context(locale=locale, **options)
        context.set_default_timeout(TIMEOUT_MS)
        watch = Watch()
        watch.attach(context)
        opened.append((context, watch))
        return await context.new_page(), watch

    yield open_one
    for context, watch in opened:
        await context.close()
        assert watch.foreign_requests(service.base) == []
        assert watch.allow_errors or watch.errors == []


async def open_chat(open_page, service: Service, language: str = "en", **options: Any) -> Tuple[Any, Watch]:
    options.setdefault("locale", LOCALES[language])
    page, watch = await open_page(**options)
    await page.goto(service.base + "/chat")
    await wait_texts(page, service, language)
    return page, watch


async def wait_texts(page: Any, service: Service, language: str) -> None:
    """Waits until the page shows its texts in ``language``."""
    title = page_texts(service, language)["title"]
    await page.wait_for_function(
        "([lang, title]) => document.documentElement.lang === lang"
        " && document.getElementById('title').textContent === title", arg=[language, title])


async def say(page: Any, text: str, replies_before: int) -> Any:
    """Types ``text``, sends it with Enter and waits for the assistant's new replies."""
    await page.fill("#message", text)
    await page.press("#message", "Enter")
    return await wait_replies(page, replies_before)


async def wait_replies(page: Any, replies_before: int) -> Any:
    await page.wait_for_function(
        "([selector, n]) => document.querySelectorAll(selector).length > n"
        " && document.getElementById('typing').hidden", arg=[BOT_REPLIES, replies_before])
    return page.locator(BOT_REPLIES)


async def texts_of(locator: Any) -> List[str]:
    return [text.strip() for text in await locator.all_text_contents()]


# ---------------------------------------------------------------- conversations


async def test_conversation_in_each_language(open_page, service, expected, language):
    page, watch = await open_chat(open_page, service, language)
    assert await page.input_value("#language") == language  # from navigator.languages

    replies = await say(page, samples.DISCLOSURE[language], 0)
    assert await replies.count() == 2
    question, titles = expected("utter_ask_safe", language)
    assert (await replies.nth(1).locator(".text").text_content()) == question
    assert await texts_of(replies.nth(1).locator("button.choice")) == titles

    await replies.nth(1).locator("button.choice").first.click()
    replies = await wait_replies(page, 2)
    offer, offer_titles = expected("utter_offer_options", language)
    assert (await replies.last.locator(".text").text_content()) == offer
    assert await texts_of(replies.last.locator("button.choice")) == offer_titles
    # The pressed button is shown as the person's message; the old buttons are spent.
    assert (await page.locator("#log .msg.user .text").last.text_content()) == titles[0]
    assert await replies.nth(1).locator("button.choice").first.is_disabled()

    sender = await page.evaluate("sessionStorage.getItem('chat.sender')")
    bodies = watch.webhook_bodies()
    assert [b["message"] for b in bodies] == [samples.DISCLOSURE[language], "/affirm"]
    assert all(b["sender"] == sender and b["metadata"] == {"language": language} for b in bodies)


async def test_language_picker_switches_language_and_hint(open_page, service):
    page, watch = await open_chat(open_page, service, "en", locale="es-ES")
    assert await page.input_value("#language") == "en"  # no supported language: English

    await page.select_option("#language", "de")
    replies = await wait_replies(page, 0)
    await wait_texts(page, service, "de")
    assert "deutsch" in (await replies.last.text_content()).lower()
    assert (await page.locator("#log .msg.user .text").last.text_content()) == "Deutsch"
    assert await page.locator("label[for=language]").text_content() == page_texts(service, "de")["language"]

    await say(page, "ok", await replies.count())
    bodies = watch.webhook_bodies()
    assert [b["message"] for b in bodies] == ['/set_language{"language": "de"}', "ok"]
    assert bodies[-1]["metadata"] == {"language": "de"}
    # The choice survives a reload (sessionStorage), and so does the transcript.
    await page.reload()
    await wait_texts(page, service, "de")
    assert await page.input_value("#language") == "de"
    assert await page.locator(BOT_REPLIES).count() == await replies.count()


async def test_typing_indicator_shows_while_waiting(open_page, service):
    page, _ = await open_chat(open_page, service)
    arrived, release = asyncio.Event(), asyncio.Event()

    async def hold(route: Any) -> None:
        arrived.set()
        await release.wait()
        await route.continue_()

    await page.route("**/webhooks/rest/webhook", hold)
    await page.fill("#message", "hello")
    await page.press("#message", "Enter")
    await asyncio.wait_for(arrived.wait(), TIMEOUT_MS / 1000)
    assert await page.is_visible("#typing")
    assert await page.get_attribute("#typing", "role") == "status"
    release.set()
    await wait_replies(page, 0)
    assert await page.is_hidden("#typing")


async def test_failed_fetch_shows_the_error_with_the_numbers(open_page, service, numbers):
    page, watch = await open_chat(open_page, service)
    watch.allow_errors = True  # Chromium logs the refused request itself
    await page.route("**/webhooks/rest/webhook", lambda route: route.abort("connectionrefused"))
    replies = await say(page, "hello", 0)
    text = await replies.last.text_content()
    assert page_texts(service, "en")["error"] in text
    assert numbers["emergency"] in text and numbers["helpline"] in text
    assert await page.is_hidden("#typing")


# ---------------------------------------------------------------- quick exit


@pytest.mark.parametrize("how", ["button", "shift"])
async def test_quick_exit_ends_everything(open_page, service, how):
    page, _ = await open_page(locale=LOCALES["fr"])
    await page.goto(service.base + "/healthz")  # the page the person was on before
    await page.goto(service.base + "/chat")
    await wait_texts(page, service, "fr")
    await say(page, samples.DISCLOSURE["fr"], 0)
    sender = await page.evaluate("sessionStorage.getItem('chat.sender')")
    assert sender and await page.evaluate("sessionStorage.getItem('chat.transcript')")
    await page.evaluate("localStorage.setItem('probe', '1')")
    entries = await page.evaluate("history.length")

    if how == "button":
        await page.click("#quick-exit")
    else:
        await shift_three_times(page)
    await page.wait_for_url(service.base + "/neutral")

    assert await page.evaluate("sessionStorage.length + localStorage.length") == 0
    shown = (await page.inner_text("body")).lower()
    assert not any(word in shown for word in ("chat", "help", "traffick", "traite", "exploit"))
    assert await page.evaluate("history.length") == entries  # the chat's entry was replaced
    await page.go_back()
    assert page.url == service.base + "/healthz"
    await page.go_forward()
    assert page.url == service.base + "/neutral"

    # Ended on the server: the same sender starts afresh (no offer of the next step).
    _, _, body = http(service, "/webhooks/rest/webhook", {"sender": sender, "message": "/affirm"})
    payloads = [b["payload"] for reply in json.loads(body) for b in reply.get("buttons", [])]
    assert payloads and payloads != CHOICES


async def shift_three_times(page: Any) -> None:
    # Shift used for typing (other keys in between) is not a quick exit ...
    await page.focus("#message")
    for key in ("Shift", "a", "Shift", "b", "Shift", "c"):
        await page.keyboard.press(key)
    assert await page.evaluate("document.getElementById('log') !== null")
    assert page.url.endswith("/chat")
    # ... three presses in a row are.
    for _ in range(3):
        await page.keyboard.press("Shift")


async def test_quick_exit_from_the_widget_replaces_the_whole_page(open_page, service):
    page, _ = await open_page()
    await page.goto(service.base + "/widget-demo")
    launcher = page.locator("button.helpchat-launcher")
    assert await launcher.get_attribute("aria-expanded") == "false"
    assert await page.locator("iframe").count() == 0  # nothing loads before the person asks
    await launcher.click()
    assert await launcher.get_attribute("aria-expanded") == "true"
    frame_element = page.locator("iframe.helpchat-frame")
    assert await frame_element.get_attribute("src") == service.base + "/chat"
    assert await frame_element.get_attribute("title")

    chat = page.frame_locator("iframe.helpchat-frame")
    await chat.locator("#message").fill(samples.DISCLOSURE["en"])
    await chat.locator("#message").press("Enter")
    await chat.locator(f"{BOT_REPLIES} button.choice").first.wait_for()
    await chat.locator("#quick-exit").click()
    await page.wait_for_url(service.base + "/neutral")
    assert await page.evaluate("sessionStorage.length") == 0


# ---------------------------------------------------------------- privacy and security


async def test_no_request_leaves_localhost(open_page, service):
    page, watch = await open_chat(open_page, service, "nl", viewport=PHONE)
    await say(page, samples.DISCLOSURE["nl"], 0)
    await page.select_option("#language", "fr")
    await wait_texts(page, service, "fr")
    await wait_replies(page, 2)
    await page.goto(service.base + "/widget-demo")
    await page.click("button.helpchat-launcher")
    await page.frame_locator("iframe.helpchat-frame").locator("#message").wait_for()
    await page.goto(service.base + "/neutral")

    urls = {urlsplit(r.url).path for r in watch.requests}
    assert {"/chat", "/webchat/chat.js", "/webchat/chat.css", "/webchat/texts/nl", "/webchat/texts/fr",
            "/webhooks/rest/webhook", "/widget-demo", "/webchat/widget.js", "/neutral"} <= urls
    assert watch.foreign_requests(service.base) == []
    assert all(urlsplit(r.url).hostname == "127.0.0.1" for r in watch.requests)
    # Messages name their conversation in a header too, for a load balancer to route by.
    posts = [r for r in watch.requests if urlsplit(r.url).path == "/webhooks/rest/webhook"]
    assert posts and all(r.headers.get("x-conversation") == json.loads(r.post_data)["sender"] for r in posts)


async def test_no_console_errors_and_the_watch_sees_csp_violations(open_page, service):
    page, watch = await open_chat(open_page, service)
    await say(page, samples.DISCLOSURE["en"], 0)
    await page.select_option("#language", "nl")
    await wait_texts(page, service, "nl")
    await wait_replies(page, 2)
    assert watch.errors == []
    # The CSP refuses inline script and style, and the watch sees it.
    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await page.evaluate("""() => {
            const script = document.createElement('script');
            script.textContent = 'window.inlineRan = true';
            document.head.appendChild(script);
        }""")
    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        await page.evaluate("""() => {
            const style = document.createElement('style');
            style.textContent = 'body { display: none }';
            document.head.appendChild(style);
        }""")
    assert await page.evaluate("window.inlineRan") is None
    assert await page.is_visible("#message")
    assert sum("Content Security Policy" in error for error in watch.errors) == 2
    watch.errors.clear()


class InlineFinder(HTMLParser):
    """Collects inline scripts, style elements, style and on* attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: List[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script":
            self.scripts += 1
            if "src" not in names:
                self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f"{tag} {name}=" for name in names if name == "style" or name.startswith("on")]


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_have_no_inline_script_or_style(service, path):
    status, headers, body = http(service, path)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    finder = InlineFinder()
    finder.feed(body.decode("utf-8"))
    assert finder.found == []
    assert finder.scripts == (0 if path == "/neutral" else 1)


async def test_html_in_messages_is_shown_as_text(open_page, service):
    page, _ = await open_chat(open_page, service)
    typed = '<img src="/typed-image" onerror="window.pwned = 1"><b>bold</b>'
    await say(page, typed, 0)
    assert (await page.locator("#log .msg.user .text").first.text_content()) == typed

    # A reply that looks like HTML (the assistant never sends one; made here on purpose).
    reply = '<img src="/reply-image" onerror="window.pwned = 2"><i>italic</i> & <script>x()</script>'
    fake = [{"recipient_id": "x", "text": reply, "buttons": [{"title": "<b>yes</b>", "payload": "/affirm"}]}]
    await page.route("**/webhooks/rest/webhook",
                     lambda route: route.fulfill(json=fake, headers={"Content-Type": "application/json"}))
    replies = await say(page, "hello", 1)
    assert (await replies.last.locator(".text").text_content()) == reply
    assert await texts_of(replies.last.locator("button.choice")) == ["<b>yes</b>"]
    assert await page.locator("#log img, #log b, #log i, #log script").count() == 0
    assert await page.evaluate("window.pwned") is None
    assert await page.evaluate("document.querySelectorAll('[style]').length") == 0


# ---------------------------------------------------------------- accessibility and phones


async def serious_violations(page: Any) -> List[str]:
    results = await Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}" for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")]


async def test_accessibility_has_no_serious_violations(open_page, service):
    page, _ = await open_chat(open_page, service, "fr", viewport=PHONE, is_mobile=True, has_touch=True)
    await say(page, samples.DISCLOSURE["fr"], 0)
    log = page.locator("#log")
    assert await log.get_attribute("role") == "log" and await log.get_attribute("aria-live") == "polite"
    assert (await page.locator("label[for=message]").text_content()).strip()
    assert await page.locator("#send").get_attribute("type") == "submit"
    assert await serious_violations(page) == []

    await page.click("summary")
    assert await serious_violations(page) == []
    await page.goto(service.base + "/neutral")
    assert await serious_violations(page) == []
    await page.goto(service.base + "/widget-demo")
    await page.click("button.helpchat-launcher")
    await page.frame_locator("iframe.helpchat-frame").locator("#message").wait_for()
    assert await serious_violations(page) == []


async def test_keyboard_reaches_everything_in_order(open_page, service):
    page, _ = await open_chat(open_page, service)
    order = []
    for _ in range(6):
        await page.keyboard.press("Tab")
        order.append(await page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert order == ["quick-exit", "language", "log", "message", "send", "SUMMARY"]
    await page.focus("#message")
    await page.keyboard.type("hello")
    await page.keyboard.press("Enter")
    replies = await wait_replies(page, 0)
    await replies.last.locator("button.choice").first.focus()
    await page.keyboard.press("Enter")
    await wait_replies(page, 1)


async def test_phone_layout_fits_and_is_readable(open_page, service):
    page, _ = await open_chat(open_page, service, "en", viewport={"width": 360, "height": 640},
                              is_mobile=True, has_touch=True)
    await say(page, samples.DISCLOSURE["en"], 0)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    for selector in ("#quick-exit", "#message", "#send"):
        box = await page.locator(selector).bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 640, selector
        assert box["height"] >= 44, selector
    font = await page.evaluate("parseFloat(getComputedStyle(document.getElementById('message')).fontSize)")
    assert font >= 16
