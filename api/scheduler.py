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
from engine.errors import Conflict

from .extensions import db

log = logging.getLogger(__name__)


def tick(app: Flask, batch: int = 100, max_seconds: float = 60.0) -> int:
    """Fire every due timer; returns how many instances moved.

    Works through the due instances batch by batch until none is left, no batch makes progress
    (other schedulers hold the rest) or `max_seconds` have passed. A tick that was down catches
    up: whatever is due by now is fired. Each scheduler takes a batch in its own random order,
    so that several of them spread over the queue instead of queueing behind each other."""
    casework = app.extensions["casework"]
    moved = 0
    deadline = time.monotonic() + max_seconds
    with app.app_context():
        with transaction(db.session) as session:
            purge_expired_tokens(session)
        while time.monotonic() < deadline:
            with transaction(db.session) as session:
                due = casework.due_instance_ids(session, batch)
            random.shuffle(due)
            outcomes = [_fire(casework, instance_id) for instance_id in due]
            moved += outcomes.count(FIRED)
            if len(due) < batch or outcomes.count(None) == len(outcomes):
                break
        db.session.remove()
    return moved


FIRED, MARKED = "fired", "marked in error"


def _fire(casework, instance_id: int) -> str | None:
    """Fire one instance's due timers: FIRED, MARKED, or None when there was nothing to do
    (another scheduler or a user got there first)."""
    try:
        with transaction(db.session) as session:
            return FIRED if casework.fire_due_timers(session, instance_id) else None
    except Conflict:
        return None  # a user changed the case meanwhile; the next tick looks again
    except OperationalError:  # the database is away or busy: not the instance's fault
        log.exception("timer tick could not reach the database for instance %s", instance_id)
        return None
    except Exception as exc:  # one broken instance must not stop the others
        log.exception("timer tick failed for instance %s", instance_id)
        with transaction(db.session) as session:
            casework.mark_error(session, instance_id,
                                f"firing a timer failed: {exc.__class__.__name__}: {exc}")
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
