"""Task lists and task actions through the REST API: scopes, filters, sorting, paging, the
form of a task, claim, unclaim, assign and complete, and the audit trail they leave."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import time_machine
from conftest import ApiClient, get_user, new_case_body

from api.extensions import db
from engine.accounts import issue_token
from engine.clock import now
from engine.db import transaction

FORMS = Path(__file__).resolve().parent.parent / "forms"

VURDER_OPLYS = {"henvendelse": "Bekymring fra skolen", "udfald": "oplys"}
VURDER_AFVIS = {"henvendelse": "Ønsker hjælp", "udfald": "afvis"}
ANMOD = {"modtager": "Skolen", "spoergsmaal": "Fravær?", "svarfrist_dage": 14}


def _received(days_ago: float = 1) -> str:
    return (now() - timedelta(days=days_ago)).isoformat(timespec="seconds")


def _open(client, **kw) -> dict:
    kw.setdefault("received_at", _received())
    response = client.post("/api/v1/cases", json=new_case_body(**kw))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _first_task(case: dict) -> dict:
    [task] = case["open_tasks"]
    return task


def _complete(client, task_id, data):
    return client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data})


def _completed(client, task_id, data) -> dict:
    response = _complete(client, task_id, data)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _open_tasks(client, case_id) -> list[dict]:
    return client.get(f"/api/v1/cases/{case_id}").get_json()["open_tasks"]


def _ids(client, query="", **params) -> list[str]:
    response = client.get(f"/api/v1/tasks{query}", query_string=params)
    assert response.status_code == 200, response.get_json()
    return [t["id"] for t in response.get_json()["items"]]


def _timeline(client, case_id, kind) -> list[dict]:
    return [e for e in client.get(f"/api/v1/cases/{case_id}").get_json()["timeline"]
            if e["kind"] == kind]


@pytest.fixture
def long_api(app):
    """Like api(), with tokens that last a month, for tests that travel days ahead."""

    def login(username: str) -> ApiClient:
        with app.app_context():
            with transaction(db.session) as session:
                raw, _ = issue_token(session, get_user(session, username), timedelta(days=30))
            db.session.remove()
        return ApiClient(app.test_client(), raw)

    return login


@pytest.fixture
def inboxes(api):
    """Five open tasks: in team nord one assigned to sagsbehandler, one unassigned for the
    caseworkers and one unassigned for the leaders; in team vest one assigned, one not."""
    assigned = _first_task(_open(api("sagsbehandler")))
    for_workers = _first_task(_open(api("leder")))
    rejected = _open(api("sagsbehandler"))
    _completed(api("sagsbehandler"), _first_task(rejected)["id"], VURDER_AFVIS)
    [for_leaders] = _open_tasks(api("leder"), rejected["id"])
    vest_assigned = _first_task(_open(api("sagsbehandler2"), cpr="0504071234"))
    vest_free = _first_task(_open(api("leder2"), cpr="0504071234"))
    assert for_leaders["candidate_groups"] == ["leder"]
    assert for_workers["assignee"] is None and for_leaders["assignee"] is None
    return {"assigned": assigned["id"], "for_workers": for_workers["id"],
            "for_leaders": for_leaders["id"], "vest_assigned": vest_assigned["id"],
            "vest_free": vest_free["id"]}


# -- scopes ------------------------------------------------------------------------------


@pytest.mark.parametrize("username, scope, expected", [
    ("sagsbehandler", "mine", {"assigned"}),
    ("sagsbehandler", "team", {"assigned", "for_workers", "for_leaders"}),
    ("sagsbehandler", "unassigned", {"for_workers"}),
    ("sagsbehandler", "all", {"assigned", "for_workers", "for_leaders"}),
    ("sagsbehandler3", "mine", set()),
    ("sagsbehandler3", "unassigned", {"for_workers"}),
    ("leder", "mine", set()),
    ("leder", "team", {"assigned", "for_workers", "for_leaders"}),
    ("leder", "unassigned", {"for_leaders"}),
    ("sagsbehandler2", "mine", {"vest_assigned"}),
    ("sagsbehandler2", "team", {"vest_assigned", "vest_free"}),
    ("sagsbehandler2", "unassigned", {"vest_free"}),
    ("leder2", "unassigned", set()),
    ("admin", "all", {"assigned", "for_workers", "for_leaders", "vest_assigned", "vest_free"}),
    ("admin", "mine", set()),
    ("admin", "unassigned", set()),
    ("designer", "all", set()),
    ("designer", "team", set()),
    ("designer", "unassigned", set()),
])
def test_task_scope_shows_the_tasks_it_promises(api, inboxes, username, scope, expected):
    page = api(username).get(f"/api/v1/tasks?scope={scope}").get_json()
    names = {name for name, task_id in inboxes.items() if task_id in
             {t["id"] for t in page["items"]}}
    assert names == expected
    assert page["total"] == len(expected)


def test_default_scope_is_the_team(api, inboxes):
    worker = api("sagsbehandler3")
    assert sorted(_ids(worker)) == sorted(_ids(worker, scope="team"))
    assert len(_ids(worker)) == 3


def test_task_list_masks_the_cpr_number(api, inboxes):
    items = api("sagsbehandler").get("/api/v1/tasks").get_json()["items"]
    assert {t["citizen_cpr"] for t in items} == {"010203-xxxx"}
    assert all(t["case_number"] and t["citizen_name"] == "Emil Hansen" for t in items)


# -- filters, sorting, paging ------------------------------------------------------------


def test_tasks_filter_by_process_and_case(api):
    worker = api("sagsbehandler")
    first = _open(worker)
    _completed(worker, _first_task(first)["id"], VURDER_OPLYS)
    second = _open(worker)
    [gathering] = _open_tasks(worker, first["id"])
    # a task in a call activity belongs to the case's process, as the caseworker sees it
    assert gathering["process"] == "henvendelse"

    assert sorted(_ids(worker, process="henvendelse")) == sorted(
        [gathering["id"], _first_task(second)["id"]])
    assert _ids(worker, process="indhent_oplysninger") == []
    assert _ids(worker, process="ingen") == []
    assert _ids(worker, case=first["id"]) == [gathering["id"]]
    assert _ids(worker, case=second["id"]) == [_first_task(second)["id"]]
    assert _ids(worker, case=second["id"], process="ingen") == []


def test_overdue_filter_shows_tasks_past_their_due_date(long_api):
    worker = long_api("sagsbehandler")
    start = now()
    with time_machine.travel(start, tick=False):
        early = _first_task(_open(worker))
    with time_machine.travel(start + timedelta(days=1), tick=False):
        late = _first_task(_open(worker))
    assert datetime.fromisoformat(early["due_at"]) == start + timedelta(days=2)

    with time_machine.travel(start + timedelta(days=1, hours=12), tick=False):
        assert _ids(worker, overdue="true") == []
        assert len(_ids(worker, overdue="false")) == 2
    with time_machine.travel(start + timedelta(days=2, hours=12), tick=False):
        assert _ids(worker, overdue="true") == [early["id"]]
        items = {t["id"]: t for t in worker.get("/api/v1/tasks").get_json()["items"]}
        assert items[early["id"]]["overdue"] is True
        assert items[late["id"]]["overdue"] is False
    with time_machine.travel(start + timedelta(days=3, hours=12), tick=False):
        assert sorted(_ids(worker, overdue="true")) == sorted([early["id"], late["id"]])


def test_due_before_filter(long_api):
    worker = long_api("sagsbehandler")
    start = now()
    with time_machine.travel(start, tick=False):
        early = _first_task(_open(worker))
    with time_machine.travel(start + timedelta(hours=5), tick=False):
        late = _first_task(_open(worker))
    early_due = datetime.fromisoformat(early["due_at"])
    late_due = datetime.fromisoformat(late["due_at"])
    in_cet = timezone(timedelta(hours=1))
    assert _ids(worker, due_before=(early_due + timedelta(hours=1)).astimezone(in_cet)
                .isoformat()) == [early["id"]]
    assert _ids(worker, due_before=early_due.isoformat()) == []
    assert _ids(worker, due_before=(late_due + timedelta(seconds=1)).isoformat()) == \
        [early["id"], late["id"]]


@pytest.fixture
def three_due_dates(long_api):
    """Tasks created in one order and due in another, one without a due date:
    returns their ids in due order."""
    worker = long_api("sagsbehandler")
    start = now()
    with time_machine.travel(start, tick=False):
        undated = _open(worker)  # ends at registrer_svar, which has no due date
        _completed(worker, _first_task(undated)["id"], VURDER_OPLYS)
        _completed(worker, _open_tasks(worker, undated["id"])[0]["id"], ANMOD)
        [no_due] = _open_tasks(worker, undated["id"])
        gathering = _open(worker)  # anmod_oplysninger: due in three days
        _completed(worker, _first_task(gathering)["id"], VURDER_OPLYS)
        [three_days] = _open_tasks(worker, gathering["id"])
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        two_days = _first_task(_open(worker))  # vurder_henvendelse: due in two days
    assert no_due["due_at"] is None
    assert datetime.fromisoformat(two_days["due_at"]) < datetime.fromisoformat(
        three_days["due_at"])
    return [two_days["id"], three_days["id"], no_due["id"]]


def test_tasks_are_sorted_soonest_due_first_undated_last(api, three_due_dates):
    assert _ids(api("sagsbehandler")) == three_due_dates
    assert _ids(api("leder"), scope="all") == three_due_dates


def test_task_list_paginates_with_total(api, three_due_dates):
    worker = api("sagsbehandler")
    first = worker.get("/api/v1/tasks?per_page=2").get_json()
    second = worker.get("/api/v1/tasks?per_page=2&page=2").get_json()
    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    assert (second["total"], second["page"], second["per_page"]) == (3, 2, 2)
    assert [t["id"] for t in first["items"] + second["items"]] == three_due_dates
    assert worker.get("/api/v1/tasks?per_page=2&page=3").get_json()["items"] == []
    default = worker.get("/api/v1/tasks").get_json()
    assert (default["page"], default["per_page"]) == (1, 50)


@pytest.mark.parametrize("query, field", [
    ("page=0", "page"), ("page=-1", "page"), ("per_page=1000", "per_page"),
    ("per_page=0", "per_page"), ("scope=foo", "scope"), ("overdue=maybe", "overdue"),
    ("due_before=2026-01-01T00:00:00", "due_before"), ("due_before=snart", "due_before"),
    ("case=abc", "case"), ("case=99999999999", "case"), ("page=x", "page"),
])
def test_bad_task_list_query_is_422_naming_the_parameter(api, query, field):
    response = api("sagsbehandler").get(f"/api/v1/tasks?{query}")
    assert response.status_code == 422
    body = response.get_json()
    assert list(body["fields"]) == [field]
    assert field in body["message"]


# -- one task ----------------------------------------------------------------------------


def test_task_detail_has_the_form_and_prefilled_data(api):
    worker = api("sagsbehandler")
    received = (now() - timedelta(days=3)).date()
    case = _open(worker, name="Karla Berg", received_at=f"{received.isoformat()}T12:00:00+01:00")
    task = _first_task(case)
    response = worker.get(f"/api/v1/tasks/{task['id']}")
    assert response.status_code == 200
    detail = response.get_json()
    assert detail["id"] == task["id"]
    assert detail["form_key"] == "vurder_henvendelse"
    assert detail["form"] == json.loads((FORMS / "vurder_henvendelse.json").read_text("utf-8"))
    assert detail["data"] == {"borger_navn": "Karla Berg", "modtaget_dato": received.isoformat()}
    assert detail["citizen_cpr"] == "010203-xxxx"


def test_task_detail_prefills_form_defaults_and_earlier_answers(api):
    worker = api("sagsbehandler")
    case = _open(worker)
    _completed(worker, _first_task(case)["id"], VURDER_OPLYS)
    [ask] = _open_tasks(worker, case["id"])
    assert worker.get(f"/api/v1/tasks/{ask['id']}").get_json()["data"] == {"svarfrist_dage": 14}
    _completed(worker, ask["id"], {**ANMOD, "modtager": "Egen læge"})
    [answer] = _open_tasks(worker, case["id"])
    detail = worker.get(f"/api/v1/tasks/{answer['id']}").get_json()
    assert detail["form_key"] == "registrer_svar"
    assert detail["data"] == {"modtager": "Egen læge"}


def test_completed_task_detail_has_no_prefill(api):
    worker = api("sagsbehandler")
    task = _first_task(_open(worker))
    _completed(worker, task["id"], VURDER_OPLYS)
    detail = worker.get(f"/api/v1/tasks/{task['id']}").get_json()
    assert detail["state"] == "completed"
    assert detail["completed_at"] is not None
    assert detail["data"] == {}


def test_task_detail_of_another_team_is_403_and_unknown_404(api):
    task = _first_task(_open(api("sagsbehandler")))
    assert api("sagsbehandler2").get(f"/api/v1/tasks/{task['id']}").status_code == 403
    missing = api("sagsbehandler").get("/api/v1/tasks/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.get_json()["message"]


# -- claim, unclaim, assign --------------------------------------------------------------


def test_caseworker_of_the_team_claims_an_unassigned_task(api):
    task = _first_task(_open(api("leder")))
    response = api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/claim")
    assert response.status_code == 200
    assert response.get_json()["assignee"] == "sagsbehandler3"
    assert _ids(api("sagsbehandler3"), scope="mine") == [task["id"]]
    assert _ids(api("sagsbehandler"), scope="unassigned") == []
    # claiming your own task again changes nothing
    again = api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/claim")
    assert again.status_code == 200 and again.get_json()["assignee"] == "sagsbehandler3"


def test_claiming_a_task_someone_else_claimed_is_409(api):
    task = _first_task(_open(api("leder")))
    assert api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/claim").status_code == 200
    response = api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/claim")
    assert response.status_code == 409
    assert "sagsbehandler3" in response.get_json()["message"]
    assert _open_tasks(api("sagsbehandler"), task["case_id"])[0]["assignee"] == "sagsbehandler3"


@pytest.mark.parametrize("username, status", [("leder", 403), ("sagsbehandler2", 403),
                                              ("designer", 403), ("admin", 403)])
def test_claim_by_someone_not_a_candidate_is_refused(api, username, status):
    task = _first_task(_open(api("leder")))
    response = api(username).post(f"/api/v1/tasks/{task['id']}/claim")
    assert response.status_code == status
    assert response.get_json()["message"]
    assert _open_tasks(api("leder"), task["case_id"])[0]["assignee"] is None


def test_unclaim_gives_the_task_back_to_the_team(api):
    task = _first_task(_open(api("sagsbehandler")))
    assert task["assignee"] == "sagsbehandler"
    response = api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim")
    assert response.status_code == 200
    assert response.get_json()["assignee"] is None
    assert _ids(api("sagsbehandler3"), scope="unassigned") == [task["id"]]
    claimed = api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/claim")
    assert claimed.get_json()["assignee"] == "sagsbehandler3"


def test_only_the_assignee_or_a_leader_may_unclaim(api):
    task = _first_task(_open(api("sagsbehandler")))
    refused = api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/unclaim")
    assert refused.status_code == 403
    assert _open_tasks(api("sagsbehandler"), task["case_id"])[0]["assignee"] == "sagsbehandler"
    allowed = api("leder").post(f"/api/v1/tasks/{task['id']}/unclaim")
    assert allowed.status_code == 200
    assert allowed.get_json()["assignee"] is None


def test_leader_assigns_a_task_to_a_member_of_the_team(api):
    task = _first_task(_open(api("sagsbehandler")))
    response = api("leder").post(f"/api/v1/tasks/{task['id']}/assign",
                                 json={"assignee": "sagsbehandler3"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["assignee"] == "sagsbehandler3"
    assert _ids(api("sagsbehandler3"), scope="mine") == [task["id"]]
    assert _ids(api("sagsbehandler"), scope="mine") == []
    cleared = api("leder").post(f"/api/v1/tasks/{task['id']}/assign", json={"assignee": None})
    assert cleared.status_code == 200
    assert cleared.get_json()["assignee"] is None


@pytest.mark.parametrize("assignee, reason", [("sagsbehandler2", "not a member"),
                                              ("leder", "candidate")])
def test_leader_cannot_assign_to_someone_outside_the_team_or_the_candidates(api, assignee,
                                                                            reason):
    task = _first_task(_open(api("sagsbehandler")))
    response = api("leder").post(f"/api/v1/tasks/{task['id']}/assign",
                                 json={"assignee": assignee})
    assert response.status_code == 403
    assert reason in response.get_json()["message"]
    assert _open_tasks(api("leder"), task["case_id"])[0]["assignee"] == "sagsbehandler"


@pytest.mark.parametrize("username", ["sagsbehandler", "sagsbehandler3", "leder2"])
def test_assign_by_someone_not_leading_the_team_is_403(api, username):
    task = _first_task(_open(api("sagsbehandler")))
    response = api(username).post(f"/api/v1/tasks/{task['id']}/assign",
                                  json={"assignee": "sagsbehandler3"})
    assert response.status_code == 403
    assert _open_tasks(api("leder"), task["case_id"])[0]["assignee"] == "sagsbehandler"


@pytest.mark.parametrize("body, field", [({"assignee": "ingen-saadan"}, "assignee"),
                                         ({}, "assignee"), ({"assignee": 7}, "assignee"),
                                         ({"assignee": "leder", "x": 1}, "x")])
def test_assign_with_a_bad_assignee_is_422(api, body, field):
    task = _first_task(_open(api("sagsbehandler")))
    response = api("leder").post(f"/api/v1/tasks/{task['id']}/assign", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


def test_actions_on_a_completed_task_are_409(api):
    task = _first_task(_open(api("sagsbehandler")))
    _completed(api("sagsbehandler"), task["id"], VURDER_OPLYS)
    for client, action, body in [(api("sagsbehandler"), "claim", None),
                                 (api("sagsbehandler"), "unclaim", None),
                                 (api("leder"), "assign", {"assignee": "sagsbehandler3"}),
                                 (api("sagsbehandler"), "complete", {"data": VURDER_OPLYS})]:
        response = client.post(f"/api/v1/tasks/{task['id']}/{action}", json=body)
        assert response.status_code == 409, action
        assert "completed" in response.get_json()["message"]


# -- complete ----------------------------------------------------------------------------


def test_complete_moves_the_case_on(api):
    worker = api("sagsbehandler")
    case = _open(worker)
    done = _completed(worker, _first_task(case)["id"], VURDER_OPLYS)
    assert done["state"] == "completed"
    assert done["completed_at"] is not None
    assert [t["bpmn_id"] for t in _open_tasks(worker, case["id"])] == ["anmod_oplysninger"]


def test_invalid_data_is_422_with_one_message_per_field(api):
    worker = api("sagsbehandler")
    task = _first_task(_open(worker))
    response = _complete(worker, task["id"], {"henvendelse": 123, "bogus": "x"})
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert set(fields) == {"henvendelse", "bogus", "udfald"}
    assert all(len(messages) == 1 for messages in fields.values()), fields
    assert "text" in fields["henvendelse"][0]
    assert "unknown" in fields["bogus"][0]
    assert "required" in fields["udfald"][0]
    # nothing happened
    [still_open] = _open_tasks(worker, task["case_id"])
    assert still_open["id"] == task["id"]
    assert _timeline(worker, task["case_id"], "task_completed") == []


@pytest.mark.parametrize("data, field", [
    ({"henvendelse": "x", "udfald": "maaske"}, "udfald"),
    ({"henvendelse": "", "udfald": "oplys"}, "henvendelse"),
    ({"henvendelse": "x" * 5001, "udfald": "oplys"}, "henvendelse"),
    ({"henvendelse": "x", "udfald": None}, "udfald"),
    ({"henvendelse": ["x"], "udfald": "oplys"}, "henvendelse"),
])
def test_data_breaking_a_form_rule_is_422_naming_the_field(api, data, field):
    task = _first_task(_open(api("sagsbehandler")))
    response = _complete(api("sagsbehandler"), task["id"], data)
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == [field]


@pytest.mark.parametrize("body", [{"data": "x"}, {}, {"data": None}, {"data": []},
                                  {"data": VURDER_OPLYS, "extra": 1}, [VURDER_OPLYS]])
def test_complete_without_a_data_object_is_422(api, body):
    task = _first_task(_open(api("sagsbehandler")))
    response = api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/complete", json=body)
    assert response.status_code == 422
    assert response.get_json()["message"]
    assert response.get_json()["fields"]


def test_completing_someone_elses_task_is_403(api):
    task = _first_task(_open(api("sagsbehandler")))
    for username in ("sagsbehandler3", "leder"):
        response = _complete(api(username), task["id"], VURDER_OPLYS)
        assert response.status_code == 403, username
        assert "someone else" in response.get_json()["message"]
    assert _open_tasks(api("sagsbehandler"), task["case_id"])[0]["id"] == task["id"]


def test_completing_an_unassigned_task_makes_the_completer_its_assignee(api):
    task = _first_task(_open(api("leder")))
    done = _completed(api("sagsbehandler3"), task["id"], VURDER_OPLYS)
    assert done["assignee"] == "sagsbehandler3"
    assert done["completed_by_id"] is not None


def test_completing_a_completed_task_is_409(api):
    task = _first_task(_open(api("sagsbehandler")))
    _completed(api("sagsbehandler"), task["id"], VURDER_OPLYS)
    response = _complete(api("sagsbehandler"), task["id"], VURDER_AFVIS)
    assert response.status_code == 409
    assert len(_timeline(api("sagsbehandler"), task["case_id"], "task_completed")) == 1


def test_completing_another_teams_task_is_403(api):
    task = _first_task(_open(api("sagsbehandler")))
    response = _complete(api("sagsbehandler2"), task["id"], VURDER_OPLYS)
    assert response.status_code == 403
    assert "team" in response.get_json()["message"]


def test_completing_an_unknown_task_is_404(api):
    response = _complete(api("sagsbehandler"), "00000000-0000-0000-0000-000000000000",
                         VURDER_OPLYS)
    assert response.status_code == 404
    assert response.get_json()["message"]


# -- audit -------------------------------------------------------------------------------


def test_claim_assign_unclaim_and_complete_are_in_the_case_timeline(api):
    worker, colleague, leader = api("sagsbehandler"), api("sagsbehandler3"), api("leder")
    case = _open(leader)
    task = _first_task(case)
    colleague.post(f"/api/v1/tasks/{task['id']}/claim")
    colleague.post(f"/api/v1/tasks/{task['id']}/unclaim")
    leader.post(f"/api/v1/tasks/{task['id']}/assign", json={"assignee": "sagsbehandler"})
    _completed(worker, task["id"], VURDER_AFVIS)

    timeline = worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]
    events = [e for e in timeline if e["task_id"] == task["id"]
              and e["kind"] in {"task_claimed", "task_unclaimed", "task_assigned",
                                "task_completed"}]
    assert [(e["kind"], e["actor"]) for e in events] == [
        ("task_claimed", "sagsbehandler3"), ("task_unclaimed", "sagsbehandler3"),
        ("task_assigned", "leder"), ("task_completed", "sagsbehandler")]
    claimed, unclaimed, assigned, completed = (e["data"] for e in events)
    assert claimed["task"] == task["name"]
    assert unclaimed["previous"] == "sagsbehandler3"
    assert assigned["assignee"] == "sagsbehandler"
    assert completed["data"] == VURDER_AFVIS
    assert completed["bpmn_id"] == "vurder_henvendelse"
    stamps = [datetime.fromisoformat(e["at"]) for e in events]
    assert stamps == sorted(stamps)
    assert all(abs(s - now()) < timedelta(minutes=1) for s in stamps)


def test_refused_actions_leave_no_trace_in_the_timeline(api):
    worker = api("sagsbehandler")
    case = _open(worker)
    task = _first_task(case)
    before = worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]
    api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/claim")
    api("sagsbehandler3").post(f"/api/v1/tasks/{task['id']}/unclaim")
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/assign",
                              json={"assignee": "sagsbehandler3"})
    _complete(api("sagsbehandler3"), task["id"], VURDER_OPLYS)
    _complete(worker, task["id"], {"udfald": "oplys"})
    after = worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]
    assert after == before
