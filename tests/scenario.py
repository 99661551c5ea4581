"""Helpers for scenario tests that walk a case through the API: find and complete its tasks,
read its letters and deadlines. Only the tests import this module."""

from datetime import datetime

from sqlalchemy import select

from engine.clock import local_date, now
from engine.models import Letter


def _task(client, case, bpmn_id):
    response = client.get(f"/api/v1/tasks?scope=all&case={case['id']}")
    assert response.status_code == 200, response.get_json()
    tasks = response.get_json()["items"]
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


def _letters(session, case, key=None):
    session.expire_all()
    query = select(Letter).where(Letter.case_id == case["id"]).order_by(Letter.id)
    return [x for x in session.scalars(query) if key is None or x.key == key]


def _deadline(body, key):
    [found] = [d for d in body["deadlines"] if d["key"] == key]
    return found


def local_today() -> str:
    return local_date(now()).isoformat()


def danish_date(moment: str) -> str:
    from engine.letters.render import danish_date as fmt

    return fmt(local_date(datetime.fromisoformat(moment)))


def _claim_and_complete(client, task, data, status=200):
    if task["assignee"] is None:
        client.post(f"/api/v1/tasks/{task['id']}/claim")
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == status, response.get_json()
    return response.get_json()


# FFB "Status på indsats" (forms/codes/ffb.json): the three ends of a follow-up.
CONTINUE = "1e971d84-10a4-4ef8-a8b3-0daa4c7d088a"
END_AND_REFER = "b4c01aa8-82fd-44e4-83ff-ca19ec02c779"
END = "d7d03656-4c87-4e67-9146-aa5990460f16"


def follow_up(client, case, status, adjust=False, months=None, grades=None):
    """Walk the follow-up module's four steps for a case whose follow-up is due: the provider's
    status, the goals one by one (each graded from `grades`, default "delvist"), the citizen's
    view and the conclusion. Returns the goals and the conclusion as the steps pre-filled
    them."""
    _complete(client, case, "registrer_status", {
        "status_modtaget": True, "status_dato": local_today(),
        "status_tekst": "Borgeren møder stabilt op og tager selv initiativ."})
    goals_task = client.get(f"/api/v1/tasks/{_task(client, case, 'vurder_maal')['id']}")
    goals = goals_task.get_json()["data"]["maal_vurdering"]
    grades = grades or {}
    _complete(client, case, "vurder_maal", {"maal_vurdering": [
        {**g, "vurdering": grades.get(g["maal"], "delvist"), "kommentar": "Godt på vej."}
        for g in goals]})
    _complete(client, case, "borgerens_syn", {
        "samtale_dato": local_today(),
        "borgerens_syn": "Jeg har det bedre, men har brug for mere."})
    conclusion_task = client.get(f"/api/v1/tasks/{_task(client, case, 'konkluder')['id']}")
    prefilled = conclusion_task.get_json()["data"]
    data = {"status": status, "juster_indsats": adjust, "konklusion": "Indsatsen virker."}
    if status == CONTINUE and not adjust:
        data |= {"naeste_opfoelgning_maaneder": months or prefilled["naeste_opfoelgning_maaneder"],
                 "interval_begrundelse": "Stabil udvikling; kommunens standardinterval."}
    _complete(client, case, "konkluder", data)
    return goals, prefilled


def issue_every_draft(worker, session, case):
    """Every letter the case prepared can be issued from what the case holds; only free-text
    blocks nothing pre-fills are the caseworker's to write."""
    for draft in [x for x in _letters(session, case) if x.state == "draft"]:
        response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        if response.status_code == 422:
            missing = response.get_json()["fields"]
            assert all(k.startswith("tekst.") for k in missing), (draft.key, missing)
            worker.patch(f"/api/v1/letters/{draft.id}", json={"texts": {
                k.split(".", 1)[1]: "Skrevet af sagsbehandleren." for k in missing}})
            response = worker.post(f"/api/v1/letters/{draft.id}/issue")
        assert response.status_code == 200, (draft.key, response.get_json())



def refused_and_unchanged(worker, case, step, data, field, problem=None):
    """Completing `step` with `data` is refused (422) naming `field` (and `problem` in its
    message), and nothing on the case changes."""
    before = _case(worker, case)
    refused = _complete(worker, case, step, data, status=422)
    assert field in refused["fields"], refused
    if problem:
        assert any(problem in message for message in refused["fields"][field]), refused
    after = _case(worker, case)
    assert after["open_tasks"] == before["open_tasks"]
    assert len(after["timeline"]) == len(before["timeline"])
