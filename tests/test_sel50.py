"""The § 20 investigation (Barnets lov, tidl. SEL § 50), first part, through the API with time
travel: the 24-hour assessment and its escalation, the receipt to a professional notifier, the
screening decision, and the investigation with its 4-month deadline."""

from datetime import datetime, timedelta

import pytest
import time_machine
from conftest import new_case_body, run_tick
from sqlalchemy import select

from engine.clock import now
from engine.models import Letter

CHILD = {"cpr": "0105151234", "name": "Ida Ærø"}
FROM_SCHOOL = {"kilde": "fagperson", "fagperson_rolle": "Klasselærer",
               "underretter_navn": "Mette Holm", "indhold": "Ida kommer ofte sulten i skole.",
               "vold_eller_overgreb": False, "akut_fare": False}
INVESTIGATE = {"betingelser": ["saerlig_stoette"], "beslutning": "undersoegelse"}
ANALYSIS = {"udvikling": "…", "foraeldrekompetence": "…", "familie_netvaerk": "…",
            "konklusion": "Ida har brug for støtte i hverdagen."}


def _open(api, received: datetime):
    worker = api("sagsbehandler")
    response = worker.post("/api/v1/cases", json={
        **new_case_body(received_at=received.isoformat(timespec="seconds")),
        "process": "sel50", "citizen": CHILD})
    assert response.status_code == 201, response.get_json()
    return worker, response.get_json()


def _task(client, case, bpmn_id):
    tasks = client.get(f"/api/v1/tasks?scope=all&case={case['id']}").get_json()["items"]
    found = [t for t in tasks if t["bpmn_id"] == bpmn_id]
    assert found, f"{bpmn_id} is not open: {[t['bpmn_id'] for t in tasks]}"
    return found[0]


def _complete(client, case, bpmn_id, data, status=200):
    task = _task(client, case, bpmn_id)
    if task["assignee"] is None:
        client.post(f"/api/v1/tasks/{task['id']}/claim")
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _case(client, case):
    return client.get(f"/api/v1/cases/{case['id']}").get_json()


def _deadline(body, key):
    [found] = [d for d in body["deadlines"] if d["key"] == key]
    return found


def test_a_professionals_notification_through_the_investigation(app, api, session):
    received = (now() - timedelta(hours=2)).replace(microsecond=0)
    worker, case = _open(api, received)
    catalogue = app.extensions["deadlines"]
    [first] = case["open_tasks"]
    assert first["bpmn_id"] == "vurder_underretning"
    assert datetime.fromisoformat(first["due_at"]) == catalogue.due("underretning_24t", received)
    _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    body = _case(worker, case)
    assert _deadline(body, "underretning_24t")["state"] == "met"
    assert _deadline(body, "kvittering_6hd")["state"] in ("open", "due_soon")
    [receipt] = session.scalars(select(Letter).where(Letter.case_id == case["id"])).all()
    assert (receipt.key, receipt.origin) == ("kvittering_underretning", "process")
    assert receipt.recipient["navn"] == FROM_SCHOOL["underretter_navn"]  # nothing typed twice
    _complete(worker, case, "screening", INVESTIGATE)
    body = _case(worker, case)
    investigation = _deadline(body, "sel50_4m")
    assert datetime.fromisoformat(investigation["due_at"]) == catalogue.due("sel50_4m", received)
    assert datetime.fromisoformat(_task(worker, case, "undersoegelse")["due_at"]) == \
        datetime.fromisoformat(investigation["due_at"])
    _complete(worker, case, "undersoegelse", ANALYSIS)
    body = _case(worker, case)
    assert _deadline(body, "sel50_4m")["state"] == "met"
    assert [i["status"] for i in body["instances"]] == ["completed"]


