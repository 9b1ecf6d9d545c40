"""Engine, sessions and migrations of the handoff database (``DATABASE_URL``, SQLite by default)."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import create_engine, event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import PROJECT_ROOT

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK_KEY = 0x68656C70  # "help": one migration at a time per PostgreSQL database


def default_url() -> str:
    """``DATABASE_URL``, or a SQLite file in the project's data/ folder."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{PROJECT_ROOT / 'data' / 'helpline.db'}"


def engine_options(url: str) -> dict:
    """Engine options per database: SQLite files keep a pool of open connections (SQLAlchemy
    1.4 opens and closes one per session by default, half a millisecond each time)."""
    if make_url(url).get_backend_name() == "sqlite":
        from sqlalchemy.pool import QueuePool

        return {"poolclass": QueuePool, "connect_args": {"check_same_thread": False}}
    return {}


def sqlite_for_a_service(engine: Engine) -> None:
    """SQLite as a service's database: write-ahead log (readers do not wait for the
    writer) and one sync per checkpoint rather than per commit (a power cut can lose
    the last moments, never corrupt the file), and a busy wait instead of an error."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record) -> None:  # noqa: ANN001 - DBAPI connection
        cursor = connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def ping_after_idle(engine: Engine, idle_s: float = 1.0) -> None:
    """Check a pooled connection before use only when it sat idle for ``idle_s``.

    ``pool_pre_ping`` costs a round trip on every checkout, which on a busy service is
    one in two of its queries. A connection in steady use has just proved itself; one
    that sat idle may have been cut (a database restart): that one is pinged, and
    replaced if dead. (A connection cut within the last ``idle_s`` fails its statement
    once; SQLAlchemy then renews the whole pool.)"""
    if engine.dialect.name == "sqlite":
        return

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:  # noqa: ANN001 - DBAPI objects
        used_at = record.info.get("used_at")
        if used_at is not None and time.monotonic() - used_at < idle_s:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:  # noqa: BLE001 - any failure: the pool connects anew
            raise exc.DisconnectionError() from error

    @event.listens_for(engine, "checkin")
    def _mark_used(_dbapi_connection, record) -> None:  # noqa: ANN001 - DBAPI objects
        record.info["used_at"] = time.monotonic()


def _ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


class Database:
    """One engine and its session factory; ``migrate()`` brings the schema to the latest revision."""

    def __init__(self, url: Optional[str] = None) -> None:
        self.url = url or default_url()
        _ensure_sqlite_folder(self.url)
        self.engine = create_engine(self.url, future=True, pool_pre_ping=True, **engine_options(self.url))
        sqlite_for_a_service(self.engine)
        self.sessions = sessionmaker(bind=self.engine, future=True, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def alembic_config(self):
        from alembic.config import Config

        config = Config(str(PROJECT_ROOT / "alembic.ini"))
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def migrate(self, revision: str = "head") -> None:
        """Run ``alembic upgrade <revision>`` on this database; on PostgreSQL under an
        advisory lock, so that replicas starting together migrate one after the other."""
        from alembic import command
        from sqlalchemy import text

        if self.engine.dialect.name != "postgresql":
            command.upgrade(self.alembic_config(), revision)
            return
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            try:
                command.upgrade(self.alembic_config(), revision)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        from sqlalchemy import text

        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    def dispose(self) -> None:
        self.engine.dispose()
