"""The scaled deployment under load: one and two replicas on PostgreSQL + Redis, beside the bare agent.

Starts its own PostgreSQL cluster and Redis (``tests/cluster.py``) and two ``python -m
bot serve`` replicas sharing them (SQL tracker store, Redis conversation lock, one
``CONVERSATION_KEY``), then drives ``POST /webhooks/rest/webhook`` on loopback:

* 200 and 50 concurrent conversations of 10 turns, closed loop (a conversation sends
  its next message as soon as the reply to the previous one arrived), through
  (a) one replica and (b) two replicas behind a round-robin in the load generator
  (each conversation's messages alternate between the replicas: the worst case for the
  replicas' conversation cache), and (b') two replicas where each conversation stays on
  one, as ``deploy/nginx.conf`` routes web chats (by ``X-Conversation``);
* (c) the bare Rasa agent in-process (``Agent.handle_message``, in-memory stores) on
  the same model and script, like ``bench/web.py``;
* paced runs: 50 conversations where each person waits a think time of 1.0 s between
  a reply and their next message (conversations start spread over the first second,
  as people do not arrive in lockstep), on one replica and on two.

Per run: messages per second, p50/p95/p99 latency, errors (non-200 answers or
exceptions such as timeouts), lost messages (a message that got no reply at all:
an empty reply list, or no answer because of an error), failsafe replies (the
"something went wrong" text the assistant sends when a turn or its storage failed),
peak resident memory per replica (``VmHWM``, reset before each run through
``/proc/<pid>/clear_refs``) and the CPU used meanwhile, in cores: by the replicas (or
the bench process for the bare agent), PostgreSQL, the load generator, and other
processes on the machine (anything well above 0 there means the figures are contended).
The round-robin drops idle connections after 3 s, well before the replicas' keep-alive
timeout (75 s), as a load balancer in front of the replicas must.

Goals (2-core machine): no errors and no lost messages, p95 <= 150 ms at 50
concurrent conversations, >= 100 messages per second per replica. Figures are
printed and written to ``results/bench-load.json``, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import aiohttp

from bench.web import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "bench-load.json"
TURNS = 10
THINK_S = 1.0
KEEPALIVE_S = 3.0  # client side, below Sanic's 5 s
MANY, GOAL_CONVERSATIONS = 200, 50
GOAL_P95_MS, GOAL_MSG_S_PER_REPLICA, GOAL_MEMORY_MB = 150.0, 100.0, 1200.0

# What people write, one script per language, ten turns each; conversation i follows
# SCRIPTS[i % 4]. Typed text and the web chat's button payloads; an emergency, a
# disclosure, questions. No request for a person: a handoff pauses the assistant
# (and "yes" right after the counsellor offer would open one, so the French script
# answers that offer with "/deny").
SCRIPTS: List[List[str]] = [
    ["hello", "are you a robot", "what can you do",
     "my neighbour works day and night and never goes out, how do i report it",
     "what are the signs that someone is being exploited",
     "my boss took my passport and i have not been paid for months", "yes i am safe right now",
     "can i get papers to stay here legally", "thank you for the information", "bye"],
    ["hallo", "mijn baas heeft mijn paspoort afgepakt en ik krijg geen loon", "ja ik ben nu veilig",
     "/ask_information", "wat is mensenhandel precies", "is het gratis en vertrouwelijk",
     "welke nummers kan ik bellen", "wat is het verschil met mensensmokkel", "bedankt", "doei"],
    ["bonjour", "je travaille dans un restaurant et je ne suis pas payé depuis des mois",
     "oui je suis en sécurité", "quels sont les signes de la traite des êtres humains",
     "est-ce que je peux avoir des papiers", "c'est quoi la campagne coeur bleu", "/ask_victim_status",
     "au secours il me frappe maintenant", "/deny", "merci beaucoup"],
    ["guten tag", "mein arbeitgeber hat meinen pass genommen und zahlt mir keinen lohn",
     "ja ich bin sicher", "was ist menschenhandel", "bin ich ein opfer",
     "ist das kostenlos und vertraulich", "welche telefonnummern gibt es", "/ask_information",
     "danke schön", "tschüss"],
]
assert all(len(script) == TURNS for script in SCRIPTS)


# --- measuring ---------------------------------------------------------------------------

def _status_kb(pid: int, field_name: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Start ``VmHWM`` afresh (Linux >= 4.0); False when the kernel refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def peak_mb(pid: int) -> Optional[float]:
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else kb / 1024


def rss_mb(pid: int) -> Optional[float]:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024


class CpuMeter:
    """CPU used while a run lasted, in cores: by each named part (a process and its
    descendants, e.g. a replica, PostgreSQL with its backends), and by processes outside
    this bench's own tree (contention by someone else)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, parts: Dict[str, int]) -> None:
        self.parts = parts
        self.started = time.perf_counter()
        self.machine = self._machine()
        self.ticks = self._ticks()

    @staticmethod
    def _machine() -> int:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values[:3]) + sum(values[5:8])  # user nice system, irq softirq steal

    def _ticks(self) -> Dict[str, int]:
        children: Dict[int, List[int]] = defaultdict(list)
        ticks: Dict[int, int] = {}
        own = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    data = stat.read()
            except OSError:
                continue
            rest = data[data.rfind(")") + 2:].split()
            pid = int(entry.name)
            children[int(rest[1])].append(pid)
            # utime stime cutime cstime: a reaped child's time moves to its parent.
            ticks[pid] = sum(int(v) for v in rest[11:15])
            if pid == os.getpid():
                own = int(rest[11]) + int(rest[12])

        def tree(root: int) -> int:
            total, todo = 0, [root]
            while todo:
                pid = todo.pop()
                total += ticks.get(pid, 0)
                todo.extend(children.get(pid, []))
            return total

        found = {name: tree(pid) for name, pid in self.parts.items()}
        if os.getpid() not in self.parts.values():
            found["load generator"] = own
        found[" ours"] = tree(os.getpid())
        return found

    def cores(self) -> Dict[str, float]:
        """Cores used per part, "load generator" (this process itself) and "other"."""
        elapsed = time.perf_counter() - self.started
        machine = self._machine() - self.machine
        now = self._ticks()
        used = {name: (now[name] - self.ticks.get(name, 0)) / self.TICK / elapsed for name in now}
        used["other"] = max(0.0, (machine / self.TICK / elapsed) - used.pop(" ours"))
        return {name: round(value, 2) for name, value in used.items()}


