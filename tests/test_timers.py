"""Durable timers: the reply deadline in the information-gathering call activity fires once the
time has come, exactly once however many schedulers tick, and a tick that was down catches up."""

import threading
from datetime import timedelta

import pytest
import time_machine
from conftest import get_user, new_case_body, run_tick
from sqlalchemy import select

from api import scheduler
from engine.clock import now
from engine.db import transaction
from engine.models import AuditEvent, Instance, Task


def tick(app):
    return run_tick(app)["timers"]


def _complete(session, casework, user, case_id, bpmn_id, data):
    task = session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == bpmn_id,
                                             Task.state == "ready"))
    assert task is not None, f"{bpmn_id} is not open"
    with transaction(session):
        casework.complete_task(session, user, task.id, data)


def _case_waiting_for_answer(session, casework, reply_days=14):
    user = get_user(session, "sagsbehandler")
    body = new_case_body()
    from datetime import datetime
    with transaction(session):
        case = casework.open_case(session, user, "henvendelse", body["citizen"],
                                  datetime.fromisoformat(body["received_at"]))
    _complete(session, casework, user, case.id, "vurder_henvendelse",
              {"henvendelse": "Bekymring", "udfald": "oplys"})
    _complete(session, casework, user, case.id, "anmod_oplysninger",
              {"modtager": "Skolen", "spoergsmaal": "Fravær?", "svarfrist_dage": reply_days})
    return case


def _open(session, case_id):
    session.expire_all()
    return sorted(t.bpmn_id for t in session.scalars(
        select(Task).where(Task.case_id == case_id, Task.state == "ready")))


def _fired(session, case_id):
    return session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                    AuditEvent.kind == "timer_fired")).all()


def test_waiting_timer_sets_next_due_at(app, session, casework):
    with time_machine.travel(now(), tick=False):
        case = _case_waiting_for_answer(session, casework, reply_days=14)
        instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
        assert instance.next_due_at is not None
        assert abs(instance.next_due_at - (now() + timedelta(days=14))) < timedelta(seconds=5)


def test_timer_does_not_fire_before_it_is_due(app, session, casework):
    with time_machine.travel(now(), tick=False) as traveller:
        case = _case_waiting_for_answer(session, casework)
        traveller.shift(timedelta(days=13, hours=23))
        assert tick(app) == 0
        assert _open(session, case.id) == ["registrer_svar"]
        assert _fired(session, case.id) == []


def test_due_timer_cancels_the_wait_and_opens_a_reminder(app, session, casework):
    with time_machine.travel(now(), tick=False) as traveller:
        case = _case_waiting_for_answer(session, casework, reply_days=14)
        traveller.shift(timedelta(days=14, minutes=1))
        assert tick(app) == 1
        assert _open(session, case.id) == ["ryk_for_svar"]
        fired = _fired(session, case.id)
        assert [e.data["timer"] for e in fired] == ["svarfrist"]
        cancelled = session.scalar(select(Task).where(Task.case_id == case.id,
                                                      Task.bpmn_id == "registrer_svar"))
        assert cancelled.state == "cancelled"

        # The reminder loops back to waiting, with the new reply deadline.
        user = get_user(session, "sagsbehandler")
        _complete(session, casework, user, case.id, "ryk_for_svar",
                  {"rykket_dato": "2026-12-10", "svarfrist_dage": 7})
        assert _open(session, case.id) == ["registrer_svar"]
        instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
        assert abs(instance.next_due_at - (now() + timedelta(days=7))) < timedelta(seconds=5)
        assert tick(app) == 0


def test_tick_that_was_down_catches_up(app, session, casework):
    with time_machine.travel(now(), tick=False) as traveller:
        cases = [_case_waiting_for_answer(session, casework, reply_days=d) for d in (3, 5)]
        traveller.shift(timedelta(days=60))  # the scheduler was down for two months
        assert tick(app) == 2
        for case in cases:
            assert _open(session, case.id) == ["ryk_for_svar"]
            assert len(_fired(session, case.id)) == 1


def test_concurrent_ticks_fire_each_timer_exactly_once(app, session, casework):
    with time_machine.travel(now(), tick=False) as traveller:
        cases = [_case_waiting_for_answer(session, casework, reply_days=1) for _ in range(3)]
        traveller.shift(timedelta(days=2))
        session.commit()
        barrier = threading.Barrier(4)
        moved, errors = [], []

        def run():
            try:
                barrier.wait()
                moved.append(scheduler.tick(app)["timers"])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert sum(moved) == 3
        for case in cases:
            assert len(_fired(session, case.id)) == 1
            assert _open(session, case.id) == ["ryk_for_svar"]


@pytest.mark.parametrize("reply_days", [1])
def test_completed_answer_removes_the_timer(app, session, casework, reply_days):
    with time_machine.travel(now(), tick=False) as traveller:
        case = _case_waiting_for_answer(session, casework, reply_days=reply_days)
        user = get_user(session, "sagsbehandler")
        _complete(session, casework, user, case.id, "registrer_svar",
                  {"svar_dato": "2026-11-26", "svar": "Svar modtaget"})
        instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
        assert instance.next_due_at is None
        traveller.shift(timedelta(days=5))
        assert tick(app) == 0
        assert _open(session, case.id) == ["traef_afgoerelse"]
