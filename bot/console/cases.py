"""What an operator may see of the cases: the queue, one case, the audit log of a centre.

An operator sees the cases of their own centre and those of the shared queue
(centre NULL); supervisors and admins see the same for now. Functions take an open
SQLAlchemy session and return plain dicts for the templates and ``queue.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import Dict, List, Mapping, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.storage.models import STATUSES, URGENCIES, AuditEntry, Case, Operator, OutboxMessage

ACTIVE = ("open", "claimed")
STATUS_FILTERS = ("active",) + STATUSES + ("all",)
SUPERVISING_ROLES = ("supervisor", "admin")


def visible(case: Optional[Case], operator: Operator) -> bool:
    """Own centre or shared queue; anything else looks exactly like an unknown case."""
    return case is not None and case.centre in (operator.centre, None)


def find_case(session: Session, operator: Operator, case_id: int) -> Optional[Case]:
    case = session.get(Case, case_id)
    return case if visible(case, operator) else None


def stamp(value: Optional[dt.datetime]) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def filters(args: Mapping[str, str], languages: tuple) -> Dict[str, str]:
    """The queue filters of the query string; unknown values fall back to no filter."""
    status = args.get("status") or "active"
    language = args.get("language") or ""
    urgency = args.get("urgency") or ""
    return {
        "status": status if status in STATUS_FILTERS else "active",
        "language": language if language in languages else "",
        "urgency": urgency if urgency in URGENCIES else "",
    }


def _statuses(status: str) -> tuple:
    return {"active": ACTIVE, "all": STATUSES}.get(status, (status,))


def _order(case: Case) -> tuple:
    """Open and claimed first, then emergency, high, normal, then the longest waiting."""
    return (case.status not in ACTIVE, URGENCIES.index(case.urgency), case.created_at, case.id)


def queue(session: Session, operator: Operator, chosen: Mapping[str, str]) -> List[Case]:
    query = select(Case).where(
        (Case.centre == operator.centre) | Case.centre.is_(None),
        Case.status.in_(_statuses(chosen["status"])),
    )
    if chosen["language"]:
        query = query.where(Case.language == chosen["language"])
    if chosen["urgency"]:
        query = query.where(Case.urgency == chosen["urgency"])
    return sorted(session.execute(query).scalars(), key=_order)


def _basics(case: Case) -> Dict[str, object]:
    """What the queue and the case page both show of a case."""
    return {
        "id": case.id,
        "status": case.status,
        "urgency": case.urgency,
        "language": case.language,
        "channel": case.channel,
        "centre": case.centre or "shared",
        "created_at": stamp(case.created_at),
    }


def row(case: Case, now: dt.datetime) -> Dict[str, object]:
    """One queue row, as the page and ``queue.json`` show it."""
    waited = max(0, int((now - case.created_at).total_seconds() // 60))
    return dict(_basics(case), waiting_minutes=waited, url=f"/console/cases/{case.id}")


def details(case: Case) -> Dict[str, object]:
    """The metadata and transcript of one case for its page."""
    summary = case.summary or {}
    return {
        **_basics(case),
        "intents": list(summary.get("intents") or []),
        "forms": list(summary.get("forms") or []),
        "outcome": case.outcome or "",
        "note": case.note or "",
        "purged": case.purged_at is not None,
        "turns": [{"who": t.who, "text": t.text, "language": t.language or "",
                   "intent": t.intent or "", "at": stamp(t.at)} for t in case.turns],
    }


def audit(session: Session, centre: str, limit: int = 500) -> List[Dict[str, object]]:
    """The latest audit entries on the cases of one centre, newest first."""
    rows = session.execute(
        select(AuditEntry, Operator.login)
        .join(Case, AuditEntry.case_id == Case.id)
        .outerjoin(Operator, AuditEntry.operator_id == Operator.id)
        .where(Case.centre == centre)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
    ).all()
    return [{"at": stamp(entry.at), "operator": login or "", "action": entry.action,
             "case_id": entry.case_id} for entry, login in rows]


def delivery(session: Session, case_id: int) -> Dict[str, int]:
    """Messages of a case not delivered to the person: ``waiting`` (the outbox retries, or
    the web chat has not fetched them yet) and ``failed`` (the conversation was erased)."""
    rows = session.execute(select(OutboxMessage.failed_at.is_(None), func.count(OutboxMessage.id))
                           .where(OutboxMessage.case_id == case_id)
                           .group_by(OutboxMessage.failed_at.is_(None))).all()
    counts = {bool(waiting): count for waiting, count in rows}
    return {"waiting": counts.get(True, 0), "failed": counts.get(False, 0)}
