"""The demo process end to end through the REST API: open a case, work every task in turn,
through the gateway, the call activity and the leader's approval, to the end."""

from conftest import new_case_body


def _open_task(client, case_id, bpmn_id):
    tasks = client.get(f"/api/v1/tasks?scope=all&case={case_id}").get_json()["items"]
    matching = [t for t in tasks if t["bpmn_id"] == bpmn_id]
    assert matching, f"{bpmn_id} not among open tasks {[t['bpmn_id'] for t in tasks]}"
    return matching[0]


def test_case_runs_from_notification_to_decision(api):
    worker, leader = api("sagsbehandler"), api("leder")
    response = worker.post("/api/v1/cases", json=new_case_body())
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["number"].startswith("2026-")
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["vurder_henvendelse"]
    first = case["open_tasks"][0]
    assert first["assignee"] == "sagsbehandler"  # the case's caseworker takes their tasks
    assert first["candidate_groups"] == ["sagsbehandler"]
    assert first["due_at"] is not None

    detail = worker.get(f"/api/v1/tasks/{first['id']}").get_json()
    assert detail["form"]["properties"]["udfald"]["enum"] == ["oplys", "afvis"]
    assert detail["data"]["borger_navn"] == "Emil Hansen"  # pre-filled from the case

    steps = [
        (worker, "vurder_henvendelse", {"henvendelse": "Bekymring fra skolen", "udfald": "oplys"}),
        (worker, "anmod_oplysninger", {"modtager": "Skolen", "spoergsmaal": "Fravær?",
                                       "svarfrist_dage": 14}),
        (worker, "registrer_svar", {"svar_dato": "2026-11-24", "svar": "Højt fravær"}),
        (worker, "traef_afgoerelse", {"afgoerelse": "bevilling", "begrundelse": "Behov vist"}),
        (leader, "godkend_afgoerelse", {"godkendt": False, "kommentar": "Uddyb begrundelsen"}),
        (worker, "traef_afgoerelse", {"afgoerelse": "bevilling", "begrundelse": "Uddybet"}),
        (leader, "godkend_afgoerelse", {"godkendt": True}),
    ]
    for client, bpmn_id, data in steps:
        task = _open_task(worker, case["id"], bpmn_id)
        response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data})
        assert response.status_code == 200, (bpmn_id, response.get_json())
        assert response.get_json()["state"] == "completed"

    final = worker.get(f"/api/v1/cases/{case['id']}").get_json()
    assert final["open_tasks"] == []
    assert [i["status"] for i in final["instances"]] == ["completed"]
    kinds = [e["kind"] for e in final["timeline"]]
    assert kinds.count("task_completed") == len(steps)
    completed = [e for e in final["timeline"] if e["kind"] == "task_completed"]
    assert completed[0]["actor"] == "sagsbehandler"
    assert completed[0]["data"]["data"]["udfald"] == "oplys"
    assert completed[4]["actor"] == "leder"


def test_rejection_goes_to_the_leader(api):
    worker, leader = api("sagsbehandler"), api("leder")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    task = case["open_tasks"][0]
    response = worker.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={"data": {"henvendelse": "Ønsker hjælp", "udfald": "afvis"}})
    assert response.status_code == 200
    unassigned = leader.get("/api/v1/tasks?scope=unassigned").get_json()["items"]
    assert [t["bpmn_id"] for t in unassigned] == ["godkend_afvisning"]
    # the caseworker is not a candidate for the leader's task
    mine = worker.get("/api/v1/tasks?scope=unassigned").get_json()
    assert mine["total"] == 0
    forbidden = worker.post(f"/api/v1/tasks/{unassigned[0]['id']}/complete",
                            json={"data": {"godkendt": True}})
    assert forbidden.status_code == 403
    done = leader.post(f"/api/v1/tasks/{unassigned[0]['id']}/complete",
                       json={"data": {"godkendt": True}})
    assert done.status_code == 200
    final = worker.get(f"/api/v1/cases/{case['id']}").get_json()
    assert final["instances"][0]["status"] == "completed"


def test_case_status_and_received_date_changes_are_audited(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body(status="expected")).get_json()
    assert case["status"] == "expected"
    response = worker.post(f"/api/v1/cases/{case['id']}", json={})
    assert response.status_code == 405
    patch = worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                                json={"status": "active",
                                      "received_at": "2026-11-18T08:00:00+01:00"})
    assert patch.status_code == 200, patch.get_json()
    body = patch.get_json()
    assert body["status"] == "active"
    assert body["received_at"].startswith("2026-11-18T07:00:00")
    events = {e["kind"]: e["data"] for e in body["timeline"]}
    assert events["status_changed"] == {"old": "expected", "new": "active"}
    assert events["received_date_changed"]["new"].startswith("2026-11-18T07:00:00")

    # closing needs the process to be finished
    closing = worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                                  json={"status": "closed"})
    assert closing.status_code == 409
    assert "running" in closing.get_json()["message"]
    future = worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                                 json={"received_at": "2099-01-01T00:00:00+00:00"})
    assert future.status_code == 422
    assert "received_at" in future.get_json()["fields"]


def test_finished_case_can_be_closed_and_gets_a_closing_date(api):
    worker, leader = api("sagsbehandler"), api("leder")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    task = case["open_tasks"][0]
    worker.post(f"/api/v1/tasks/{task['id']}/complete",
                json={"data": {"henvendelse": "Ønsker hjælp", "udfald": "afvis"}})
    approval = leader.get(f"/api/v1/tasks?scope=unassigned&case={case['id']}").get_json()["items"]
    leader.post(f"/api/v1/tasks/{approval[0]['id']}/complete", json={"data": {"godkendt": True}})
    closed = worker.client.patch(f"/api/v1/cases/{case['id']}", headers=worker.headers,
                                 json={"status": "closed"})
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["closed_at"] is not None


def test_received_date_is_the_danish_calendar_date(api):
    worker = api("sagsbehandler")
    # 23:30 UTC on 20 November is 00:30 on 21 November in Copenhagen.
    case = worker.post("/api/v1/cases", json=new_case_body(
        received_at="2026-11-20T23:30:00+00:00")).get_json()
    detail = worker.get(f"/api/v1/tasks/{case['open_tasks'][0]['id']}").get_json()
    assert detail["data"]["modtaget_dato"] == "2026-11-21"


def test_read_only_case_data_cannot_be_overwritten_by_a_form(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    task = case["open_tasks"][0]
    response = worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {
        "borger_navn": "Et andet navn", "henvendelse": "Bekymring", "udfald": "oplys"}})
    assert response.status_code == 200
    following = worker.get(f"/api/v1/tasks?case={case['id']}").get_json()["items"][0]
    assert worker.get(f"/api/v1/tasks/{following['id']}").get_json()["data"] == {
        "svarfrist_dage": 14}  # the next form's fields; the name was not taken over
    timeline = worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]
    completed = [e for e in timeline if e["kind"] == "task_completed"][0]
    assert "borger_navn" not in completed["data"]["data"]


def test_changed_citizen_name_on_a_new_case_is_audited(api):
    worker = api("sagsbehandler")
    worker.post("/api/v1/cases", json=new_case_body(name="Emil Hansen"))
    second = worker.post("/api/v1/cases", json=new_case_body(name="Emil Hansen Berg")).get_json()
    assert second["citizen"]["name"] == "Emil Hansen Berg"
    events = [e for e in second["timeline"] if e["kind"] == "citizen_updated"]
    assert events[0]["data"]["name"] == {"old": "Emil Hansen", "new": "Emil Hansen Berg"}
