"""The deadline watcher: reminders before a deadline and the catalogue's actions when it passes.

Each deadline row keeps `next_check_at`, the next moment the watcher must look at it (its next
reminder, else its due moment); the scheduler claims the rows whose moment has come, one
transaction each, like timers. What a row mirrors from its process (start, due, met, pause) is
written by the casework service; what the watcher writes is its own: reminders sent and breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..clock import now
from ..db import claim_next
from ..models import Case, CaseDeadline, Membership, User
from .catalogue import DeadlineCatalogue

# Breach actions the process itself carries out (catalogue.PROCESS_ACTIONS), with a timer on
# `deadline(key)`: the watcher records that they are due; deploy checks that a process starting
# the deadline has such a timer (engine.bpmn.registry).


def reminder_moments(catalogue: DeadlineCatalogue, key: str, due: datetime) -> list[datetime]:
    if key not in catalogue:  # an entry removed from the catalogue: no reminders
        return []
    return catalogue.reminders(key, due)


def schedule(catalogue: DeadlineCatalogue, row: CaseDeadline) -> None:
    """Work out when the deadline turns yellow and when the watcher must next look at it."""
    moments = reminder_moments(catalogue, row.key, row.due_at)
    row.warn_at = moments[0] if moments else row.due_at
    if row.met_at is not None or row.paused_at is not None or row.closed_at is not None:
        row.next_check_at = None
        return
    pending = moments[row.reminders_sent:]
    upcoming = [m for m in pending if m < row.due_at]
    if row.breached_at is None:
        upcoming.append(row.due_at)
    row.next_check_at = min(upcoming) if upcoming else None


def due_deadline_ids(session: Session, limit: int = 100) -> list[int]:
    return list(session.scalars(
        select(CaseDeadline.id).where(CaseDeadline.next_check_at <= now())
        .order_by(CaseDeadline.next_check_at).limit(limit)))


def _claim(session: Session, condition, order: bool = False) -> CaseDeadline | None:
    """A deadline whose moment has come, locked for this transaction; on PostgreSQL rows other
    schedulers hold are skipped (SKIP LOCKED), so that every reminder and every breach happens
    once however many schedulers run."""
    query = claim_next(session, select(CaseDeadline).where(CaseDeadline.next_check_at <= now()),
                       of=CaseDeadline, condition=condition,
                       order_by=CaseDeadline.next_check_at if order else None)
    return session.scalars(query).first()


def watch(session: Session, catalogue: DeadlineCatalogue, deadline_id: int,
          letters=None) -> str | None:
    """Remind of or breach one deadline whose moment has come. Returns "reminded",
    "breached" or None (nothing to do: another scheduler took it, or it moved)."""
    row = _claim(session, CaseDeadline.id == deadline_id)
    return None if row is None else _act(session, catalogue, row, letters)


def watch_next(session: Session, catalogue: DeadlineCatalogue, skip=(),
               claimed: list | None = None, letters=None) -> bool:
    """Claim the next deadline whose moment has come (earliest first) and act on it: what the
    scheduler does in each transaction. False when none is left (see Casework.fire_next_due
    for `skip` and `claimed`)."""
    row = _claim(session, CaseDeadline.id.not_in(sorted(skip)) if skip else None, order=True)
    if row is None:
        return False
    if claimed is not None:
        claimed.append(row.id)
    _act(session, catalogue, row, letters)
    return True


def _act(session: Session, catalogue: DeadlineCatalogue, row: CaseDeadline,
         letters=None) -> str | None:
    moment = now()
    outcome = None
    moments = reminder_moments(catalogue, row.key, row.due_at)
    passed = sum(1 for m in moments if m <= moment)
    if row.due_at <= moment and row.breached_at is None:
        row.reminders_sent = max(row.reminders_sent, passed)
        _breach(session, catalogue, row, moment, letters)
        outcome = "breached"
    elif passed > row.reminders_sent:
        # Several reminders passed at once (the scheduler was down, or the case is back-dated):
        # one reminder tells it all.
        row.reminders_sent, row.reminded_at = passed, moment
        audit.record(session, row.case_id, "deadline_reminder", None, key=row.key,
                     title=row.title, due_at=row.due_at.isoformat(), number=passed,
                     responsible=row.responsible.username if row.responsible else None)
        outcome = "reminded"
    schedule(catalogue, row)
    return outcome


def team_leaders(session: Session, team_id: int) -> list[User]:
    return list(session.scalars(
        select(User).join(Membership, Membership.user_id == User.id)
        .where(Membership.team_id == team_id, Membership.leads.is_(True),
               User.active.is_(True)).order_by(User.username)))


def _breach(session: Session, catalogue: DeadlineCatalogue, row: CaseDeadline,
            moment: datetime, letters=None) -> None:
    row.breached_at = moment
    audit.record(session, row.case_id, "deadline_breached", None, key=row.key, title=row.title,
                 due_at=row.due_at.isoformat(),
                 responsible=row.responsible.username if row.responsible else None)
    if row.key not in catalogue:
        return
    for action in catalogue.get(row.key).on_breach:
        params = dict(action.params)
        if action.action == "escalate":
            leaders = [u.username for u in team_leaders(session, row.team_id)]
            audit.record(session, row.case_id, "deadline_escalated", None, key=row.key,
                         to=leaders, note=params.get("note"))
        elif action.action == "letter":
            # A draft on the case for the caseworker to check and issue (engine.letters).
            draft = None
            if letters is not None:
                draft = letters.prepare(session, row.case, params["letter"], "deadline",
                                        recipient={"rolle": params["to"]}
                                        if params["to"] != "citizen" else None)
            audit.record(session, row.case_id, "letter_requested", None, key=row.key,
                         letter=params["letter"], to=params["to"],
                         letter_id=draft.id if draft else None)
        else:
            audit.record(session, row.case_id, "deadline_action_due", None, key=row.key,
                         action=action.action, by="process", **params)


def close_case_deadlines(session: Session, catalogue: DeadlineCatalogue, case: Case,
                         closed: datetime | None, keep=()) -> None:
    """A closed case's deadlines are no longer watched; reopening watches them again. `keep`:
    keys still owed after closing (a letter that meets them is still to be issued)."""
    for row in session.scalars(select(CaseDeadline).where(CaseDeadline.case_id == case.id,
                                                          CaseDeadline.met_at.is_(None))):
        if closed is not None and row.key in keep:
            continue
        row.closed_at = closed
        schedule(catalogue, row)


def mark_failed(session: Session, deadline_id: int, message: str) -> None:
    """A deadline the watcher could not handle shows as an error on its case and is looked at
    again in an hour, so that it neither holds up the queue nor is forgotten."""
    row = session.get(CaseDeadline, deadline_id)
    if row is None:
        return
    row.next_check_at = now() + timedelta(hours=1)
    audit.record(session, row.case_id, "error", None, key=row.key,
                 message=f"watching deadline {row.key!r} failed: {message}", element=None)