@dataclass
class Run:
    name: str
    target: str  # "1 replica", "2 replicas", "bare agent"
    conversations: int
    think_s: float
    messages: int = 0
    seconds: float = 0.0
    latencies: List[float] = field(default_factory=list, repr=False)
    errors: int = 0
    lost: int = 0
    failsafe: int = 0
    error_kinds: Dict[str, int] = field(default_factory=dict)
    peak_rss_mb: Dict[str, Optional[float]] = field(default_factory=dict)
    cpu_cores: Dict[str, float] = field(default_factory=dict)
    # With several replicas: each conversation stays on one (as deploy/nginx.conf routes
    # web chats by X-Conversation) instead of alternating message by message.
    sticky: bool = False

    @property
    def other_cpu_cores(self) -> float:
        return self.cpu_cores.get("other", 0.0)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) if self.latencies else float("nan")

    def summary(self) -> Dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "latencies"}
        data.update(msg_per_s=round(self.rate, 1), p50_ms=round(statistics.median(self.latencies), 1),
                    p95_ms=round(self.p(95), 1), p99_ms=round(self.p(99), 1),
                    max_ms=round(max(self.latencies), 1), seconds=round(self.seconds, 2),
                    other_cpu_cores=self.other_cpu_cores,
                    peak_rss_mb={k: (round(v) if v is not None else None) for k, v in self.peak_rss_mb.items()})
        return data


# --- load generators -----------------------------------------------------------------------

def failsafe_texts() -> frozenset:
    """The assistant's "something went wrong" reply in every language."""
    from rasa.shared.core.domain import Domain

    from bot.dialogue.nlg import CatalogNLG
    from bot.settings import Settings

    settings = Settings.from_env()
    nlg = CatalogNLG(domain=Domain.load(str(settings.root / "domain.yml")), settings=settings)
    return frozenset(nlg.system_text("service.internal_error", language) for language in ("nl", "fr", "en", "de"))


