"""A caseworker's deadlines and task due dates as an iCalendar feed (RFC 5545), read by the
municipal calendar from a secret URL.

The URL is the only key, so the feed says as little as it can: the deadline or task, the case
number and the legal basis; never the citizen's name or CPR number. The token is stored as a
SHA-256 digest; making a new one revokes the old, and it can be revoked on its own. Every read
is written to the access log, case by case."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .clock import LOCAL_TZ, now
from .errors import NotFound
from .models import READY, CalendarFeed, CaseDeadline, Task, User


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(session: Session, user: User) -> str:
    """A new secret for the user's feed; the previous one stops working. Returns the token."""
    revoke_feed(session, user)
    raw = secrets.token_urlsafe(32)
    session.add(CalendarFeed(user_id=user.id, token_hash=_digest(raw), created_at=now()))
    session.flush()
    return raw


def revoke_feed(session: Session, user: User) -> bool:
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        return False
    session.delete(feed)
    session.flush()
    return True


def feed_user(session: Session, raw: str) -> User:
    feed = session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == _digest(raw)))
    if feed is None or not feed.user.active:
        raise NotFound("no such calendar (the address was revoked or never existed)")
    return feed.user


def render_feed(session: Session, user: User) -> str:
    """The user's running deadlines and their open tasks with a due date, in the teams they
    are still part of."""
    deadlines = list(session.scalars(
        select(CaseDeadline).where(CaseDeadline.responsible_id == user.id,
                                   CaseDeadline.team_id.in_(user.team_ids or {-1}),
                                   CaseDeadline.met_at.is_(None),
                                   CaseDeadline.closed_at.is_(None))
        .order_by(CaseDeadline.due_at)))
    tasks = list(session.scalars(
        select(Task).where(Task.assignee_id == user.id, Task.state == READY,
                           Task.team_id.in_(user.team_ids or {-1}),
                           Task.due_at.is_not(None)).order_by(Task.due_at)))
    audit.log_list_access(session, user, [d.case_id for d in deadlines] +
                          [t.case_id for t in tasks], "calendar_feed")
    stamp = _utc(now())
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Sagsflow//Frister//DA",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             _property("X-WR-CALNAME", f"Sagsflow: frister for {user.full_name}"),
             "X-WR-TIMEZONE:Europe/Copenhagen"]
    for row in deadlines:
        paused = f" (sat i bero: {row.pause_reason})" if row.paused_at else ""
        lines += _event(f"frist-{row.id}@sagsflow", stamp, row.due_at,
                        f"Frist: {row.title} – sag {row.case.number}{paused}",
                        f"Hjemmel: {row.legal_basis}")
    for task in tasks:
        lines += _event(f"opgave-{task.id}@sagsflow", stamp, task.due_at,
                        f"Opgave: {task.name} – sag {task.case.number}",
                        f"Proces: {task.process_id}")
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _event(uid: str, stamp: str, due: datetime, summary: str, description: str) -> list[str]:
    """A deadline due at the end of a Danish day is an all-day event on that day; one due at a
    moment (hour deadlines) is an event at that moment."""
    local = due.astimezone(LOCAL_TZ)
    if local.time() == time(23, 59, 59):
        when = [f"DTSTART;VALUE=DATE:{local:%Y%m%d}",
                f"DTEND;VALUE=DATE:{local.date() + timedelta(days=1):%Y%m%d}"]
    else:
        when = [f"DTSTART:{_utc(due)}", f"DTEND:{_utc(due)}"]
    return ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{stamp}", *when,
            _property("SUMMARY", summary), _property("DESCRIPTION", description),
            "TRANSP:TRANSPARENT", "END:VEVENT"]


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _property(name: str, value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
               .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))
    return f"{name}:{escaped}"


def _fold(line: str) -> str:
    """Lines longer than 75 octets go on in continuation lines (a space first), never
    splitting a UTF-8 character."""
    out, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not out else 74):
            out.append(current.decode())
            current = b""
        current += encoded
    out.append(current.decode())
    return "\r\n ".join(out)
