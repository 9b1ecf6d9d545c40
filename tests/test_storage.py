"""Handoff storage on SQLite and PostgreSQL: migrations, case lifecycle, retention, operators."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from bot.cli import handoffs as handoffs_cli
from bot.cli import operators as operators_cli
from bot.cli import purge as purge_cli
from bot.storage import repository as repo
from bot.storage.database import Database
from bot.storage.models import AuditEntry, Base, Case

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NOW = dt.datetime(2030, 6, 15, 12, 0)
PASSWORD = "correct horse battery"


def _postgres_database():
    """A fresh PostgreSQL database; yields its URL and drops it afterwards."""
    name = f"helpline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path, monkeypatch):
    """A migrated empty database of each kind; DATABASE_URL points at it for the CLIs."""
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path / 'sub' / 'helpline.db'}"])
    else:
        urls = _postgres_database()
    value = next(urls)
    monkeypatch.setenv("DATABASE_URL", value)
    database = Database(value)
    database.migrate()
    database.dispose()
    yield value
    for _ in urls:
        pass


@pytest.fixture
def db(url):
    database = Database(url)
    yield database
    database.dispose()


def _case(session, centre="pagasa", days_ago=0, forms=("labour",), urgency="normal", lang="fr"):
    case = repo.open_case(session, f"web-{uuid.uuid4().hex}", "web", lang, urgency, centre,
                          intents=["ask_help"], forms=forms, now=NOW - dt.timedelta(days=days_ago))
    repo.add_turn(session, case, "person", "I need help at work", lang, "ask_help", case.created_at)
    repo.add_turn(session, case, "bot", "An operator will answer", lang, None, case.created_at)
    return case


def _operator(session, login, centre="pagasa"):
    return repo.add_operator(session, login, centre, PASSWORD, now=NOW)


def test_migrations_create_the_schema_of_the_models(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(db.alembic_config()).get_current_head()
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == head
        assert compare_metadata(context, Base.metadata) == []
    db.migrate()  # a second upgrade is a no-op
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_open_claim_transfer_close_with_audit(db):
    with db.session() as s:
        alice, bert = _operator(s, "alice"), _operator(s, "bert", "payoke")
        case = _case(s)
        assert [t.who for t in case.turns] == ["person", "bot"]
        repo.claim(s, case, alice, NOW)
        assert (case.status, case.claimed_by, case.claimed_at) == ("claimed", alice.id, NOW)
        with pytest.raises(repo.CaseError):
            repo.claim(s, case, bert, NOW)
        repo.record(s, alice, "replied", case, NOW)
        repo.add_turn(s, case, "operator", "Hello, I am here", "fr", None, NOW)
        repo.transfer(s, case, alice, "payoke", NOW)
        assert (case.status, case.centre, case.claimed_by) == ("open", "payoke", None)
        repo.claim(s, case, bert, NOW)
        later = NOW + dt.timedelta(hours=1)
        repo.close(s, case, bert, "referred", "went to shelter", later)
        case_id = case.id
        with pytest.raises(repo.CaseError):
            repo.close(s, case, bert, "again")
        with pytest.raises(repo.CaseError):
            repo.transfer(s, case, bert, None)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert (case.status, case.closed_at, case.outcome) == ("closed", later, "referred")
        assert [t.who for t in case.turns] == ["person", "bot", "operator"]
        log = s.query(AuditEntry).filter_by(case_id=case_id).order_by(AuditEntry.id).all()
        assert [(e.action, e.operator_id) for e in log] == [
            ("claimed", alice.id), ("replied", alice.id), ("transferred", alice.id),
            ("claimed", bert.id), ("closed", bert.id)]


def test_list_cases_by_centre_includes_the_shared_queue(db):
    with db.session() as s:
        own, other, shared = _case(s, "pagasa"), _case(s, "payoke"), _case(s, None)
        ids = {c.id for c in repo.list_cases(s, "pagasa")}
        assert ids == {own.id, shared.id}
        assert {c.id for c in repo.list_cases(s, "payoke")} == {other.id, shared.id}
        assert {c.id for c in repo.list_cases(s)} == {own.id, other.id, shared.id}
        repo.close(s, own, None, "resolved", now=NOW)
        assert [c.id for c in repo.list_cases(s, "pagasa", "open")] == [shared.id]


def test_handoffs_list_json_has_fields_and_nothing_identifying(db, capsys):
    with db.session() as s:
        cases = [_case(s, "surya", urgency="emergency"), _case(s, None)]
        secrets = [c.conversation_id for c in cases]
    args = argparse.Namespace(action="list", json=True, centre="surya", status=None)
    assert handoffs_cli.run(args) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert [(r["id"], r["centre"], r["urgency"]) for r in rows] == [
        (cases[0].id, "surya", "emergency"), (cases[1].id, None, "normal")]
    for row in rows:
        assert {"id", "status", "urgency", "language", "channel", "centre", "created_at"} <= set(row)
        assert row["status"] == "open" and row["channel"] == "web" and row["language"] == "fr"
    for secret in secrets + ["I need help", "operator will answer", "conversation", "labour"]:
        assert secret not in out


def test_purge_removes_old_transcripts_and_keeps_counts(db):
    with db.session() as s:
        old = _case(s, "pagasa", days_ago=50, forms=("labour", "sexual"))
        young = _case(s, "pagasa", days_ago=50, forms=("labour",))
        still_open = _case(s, None, days_ago=50, forms=())
        repo.close(s, old, None, "referred", "note", now=NOW - dt.timedelta(days=31))
        repo.close(s, young, None, "referred", now=NOW - dt.timedelta(days=29))
        ids = old.id, young.id, still_open.id
    with db.session() as s:
        assert repo.purge(s, 30, NOW) == 1
    with db.session() as s:
        old, young, still_open = (s.get(Case, i) for i in ids)
        assert old.turns == [] and old.conversation_id is None and old.note is None
        assert old.purged_at == NOW and old.status == "closed" and old.urgency == "normal"
        assert len(young.turns) == 2 and young.conversation_id and young.purged_at is None
        assert len(still_open.turns) == 2
        assert repo.purge(s, 30, NOW) == 0
    with db.session() as s:
        counts = {(a["form"], a["centre"]): (a["closed"], a["purged"]) for a in repo.aggregates(s)}
        day = {a["day"] for a in repo.aggregates(s)}
    assert counts == {("labour", "pagasa"): (2, 1), ("sexual", "pagasa"): (1, 1)}
    assert day == {(NOW - dt.timedelta(days=50)).date().isoformat()}


def test_purge_cli_uses_retention_days(db, monkeypatch, capsys):
    now = repo.utcnow()
    with db.session() as s:
        kept, gone = _case(s), _case(s)
        repo.close(s, kept, None, "resolved", now=now - dt.timedelta(days=3))
        repo.close(s, gone, None, "resolved", now=now - dt.timedelta(days=8))
        ids = kept.id, gone.id
    monkeypatch.setenv("RETENTION_DAYS", "5")
    assert purge_cli.run(argparse.Namespace(days=None)) == 0
    assert "purged 1 case" in capsys.readouterr().out
    with db.session() as s:
        assert [len(s.get(Case, i).turns) for i in ids] == [2, 0]
        assert sum(a["closed"] for a in repo.aggregates(s)) == 2


def test_operator_passwords_lockout_disable_reset(db):
    with db.session() as s:
        operator = _operator(s, "carla")
        assert operator.password_hash.startswith("$argon2id$")
        assert PASSWORD not in operator.password_hash
        assert repo.verify_password(s, "carla", PASSWORD, NOW).id == operator.id
        assert repo.verify_password(s, "carla", "wrong", NOW) is None
        assert repo.verify_password(s, "nobody", PASSWORD, NOW) is None
        with pytest.raises(repo.CaseError):
            _operator(s, "carla")
        for _ in range(repo.MAX_FAILED_LOGINS - 1):
            repo.verify_password(s, "carla", "wrong", NOW)
        assert operator.locked_until == NOW + repo.LOCKOUT
        assert repo.verify_password(s, "carla", PASSWORD, NOW) is None
        after = NOW + repo.LOCKOUT + dt.timedelta(seconds=1)
        assert repo.verify_password(s, "carla", PASSWORD, after) is not None
        repo.disable_operator(s, "carla")
        assert repo.verify_password(s, "carla", PASSWORD, after) is None
        repo.reset_operator(s, "carla", "a new long passphrase")
        assert repo.verify_password(s, "carla", PASSWORD, after) is None
        assert repo.verify_password(s, "carla", "a new long passphrase", after) is not None


def test_operators_cli(db, monkeypatch, capsys):
    def run(action, login=None, centre=None, stdin="", as_json=False):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        args = argparse.Namespace(action=action, login=login, centre=centre, role="supervisor",
                                  json=as_json)
        return operators_cli.run(args)

    assert run("add", "dana", "surya", PASSWORD + "\n") == 0
    assert run("add", "dana", "surya", PASSWORD + "\n") == 1
    with pytest.raises(SystemExit):
        run("add", "eve", "surya", "short\n")
    assert run("disable", "dana") == 0
    capsys.readouterr()
    assert run("list", as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"login": "dana", "centre": "surya", "role": "supervisor", "disabled": True,
         "locked_until": None}]
    assert run("reset", "dana", stdin="another long passphrase\n") == 0
    with db.session() as s:
        assert repo.verify_password(s, "dana", "another long passphrase") is not None
        assert PASSWORD not in s.execute(text("select password_hash from operators")).scalar()
