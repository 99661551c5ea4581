"""Robustness rules of the last round of changes: NaN and Infinity are refused, teams must be
named when ambiguous or unknown, scope=team means the caller's own teams, the scheduler marks an
instance it cannot fire as in error without stopping the others, retry data and retry rights
are checked, a changed received date reaches the open task, citizen changes are audited on all
the citizen's cases, camunda:assignee only assigns users who may do the task, scripts may only
leave storable values, and a stalled process is reported as an error."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import time_machine
from bpmn_helpers import (
    CITIZEN,
    definitions,
    end,
    flow,
    gateway,
    linear,
    process,
    received_yesterday,
    script_task,
    start,
    user_task,
)
from conftest import get_user, new_case_body, run_tick
from sqlalchemy import delete, select, update

from engine.accounts import create_user
from engine.bpmn import runtime
from engine.clock import now
from engine.db import transaction
from engine.models import CASEWORKER, AuditEvent, Instance, Membership, Task, Team

JSON = "application/json"


def _post_raw(client, url, text):
    """POST a body as it is written: Python's json accepts NaN and Infinity, JSON does not."""
    return client.client.post(url, data=text, content_type=JSON, headers=client.headers)


def _patch(client, url, body):
    return client.client.patch(url, json=body, headers=client.headers)


def _open_case(client, **body):
    response = client.post("/api/v1/cases", json=new_case_body(**body))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _kinds(client, case_id, kind):
    timeline = client.get(f"/api/v1/cases/{case_id}").get_json()["timeline"]
    return [e for e in timeline if e["kind"] == kind]


def _team_id(session, key):
    return session.scalar(select(Team.id).where(Team.key == key))


# -- 1. NaN and Infinity ----------------------------------------------------------------------

NON_FINITE = ["NaN", "Infinity", "-Infinity"]


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_number_in_completion_data_is_refused_and_the_task_stays_ready(api, literal):
    worker = api("sagsbehandler")
    case = _open_case(worker)
    task = case["open_tasks"][0]
    response = _post_raw(worker, f"/api/v1/tasks/{task['id']}/complete",
                         '{"data": {"henvendelse": "Bekymring", "udfald": "oplys", '
                         f'"antal": [1, {literal}]}}}}')
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert "finite" in body["message"]
    assert "data.antal.1" in body["fields"]

    detail = worker.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["state"] == "ready"
    assert _kinds(worker, case["id"], "task_completed") == []
    # the same data without the bad number is accepted
    ok = worker.post(f"/api/v1/tasks/{task['id']}/complete",
                     json={"data": {"henvendelse": "Bekymring", "udfald": "oplys"}})
    assert ok.status_code == 200, ok.get_json()


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_number_in_retry_data_is_refused_and_nothing_changes(api, literal):
    worker = api("sagsbehandler")
    case = _open_case(worker)
    response = _post_raw(worker, f"/api/v1/cases/{case['id']}/retry",
                         f'{{"data": {{"x": {literal}}}}}')
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert "finite" in body["message"]
    assert "data.x" in body["fields"]

    after = worker.get(f"/api/v1/cases/{case['id']}").get_json()
    assert [t["id"] for t in after["open_tasks"]] == [case["open_tasks"][0]["id"]]
    assert [i["status"] for i in after["instances"]] == ["running"]
    assert [e for e in after["timeline"] if e["kind"] == "retried"] == []
    # a finite number gets past the guard, to the use case (the case is not in error)
    finite = _post_raw(worker, f"/api/v1/cases/{case['id']}/retry", '{"data": {"x": 1.5}}')
    assert finite.status_code == 409


# -- 2. naming the team -----------------------------------------------------------------------

def test_opening_a_case_in_an_unknown_team_is_refused(api):
    admin = api("admin")
    response = admin.post("/api/v1/cases", json=new_case_body(team_id=999999))
    assert response.status_code == 422, response.get_json()
    assert "team_id" in response.get_json()["fields"]
    assert "999999" in response.get_json()["fields"]["team_id"][0]
    assert admin.get("/api/v1/cases").get_json()["total"] == 0