async def web_run(run: Run, bases: Sequence[str], failsafe: Iterable[str] = (), seed: int = 7) -> Run:
    """``run.conversations`` conversations at once through ``bases`` (message ``t`` of
    conversation ``i`` goes to ``bases[(i + t) % len(bases)]``, or to ``bases[i % len(bases)]``
    when the run is sticky)."""
    failsafe = frozenset(failsafe)
    rng = random.Random(seed)
    starts = [rng.uniform(0, run.think_s) for _ in range(run.conversations)]
    # Idle connections are dropped after KEEPALIVE_S, before the server (Sanic's
    # KEEP_ALIVE_TIMEOUT, 5 s) closes them: otherwise a request sent on a connection the
    # server is closing at that instant gets "connection reset" (a load balancer needs
    # the same setting). With two replicas a connection idles while the other answers.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_S)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        async def conversation(i: int) -> None:
            if run.think_s:
                await asyncio.sleep(starts[i])
            sender = f"load-{uuid.uuid4().hex}"
            script = SCRIPTS[i % len(SCRIPTS)]
            for turn, text in enumerate(script):
                base = bases[i % len(bases)] if run.sticky else bases[(i + turn) % len(bases)]
                url = f"{base}/webhooks/rest/webhook"
                body = {"sender": sender, "message": text, "metadata": {}}
                replies: Any = None
                started = time.perf_counter()
                try:
                    async with client.post(url, json=body) as answer:
                        if answer.status == 200:
                            replies = await answer.json()
                        else:
                            await answer.read()
                            run.error(f"HTTP {answer.status}")
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                    run.error(type(exc).__name__)
                run.latencies.append((time.perf_counter() - started) * 1000)
                run.messages += 1
                if not replies:
                    run.lost += 1
                elif any(isinstance(r, dict) and r.get("text") in failsafe for r in replies):
                    run.failsafe += 1
                if run.think_s and turn < len(script) - 1:
                    await asyncio.sleep(run.think_s)

        started = time.perf_counter()
        await asyncio.gather(*(conversation(i) for i in range(run.conversations)))
        run.seconds = time.perf_counter() - started
    return run


async def agent_run(run: Run, assistant: Any) -> Run:
    """The same scripts through ``Agent.handle_message`` in this process."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    async def conversation(i: int) -> None:
        sender = f"load-{uuid.uuid4().hex}"
        for text in SCRIPTS[i % len(SCRIPTS)]:
            output = CollectingOutputChannel()
            started = time.perf_counter()
            try:
                await assistant.agent.handle_message(UserMessage(text, output, sender))
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                run.error(type(exc).__name__)
            run.latencies.append((time.perf_counter() - started) * 1000)
            run.messages += 1
            if not output.messages:
                run.lost += 1

    started = time.perf_counter()
    await asyncio.gather(*(conversation(i) for i in range(run.conversations)))
    run.seconds = time.perf_counter() - started
    return run


async def handoff_offers(assistant: Any) -> int:
    """How many of the scripts make the assistant offer a person (it would pause)."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    offered = 0
    for script in SCRIPTS:
        sender = f"check-{uuid.uuid4().hex}"
        for text in script:
            await assistant.agent.handle_message(UserMessage(text, CollectingOutputChannel(), sender))
        tracker = await assistant.agent.tracker_store.retrieve(sender)
        offered += sum(1 for e in tracker.events if getattr(e, "action_name", None) == "utter_human")
    return offered


# --- servers ---------------------------------------------------------------------------------

class Cluster:
    """PostgreSQL, Redis and two replicas, torn down whatever happens."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="helpline-load-"))
        self.postgres: Any = None
        self.redis: Any = None
        self.replicas: List[Any] = []

    def start(self) -> None:
        from tests.cluster import PostgresServer, RedisServer, Replica, start_replicas

        self.postgres = PostgresServer()
        self.postgres.start()
        self.redis = RedisServer()
        self.redis.start()
        env = {"DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url,
               "CONVERSATION_KEY": "load-bench-" + uuid.uuid4().hex,
               "HANDOFF_REMINDER_MINUTES": "600", "SHUTDOWN_DRAIN_SECONDS": "0"}
        self.replicas = [Replica(self.folder, env, "replica-a"), Replica(self.folder, env, "replica-b")]
        start_replicas(self.replicas)

    def close(self) -> None:
        for replica in self.replicas:
            try:
                replica.stop(timeout=20)
            except Exception:  # noqa: BLE001 - then the hard way
                with contextlib.suppress(Exception):
                    replica.kill()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.postgres is not None:
            try:
                self.postgres.stop()
            except Exception:  # noqa: BLE001 - e.g. Ctrl-C reached the postmaster first
                from tests.cluster import PG_BIN

                pg = self.postgres
                with contextlib.suppress(Exception):
                    subprocess.run([*pg._as_postgres, str(PG_BIN / "pg_ctl"), "stop", "-D", str(pg.data),
                                    "-m", "immediate"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   timeout=30)
                if pg.process is not None:
                    with contextlib.suppress(Exception):
                        pg.process.kill()
                        pg.process.wait(timeout=10)
            shutil.rmtree(self.postgres.folder, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log_problems(self) -> List[str]:
        lines = []
        for replica in self.replicas:
            for line in replica.output().splitlines():
                if '"level": "ERROR"' in line or "Traceback" in line or "unavailable" in line:
                    lines.append(f"{replica.name}: {line[:300]}")
        return lines


def measured(run: Run, pids: Dict[str, int], coroutine_factory, servers: Optional[Dict[str, int]] = None) -> Run:
    """Reset the memory peaks, run, then read the peaks and the CPU used."""
    for pid in pids.values():
        reset_peak(pid)
    meter = CpuMeter({**pids, **(servers or {})})
    asyncio.run(coroutine_factory())
    run.cpu_cores = meter.cores()
    run.peak_rss_mb = {name: peak_mb(pid) for name, pid in pids.items()}
    return run


def web_runs(cluster: Cluster) -> List[Run]:
    texts = failsafe_texts()
    a, b = cluster.replicas
    servers = {"postgres": cluster.postgres.process.pid, "redis": cluster.redis.process.pid}
    one = {a.name: a.process.pid}
    two = {a.name: a.process.pid, b.name: b.process.pid}
    for base in (a.base, b.base):  # warm-up: first turns pay for lazy initialisation
        asyncio.run(web_run(Run("warm-up", "", 8, 0.0), [base]))
    plan = [
        (Run(f"1 replica, {MANY} conversations", "1 replica", MANY, 0.0), [a.base], one),
        (Run(f"2 replicas, {MANY} conversations", "2 replicas", MANY, 0.0), [a.base, b.base], two),
        (Run(f"2 replicas, {MANY} conversations, sticky", "2 replicas", MANY, 0.0, sticky=True),
         [a.base, b.base], two),
        (Run(f"1 replica, {GOAL_CONVERSATIONS} conversations", "1 replica", GOAL_CONVERSATIONS, 0.0),
         [a.base], one),
        (Run(f"2 replicas, {GOAL_CONVERSATIONS} conversations", "2 replicas", GOAL_CONVERSATIONS, 0.0),
         [a.base, b.base], two),
        (Run(f"2 replicas, {GOAL_CONVERSATIONS} conversations, sticky", "2 replicas", GOAL_CONVERSATIONS, 0.0,
             sticky=True), [a.base, b.base], two),
        (Run(f"1 replica, {GOAL_CONVERSATIONS} paced ({THINK_S:.0f} s think)", "1 replica",
             GOAL_CONVERSATIONS, THINK_S), [a.base], one),
        (Run(f"2 replicas, {GOAL_CONVERSATIONS} paced ({THINK_S:.0f} s think)", "2 replicas",
             GOAL_CONVERSATIONS, THINK_S), [a.base, b.base], two),
        (Run(f"2 replicas, {GOAL_CONVERSATIONS} paced ({THINK_S:.0f} s think), sticky", "2 replicas",
             GOAL_CONVERSATIONS, THINK_S, sticky=True), [a.base, b.base], two),
    ]
    runs = []
    for run, bases, pids in plan:
        runs.append(measured(run, pids, lambda: web_run(run, bases, texts), servers))
        print(f"  {run.name}: {run.rate:.0f} msg/s, p95 {run.p(95):.0f} ms", file=sys.stderr, flush=True)
    return runs


def bare_runs(assistant: Any) -> List[Run]:
    me = {"bench process": os.getpid()}
    asyncio.run(agent_run(Run("warm-up", "", 8, 0.0), assistant))
    runs = []
    for conversations in (MANY, GOAL_CONVERSATIONS):
        run = Run(f"bare agent, {conversations} conversations", "bare agent", conversations, 0.0)
        runs.append(measured(run, me, lambda: agent_run(run, assistant)))
        print(f"  {run.name}: {run.rate:.0f} msg/s, p95 {run.p(95):.0f} ms", file=sys.stderr, flush=True)
    return runs


# --- report ----------------------------------------------------------------------------------

def goals(runs: List[Run]) -> List[Dict[str, Any]]:
    def find(target: str, conversations: int, think_s: float = 0.0, sticky: bool = False) -> Run:
        return next(r for r in runs if r.target == target and r.conversations == conversations
                    and r.think_s == think_s and r.sticky == sticky)

    web = [r for r in runs if r.target != "bare agent"]
    rows = []

    def row(figure: str, value: float, shown: str, goal: str, met: bool) -> None:
        rows.append({"figure": figure, "value": round(value, 1), "shown": shown, "goal": goal, "met": met})

    errors, lost = sum(r.errors for r in runs), sum(r.lost for r in runs)
    row("errors, all runs", errors, f"{errors}", "0", errors == 0)
    row("lost messages, all runs", lost, f"{lost}", "0", lost == 0)
    failsafe = sum(r.failsafe for r in web)
    row("failsafe replies, web runs", failsafe, f"{failsafe}", "0", failsafe == 0)
    for label, run in ((f"p95, {GOAL_CONVERSATIONS} paced, 1 replica", find("1 replica", GOAL_CONVERSATIONS, THINK_S)),
                       (f"p95, {GOAL_CONVERSATIONS} paced, 2 replicas", find("2 replicas", GOAL_CONVERSATIONS, THINK_S)),
                       (f"p95, {GOAL_CONVERSATIONS} paced, 2 replicas sticky",
                        find("2 replicas", GOAL_CONVERSATIONS, THINK_S, sticky=True)),
                       (f"p95, {GOAL_CONVERSATIONS} closed loop, 1 replica", find("1 replica", GOAL_CONVERSATIONS)),
                       (f"p95, {GOAL_CONVERSATIONS} closed loop, 2 replicas", find("2 replicas", GOAL_CONVERSATIONS)),
                       (f"p95, {GOAL_CONVERSATIONS} closed loop, 2 replicas sticky",
                        find("2 replicas", GOAL_CONVERSATIONS, sticky=True))):
        row(label, run.p(95), f"{run.p(95):.1f} ms", f"<= {GOAL_P95_MS:.0f} ms", run.p(95) <= GOAL_P95_MS)
    for label, run, count in ((f"msg/s per replica, 1 replica, {MANY}", find("1 replica", MANY), 1),
                              (f"msg/s per replica, 2 replicas, {MANY}", find("2 replicas", MANY), 2),
                              (f"msg/s per replica, 1 replica, {GOAL_CONVERSATIONS}",
                               find("1 replica", GOAL_CONVERSATIONS), 1),
                              (f"msg/s per replica, 2 replicas, {GOAL_CONVERSATIONS}",
                               find("2 replicas", GOAL_CONVERSATIONS), 2),
                              (f"msg/s per replica, 2 replicas sticky, {MANY}",
                               find("2 replicas", MANY, sticky=True), 2),
                              (f"msg/s per replica, 2 replicas sticky, {GOAL_CONVERSATIONS}",
                               find("2 replicas", GOAL_CONVERSATIONS, sticky=True), 2)):
        rate = run.rate / count
        row(label, rate, f"{rate:.0f} /s", f">= {GOAL_MSG_S_PER_REPLICA:.0f} /s", rate >= GOAL_MSG_S_PER_REPLICA)
    peaks = [v for r in web for v in r.peak_rss_mb.values() if v is not None]
    if peaks:
        row("peak memory per replica, max", max(peaks), f"{max(peaks):.0f} MB", f"<= {GOAL_MEMORY_MB:.0f} MB",
            max(peaks) <= GOAL_MEMORY_MB)
    return rows


def _cpu(run: Run) -> str:
    """Cores used: serving (replicas, or the bench process for the bare agent) /
    PostgreSQL / load generator / other processes on the machine."""
    cpu = run.cpu_cores
    serving = "+".join(f"{cpu[name]:.2f}" for name in run.peak_rss_mb if name in cpu)
    parts = [serving] + [f"{cpu[name]:.2f}" if name in cpu else "-"
                         for name in ("postgres", "load generator", "other")]
    return " / ".join(parts)


def print_table(runs: List[Run], rows: List[Dict[str, Any]]) -> None:
    print(f"\nload through POST /webhooks/rest/webhook, PostgreSQL + Redis, loopback, "
          f"{os.cpu_count()} cores; {TURNS} turns per conversation")
    print(f"{'run':44} {'msg/s':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'lost':>4}"
          f" {'failsafe':>8}  {'peak RSS MB':11}  CPU cores: serving / pg / generator / other")
    for run in runs:
        peaks = " / ".join(f"{v:.0f}" if v is not None else "?" for v in run.peak_rss_mb.values())
        print(f"{run.name:44} {run.rate:5.0f} {statistics.median(run.latencies):7.1f} {run.p(95):7.1f}"
              f" {run.p(99):7.1f} {run.errors:6d} {run.lost:4d} {run.failsafe:8d}  {peaks:11}  {_cpu(run)}")
    print("closed loop: each conversation sends its next message as soon as the reply arrived, so "
          "the latencies are mostly queueing;\npaced: 1 s think time between a reply and the next "
          "message; 2 replicas: each conversation's messages alternate (sticky: a conversation stays on "
          "one replica);\npeak RSS: VmHWM of each "
          "replica during the run (the bench process for the bare agent).")
    for run in runs:
        if run.error_kinds:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(run.error_kinds.items()))
            print(f"errors in {run.name}: {kinds}")
    print(f"\n{'figure':44} {'value':>10}   goal")
    for row in rows:
        print(f"{row['figure']:44} {row['shown']:>10}   {row['goal']:10} {'met' if row['met'] else 'NOT met'}")


def write_json(runs: List[Run], rows: List[Dict[str, Any]], extra: Dict[str, Any]) -> Path:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_end": os.getloadavg()},
        "turns_per_conversation": TURNS,
        "think_s": THINK_S,
        "runs": [r.summary() for r in runs],
        "goals": rows,
        **extra,
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return RESULTS


def _terminate(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(assistant: Any = None) -> List[Run]:
    """All load runs; ``assistant`` (in-memory stores) for the bare agent, loaded here if None."""
    previous = signal.signal(signal.SIGTERM, _terminate)  # so that cleanup runs on SIGTERM too
    print("load bench: PostgreSQL, Redis, two replicas ...", file=sys.stderr, flush=True)
    loadavg_before = os.getloadavg()
    cluster = Cluster()
    problems: List[str] = []
    try:
        cluster.start()
        runs = web_runs(cluster)
        problems = cluster.log_problems()
    finally:
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        try:
            cluster.close()
        finally:
            signal.signal(signal.SIGINT, interrupt)
            signal.signal(signal.SIGTERM, previous)

    if assistant is None:
        from bot.dialogue.assistant import Assistant
        from bot.settings import Settings

        assistant = Assistant.load(Settings.from_env())
    runs += bare_runs(assistant)
    offers = asyncio.run(handoff_offers(assistant))

    rows = goals(runs)
    print_table(runs, rows)
    if offers:
        print(f"warning: the scripts made the assistant offer a person {offers} time(s); "
              "in the web runs that pauses conversations")
    if problems:
        print(f"replica logs: {len(problems)} error line(s), first: {problems[0]}")
    contended = max(r.other_cpu_cores for r in runs)
    if contended > 0.3:
        print(f"note: other processes used up to {contended:.1f} cores during a run: figures are contended")
    path = write_json(runs, rows, {"loadavg_at_start": loadavg_before, "handoff_offers_in_scripts": offers,
                                   "replica_log_errors": problems[:20]})
    print(f"written to {path.relative_to(ROOT)}")
    return runs


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
