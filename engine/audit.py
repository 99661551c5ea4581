"""The append-only case history and the access log."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .clock import now
from .models import AccessLog, AuditEvent, User


def record(session: Session, case_id: int | None, kind: str, actor: User | None = None,
           task_id: str | None = None, **data) -> AuditEvent:
    event = AuditEvent(case_id=case_id, at=now(), actor_id=actor.id if actor else None,
                       kind=kind, task_id=task_id, data=data)
    session.add(event)
    return event


def log_access(session: Session, user: User, case_id: int | None, action: str) -> None:
    session.add(AccessLog(at=now(), user_id=user.id, case_id=case_id, action=action))


def log_list_access(session: Session, user: User, case_ids, action: str) -> None:
    """A list shows names and masked CPR numbers: log each case it showed, in one insert."""
    moment = now()
    rows = [{"at": moment, "user_id": user.id, "case_id": case_id, "action": action}
            for case_id in dict.fromkeys(case_ids)]
    if rows:
        session.execute(insert(AccessLog), rows)


def timeline(session: Session, case_id: int) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
    ))


def search_access(session: Session, user: User, *, username: str | None = None,
                  case_number: str | None = None, since=None, until=None,
                  limit: int = 200) -> list[tuple[AccessLog, str, str | None]]:
    """Who looked at which case, newest first: for administrators only. Each row with the
    username and the case number."""
    from .models import ADMIN, Case
    from .permissions import require_role

    require_role(user, ADMIN)
    query = (select(AccessLog, User.username, Case.number)
             .join(User, User.id == AccessLog.user_id)
             .outerjoin(Case, Case.id == AccessLog.case_id))
    if username:
        query = query.where(User.username == username)
    if case_number:
        query = query.where(Case.number == case_number)
    if since is not None:
        query = query.where(AccessLog.at >= since)
    if until is not None:
        query = query.where(AccessLog.at < until)
    return [tuple(row) for row in session.execute(
        query.order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(limit))]
