"""Deadlines started by a process: `start_deadline` in a script, `deadline` in a due date or
timer, rows on the case computed from its received date, unknown keys refused at deploy."""

from datetime import datetime, timedelta

import pytest
from bpmn_helpers import (
    CITIZEN,
    linear,
    received_yesterday,
    script_task,
    timer_event,
    user_task,
)
from conftest import get_user, new_case_body
from sqlalchemy import select

from engine.bpmn.registry import ProcessRegistry, parse_sources
from engine.clock import now
from engine.db import transaction
from engine.errors import ProcessDefinitionError
from engine.models import AuditEvent, CaseDeadline, Instance
from engine.services import Casework


def test_opening_a_case_starts_its_decision_deadline_from_the_received_date(app, api):
    catalogue = app.extensions["deadlines"]
    received = "2026-11-20T09:00:00+01:00"
    case = api("sagsbehandler").post("/api/v1/cases",
                                      json=new_case_body(received_at=received)).get_json()
    [deadline] = case["deadlines"]
    expected = catalogue.due("sel85_afgoerelse", datetime.fromisoformat(received))
    assert deadline["key"] == "sel85_afgoerelse"
    assert deadline["title"] == catalogue.get("sel85_afgoerelse").title
    assert "Retssikkerhedsloven" in deadline["legal_basis"]
    assert datetime.fromisoformat(deadline["start_at"]) == datetime.fromisoformat(received)
    assert datetime.fromisoformat(deadline["due_at"]) == expected
    assert deadline["state"] == "open"
    assert "deadline_started" in [e["kind"] for e in case["timeline"]]


def test_back_dated_case_is_overdue_at_once(api):
    long_ago = (now() - timedelta(weeks=9)).isoformat(timespec="seconds")
    case = api("sagsbehandler").post("/api/v1/cases",
                                     json=new_case_body(received_at=long_ago)).get_json()
    assert [d["state"] for d in case["deadlines"]] == ["overdue"]


def test_a_user_task_due_date_can_name_the_deadline(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    steps = [("vurder_henvendelse", {"henvendelse": "x", "udfald": "oplys"}),
             ("anmod_oplysninger", {"modtager": "x", "spoergsmaal": "y", "svarfrist_dage": 5}),
             ("registrer_svar", {"svar_dato": "2026-11-24", "svar": "z"})]
    for bpmn_id, data in steps:
        [task] = [t for t in worker.get(f"/api/v1/tasks?case={case['id']}").get_json()["items"]
                  if t["bpmn_id"] == bpmn_id]
        assert worker.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={"data": data}).status_code == 200
    [decision] = worker.get(f"/api/v1/tasks?case={case['id']}").get_json()["items"]
    assert decision["bpmn_id"] == "traef_afgoerelse"
    [deadline] = worker.get(f"/api/v1/cases/{case['id']}").get_json()["deadlines"]
    assert datetime.fromisoformat(decision["due_at"]) == datetime.fromisoformat(
        deadline["due_at"])


def test_deploy_refuses_a_process_naming_an_unknown_deadline(app, forms):
    keys = set(app.extensions["deadlines"].keys())
    source = linear("frist", ("start_frist", script_task(
        "start_frist", 'start_deadline("findes_ikke")', name="Start frist")))
    with pytest.raises(ProcessDefinitionError,
                       match=r"element start_frist \(Start frist\): unknown deadline "
                             r"'findes_ikke'"):
        parse_sources({"frist.bpmn": source}, forms, keys)
    due = linear("frist", ("opgave", user_task("opgave", dueDate='deadline("ukendt")')))
    with pytest.raises(ProcessDefinitionError, match="unknown deadline 'ukendt'"):
        parse_sources({"frist.bpmn": due}, forms, keys)
    known = linear("frist", ("start_frist", script_task(
        "start_frist", 'start_deadline("aktindsigt_7hd")')))
    assert "frist" in parse_sources({"frist.bpmn": known}, forms, keys)


def test_deadline_that_was_never_started_puts_the_case_in_error(app, session, tmp_path, forms):
    catalogue = app.extensions["deadlines"]
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "frist.bpmn").write_text(linear("frist_fejl", ("opgave", user_task(
        "opgave", "Opgave", dueDate='deadline("aktindsigt_7hd")'))), encoding="utf-8")
    casework = Casework(ProcessRegistry(folder, forms, set(catalogue.keys())), forms, catalogue)
    with transaction(session):
        casework.registry.deploy(session, "test")
        case = casework.open_case(session, get_user(session, "sagsbehandler"), "frist_fejl",
                                  CITIZEN, received_yesterday())
    errors = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                      AuditEvent.kind == "error")).all()
    [error] = errors
    assert "cannot compute the due date" in error.data["message"]
    assert "deadline 'aktindsigt_7hd' has not been started" in error.data["message"]
    assert error.data["element"] == "opgave (Opgave)"
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "running"  # the task is there, only its due date is missing
    assert session.scalars(select(CaseDeadline).where(CaseDeadline.case_id == case.id)).all() == []


def test_corrected_received_date_moves_the_deadlines_that_ran_from_it(app, api):
    catalogue = app.extensions["deadlines"]
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body(
        received_at="2026-11-20T09:00:00+01:00")).get_json()
    corrected = "2026-10-01T09:00:00+02:00"
    response = worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                                   json={"received_at": corrected})
    assert response.status_code == 200, response.get_json()
    [deadline] = response.get_json()["deadlines"]
    assert datetime.fromisoformat(deadline["start_at"]) == datetime.fromisoformat(corrected)
    assert datetime.fromisoformat(deadline["due_at"]) == catalogue.due(
        "sel85_afgoerelse", datetime.fromisoformat(corrected))
    changed = [e for e in response.get_json()["timeline"] if e["kind"] == "deadline_changed"]
    assert [e["data"]["key"] for e in changed] == ["sel85_afgoerelse"]


def test_deploy_refuses_a_deadline_whose_breach_no_timer_waits_for(app, forms):
    """sel50_4m's breach opens a provisional assessment: the process does that, with a timer
    on the deadline, or deploy says what is missing."""
    actions = app.extensions["deadlines"].process_actions()
    assert actions["sel50_4m"] == ("task",) and actions["sel85_afgoerelse"] == ()
    starts = script_task("start_frist", 'start_deadline("sel50_4m")', name="Start frist")
    bare = linear("undersoegelse", ("start_frist", starts))
    with pytest.raises(ProcessDefinitionError,
                       match=r"element start_frist \(Start frist\): starts deadline 'sel50_4m'"
                             r".*no timer waits for it"):
        parse_sources({"u.bpmn": bare}, forms, actions)
    timed = linear("undersoegelse", ("start_frist", starts), ("vent", timer_event(
        "vent", 'deadline("sel50_4m")', kind="timeDate")))
    assert "undersoegelse" in parse_sources({"u.bpmn": timed}, forms, actions)
    # a deadline the watcher handles alone (escalate, letter) needs no timer
    own = linear("afgoerelse", ("start_frist", script_task(
        "start_frist", 'start_deadline("sel85_afgoerelse")')))
    assert "afgoerelse" in parse_sources({"a.bpmn": own}, forms, actions)
