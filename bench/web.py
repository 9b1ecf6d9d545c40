"""Web endpoint under load beside the bare Rasa agent on the same model.

50 concurrent conversations of 10 turns each go through ``POST
/webhooks/rest/webhook`` of a real ``python -m bot serve`` on loopback (the embedded
default: conversations in SQLite); the same script runs against the bare
``Agent.handle_message`` in-process, once with conversations in memory and once on
the same SQLite storage as the service. Prints messages per second, p50/p95/p99 and
lost messages; the connector's overhead is measured against the bare agent on the
same storage, and the storage's cost against the bare agent in memory.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import List, Tuple

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SEQUENTIAL_RUNS = 10
ROUNDS = 3
SCRIPT = ["hello", "my boss took my passport and i have not been paid for months", "/affirm",
          "/ask_information", "/ask_victim_status", "is het gratis en vertrouwelijk",
          "merci", "au secours il me frappe maintenant", "/deny", "bye"]


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_folder() -> Path:
    """A temporary folder, removed when the bench exits."""
    folder = Path(tempfile.mkdtemp(prefix="helpline-bench-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def start_service(port: int) -> subprocess.Popen:
    """The embedded default (SQLite), on a database of its own in a temporary folder."""
    database = scratch_folder() / "bench.db"
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TELEGRAM_BOT_TOKEN": "",
                                 "DATABASE_URL": f"sqlite:///{database}"})
    for line in proc.stdout:
        if line.startswith("ready on"):
            return proc
    raise RuntimeError("service did not start")


async def web_run(port: int, conversations: int) -> Tuple[List[float], int, float]:
    latencies: List[float] = []
    lost = 0
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    connector = aiohttp.TCPConnector(limit=conversations)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as client:
        async def conversation() -> None:
            nonlocal lost
            sender = uuid.uuid4().hex
            for text in SCRIPT:
                started = time.perf_counter()
                async with client.post(url, json={"sender": sender, "message": text}) as answer:
                    replies = await answer.json() if answer.status == 200 else []
                latencies.append((time.perf_counter() - started) * 1000)
                if not replies:
                    lost += 1
        started = time.perf_counter()
        await asyncio.gather(*(conversation() for _ in range(conversations)))
        return latencies, lost, time.perf_counter() - started


async def agent_run(assistant, conversations: int) -> Tuple[List[float], int, float]:
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    latencies: List[float] = []
    lost = 0

    async def conversation() -> None:
        nonlocal lost
        sender = uuid.uuid4().hex
        for text in SCRIPT:
            output = CollectingOutputChannel()
            started = time.perf_counter()
            await assistant.agent.handle_message(UserMessage(text, output, sender))
            latencies.append((time.perf_counter() - started) * 1000)
            if not output.messages:
                lost += 1
    started = time.perf_counter()
    await asyncio.gather(*(conversation() for _ in range(conversations)))
    return latencies, lost, time.perf_counter() - started


def sequential(runs: List[Tuple[List[float], int, float]]) -> Tuple[List[float], int, float]:
    """Several one-conversation runs, merged into one set of figures."""
    return ([x for r in runs for x in r[0]], sum(r[1] for r in runs), sum(r[2] for r in runs))


def report(name: str, latencies: List[float], lost: int, elapsed: float) -> None:
    print(f"{name:22} {len(latencies) / elapsed:8.0f} msg/s  p50 {statistics.median(latencies):7.1f} ms"
          f"  p95 {percentile(latencies, 95):7.1f} ms  p99 {percentile(latencies, 99):7.1f} ms  lost {lost}")


def run(assistant, conversations: int = 50) -> None:
    """Latency one conversation at a time, then throughput with ``conversations`` at once.

    Under concurrency the web figures include queueing for the CPU, while an
    in-process asyncio caller barely yields, so the fair comparison there is
    throughput; the per-message overhead shows in the one-at-a-time latencies.
    The three targets take turns for ``ROUNDS`` rounds and each one's rounds are pooled,
    so that a shared machine slowing down or speeding up meanwhile weighs on all alike.
    """
    port = free_port()
    service = start_service(port)
    stored = stored_assistant(assistant)
    targets = {"web": lambda n: web_run(port, n), "bare": lambda n: agent_run(stored, n),
               "memory": lambda n: agent_run(assistant, n)}
    one: dict = {name: [] for name in targets}
    many: dict = {name: [] for name in targets}
    try:
        for start in targets.values():
            asyncio.run(start(5))  # warm-up
        for _ in range(ROUNDS):
            for name, start in targets.items():
                one[name] += [asyncio.run(start(1)) for _ in range(SEQUENTIAL_RUNS)]
                many[name].append(asyncio.run(start(conversations)))
    finally:
        service.terminate()
        service.wait(timeout=30)
    web_one, bare_one, memory_one = (sequential(one[name]) for name in targets)
    web_many, bare_many, memory_many = (sequential(many[name]) for name in targets)
    print(f"\none conversation at a time, {ROUNDS} x {SEQUENTIAL_RUNS} x {len(SCRIPT)} turns, loopback")
    report("web endpoint (serve)", *web_one)
    report("bare agent, SQLite", *bare_one)
    report("bare agent, in memory", *memory_one)
    print(f"{conversations} concurrent conversations x {len(SCRIPT)} turns, {ROUNDS} rounds")
    report("web endpoint (serve)", *web_many)
    report("bare agent, SQLite", *bare_many)
    report("bare agent, in memory", *memory_many)
    latency = statistics.median(web_one[0]) / statistics.median(bare_one[0]) - 1
    throughput = (len(bare_many[0]) / bare_many[2]) / (len(web_many[0]) / web_many[2]) - 1
    print(f"connector overhead: {latency * 100:+.0f} % latency (p50, one at a time), "
          f"{throughput * 100:+.0f} % time per message at {conversations} concurrent (goal <= +15 %)")
    storage = statistics.median(bare_one[0]) / statistics.median(memory_one[0]) - 1
    print(f"storage cost (SQLite vs memory, bare agent): {storage * 100:+.0f} % latency (p50, one at a time)")


def stored_assistant(assistant):
    """The same model with the service's stores (endpoints.yml) on a temporary SQLite file."""
    from bot.dialogue.assistant import Assistant

    database = scratch_folder() / "bare.db"
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    try:
        return Assistant.load(assistant.settings, endpoints=assistant.settings.root / "endpoints.yml")
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous
