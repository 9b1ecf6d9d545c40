"""Real servers on loopback for the scale and fault tests, started and stopped by the tests.

:class:`PostgresServer` (its own ``initdb`` cluster in a temporary folder),
:class:`RedisServer` (nothing on disk) and :class:`Replica` (``python -m bot serve``
in a subprocess, the way it runs in production) can each be stopped and started
again on the same port, so a test can take PostgreSQL or Redis away for a while or
kill a replica mid-conversation. Readiness is polled with a deadline, never slept on.
"""

from __future__ import annotations

import glob
import shutil
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]) if glob.glob("/usr/lib/postgresql/*/bin") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], what: str, deadline_s: float = 60.0) -> None:
    """Poll ``check`` every 50 ms until it is true; fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {deadline_s:.0f} s")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth, no fsync) on a free loopback port, in a
    folder of its own (the ``postgres`` user must reach it when the tests run as root);
    :meth:`remove` deletes it."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="helpline-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        subprocess.run([*self._as_postgres, str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self._as_postgres, str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, "PostgreSQL")

    def answers(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url, connect_timeout=1).close()
            return True
        except psycopg2.OperationalError:
            return False

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, like a crash of the database host."""
        if self.process is not None:
            # To the postmaster itself (runuser does not pass signals on).
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)
            self.process.wait(timeout=30)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    """A Redis server that keeps nothing on disk, on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: port_open(self.port), "Redis")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


class Replica:
    """One ``python -m bot serve`` process; its output goes to a log file in ``folder``."""

    def __init__(self, folder: Path, env: Dict[str, str], name: str) -> None:
        self.folder = folder
        self.env = env
        self.name = name
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None
        self.log = folder / f"{name}.log"
        self._log_start = 0  # where this start's output begins in the log

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        env = {**os.environ, **self.env, "RASA_TELEMETRY_ENABLED": "false",
               "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("TELEGRAM_BOT_TOKEN", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--port", str(self.port)],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, deadline_s: float = 180.0) -> None:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            return f"ready on http://127.0.0.1:{self.port}" in self.output(since_start=True)

        wait_until(ready, self.name, deadline_s)

    def output(self, since_start: bool = False) -> str:
        """The log; ``since_start``: only what the latest start wrote."""
        if not self.log.exists():
            return ""
        return self.log.read_bytes()[self._log_start if since_start else 0:].decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the replica dies without finishing anything."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the graceful shutdown of a deployment."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code


def start_replicas(replicas: List[Replica]) -> None:
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.wait_ready()


async def say(session: aiohttp.ClientSession, base: str, sender: str, message: str,
              **metadata: Any) -> List[Dict[str, Any]]:
    """One message through the web chat's REST endpoint; its replies."""
    body = {"sender": sender, "message": message, "metadata": metadata}
    async with session.post(f"{base}/webhooks/rest/webhook", data=json.dumps(body)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def fetch(session: aiohttp.ClientSession, base: str, sender: str) -> List[Dict[str, Any]]:
    """What counsellors wrote to a web conversation since the last fetch."""
    async with session.post(f"{base}/webhooks/rest/messages", data=json.dumps({"sender": sender})) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()
