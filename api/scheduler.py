"""The timer tick: APScheduler runs it every few seconds in each server process. Any number of
processes may tick at once; each due instance is claimed in its own transaction."""

from __future__ import annotations

import logging
import random
import time

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import OperationalError

from engine.accounts import purge_expired_tokens
from engine.db import transaction
from engine.deadlines import watch
from engine.errors import Conflict

from .extensions import db

log = logging.getLogger(__name__)


def tick(app: Flask, batch: int = 100, max_seconds: float = 60.0) -> dict[str, int]:
    """Fire every due timer and watch every deadline whose moment has come (a reminder or a
    breach); returns how many instances ("timers") and deadlines ("deadlines") moved.

    Works through each queue batch by batch until none is left, no batch makes progress (other
    schedulers hold the rest) or `max_seconds` have passed. A tick that was down catches up:
    whatever is due by now is done. Each scheduler takes a batch in its own random order, so
    that several of them spread over the queue instead of queueing behind each other."""
    casework = app.extensions["casework"]
    catalogue = casework.deadlines
    queues = [("timers", casework.due_instance_ids, casework.fire_due_timers,
               casework.mark_error)]
    if catalogue is not None:
        queues.append(("deadlines", watch.due_deadline_ids,
                       lambda session, row_id: watch.watch(session, catalogue, row_id),
                       watch.mark_failed))
    moved = {name: 0 for name, *_ in queues}
    stop_at = time.monotonic() + max_seconds
    with app.app_context():
        with transaction(db.session) as session:
            purge_expired_tokens(session)
        for name, due_ids, work, on_failure in queues:
            while time.monotonic() < stop_at:
                with transaction(db.session) as session:
                    due = due_ids(session, batch)
                random.shuffle(due)
                outcomes = [_run(work, on_failure, item) for item in due]
                moved[name] += outcomes.count(DONE)
                if len(due) < batch or outcomes.count(None) == len(outcomes):
                    break
        db.session.remove()
    return moved


DONE, MARKED = "done", "marked in error"


def _run(work, on_failure, item_id: int) -> str | None:
    """Work on one due item in its own transaction: DONE, MARKED, or None when there was
    nothing to do (another scheduler or a user got there first)."""
    try:
        with transaction(db.session) as session:
            return DONE if work(session, item_id) else None
    except Conflict:
        return None  # a user changed the case meanwhile; the next tick looks again
    except OperationalError:  # the database is away or busy: not the item's fault
        log.exception("scheduler tick could not reach the database for %s", item_id)
        return None
    except Exception as exc:  # one broken item must not stop the others
        log.exception("scheduler tick failed for %s", item_id)
        with transaction(db.session) as session:
            on_failure(session, item_id, f"{exc.__class__.__name__}: {exc}")
        return MARKED


def start_scheduler(app: Flask, blocking: bool = False):
    """The tick every SCHEDULER_INTERVAL_SECONDS: in the background of `sagsflow serve`, or in
    the foreground as `sagsflow scheduler`, a process of its own."""
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="UTC")
    scheduler.add_job(tick, "interval", args=[app],
                      seconds=app.config["SCHEDULER_INTERVAL_SECONDS"],
                      max_instances=1, coalesce=True, id="timer-tick")
    scheduler.start()
    return scheduler
