"""Operations on handoffs, transcripts, operators, the audit log and the aggregate counts.

Every function takes an open ``Session`` and leaves committing to the caller
(``Database.session()`` commits on success). Times are naive UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, Iterable, List, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from bot.storage.models import (
    ACTIONS,
    CENTRES,
    ROLES,
    SPEAKERS,
    URGENCIES,
    Aggregate,
    AuditEntry,
    Case,
    Operator,
    Turn,
)

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SHARED_QUEUE = "shared"
NO_FORM = "none"


class CaseError(Exception):
    """A case cannot go where it was asked to (already claimed, closed, unknown centre, ...)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _check(value: Optional[str], allowed: Iterable[str], what: str) -> None:
    if value not in allowed:
        raise CaseError(f"unknown {what}: {value!r}")


def _check_centre(centre: Optional[str]) -> None:
    if centre is not None:
        _check(centre, CENTRES, "centre")


# --- cases --------------------------------------------------------------------------


def open_case(
    session: Session,
    conversation_id: str,
    channel: str,
    language: str,
    urgency: str = "normal",
    centre: Optional[str] = None,
    intents: Iterable[str] = (),
    forms: Iterable[str] = (),
    now: Optional[dt.datetime] = None,
) -> Case:
    """A new open case for a conversation, at a centre or in the shared queue (centre None)."""
    _check(urgency, URGENCIES, "urgency")
    _check_centre(centre)
    case = Case(
        conversation_id=conversation_id,
        channel=channel,
        language=language,
        urgency=urgency,
        centre=centre,
        status="open",
        summary={"intents": list(intents), "forms": list(forms)},
        created_at=now or utcnow(),
    )
    session.add(case)
    session.flush()
    return case


def add_turn(
    session: Session,
    case: Case,
    who: str,
    text: str,
    language: Optional[str] = None,
    intent: Optional[str] = None,
    now: Optional[dt.datetime] = None,
) -> Turn:
    """Append one message to a case's transcript."""
    _check(who, SPEAKERS, "speaker")
    if case.purged_at is not None:
        raise CaseError("the transcript of this case was purged")
    turn = Turn(case_id=case.id, who=who, text=text, language=language, intent=intent,
                at=now or utcnow())
    session.add(turn)
    session.flush()
    session.expire(case, ["turns"])
    return turn