def test_a_notification_not_assessed_in_24_hours_is_escalated_to_the_leader(app, api, session):
    worker, case = _open(api, now() - timedelta(hours=30))
    # already late when opened (back-dated): the process's timer fires as it starts, the
    # watcher breaches the deadline at the next tick
    assert {t["bpmn_id"] for t in _case(worker, case)["open_tasks"]} == {
        "vurder_underretning", "eskaler_24t"}
    assert run_tick(app)["deadlines"] == 1
    leader = api("leder")
    escalation = _task(leader, case, "eskaler_24t")
    assert escalation["candidate_groups"] == ["leder"]
    queue = leader.get("/api/v1/queues/deadlines?key=underretning_24t").get_json()
    assert [i["case_number"] for i in queue["items"]] == [case["number"]]
    # the caseworker's assessment is still open beside the escalation
    assert _task(worker, case, "vurder_underretning")
    _complete(leader, case, "eskaler_24t", {"handling": "sagsbehandler_kontaktet"})


def test_the_4_month_deadline_gives_a_provisional_assessment_and_a_letter(app, api, session):
    received = (now() - timedelta(days=125)).replace(microsecond=0)
    worker, case = _open(api, received)
    _complete(worker, case, "vurder_underretning", {**FROM_SCHOOL, "kilde": "anonym"})
    _complete(worker, case, "screening", INVESTIGATE)
    run_tick(app)
    _task(worker, case, "foreloebig")
    drafts = [letter.key for letter in session.scalars(
        select(Letter).where(Letter.case_id == case["id"]))]
    assert "undersoegelse_forsinket" in drafts and "kvittering_underretning" not in drafts
    _complete(worker, case, "foreloebig", {"vurdering": "Ida trives ikke i skolen.",
                                            "forventet_afslutning": "2027-01-15"})
    _complete(worker, case, "undersoegelse", ANALYSIS)
    body = _case(worker, case)
    assert _deadline(body, "sel50_4m")["state"] == "met"
    assert any(e["kind"] == "deadline_met" and e["data"]["late"] for e in body["timeline"])


@pytest.mark.parametrize("form_step, data, field", [
    ("vurder_underretning", {**FROM_SCHOOL, "fagperson_rolle": None}, "fagperson_rolle"),
    ("vurder_underretning", {**FROM_SCHOOL, "akut_fare": True}, "akutte_foranstaltninger"),
    ("screening", {"betingelser": ["vold_overgreb"], "beslutning": "luk"}, "begrundelse"),
])
def test_forms_name_the_field_that_is_missing_and_change_nothing(api, form_step, data, field):
    worker, case = _open(api, now() - timedelta(hours=1))
    if form_step == "screening":
        _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    data = {k: v for k, v in data.items() if v is not None}
    refused = _complete(worker, case, form_step, data, status=422)
    assert field in refused["fields"], refused
    assert _task(worker, case, form_step)["state"] == "ready"


def test_closing_at_screening_with_a_reason_ends_the_process(api):
    worker, case = _open(api, now() - timedelta(hours=1))
    _complete(worker, case, "vurder_underretning", FROM_SCHOOL)
    _complete(worker, case, "screening", {"betingelser": ["saerlig_stoette"], "beslutning": "luk",
                                          "begrundelse": "Forholdene er afklaret med skolen."})
    body = _case(worker, case)
    assert [i["status"] for i in body["instances"]] == ["completed"]
    assert "sel50_4m" not in [d["key"] for d in body["deadlines"]]


def test_the_escalation_comes_when_the_24_hours_pass(app, api, session):
    from engine.models import Task

    worker, case = _open(api, now() - timedelta(hours=2))
    assert {t["bpmn_id"] for t in _case(worker, case)["open_tasks"]} == {"vurder_underretning"}
    with time_machine.travel(now() + timedelta(hours=23), tick=False):
        moved = run_tick(app)
    assert moved["timers"] == 1 and moved["deadlines"] == 1
    open_tasks = {t.bpmn_id for t in session.scalars(
        select(Task).where(Task.case_id == case["id"], Task.state == "ready"))}
    assert open_tasks == {"vurder_underretning", "eskaler_24t"}