def test_user_in_several_teams_must_name_the_team(app, api):
    username = f"tohold-{uuid.uuid4().hex[:10]}"
    from api.extensions import db

    with app.app_context():
        with transaction(db.session) as session:
            teams = list(session.scalars(select(Team).where(Team.key.in_(["nord", "vest"]))))
            create_user(session, username, "hemmeligt", CASEWORKER, "To Hold", teams=teams)
            vest = _team_id(session, "vest")
        db.session.remove()
    try:
        worker = api(username)
        refused = worker.post("/api/v1/cases", json=new_case_body())
        assert refused.status_code == 422, refused.get_json()
        assert "several teams" in refused.get_json()["fields"]["team_id"][0]

        opened = worker.post("/api/v1/cases", json=new_case_body(team_id=vest))
        assert opened.status_code == 201, opened.get_json()
        case = opened.get_json()
        assert case["team"]["key"] == "vest"
        assert case["caseworker"]["username"] == username
    finally:
        with app.app_context():
            with transaction(db.session) as session:
                user = get_user(session, username)
                session.execute(delete(Membership).where(Membership.user_id == user.id))
                user.active = False
            db.session.remove()


# -- 3. scope=team ----------------------------------------------------------------------------

def _task_case_ids(client, scope):
    response = client.get(f"/api/v1/tasks?scope={scope}")
    assert response.status_code == 200, response.get_json()
    return sorted(t["case_id"] for t in response.get_json()["items"])


def test_scope_team_means_the_callers_own_teams(api):
    nord = _open_case(api("sagsbehandler"))
    vest = _open_case(api("sagsbehandler2"), cpr="1506884321", name="Fatima Ali")
    both = sorted([nord["id"], vest["id"]])

    admin = api("admin")  # a member of no team
    team = admin.get("/api/v1/tasks?scope=team").get_json()
    assert (team["total"], team["items"]) == (0, [])
    assert _task_case_ids(admin, "all") == both

    worker = api("sagsbehandler")
    assert _task_case_ids(worker, "team") == [nord["id"]]
    assert _task_case_ids(api("leder2"), "team") == [vest["id"]]


# -- 4. the scheduler marks an instance it cannot fire as in error ---------------------------

def _tick(app):
    return run_tick(app)["timers"]


def _case_waiting_for_answer(session, casework, reply_days):
    from datetime import datetime

    user = get_user(session, "sagsbehandler")
    body = new_case_body()
    with transaction(session):
        case = casework.open_case(session, user, "henvendelse", body["citizen"],
                                  datetime.fromisoformat(body["received_at"]))
    for bpmn_id, data in (
            ("vurder_henvendelse", {"henvendelse": "Bekymring", "udfald": "oplys"}),
            ("anmod_oplysninger", {"modtager": "Skolen", "spoergsmaal": "Fravær?",
                                   "svarfrist_dage": reply_days})):
        task = session.scalar(select(Task).where(Task.case_id == case.id,
                                                 Task.bpmn_id == bpmn_id, Task.state == "ready"))
        with transaction(session):
            casework.complete_task(session, user, task.id, data)
    return case


def _instance_of(session, case_id):
    session.expire_all()
    return session.scalar(select(Instance).where(Instance.case_id == case_id))


def test_scheduler_marks_an_instance_it_cannot_fire_as_in_error_and_fires_the_others(
        app, session, casework):
    with time_machine.travel(now(), tick=False) as traveller:
        broken = _case_waiting_for_answer(session, casework, reply_days=1)
        healthy = _case_waiting_for_answer(session, casework, reply_days=2)
        with transaction(session):
            session.execute(update(Instance).where(Instance.case_id == broken.id).values(
                serialized="{this is not json", next_due_at=now() - timedelta(hours=1)))
        traveller.shift(timedelta(days=3))

        assert _tick(app) == 1

        instance = _instance_of(session, broken.id)
        assert instance.status == "error"
        assert instance.error_message.startswith("firing a timer failed: ")
        errors = session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == broken.id, AuditEvent.kind == "error")).all()
        assert [e.data["message"] for e in errors] == [instance.error_message]

        assert _instance_of(session, healthy.id).status == "running"
        fired = session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == healthy.id, AuditEvent.kind == "timer_fired")).all()
        assert [e.data["timer"] for e in fired] == ["svarfrist"]
        assert [t.bpmn_id for t in session.scalars(select(Task).where(
            Task.case_id == healthy.id, Task.state == "ready"))] == ["ryk_for_svar"]

        # the broken instance no longer holds up the queue, nor is it marked twice
        assert _tick(app) == 0
        assert session.scalar(select(Instance.id).where(
            Instance.status == "running", Instance.next_due_at <= now())) is None
        assert len(session.scalars(select(AuditEvent).where(
            AuditEvent.case_id == broken.id, AuditEvent.kind == "error")).all()) == 1


