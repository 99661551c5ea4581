"""Cases through the REST API: opening one (and every way the request can be wrong), listing
and reading them, and who sees which."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from conftest import get_user, new_case_body
from sqlalchemy import select

from api.extensions import db
from engine.clock import now
from engine.models import AccessLog, Team

CET = timezone(timedelta(hours=1))


def _received(days_ago: float = 1, tz=CET) -> str:
    return (now() - timedelta(days=days_ago)).astimezone(tz).isoformat(timespec="seconds")


def _team_id(app, key: str) -> int:
    with app.app_context():
        team_id = db.session.scalar(select(Team.id).where(Team.key == key))
        db.session.remove()
    return team_id


def _open(client, **kw):
    kw.setdefault("received_at", _received())
    response = client.post("/api/v1/cases", json=new_case_body(**kw))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _post_raw(client, data, content_type="application/json"):
    return client.client.post("/api/v1/cases", data=data,
                              headers={**client.headers, "Content-Type": content_type})


# -- opening a case ----------------------------------------------------------------------


def test_open_case_returns_201_with_number_process_status_and_first_task(api):
    received = _received(days_ago=2)
    response = api("sagsbehandler").post(
        "/api/v1/cases", json=new_case_body(cpr="241286-4321", name="Ida Holm",
                                            received_at=received))
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert isinstance(case["id"], int)
    assert case["number"] == f"{now().year}-{case['id']:06d}"
    assert case["process"] == "henvendelse"
    assert case["process_version"] == 1
    assert case["status"] == "active"
    assert case["caseworker"]["username"] == "sagsbehandler"
    assert case["citizen"] == {"cpr": "241286-4321", "name": "Ida Holm", "address": None}
    assert [t["bpmn_id"] for t in case["open_tasks"]] == ["vurder_henvendelse"]
    assert case["open_tasks"][0]["state"] == "ready"
    assert [i["status"] for i in case["instances"]] == ["running"]
    assert case["timeline"][0]["kind"] == "case_created"
    assert case["timeline"][0]["actor"] == "sagsbehandler"


@pytest.mark.parametrize("username, team", [("sagsbehandler", "nord"), ("sagsbehandler2", "vest"),
                                            ("leder2", "vest")])
def test_team_defaults_to_the_callers_team(api, username, team):
    case = _open(api(username))
    assert case["team"]["key"] == team


def test_caseworker_may_name_their_own_team_but_not_another(app, api):
    nord, vest = _team_id(app, "nord"), _team_id(app, "vest")
    assert _open(api("sagsbehandler"), team_id=nord)["team"]["key"] == "nord"
    response = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        received_at=_received(), team_id=vest))
    assert response.status_code == 403
    assert response.get_json()["message"]


def test_administrator_without_a_team_must_name_one(app, api):
    response = api("admin").post("/api/v1/cases", json=new_case_body(received_at=_received()))
    assert response.status_code == 422
    assert "team_id" in response.get_json()["fields"]
    case = _open(api("admin"), team_id=_team_id(app, "vest"))
    assert case["team"]["key"] == "vest"
    assert case["caseworker"] is None


def test_leader_opens_a_case_without_a_caseworker_unless_named(app, api):
    case = _open(api("leder"))
    assert case["caseworker"] is None
    assert case["open_tasks"][0]["assignee"] is None
    with app.app_context():
        worker_id = get_user(db.session, "sagsbehandler3").id
        outsider_id = get_user(db.session, "sagsbehandler2").id
        db.session.remove()
    named = _open(api("leder"), caseworker_id=worker_id)
    assert named["caseworker"]["username"] == "sagsbehandler3"
    assert named["open_tasks"][0]["assignee"] == "sagsbehandler3"
    refused = api("leder").post("/api/v1/cases", json=new_case_body(
        received_at=_received(), caseworker_id=outsider_id))
    assert refused.status_code == 422
    assert "caseworker_id" in refused.get_json()["fields"]


@pytest.mark.parametrize("cpr", ["12345", "010203123", "01020312345", "0102031234x", "",
                                 "3102031234", "2902971234", "0113031234", "0002031234",
                                 "٠١٠٢٠٣١٢٣٤", "０１０２０３１２３４"])
def test_invalid_cpr_is_422_on_citizen_cpr(api, cpr):
    response = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        cpr=cpr, received_at=_received()))
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"]
    assert list(body["fields"]) == ["citizen.cpr"]
    assert body["fields"]["citizen.cpr"]


def test_cpr_with_a_dash_is_stored_without_it(api):
    case = _open(api("sagsbehandler"), cpr="010203-1234")
    assert case["citizen"]["cpr"] == "010203-1234"
    again = _open(api("sagsbehandler"), cpr="0102031234", name="Emil Hansen")
    assert again["citizen"]["cpr"] == "010203-1234"


@pytest.mark.parametrize("received_at", [
    "2026-11-20T09:00:00",  # no offset
    (datetime.now(timezone.utc) + timedelta(days=2)).isoformat(),  # future
    "i går",
    "20-11-2026",
    "2026-02-30T09:00:00+01:00",
    12345,
    None,
], ids=["no-offset", "future", "words", "danish-order", "30-february", "number", "null"])
def test_bad_received_at_is_422_naming_it(api, received_at):
    response = api("sagsbehandler").post("/api/v1/cases",
                                         json=new_case_body(received_at=received_at))
    assert response.status_code == 422
    body = response.get_json()
    assert list(body["fields"]) == ["received_at"]
    assert body["message"]


def test_received_at_a_moment_ago_in_another_zone_is_not_in_the_future(api):
    tz = timezone(timedelta(hours=-10))
    case = _open(api("sagsbehandler"), received_at=_received(days_ago=0.001, tz=tz))
    assert case["status"] == "active"


def test_missing_citizen_name_is_422(api):
    body = new_case_body(received_at=_received())
    del body["citizen"]["name"]
    response = api("sagsbehandler").post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert "citizen.name" in response.get_json()["fields"]
    blank = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        name="   ", received_at=_received()))
    assert blank.status_code == 422
    assert "citizen.name" in blank.get_json()["fields"]


def test_unknown_process_is_404(api):
    body = {**new_case_body(received_at=_received()), "process": "ingen_saadan_proces"}
    response = api("sagsbehandler").post("/api/v1/cases", json=body)
    assert response.status_code == 404
    assert "ingen_saadan_proces" in response.get_json()["message"]


def test_called_only_process_cannot_be_started_directly(api):
    body = {**new_case_body(received_at=_received()), "process": "indhent_oplysninger"}
    response = api("sagsbehandler").post("/api/v1/cases", json=body)
    assert response.status_code == 404


def test_unknown_top_level_field_is_422_naming_it(api):
    response = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        received_at=_received(), prioritet="høj"))
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["prioritet"]


def test_unknown_citizen_field_is_422_naming_it(api):
    body = new_case_body(received_at=_received())
    body["citizen"]["telefon"] = "12345678"
    response = api("sagsbehandler").post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["citizen.telefon"]


@pytest.mark.parametrize("data", ['{"process": "henvendelse",', "{'a': 1}", "nul", "\xff\xfe"])
def test_malformed_json_is_400_with_a_json_message(api, data):
    response = _post_raw(api("sagsbehandler"), data)
    assert response.status_code == 400
    assert response.is_json
    assert response.get_json()["message"]


@pytest.mark.parametrize("data", ["[]", json.dumps([new_case_body()]), '"text"', "42", "null"])
def test_json_body_that_is_not_an_object_is_422(api, data):
    response = _post_raw(api("sagsbehandler"), data)
    assert response.status_code == 422
    assert response.get_json()["message"]


def test_body_over_the_size_limit_is_413_json(app, api):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1024 * 1024
    body = new_case_body(received_at=_received())
    body["citizen"]["address"] = "x" * limit
    data = json.dumps(body)
    assert len(data) > limit
    response = _post_raw(api("sagsbehandler"), data)
    assert response.status_code == 413
    assert response.get_json()["message"]
    # just under the limit the body is read (and refused for its content, not its size)
    body["citizen"]["address"] = ""
    body["citizen"]["address"] = "x" * (limit - len(json.dumps(body)) - 10)
    assert len(json.dumps(body)) < limit
    response = _post_raw(api("sagsbehandler"), json.dumps(body))
    assert response.status_code == 422
    assert "citizen.address" in response.get_json()["fields"]


def test_deeply_nested_json_is_refused_without_a_crash(api):
    response = _post_raw(api("sagsbehandler"), "[" * 50000 + "]" * 50000)
    assert response.status_code == 400
    assert response.get_json()["message"]


@pytest.mark.parametrize("data, field", [
    ('{"process": "henvendelse", "citizen": {"cpr": "0102031234", "name": "A\\u0000B"}}',
     "citizen.name"),
    ('{"process": "henvendelse", "citizen": {"cpr": "0102031234", "name": "A\\ud800"}}',
     "citizen.name"),
    ('{"process": "hen\\u0000", "citizen": {"cpr": "0102031234", "name": "A"}}', "process"),
])
def test_text_the_database_cannot_store_is_422(api, data, field):
    body = json.loads(data)
    body["received_at"] = _received()
    response = _post_raw(api("sagsbehandler"), json.dumps(body))
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


@pytest.mark.parametrize("extra, field", [
    ({"received_at": "0001-01-01T00:30:00+01:00"}, "received_at"),
    ({"team_id": 2**31}, "team_id"),
    ({"caseworker_id": 10**30}, "caseworker_id"),
    ({"team_id": 0}, "team_id"),
])
def test_values_out_of_the_databases_range_are_422(api, extra, field):
    body = {**new_case_body(received_at=_received()), **extra}
    response = api("admin").post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]


def test_backdated_received_date_is_recorded_apart_from_created_at(api):
    # midday, so that the date is the same in Danish time and in UTC
    received_day = (now() - timedelta(days=10)).date()
    received = f"{received_day.isoformat()}T12:00:00+01:00"
    case = _open(api("sagsbehandler"), received_at=received)
    assert datetime.fromisoformat(case["received_at"]) == datetime.fromisoformat(received)
    created_at = datetime.fromisoformat(case["created_at"])
    assert abs(created_at - now()) < timedelta(minutes=1)
    events = [e for e in case["timeline"] if e["kind"] == "received_date_backdated"]
    assert len(events) == 1
    assert events[0]["actor"] == "sagsbehandler"
    assert datetime.fromisoformat(events[0]["data"]["received_at"]) == \
        datetime.fromisoformat(received)
    assert datetime.fromisoformat(events[0]["data"]["created_at"]) == created_at
    # the process knows the received date, not the registration date
    task = api("sagsbehandler").get(f"/api/v1/tasks/{case['open_tasks'][0]['id']}").get_json()
    assert task["data"]["modtaget_dato"] == received_day.isoformat()


def test_case_received_earlier_the_same_day_is_not_backdated(api):
    with time_machine.travel(datetime(2026, 6, 10, 14, 0, tzinfo=timezone.utc), tick=False):
        case = _open(api("sagsbehandler"), received_at="2026-06-10T08:15:00+02:00")
    assert "received_date_backdated" not in [e["kind"] for e in case["timeline"]]
    assert case["received_at"] != case["created_at"]
    assert datetime.fromisoformat(case["received_at"]) == \
        datetime(2026, 6, 10, 6, 15, tzinfo=timezone.utc)


def test_expected_status_is_accepted_and_closed_is_refused(api):
    expected = _open(api("sagsbehandler"), status="expected")
    assert expected["status"] == "expected"
    assert api("sagsbehandler").get(f"/api/v1/cases/{expected['id']}").get_json()["status"] \
        == "expected"
    closed = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(
        received_at=_received(), status="closed"))
    assert closed.status_code == 422
    assert list(closed.get_json()["fields"]) == ["status"]


# -- listing and reading -----------------------------------------------------------------


def test_case_list_shows_only_the_callers_teams_cases_with_masked_cpr(api):
    nord = _open(api("sagsbehandler"), cpr="0102031234")
    vest = _open(api("sagsbehandler2"), cpr="0504071234", name="Vera Vest")
    response = api("sagsbehandler3").get("/api/v1/cases")
    assert response.status_code == 200
    page = response.get_json()
    assert [c["id"] for c in page["items"]] == [nord["id"]]
    assert page["total"] == 1
    assert page["items"][0]["citizen"]["cpr"] == "010203-xxxx"
    # the full number in no form (not "1234" alone: a timestamp's microseconds may hold it)
    dumped = json.dumps(page)
    assert "0102031234" not in dumped and "010203-1234" not in dumped
    assert "open_tasks" not in page["items"][0] and "timeline" not in page["items"][0]
    other = api("sagsbehandler2").get("/api/v1/cases").get_json()
    assert [c["id"] for c in other["items"]] == [vest["id"]]
    assert other["items"][0]["citizen"]["cpr"] == "050407-xxxx"


def test_case_list_paginates_newest_received_first_with_total(api):
    worker = api("sagsbehandler")
    ids = [_open(worker, received_at=_received(days_ago=days))["id"] for days in (5, 1, 3)]
    newest_first = [ids[1], ids[2], ids[0]]
    first = worker.get("/api/v1/cases?per_page=2").get_json()
    second = worker.get("/api/v1/cases?per_page=2&page=2").get_json()
    beyond = worker.get("/api/v1/cases?per_page=2&page=3").get_json()
    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    assert (second["total"], second["page"], second["per_page"]) == (3, 2, 2)
    assert [c["id"] for c in first["items"] + second["items"]] == newest_first
    assert beyond["items"] == [] and beyond["total"] == 3


def test_case_list_filters_by_status_and_process(api):
    worker = api("sagsbehandler")
    expected = _open(worker, status="expected")
    _open(worker)
    by_status = worker.get("/api/v1/cases?status=expected").get_json()
    assert [c["id"] for c in by_status["items"]] == [expected["id"]]
    assert worker.get("/api/v1/cases?process=henvendelse").get_json()["total"] == 2
    assert worker.get("/api/v1/cases?process=andet").get_json()["total"] == 0


@pytest.mark.parametrize("query, field", [("page=0", "page"), ("per_page=1000", "per_page"),
                                          ("per_page=0", "per_page"), ("status=lukket", "status"),
                                          ("page=x", "page")])
def test_case_list_bad_query_is_422_naming_the_parameter(api, query, field):
    response = api("sagsbehandler").get(f"/api/v1/cases?{query}")
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == [field]


def test_case_detail_shows_full_cpr_tasks_and_timeline_and_logs_the_view(app, api):
    case = _open(api("sagsbehandler"), cpr="0102031234")
    response = api("sagsbehandler3").get(f"/api/v1/cases/{case['id']}")
    assert response.status_code == 200
    detail = response.get_json()
    assert detail["citizen"]["cpr"] == "010203-1234"
    assert [t["id"] for t in detail["open_tasks"]] == [t["id"] for t in case["open_tasks"]]
    assert [e["kind"] for e in detail["timeline"]][:1] == ["case_created"]
    assert "task_created" in [e["kind"] for e in detail["timeline"]]

    with app.app_context():
        reader = get_user(db.session, "sagsbehandler3")
        rows = db.session.scalars(select(AccessLog).where(AccessLog.case_id == case["id"])).all()
        db.session.remove()
    views = [(r.user_id, r.action) for r in rows]
    assert views == [(reader.id, "view_case")]
    assert abs(rows[0].at - now()) < timedelta(minutes=1)


def test_refused_case_view_is_not_logged_as_a_view(app, api):
    case = _open(api("sagsbehandler"))
    assert api("sagsbehandler2").get(f"/api/v1/cases/{case['id']}").status_code == 403
    with app.app_context():
        rows = db.session.scalars(select(AccessLog).where(AccessLog.case_id == case["id"])).all()
        db.session.remove()
    assert rows == []


def test_another_teams_case_is_403_and_an_unknown_one_404(api):
    case = _open(api("sagsbehandler"))
    other = api("sagsbehandler2").get(f"/api/v1/cases/{case['id']}")
    assert other.status_code == 403
    assert "1234" not in other.get_data(as_text=True)
    assert other.get_json()["message"]
    missing = api("sagsbehandler").get(f"/api/v1/cases/{case['id'] + 1000}")
    assert missing.status_code == 404
    assert missing.get_json()["message"]
    assert api("sagsbehandler").get("/api/v1/cases/99999999999999999999").status_code == 404


def test_process_designer_sees_no_cases(api):
    case = _open(api("sagsbehandler"))
    page = api("designer").get("/api/v1/cases").get_json()
    assert page["items"] == [] and page["total"] == 0
    assert api("designer").get(f"/api/v1/cases/{case['id']}").status_code == 403


def test_administrator_sees_every_teams_cases(api):
    nord = _open(api("sagsbehandler"))
    vest = _open(api("sagsbehandler2"), cpr="0504071234")
    page = api("admin").get("/api/v1/cases").get_json()
    assert sorted(c["id"] for c in page["items"]) == sorted([nord["id"], vest["id"]])
    assert api("admin").get(f"/api/v1/cases/{vest['id']}").status_code == 200


@pytest.mark.parametrize("leader, own, other", [("leder", "sagsbehandler", "sagsbehandler2"),
                                                ("leder2", "sagsbehandler2", "sagsbehandler")])
def test_leader_sees_the_cases_of_the_team_they_lead_only(api, leader, own, other):
    mine = _open(api(own))
    theirs = _open(api(other), cpr="0504071234")
    page = api(leader).get("/api/v1/cases").get_json()
    assert [c["id"] for c in page["items"]] == [mine["id"]]
    assert api(leader).get(f"/api/v1/cases/{mine['id']}").status_code == 200
    assert api(leader).get(f"/api/v1/cases/{theirs['id']}").status_code == 403


def test_lists_log_every_case_they_show_to_whom(app, api):
    first = _open(api("sagsbehandler"))
    second = _open(api("sagsbehandler"), cpr="0202031234")
    reader = api("sagsbehandler3")
    assert reader.get("/api/v1/tasks?scope=team").status_code == 200
    assert reader.get("/api/v1/cases").status_code == 200
    assert api("sagsbehandler2").get("/api/v1/tasks?scope=all").get_json()["total"] == 0
    with app.app_context():
        user_id = get_user(db.session, "sagsbehandler3").id
        rows = db.session.scalars(select(AccessLog).where(
            AccessLog.action.in_(["list_tasks", "list_cases"]))).all()
        db.session.remove()
    logged = sorted((r.user_id, r.case_id, r.action) for r in rows)
    assert logged == sorted([(user_id, first["id"], "list_tasks"),
                             (user_id, second["id"], "list_tasks"),
                             (user_id, first["id"], "list_cases"),
                             (user_id, second["id"], "list_cases")])