def record(
    session: Session,
    operator: Optional[Operator],
    action: str,
    case: Optional[Case],
    now: Optional[dt.datetime] = None,
) -> AuditEntry:
    """One line of the audit log."""
    _check(action, ACTIONS, "action")
    entry = AuditEntry(
        operator_id=operator.id if operator else None,
        action=action,
        case_id=case.id if case else None,
        at=now or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def claim(session: Session, case: Case, operator: Operator,
          now: Optional[dt.datetime] = None) -> Case:
    """Give an open case to one operator; a second claim of the same case fails."""
    now = now or utcnow()
    claimed = session.execute(
        update(Case)
        .where(Case.id == case.id, Case.status == "open")
        .values(status="claimed", claimed_by=operator.id, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise CaseError("the case is not open")
    session.refresh(case)
    record(session, operator, "claimed", case, now)
    return case


def transfer(session: Session, case: Case, operator: Optional[Operator], centre: Optional[str],
             now: Optional[dt.datetime] = None) -> Case:
    """Move a case that is not closed to another centre (None: the shared queue), open again."""
    _check_centre(centre)
    if case.status == "closed":
        raise CaseError("the case is closed")
    case.centre, case.status, case.claimed_by, case.claimed_at = centre, "open", None, None
    session.flush()
    record(session, operator, "transferred", case, now)
    return case


def close(session: Session, case: Case, operator: Optional[Operator], outcome: str,
          note: Optional[str] = None, now: Optional[dt.datetime] = None) -> Case:
    """Close a case with its outcome; it now counts in the aggregates. Two operators (or
    replicas) closing at once: one wins, the other gets CaseError."""
    now = now or utcnow()
    closed = session.execute(
        update(Case).where(Case.id == case.id, Case.status != "closed")
        .values(status="closed", closed_at=now, outcome=outcome, note=note)
        .execution_options(synchronize_session=False)).rowcount
    if closed != 1:
        raise CaseError("the case is already closed")
    session.refresh(case)
    _count(session, case, "closed")
    record(session, operator, "closed", case, now)
    return case


def list_cases(session: Session, centre: Optional[str] = None,
               status: Optional[str] = None) -> List[Case]:
    """Cases, oldest first; with a centre, its own cases and those of the shared queue."""
    query = select(Case).order_by(Case.created_at, Case.id)
    if centre is not None:
        query = query.where(or_(Case.centre == centre, Case.centre.is_(None)))
    if status is not None:
        query = query.where(Case.status == status)
    return list(session.execute(query).scalars())


def case_view(case: Case) -> Dict[str, object]:
    """What may leave the database about a case: no conversation id, no transcript, no note."""
    stamp = lambda value: value.isoformat() if value else None  # noqa: E731
    return {
        "id": case.id,
        "status": case.status,
        "urgency": case.urgency,
        "language": case.language,
        "channel": case.channel,
        "centre": case.centre,
        "created_at": stamp(case.created_at),
        "claimed_at": stamp(case.claimed_at),
        "closed_at": stamp(case.closed_at),
        "outcome": case.outcome,
    }


# --- retention and aggregates -------------------------------------------------------


def _forms(case: Case) -> List[str]:
    forms = (case.summary or {}).get("forms") or []
    return sorted(set(forms)) or [NO_FORM]


def _count(session: Session, case: Case, column: str) -> None:
    """Add one to ``column`` of each aggregate row the case falls in (one per form), as
    an upsert: replicas counting the same key at once neither collide nor lose a count."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for form in _forms(case):
        key = dict(day=case.created_at.date(), centre=case.centre or SHARED_QUEUE,
                   language=case.language, urgency=case.urgency, form=form)
        statement = insert(Aggregate).values(closed=0, purged=0, **key)
        statement = statement.values({column: 1}).on_conflict_do_update(
            index_elements=list(key), set_={column: getattr(Aggregate, column) + 1})
        session.execute(statement)
    session.flush()


def purge(session: Session, older_than_days: int, now: Optional[dt.datetime] = None) -> int:
    """Delete the transcripts (and link, summary, note) of cases closed before the limit.

    The case row keeps only its anonymous fields; the aggregates count it as purged.
    Returns how many cases were purged.
    """
    now = now or utcnow()
    limit = now - dt.timedelta(days=older_than_days)
    cases = session.execute(
        select(Case).where(Case.status == "closed", Case.closed_at < limit,
                           Case.purged_at.is_(None))
    ).scalars().all()
    purged = 0
    for case in cases:
        mine = session.execute(update(Case).where(Case.id == case.id, Case.purged_at.is_(None))
                               .values(purged_at=now).execution_options(synchronize_session=False)).rowcount
        if mine != 1:
            continue  # another replica purged it meanwhile
        purged += 1
        _count(session, case, "purged")
        session.query(Turn).filter(Turn.case_id == case.id).delete(synchronize_session=False)
        session.expire(case, ["turns"])
        case.conversation_id, case.summary, case.note, case.purged_at = None, None, None, now
    session.flush()
    return purged


def purge_conversations(session: Session, older_than: dt.datetime) -> int:
    """Delete the assistant's conversations (Rasa's ``events`` table, when the tracker
    store is in this database) whose last event is older than ``older_than``."""
    from sqlalchemy import inspect, text

    if not inspect(session.get_bind()).has_table("events"):
        return 0
    cutoff = older_than.replace(tzinfo=dt.timezone.utc).timestamp()
    old = session.execute(text("SELECT sender_id FROM events GROUP BY sender_id "
                               "HAVING MAX(timestamp) < :cutoff"), {"cutoff": cutoff}).scalars().all()
    for start in range(0, len(old), 500):
        chunk = old[start:start + 500]
        session.execute(text("DELETE FROM events WHERE sender_id IN :ids")
                        .bindparams(bindparam("ids", expanding=True)), {"ids": chunk})
    return len(old)


def aggregates(session: Session) -> List[Dict[str, object]]:
    """All aggregate rows, as plain dicts ordered by day and key."""
    rows = session.execute(
        select(Aggregate).order_by(Aggregate.day, Aggregate.centre, Aggregate.language,
                                   Aggregate.urgency, Aggregate.form)
    ).scalars()
    return [
        {"day": row.day.isoformat(), "centre": row.centre, "language": row.language,
         "urgency": row.urgency, "form": row.form, "closed": row.closed, "purged": row.purged}
        for row in rows
    ]


# --- operators ----------------------------------------------------------------------


def find_operator(session: Session, login: str) -> Optional[Operator]:
    return session.execute(select(Operator).filter_by(login=login)).scalar_one_or_none()


def _operator(session: Session, login: str) -> Operator:
    operator = find_operator(session, login)
    if operator is None:
        raise CaseError(f"no operator {login!r}")
    return operator


def add_operator(session: Session, login: str, centre: str, password: str,
                 role: str = "operator", now: Optional[dt.datetime] = None) -> Operator:
    """A new account at one centre; the password is stored as an argon2 hash only."""
    _check(centre, CENTRES, "centre")
    _check(role, ROLES, "role")
    if find_operator(session, login) is not None:
        raise CaseError(f"operator {login!r} exists")
    operator = Operator(login=login, centre=centre, role=role,
                        password_hash=PasswordHasher().hash(password), disabled=False,
                        failed_logins=0, created_at=now or utcnow())
    session.add(operator)
    session.flush()
    return operator


def verify_password(session: Session, login: str, password: str,
                    now: Optional[dt.datetime] = None) -> Optional[Operator]:
    """The operator if the password is right and the account usable, else None.

    Wrong passwords are counted; after ``MAX_FAILED_LOGINS`` the account locks for ``LOCKOUT``.
    """
    now = now or utcnow()
    operator = find_operator(session, login)
    if operator is None or operator.disabled:
        return None
    if operator.locked_until is not None and operator.locked_until > now:
        return None
    hasher = PasswordHasher()
    try:
        hasher.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        operator.failed_logins += 1
        if operator.failed_logins >= MAX_FAILED_LOGINS:
            operator.locked_until, operator.failed_logins = now + LOCKOUT, 0
        session.flush()
        return None
    operator.failed_logins, operator.locked_until = 0, None
    if hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = hasher.hash(password)
    session.flush()
    return operator


def disable_operator(session: Session, login: str) -> Operator:
    """The account can no longer log in (kept for the audit log)."""
    operator = _operator(session, login)
    operator.disabled = True
    session.flush()
    return operator


def reset_operator(session: Session, login: str, password: str) -> Operator:
    """A new password; unlocks and re-enables the account."""
    operator = _operator(session, login)
    operator.password_hash = PasswordHasher().hash(password)
    operator.disabled, operator.failed_logins, operator.locked_until = False, 0, None
    session.flush()
    return operator


def list_operators(session: Session) -> List[Operator]:
    return list(session.execute(select(Operator).order_by(Operator.centre, Operator.login))
                .scalars())
