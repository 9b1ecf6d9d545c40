"""deploy/nginx.conf in a real nginx on loopback, in front of two stand-in replicas.

The Compose file's names (``helpline:5005``, Docker's resolver) are swapped for two
loopback ports; everything else is the deployed config. The stand-ins answer with their
name and the headers they received, so the test sees nginx's routing, not the app's:
a web chat's messages (``X-Conversation``) stay on one replica, other requests spread,
a replica that is down is skipped, no client address reaches a replica, and the proxy's
own limits and paths hold.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.settings import PROJECT_ROOT
from tests.cluster import free_port, port_open, wait_until

NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT_ADDRESS_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def loopback_config(text: str, folder: Path, listen: int, replica_ports: list) -> str:
    """The deployed config with loopback addresses instead of Compose's service names."""
    replaced = {
        "    resolver 127.0.0.11 valid=10s ipv6=off;\n": "",
        "        server helpline:5005 resolve;\n": f"        server 127.0.0.1:{replica_ports[0]};\n",
        "        server helpline-2:5005 resolve;\n": f"        server 127.0.0.1:{replica_ports[1]};\n",
        "        listen 80;\n": f"        listen 127.0.0.1:{listen};\n",
        "http {\n": "http {\n" + "".join(
            f"    {kind}_temp_path {folder / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
    }
    for old, new in replaced.items():
        assert old in text, f"deploy/nginx.conf changed: {old.strip()!r} not found"
        text = text.replace(old, new, 1)
    return f"pid {folder / 'nginx.pid'};\n" + text


class StandIn:
    """A replica stand-in: answers every request with its name and the headers it got."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.runner: web.AppRunner = None

    async def answer(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"replica": self.name, "headers": dict(request.headers)})

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 ** 2)
        app.router.add_route("*", "/{tail:.*}", self.answer)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()


@pytest.fixture
async def proxy():
    replicas = [StandIn("a"), StandIn("b")]
    for replica in replicas:
        await replica.start()
    folder = Path(tempfile.mkdtemp(prefix="helpline-nginx-"))
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(loopback_config(NGINX_CONF.read_text(), folder, port, [r.port for r in replicas]))
    checked = subprocess.run([NGINX, "-t", "-p", str(folder), "-c", str(conf)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_until, lambda: port_open(port), "nginx", 20.0)
        async with aiohttp.ClientSession() as client:
            yield f"http://127.0.0.1:{port}", client, replicas
    finally:
        process.terminate()
        process.wait(timeout=10)
        for replica in replicas:
            if replica.runner is not None:
                await replica.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def send(client: aiohttp.ClientSession, base: str, conversation: str = None, **headers) -> dict:
    if conversation:
        headers["X-Conversation"] = conversation
    async with client.post(f"{base}/webhooks/rest/webhook", json={"message": "hi"}, headers=headers) as answer:
        assert answer.status == 200
        return await answer.json()


async def test_a_web_chats_messages_stay_on_one_replica_and_chats_spread_over_both(proxy):
    base, client, _ = proxy
    # an odd number of chats, so that a plain round robin would move each one every turn
    conversations = [uuid.uuid4().hex for _ in range(21)]
    placed = {}
    for turn in range(5):
        for conversation in conversations:
            replica = (await send(client, base, conversation))["replica"]
            assert placed.setdefault(conversation, replica) == replica, f"turn {turn} moved"
    assert set(placed.values()) == {"a", "b"}


async def test_requests_without_a_conversation_spread_over_both_replicas(proxy):
    base, client, _ = proxy
    seen = Counter([(await send(client, base))["replica"] for _ in range(40)])
    assert set(seen) == {"a", "b"}


async def test_a_replica_that_is_down_is_skipped_and_every_chat_is_answered(proxy):
    base, client, replicas = proxy
    conversations = [uuid.uuid4().hex for _ in range(20)]
    before = {c: (await send(client, base, c))["replica"] for c in conversations}
    assert "a" in before.values()
    await replicas[0].stop()
    replicas[0].runner = None
    after = {c: (await send(client, base, c))["replica"] for c in conversations}
    assert set(after.values()) == {"b"}
    # the chats that were on b did not move
    assert all(after[c] == "b" for c, r in before.items() if r == "b")


async def test_no_client_address_reaches_a_replica(proxy):
    base, client, _ = proxy
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
    headers = (await send(client, base, "c1", **forged))["headers"]
    received = {k.lower(): v for k, v in headers.items()}
    for name in CLIENT_ADDRESS_HEADERS:
        assert not received.get(name.lower()), name
    assert "203.0.113.7" not in str(headers)
    assert received.get("x-conversation") == "c1"


async def test_the_proxys_own_paths_and_body_limit(proxy):
    base, client, _ = proxy
    async with client.get(f"{base}/proxy-health") as answer:
        assert answer.status == 200 and (await answer.text()).strip() == "ok"
    async with client.get(f"{base}/metrics") as answer:
        assert answer.status == 404
    async with client.post(f"{base}/webhooks/rest/webhook", data=b"x" * (200 * 1024)) as answer:
        assert answer.status == 413
    async with client.get(f"{base}/healthz") as answer:  # anything else reaches a replica
        assert answer.status == 200 and (await answer.json())["replica"] in {"a", "b"}