# -- 5. retry data and retry rights -----------------------------------------------------------

@pytest.mark.parametrize("key", ["_intern", "__class__", "a b", "1tal", "sagsnummer",
                                 "borger_navn", "modtaget_dato"])
def test_retry_data_with_a_key_that_is_not_a_plain_name_or_is_case_data_is_refused(api, key):
    worker = api("sagsbehandler")
    case = _open_case(worker)
    response = worker.post(f"/api/v1/cases/{case['id']}/retry",
                           json={"data": {key: "x", "fint": 1}})
    assert response.status_code == 422, response.get_json()
    assert list(response.get_json()["fields"]) == [key]
    # a plain name gets past the check (the case is not in error)
    plain = worker.post(f"/api/v1/cases/{case['id']}/retry", json={"data": {"fint": 1}})
    assert plain.status_code == 409


@pytest.mark.parametrize("username, status", [
    ("sagsbehandler3", 403),  # same team, not the case's caseworker, not a leader
    ("sagsbehandler2", 403),  # another team
    ("leder", 409),           # leader of the team: allowed, but the case is not in error
    ("admin", 409),
    ("sagsbehandler", 409),   # the case's caseworker
])
def test_retry_is_for_the_caseworker_a_team_leader_or_an_administrator(api, username, status):
    case = _open_case(api("sagsbehandler"))
    response = api(username).post(f"/api/v1/cases/{case['id']}/retry", json={})
    assert response.status_code == status, response.get_json()
    if status == 409:
        assert "not in error" in response.get_json()["message"]


# -- 6. a changed received date reaches the open task -----------------------------------------

def test_changed_received_date_updates_the_prefilled_date_of_the_open_task(api):
    worker = api("sagsbehandler")
    case = _open_case(worker, received_at="2026-11-20T09:00:00+01:00")
    task_id = case["open_tasks"][0]["id"]
    assert worker.get(f"/api/v1/tasks/{task_id}").get_json()["data"]["modtaget_dato"] == \
        "2026-11-20"

    # 23:30 UTC on 17 November is 00:30 on 18 November in Copenhagen
    patch = _patch(worker, f"/api/v1/cases/{case['id']}",
                   {"received_at": "2026-11-17T23:30:00+00:00"})
    assert patch.status_code == 200, patch.get_json()
    assert [t["id"] for t in patch.get_json()["open_tasks"]] == [task_id]
    assert worker.get(f"/api/v1/tasks/{task_id}").get_json()["data"]["modtaget_dato"] == \
        "2026-11-18"


# -- 7. citizen changes on all the citizen's cases --------------------------------------------

@pytest.mark.parametrize("second_worker", ["sagsbehandler", "sagsbehandler2"])
def test_citizen_name_change_is_recorded_on_all_the_citizens_cases(api, second_worker):
    first_client, second_client = api("sagsbehandler"), api(second_worker)
    first = _open_case(first_client, name="Emil Hansen")
    second = _open_case(second_client, name="Emil Hansen Berg")
    assert second["citizen"]["name"] == "Emil Hansen Berg"
    change = {"name": {"old": "Emil Hansen", "new": "Emil Hansen Berg"}}
    for client, case in ((first_client, first), (second_client, second)):
        events = _kinds(client, case["id"], "citizen_updated")
        assert [(e["data"], e["actor"]) for e in events] == [(change, second_worker)]
    # the same name again changes nothing, and records nothing
    third = _open_case(second_client, name="Emil Hansen Berg")
    assert _kinds(second_client, third["id"], "citizen_updated") == []
    assert len(_kinds(first_client, first["id"], "citizen_updated")) == 1


# -- casework over small processes in a tmp folder --------------------------------------------

def _open(session, casework, process_id, username="sagsbehandler"):
    with transaction(session):
        return casework.open_case(session, get_user(session, username), process_id, CITIZEN,
                                  received_yesterday())


def _events(session, case, kind):
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                         AuditEvent.kind == kind)))


# -- 8. camunda:assignee only if the user may do the task -------------------------------------

