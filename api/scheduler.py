"""The timer tick: APScheduler runs it every few seconds in each server process. Any number of
processes may tick at once; each due instance is claimed in its own transaction."""

from __future__ import annotations

import logging
import time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import OperationalError

from engine.accounts import purge_expired_tokens
from engine.db import transaction
from engine.deadlines import watch
from engine.errors import Conflict
from engine.letters.service import mark_failed as mark_letter_failed

from .extensions import db

log = logging.getLogger(__name__)


def tick(app: Flask, max_seconds: float = 60.0) -> dict[str, int]:
    """Fire every due timer and watch every deadline whose moment has come (a reminder or a
    breach) and send every letter due to go out; returns how many instances ("timers"),
    deadlines ("deadlines") and letters ("letters") moved.

    Each transaction claims the next due item itself (earliest first; on PostgreSQL with SKIP
    LOCKED, so any number of schedulers share the queue without waiting for or colliding with
    each other) until none is left or `max_seconds` have passed. A tick that was down catches
    up: whatever is due by now is done. An item that failed is not tried again in this tick."""
    casework = app.extensions["casework"]
    catalogue = casework.deadlines
    queues = [("timers", casework.fire_next_due, casework.mark_error)]
    letters = casework.letters
    if catalogue is not None:
        queues.append(("deadlines",
                       lambda session, skip, claimed: watch.watch_next(
                           session, catalogue, skip, claimed, letters),
                       watch.mark_failed))
    if letters is not None:
        queues.append(("letters", letters.send_next, mark_letter_failed))
    moved = {name: 0 for name, *_ in queues}
    stop_at = time.monotonic() + max_seconds
    with app.app_context():
        with transaction(db.session) as session:
            purge_expired_tokens(session)
        for name, work_next, on_failure in queues:
            skip: set[int] = set()
            while time.monotonic() < stop_at:
                outcome = _run_next(work_next, on_failure, skip)
                if outcome is None:
                    break
                moved[name] += outcome == DONE
        db.session.remove()
    return moved


DONE, FAILED = "done", "failed"


def _run_next(work_next, on_failure, skip: set[int]) -> str | None:
    """Claim and work on the next due item in its own transaction: DONE, FAILED (it goes in
    `skip`), or None when nothing is left to claim."""
    claimed: list[int] = []
    try:
        with transaction(db.session) as session:
            return DONE if work_next(session, skip, claimed) else None
    except Conflict:
        pass  # a user changed the case meanwhile; the next tick looks again
    except OperationalError:  # the database is away or busy: not the item's fault
        log.exception("scheduler tick could not reach the database (%s)", claimed)
        if not claimed:
            return None
    except Exception as exc:  # one broken item must not stop the others
        log.exception("scheduler tick failed for %s", claimed)
        if claimed:
            with transaction(db.session) as session:
                on_failure(session, claimed[0], f"{exc.__class__.__name__}: {exc}")
    if not claimed:
        return None
    skip.add(claimed[0])
    return FAILED


def start_scheduler(app: Flask, blocking: bool = False):
    """The tick every SCHEDULER_INTERVAL_SECONDS: in the background of `sagsflow serve`, or in
    the foreground as `sagsflow scheduler`, a process of its own."""
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="UTC")
    scheduler.add_job(tick, "interval", args=[app],
                      seconds=app.config["SCHEDULER_INTERVAL_SECONDS"],
                      max_instances=1, coalesce=True, id="timer-tick")
    scheduler.start()
    return scheduler
