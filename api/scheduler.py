"""The timer tick: APScheduler runs it every few seconds in each server process. Any number of
processes may tick at once; each due instance is claimed in its own transaction."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from engine.db import transaction
from engine.errors import Conflict

from .extensions import db

log = logging.getLogger(__name__)


def tick(app: Flask, batch: int = 100) -> int:
    """Fire every due timer; returns how many instances moved. A tick that was down catches up:
    whatever is due by now is fired."""
    casework = app.extensions["casework"]
    moved = 0
    with app.app_context():
        with transaction(db.session) as session:
            due = casework.due_instance_ids(session, batch)
        for instance_id in due:
            try:
                with transaction(db.session) as session:
                    if casework.fire_due_timers(session, instance_id):
                        moved += 1
            except Conflict:
                pass  # a user changed the case meanwhile; the next tick looks again
            except Exception as exc:  # one broken instance must not stop the others
                log.exception("timer tick failed for instance %s", instance_id)
                with transaction(db.session) as session:
                    casework.mark_error(session, instance_id,
                                        f"firing a timer failed: {exc.__class__.__name__}: {exc}")
        db.session.remove()
    return moved


def start_scheduler(app: Flask) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(tick, "interval", args=[app],
                      seconds=app.config["SCHEDULER_INTERVAL_SECONDS"],
                      max_instances=1, coalesce=True, id="timer-tick")
    scheduler.start()
    return scheduler