@pytest.mark.parametrize("assignee, assigned", [
    ("sagsbehandler2", False),  # team vest, the case is nord's
    ("leder", False),           # nord, but not in the task's candidate group
    ("ingen_saadan_bruger", False),
    ("sagsbehandler3", True),   # nord and a caseworker: may do it
])
def test_assignee_who_cannot_work_on_the_case_is_not_assigned_and_the_reason_is_audited(
        session, build_casework, assignee, assigned):
    casework = build_casework({"tildelt.bpmn": linear("tildelt", ("opgave", user_task(
        "opgave", "Opgave", groups="sagsbehandler", assignee=assignee)))})
    case = _open(session, casework, "tildelt")
    [task] = casework.open_tasks_of_case(session, case)
    errors = _events(session, case, "error")
    if assigned:
        assert task.assignee_id == get_user(session, assignee).id
        assert errors == []
    else:
        assert task.assignee_id is None
        assert len(errors) == 1
        assert repr(assignee) in errors[0].data["message"]
        assert "cannot work on this case" in errors[0].data["message"]
        assert errors[0].data["element"] == "opgave"
        assert errors[0].task_id == task.id
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "running"


# -- 9. scripts may only leave storable values ------------------------------------------------

@pytest.mark.parametrize("script, named", [
    ("x = datetime", "x ("),
    ("y = range(3)", "y (range)"),
    ("z = [1, {'a': range(2)}]", "z[1].a (range)"),
])
def test_script_leaving_an_unstorable_value_puts_the_instance_in_error(
        session, build_casework, script, named):
    casework = build_casework({"lager.bpmn": linear("lager", (
        "regn", script_task("regn", script, name="Regn")), ("opgave", user_task("opgave")))})
    case = _open(session, casework, "lager")
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "error"
    assert f"leaves {named}" in instance.error_message
    assert "cannot be stored" in instance.error_message
    assert instance.error_element == "regn (Regn)"
    assert casework.open_tasks_of_case(session, case) == []
    assert [e.data["message"] for e in _events(session, case, "error")] == \
        [instance.error_message]


def test_script_leaving_a_date_is_stored_reloaded_and_the_process_goes_on(session,
                                                                          build_casework):
    casework = build_casework({"dato.bpmn": linear("dato", (
        "regn", script_task("regn", "d = datetime.date(2026, 1, 1)\n"
                                    "frist = d + datetime.timedelta(days=3)", name="Regn")),
        ("opgave", user_task("opgave")))})
    case = _open(session, casework, "dato")
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "running", instance.error_message
    [task] = casework.open_tasks_of_case(session, case)

    session.expire_all()
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    workflow = runtime.load(casework.registry.serializer, instance.serialized)
    data = runtime.find_task(workflow, task.id).data
    assert (data["d"], data["frist"]) == (date(2026, 1, 1), date(2026, 1, 4))

    with transaction(session):
        casework.complete_task(session, get_user(session, "sagsbehandler"), task.id,
                               {"godkendt": True})
    session.expire_all()
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "completed", instance.error_message


# -- 10. a stalled process is an error --------------------------------------------------------

def test_parallel_join_after_an_exclusive_choice_stalls_and_is_reported_as_an_error(
        session, build_casework):
    """A classic modelling error: only one branch of the exclusive gateway runs, so the
    parallel join waits for ever for the other."""
    casework = build_casework({"laas.bpmn": definitions(process(
        "laas", start(), gateway("valg", "Valg", default="f_b"),
        user_task("gren_a", "Gren A"), user_task("gren_b", "Gren B"),
        '<bpmn:parallelGateway id="samling" name="Samling" />', end(),
        flow("start", "valg"),
        flow("valg", "gren_a", "False", flow_id="f_a"),
        flow("valg", "gren_b", flow_id="f_b"),
        flow("gren_a", "samling"), flow("gren_b", "samling"), flow("samling", "end"),
    ))})
    case = _open(session, casework, "laas")
    [task] = casework.open_tasks_of_case(session, case)
    assert task.bpmn_id == "gren_b"
    assert _events(session, case, "error") == []

    with transaction(session):
        casework.complete_task(session, get_user(session, "sagsbehandler"), task.id,
                               {"godkendt": True})
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "error"
    assert "the process has stopped" in instance.error_message
    assert casework.open_tasks_of_case(session, case) == []
    assert [e.data["message"] for e in _events(session, case, "error")] == \
        [instance.error_message]


def test_task_no_one_can_do_stalls_the_process_and_is_reported_as_an_error(session,
                                                                         build_casework):
    """A bpmn:manualTask is waiting for a human, but casework only hands out user tasks."""
    casework = build_casework({"manuel.bpmn": linear("manuel", (
        "haandarbejde", '<bpmn:manualTask id="haandarbejde" name="Håndarbejde" />'))})
    case = _open(session, casework, "manuel")
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "error"
    assert "the process has stopped" in instance.error_message
    assert len(_events(session, case, "error")) == 1
