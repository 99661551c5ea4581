"""A deadline's life on a case: met, paused for a reason the catalogue allows and resumed (the
due date moves on, and so do the open tasks and timers that name it), reminded before it falls
due and breached once when it passes, with the catalogue's breach actions."""

from datetime import datetime, timedelta

import pytest
import time_machine
from bpmn_helpers import CITIZEN, definitions, end, flow, process, script_task, start, user_task
from conftest import get_user, new_case_body, run_tick
from sqlalchemy import select

from engine.clock import now
from engine.db import transaction
from engine.models import AuditEvent, CaseDeadline, Instance, Task


def _tick(app):
    return run_tick(app)["deadlines"]


def _events(session, case_id, kind):
    session.expire_all()
    return session.scalars(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                    AuditEvent.kind == kind)
                           .order_by(AuditEvent.id)).all()


def _row(session, case_id, key):
    session.expire_all()
    return session.scalar(select(CaseDeadline).where(CaseDeadline.case_id == case_id,
                                                     CaseDeadline.key == key))


def _deadline(case_body, key="sel85_afgoerelse"):
    [found] = [d for d in case_body["deadlines"] if d["key"] == key]
    return found


def _change(client, case_id, body, key="sel85_afgoerelse"):
    return client.post(f"/api/v1/cases/{case_id}/deadlines/{key}", json=body)


# -- meet, pause, resume through the API ---------------------------------------------------


def test_pause_and_resume_moves_the_due_date_by_the_paused_days(app, api, session, casework):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body(
        received_at=now().isoformat())).get_json()
    due = datetime.fromisoformat(_deadline(case)["due_at"])
    reason = app.extensions["deadlines"].get("sel85_afgoerelse").pause_reasons[0]
    paused = _change(worker, case["id"], {"action": "pause", "reason": reason})
    assert paused.status_code == 200, paused.get_json()
    deadline = _deadline(paused.get_json())
    assert (deadline["state"], deadline["pause_reason"]) == ("paused", reason)
    with time_machine.travel(now() + timedelta(days=5), tick=False):
        # (the API token would have expired by then: the use case directly)
        with transaction(session):
            casework.change_deadline(session, get_user(session, "sagsbehandler"), case["id"],
                                     "sel85_afgoerelse", "resume")
    resumed = worker.get(f"/api/v1/cases/{case['id']}")
    deadline = _deadline(resumed.get_json())
    assert deadline["state"] == "open"
    assert datetime.fromisoformat(deadline["due_at"]) == due + timedelta(days=5)
    kinds = [e["kind"] for e in resumed.get_json()["timeline"]]
    assert {"deadline_paused", "deadline_resumed", "deadline_changed"} <= set(kinds)
    actors = {e["kind"]: e["actor"] for e in resumed.get_json()["timeline"]}
    assert actors["deadline_paused"] == actors["deadline_resumed"] == "sagsbehandler"


def test_meeting_a_deadline_ends_it_once(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    met = _change(worker, case["id"], {"action": "meet"})
    assert met.status_code == 200
    assert _deadline(met.get_json())["state"] == "met"
    again = _change(worker, case["id"], {"action": "meet"})
    assert again.status_code == 409
    assert "already met" in again.get_json()["message"]


@pytest.mark.parametrize("body, status, words", [
    ({"action": "pause", "reason": "Sagsbehandleren har ferie"}, 422, "Afventer borgerens"),
    ({"action": "pause"}, 422, "must be one of"),
    ({"action": "resume"}, 409, "not paused"),
    ({"action": "slet"}, 422, "action"),
    ({}, 422, "action"),
])
def test_bad_deadline_changes_name_what_is_wrong(api, body, status, words):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    response = _change(worker, case["id"], body)
    assert response.status_code == status, response.get_json()
    assert words in str(response.get_json())
    assert _deadline(worker.get(f"/api/v1/cases/{case['id']}").get_json())["state"] in (
        "open", "due_soon", "overdue")


def test_unknown_and_unpausable_deadlines_are_refused(app, api, session, build_casework):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    missing = _change(worker, case["id"], {"action": "meet"}, key="sel50_4m")
    assert missing.status_code == 404
    assert "no deadline 'sel50_4m'" in missing.get_json()["message"]


def test_only_the_team_changes_its_deadlines(api):
    case = api("sagsbehandler").post("/api/v1/cases", json=new_case_body()).get_json()
    assert _change(api("sagsbehandler2"), case["id"], {"action": "meet"}).status_code == 403
    assert _change(api("designer"), case["id"], {"action": "meet"}).status_code == 403
    assert _change(api("leder"), case["id"], {"action": "meet"}).status_code == 200


# -- a process that meets, pauses and names deadlines -----------------------------------------


def _aktindsigt_process(boundary_target="paamind", interrupting=False):
    """Start aktindsigt_7hd; the answer task is due by it; a non-interrupting timer at the
    deadline opens a reminder task for the leader (an interrupting one moves the case on to
    it instead)."""
    return definitions(process(
        "aktindsigt",
        start(),
        script_task("start_frist", 'start_deadline("aktindsigt_7hd")'),
        user_task("besvar", "Besvar anmodningen", dueDate='deadline("aktindsigt_7hd")'),
        script_task("opfyld", 'meet_deadline("aktindsigt_7hd")'),
        end(),
        '<bpmn:boundaryEvent id="ved_fristen" attachedToRef="besvar" '
        f'cancelActivity="{str(interrupting).lower()}">'
        '<bpmn:timerEventDefinition><bpmn:timeDate>deadline("aktindsigt_7hd")</bpmn:timeDate>'
        '</bpmn:timerEventDefinition></bpmn:boundaryEvent>',
        user_task(boundary_target, "Fristen for aktindsigt er overskredet", groups="leder"),
        '<bpmn:endEvent id="end_paamind" />',
        flow("start", "start_frist"), flow("start_frist", "besvar"), flow("besvar", "opfyld"),
        flow("opfyld", "end"), flow("ved_fristen", boundary_target),
        flow(boundary_target, "end_paamind"),
    ))


def _open_aktindsigt(app, session, build_casework, interrupting=False):
    casework = build_casework({"aktindsigt.bpmn": _aktindsigt_process(
        interrupting=interrupting)}, deadlines=app.extensions["deadlines"])
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "aktindsigt", CITIZEN, now())
    return casework, user, case


def test_resume_moves_the_task_due_date_and_the_timer_naming_the_deadline(
        app, session, build_casework):
    casework, user, case = _open_aktindsigt(app, session, build_casework)
    task = session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "besvar"))
    row = _row(session, case.id, "aktindsigt_7hd")
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert task.due_at == row.due_at == instance.next_due_at
    old_due = row.due_at
    reason = app.extensions["deadlines"].get("aktindsigt_7hd").pause_reasons[0]
    with transaction(session):
        casework.change_deadline(session, user, case.id, "aktindsigt_7hd", "pause", reason)
    with time_machine.travel(now() + timedelta(days=3), tick=False):
        with transaction(session):
            casework.change_deadline(session, user, case.id, "aktindsigt_7hd", "resume")
    session.expire_all()
    row = _row(session, case.id, "aktindsigt_7hd")
    assert row.due_at == old_due + timedelta(days=3)
    assert session.get(Task, task.id).due_at == row.due_at
    assert session.get(Instance, instance.id).next_due_at == row.due_at
    assert [e.data["new"] for e in _events(session, case.id, "task_due_changed")] == [
        row.due_at.isoformat()]
    assert len(_events(session, case.id, "timer_moved")) == 1


def test_the_process_meets_its_deadline_when_the_task_is_done(app, session, build_casework):
    casework, user, case = _open_aktindsigt(app, session, build_casework)
    task = session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "besvar"))
    with transaction(session):
        casework.complete_task(session, user, task.id, {"godkendt": True})
    row = _row(session, case.id, "aktindsigt_7hd")
    assert row.state == "met" and row.next_check_at is None
    assert [e.data["late"] for e in _events(session, case.id, "deadline_met")] == [False]


# -- the watcher ---------------------------------------------------------------------------


def test_a_back_dated_case_is_breached_and_escalated_once(app, api, session):
    long_ago = (now() - timedelta(weeks=9)).isoformat(timespec="seconds")
    case = api("sagsbehandler").post("/api/v1/cases",
                                     json=new_case_body(received_at=long_ago)).get_json()
    assert _tick(app) >= 1
    assert _tick(app) == 0  # nothing more to do: it happened once
    [breached] = _events(session, case["id"], "deadline_breached")
    assert breached.data["key"] == "sel85_afgoerelse"
    assert breached.data["responsible"] == "sagsbehandler"
    [escalated] = _events(session, case["id"], "deadline_escalated")
    assert escalated.data["to"] == ["leder"]  # the leader of the case's team, nobody else
    [letter] = _events(session, case["id"], "letter_requested")
    assert (letter.data["letter"], letter.data["to"]) == ("forventet_afgoerelsestidspunkt",
                                                          "citizen")
    row = _row(session, case["id"], "sel85_afgoerelse")
    assert row.breached_at is not None and row.next_check_at is None
    assert row.state == "overdue"


def test_reminder_before_the_deadline_then_breach_when_it_passes(app, api, session):
    catalogue = app.extensions["deadlines"]
    received = now() - timedelta(weeks=7)  # 8 weeks; reminded 10 working days before
    case = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        received_at=received.isoformat(timespec="seconds"))).get_json()
    row = _row(session, case["id"], "sel85_afgoerelse")
    [reminder_at] = catalogue.reminders("sel85_afgoerelse", row.due_at)
    assert row.warn_at == reminder_at <= now() < row.due_at
    assert row.state == "due_soon"
    assert _tick(app) == 1
    assert _tick(app) == 0
    [reminded] = _events(session, case["id"], "deadline_reminder")
    assert reminded.data["responsible"] == "sagsbehandler"
    assert _events(session, case["id"], "deadline_breached") == []
    assert _row(session, case["id"], "sel85_afgoerelse").next_check_at == row.due_at
    with time_machine.travel(row.due_at + timedelta(seconds=1), tick=False):
        assert _tick(app) == 1
    assert len(_events(session, case["id"], "deadline_breached")) == 1
    assert len(_events(session, case["id"], "deadline_reminder")) == 1


def test_a_paused_deadline_is_not_breached_and_resuming_watches_it_again(app, api, session):
    worker = api("sagsbehandler")
    long_ago = (now() - timedelta(weeks=9)).isoformat(timespec="seconds")
    case = worker.post("/api/v1/cases", json=new_case_body(received_at=long_ago)).get_json()
    reason = app.extensions["deadlines"].get("sel85_afgoerelse").pause_reasons[1]
    assert _change(worker, case["id"], {"action": "pause", "reason": reason}).status_code == 200
    assert _tick(app) == 0
    assert _events(session, case["id"], "deadline_breached") == []
    assert _change(worker, case["id"], {"action": "resume"}).status_code == 200
    assert _tick(app) == 1
    assert len(_events(session, case["id"], "deadline_breached")) == 1


def test_a_deadline_moved_past_now_is_breached_again_when_it_passes_again(app, api, session):
    worker = api("sagsbehandler")
    long_ago = (now() - timedelta(weeks=9)).isoformat(timespec="seconds")
    case = worker.post("/api/v1/cases", json=new_case_body(received_at=long_ago)).get_json()
    _tick(app)
    corrected = now().isoformat(timespec="seconds")
    assert worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                               json={"received_at": corrected}).status_code == 200
    row = _row(session, case["id"], "sel85_afgoerelse")
    assert row.breached_at is None and row.reminders_sent == 0 and row.state == "open"
    with time_machine.travel(row.due_at + timedelta(minutes=1), tick=False):
        _tick(app)
    assert len(_events(session, case["id"], "deadline_breached")) == 2


def test_the_shipped_process_meets_its_decision_deadline_when_the_refusal_is_approved(
        api, session):
    worker, leader = api("sagsbehandler"), api("leder")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    [task] = case["open_tasks"]
    assert worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {
        "henvendelse": "Ønsker hjælp", "udfald": "afvis",
        "begrundelse": "Behovet dækkes andetsteds."}}).status_code == 200
    [approval] = worker.get(f"/api/v1/cases/{case['id']}").get_json()["open_tasks"]
    assert leader.post(f"/api/v1/tasks/{approval['id']}/claim").status_code == 200
    done = leader.post(f"/api/v1/tasks/{approval['id']}/complete",
                       json={"data": {"godkendt": True}})
    assert done.status_code == 200, done.get_json()
    after = worker.get(f"/api/v1/cases/{case['id']}").get_json()
    assert [(d["key"], d["state"]) for d in after["deadlines"]] == [("sel85_afgoerelse", "met")]
    assert _row(session, case["id"], "sel85_afgoerelse").next_check_at is None
    assert any(e["kind"] == "deadline_met" for e in after["timeline"])


@pytest.mark.parametrize("interrupting", [False, True])
def test_a_timer_on_the_deadline_escalates_to_the_leader_when_it_passes(
        app, session, build_casework, interrupting):
    casework, user, case = _open_aktindsigt(app, session, build_casework, interrupting)
    row = _row(session, case.id, "aktindsigt_7hd")
    with time_machine.travel(row.due_at + timedelta(minutes=1), tick=False):
        with transaction(session):
            [instance_id] = casework.due_instance_ids(session)
            casework.fire_due_timers(session, instance_id)
    session.expire_all()
    open_tasks = {t.bpmn_id: t for t in session.scalars(
        select(Task).where(Task.case_id == case.id, Task.state == "ready"))}
    assert open_tasks["paamind"].groups == ["leder"]
    # non-interrupting: the caseworker's task goes on; interrupting: the case moved on
    assert ("besvar" in open_tasks) is not interrupting
