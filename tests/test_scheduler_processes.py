"""Timers fire exactly once with real `sagsflow scheduler` processes on PostgreSQL: four of
them at once over 2,000 due timers, and one killed with SIGKILL half-way and replaced. The four
also breach 1,000 overdue deadlines, each exactly once.

PostgreSQL only, in a database of its own (`sagsflow_sched_test` on the server of
TEST_DATABASE_URL), never the `test` database the other tests use. The due instances are
copies of one real case's instance (see bench/scheduler.py)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from api import create_app
from api.cli import upgrade_database
from api.extensions import db
from bench import scheduler as sched
from bench.dataset import prepare_postgres
from engine.clock import now
from engine.models import Case, CaseDeadline

COUNT = 2000
DATABASE = "sagsflow_sched_test"
TIMEOUT = 180.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="scheduler processes need PostgreSQL: TEST_DATABASE_URL is not set "
           "(CI sets it to the local server; `make test-pg` does too)")


@pytest.fixture
def due(tmp_path):
    """A fresh `sagsflow_sched_test` with COUNT due instances: (url, case ids)."""
    url = prepare_postgres(os.environ["TEST_DATABASE_URL"], DATABASE)
    upgrade_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret"})
    built = sched.build_due_instances(app, COUNT)
    with app.app_context():
        db.engine.dispose()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert sched.due_count(conn) == COUNT
    engine.dispose()
    return url, built["case_ids"]


def _assert_exactly_once(url, case_ids):
    check = sched.check_exactly_once(url, case_ids)
    assert check["anomaly_count"] == 0, check["anomalies"]
    assert check["fired_once"] == check["one_ryk_for_svar"] == len(case_ids)
    assert check["in_error"] == 0
    engine = create_engine(url)
    with engine.connect() as conn:
        assert sched.due_count(conn) == 0
        assert sched.fired_count(conn) == len(case_ids)  # nothing fired outside the copies
    engine.dispose()


OVERDUE = 1000


def _add_overdue_deadlines(url, case_ids) -> None:
    """An overdue access-to-documents deadline on each of the first OVERDUE cases."""
    due_at = now() - timedelta(days=1)
    engine = create_engine(url)
    with engine.begin() as conn:
        cases = conn.execute(select(Case.id, Case.team_id).where(
            Case.id.in_(case_ids[:OVERDUE]))).all()
        conn.execute(insert(CaseDeadline), [
            {"case_id": case_id, "team_id": team_id, "process_id": "henvendelse",
             "key": "aktindsigt_7hd", "title": "Svar på anmodning om aktindsigt",
             "legal_basis": "Offentlighedsloven § 36", "start_at": due_at - timedelta(days=9),
             "due_at": due_at, "warn_at": due_at - timedelta(days=2), "reminders_sent": 0,
             "next_check_at": due_at, "created_at": due_at} for case_id, team_id in cases])
    engine.dispose()


def _wait_for_deadlines(url, procs) -> None:
    engine = create_engine(url)
    stop_at = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < stop_at:
            with engine.connect() as conn:
                if not conn.scalar(select(func.count()).select_from(CaseDeadline)
                                   .where(CaseDeadline.next_check_at <= now())):
                    return
            assert any(p.poll() is None for p in procs), "every scheduler exited"
            time.sleep(0.25)
        raise AssertionError("the deadlines were not all watched in time")
    finally:
        engine.dispose()


def test_four_scheduler_processes_fire_every_timer_exactly_once(due, tmp_path):
    url, case_ids = due
    _add_overdue_deadlines(url, case_ids)
    env = sched.scheduler_env(url, tmp_path / "instance")
    procs = sched.start_schedulers(4, env, tmp_path)
    try:
        sched.wait_until(url, procs, timeout=TIMEOUT)
        _wait_for_deadlines(url, procs)
        assert all(p.poll() is None for p in procs), "a scheduler exited early"
    finally:
        sched.stop(procs)
    _assert_exactly_once(url, case_ids)
    engine = create_engine(url)
    with engine.connect() as conn:
        breached = dict(conn.execute(text(
            "SELECT case_id, count(*) FROM audit_events WHERE kind = 'deadline_breached' "
            "GROUP BY case_id")).all())
        escalated = conn.scalar(text(
            "SELECT count(*) FROM audit_events WHERE kind = 'deadline_escalated'"))
    engine.dispose()
    assert sorted(breached) == sorted(case_ids[:OVERDUE])
    assert set(breached.values()) == {1}
    assert escalated == OVERDUE


def test_a_scheduler_killed_mid_way_loses_nothing_and_doubles_nothing(due, tmp_path):
    url, case_ids = due
    env = sched.scheduler_env(url, tmp_path / "instance")
    first = sched.start_schedulers(1, env, tmp_path)
    try:
        sched.wait_until(url, first, timeout=TIMEOUT, fired_at_least=COUNT * 3 // 10, poll=0.05)
    finally:
        sched.stop(first, hard=True)  # kill -9, most likely inside a firing transaction
    assert first[0].returncode == -9
    engine = create_engine(url)
    with engine.connect() as conn:
        fired_before = sched.fired_count(conn)
        left = sched.due_count(conn)
    engine.dispose()
    assert 0 < left < COUNT and fired_before + left == COUNT

    time.sleep(0.5)
    second = sched.start_schedulers(1, env, tmp_path)
    try:
        sched.wait_until(url, second, timeout=TIMEOUT)
    finally:
        sched.stop(second)
    _assert_exactly_once(url, case_ids)
