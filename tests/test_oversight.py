"""The leaders' deadline queue (grouped, filtered, traffic lights, CSV), moving a caseworker's
caseload, and the caseworkers' calendar feeds."""

import csv
import io
from datetime import datetime, timedelta

import pytest
from conftest import new_case_body
from sqlalchemy import select

from api.extensions import db
from engine.clock import now
from engine.models import AccessLog, AuditEvent, CaseDeadline, Team, User

QUEUE = "/api/v1/queues/deadlines"


def _received(weeks_ago: float) -> str:
    return (now() - timedelta(weeks=weeks_ago)).isoformat(timespec="seconds")


def _open(api, username, weeks_ago, cpr="0102031234", team=None):
    body = new_case_body(cpr=cpr, received_at=_received(weeks_ago))
    if team is not None:
        with db.session() as s:
            body["team_id"] = s.scalar(select(Team.id).where(Team.key == team))
    response = api(username).post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _deadline_due(case_body) -> datetime:
    return datetime.fromisoformat(case_body["deadlines"][0]["due_at"])


@pytest.fixture
def cases(api):
    """Team nord: sagsbehandler has two overdue (9 and 12 weeks) and one due soon (7 weeks);
    sagsbehandler3 one due soon; team vest: sagsbehandler2 one overdue. Plus one fresh case."""
    return {
        "late9": _open(api, "sagsbehandler", 9),
        "late12": _open(api, "sagsbehandler", 12, cpr="0203041234"),
        "soon": _open(api, "sagsbehandler", 7, cpr="0304051234"),
        "soon3": _open(api, "sagsbehandler3", 7, cpr="0405061234"),
        "fresh": _open(api, "sagsbehandler", 0.1, cpr="0506071234"),
        "vest": _open(api, "sagsbehandler2", 10, cpr="0607081234"),
    }


def test_leader_sees_the_overdue_of_their_team_latest_first(api, cases):
    queue = api("leder").get(QUEUE).get_json()
    assert [i["case_number"] for i in queue["items"]] == [
        cases["late12"]["number"], cases["late9"]["number"]]
    assert queue["total"] == 2
    first = queue["items"][0]
    assert first["state"] == "overdue" and first["team"] == "nord"
    assert first["responsible"] == "sagsbehandler" and first["key"] == "sel85_afgoerelse"
    assert first["days_late"] >= 27 and first["days_late"] > queue["items"][1]["days_late"]
    assert first["citizen_cpr"].endswith("xxxx") and "0203041234" not in str(queue)


def test_due_soon_and_traffic_lights(api, cases):
    queue = api("leder").get(QUEUE + "?state=due_soon").get_json()
    assert sorted(i["case_number"] for i in queue["items"]) == sorted(
        [cases["soon"]["number"], cases["soon3"]["number"]])
    lights = {c["username"]: (c["light"], c["overdue"], c["due_soon"])
              for c in queue["caseworkers"]}
    assert lights == {"sagsbehandler": ("red", 2, 1), "sagsbehandler3": ("yellow", 0, 1),
                      "leder": ("green", 0, 0)}
    assert [c["username"] for c in queue["caseworkers"]][0] == "sagsbehandler"  # red first


def test_groups_count_per_caseworker_team_key_and_process(api, cases):
    leader = api("admin")
    by_worker = leader.get(QUEUE + "?group_by=caseworker").get_json()["groups"]
    assert {g["group"]: g["count"] for g in by_worker} == {"sagsbehandler": 2,
                                                          "sagsbehandler2": 1}
    vest_due = _deadline_due(cases["vest"])
    assert [datetime.fromisoformat(g["earliest_due_at"]) for g in by_worker
            if g["group"] == "sagsbehandler2"] == [vest_due]
    assert datetime.fromisoformat(by_worker[0]["earliest_due_at"]) == _deadline_due(
        cases["late12"])  # the group with the most overdue first
    by_team = leader.get(QUEUE + "?group_by=team").get_json()["groups"]
    assert {g["group"]: g["count"] for g in by_team} == {"nord": 2, "vest": 1}
    assert by_team[0]["group"] == "nord"  # the group with the latest overdue first
    by_key = leader.get(QUEUE + "?group_by=key&team=vest").get_json()
    assert by_key["groups"] == [{"group": "sel85_afgoerelse", "count": 1,
                                 "earliest_due_at": by_key["items"][0]["due_at"]}]
    by_process = leader.get(QUEUE + "?group_by=process&process=henvendelse").get_json()
    assert by_process["groups"][0]["count"] == 3


def test_filters_narrow_the_queue(api, cases):
    admin = api("admin")
    assert admin.get(QUEUE + "?caseworker=sagsbehandler2").get_json()["total"] == 1
    assert admin.get(QUEUE + "?team=nord").get_json()["total"] == 2
    assert admin.get(QUEUE + "?key=sel50_4m").get_json()["total"] == 0
    assert admin.get(QUEUE + "?process=findes_ikke").get_json()["total"] == 0


def test_each_sees_only_their_own(api, cases):
    vest = api("leder2").get(QUEUE).get_json()
    assert [i["case_number"] for i in vest["items"]] == [cases["vest"]["number"]]
    assert api("leder2").get(QUEUE + "?team=nord").status_code == 403
    own = api("sagsbehandler3").get(QUEUE + "?state=due_soon").get_json()
    assert [i["case_number"] for i in own["items"]] == [cases["soon3"]["number"]]
    assert [c["username"] for c in own["caseworkers"]] == ["sagsbehandler3"]
    assert api("sagsbehandler3").get(QUEUE + "?caseworker=sagsbehandler").status_code == 403
    # a leader of another team learns nothing about who works elsewhere
    other = api("leder2").get(QUEUE + "?caseworker=sagsbehandler")
    unknown = api("leder2").get(QUEUE + "?caseworker=findes_ikke")
    assert other.status_code == unknown.status_code == 422
    assert "in your teams" in other.get_json()["message"] + str(other.get_json())
    assert api("designer").get(QUEUE).status_code == 403


@pytest.mark.parametrize("query, field", [
    ("state=late", "state"), ("group_by=citizen", "group_by"), ("team=syd", "team"),
    ("caseworker=nobody", "caseworker"), ("per_page=0", "per_page"), ("format=xml", "format"),
])
def test_bad_queue_queries_name_the_parameter(api, query, field):
    response = api("leder").get(f"{QUEUE}?{query}")
    assert response.status_code == 422, response.get_json()
    assert field in str(response.get_json())


def test_queue_views_are_logged_per_case(app, api, cases):
    api("leder").get(QUEUE)
    with app.app_context():
        logged = db.session.scalars(select(AccessLog.case_id).where(
            AccessLog.action == "deadline_queue")).all()
        db.session.remove()
    assert sorted(logged) == sorted([cases["late9"]["id"], cases["late12"]["id"]])


@pytest.mark.parametrize("how", ["format", "accept"])
def test_csv_export_has_the_same_rows(api, cases, how):
    leader = api("leder")
    if how == "format":
        response = leader.get(QUEUE + "?format=csv")
    else:
        response = leader.client.get(QUEUE, headers={**leader.headers, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:5] == ["Sag", "Team", "Proces", "Sagsbehandler", "Frist"]
    json_rows = leader.get(QUEUE).get_json()["items"]
    assert [r[0] for r in rows[1:]] == [i["case_number"] for i in json_rows]
    assert all(r[9] == "Overskredet" for r in rows[1:])
    assert "Retssikkerhedsloven" in rows[1][6]


# -- moving a caseload -----------------------------------------------------------------------


def test_leader_moves_a_whole_caseload(app, api, cases):
    moved = api("leder").post("/api/v1/reassignments",
                              json={"from": "sagsbehandler", "to": "sagsbehandler3"})
    assert moved.status_code == 200, moved.get_json()
    result = moved.get_json()
    mine = [cases[k]["number"] for k in ("late9", "late12", "soon", "fresh")]
    assert sorted(result["cases"]) == sorted(mine)
    assert result["tasks_moved"] == 4  # each case's first task was assigned to sagsbehandler
    for key in ("late9", "late12", "soon", "fresh"):
        case = api("admin").get(f"/api/v1/cases/{cases[key]['id']}").get_json()
        assert case["caseworker"]["username"] == "sagsbehandler3"
        assert [t["assignee"] for t in case["open_tasks"]] == ["sagsbehandler3"]
        assert [d["responsible"] for d in case["deadlines"]] == ["sagsbehandler3"]
        [event] = [e for e in case["timeline"] if e["kind"] == "case_reassigned"]
        assert (event["actor"], event["data"]["old"], event["data"]["new"]) == (
            "leder", "sagsbehandler", "sagsbehandler3")
    lights = {c["username"]: c["light"]
              for c in api("leder").get(QUEUE).get_json()["caseworkers"]}
    assert lights["sagsbehandler"] == "green" and lights["sagsbehandler3"] == "red"
    untouched = api("admin").get(f"/api/v1/cases/{cases['vest']['id']}").get_json()
    assert untouched["caseworker"]["username"] == "sagsbehandler2"


def test_leader_moves_selected_cases(api, cases):
    moved = api("leder").post("/api/v1/reassignments", json={
        "from": "sagsbehandler", "to": "leder", "case_ids": [cases["late9"]["id"]]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["cases"] == [cases["late9"]["number"]]
    # the leader is not a candidate for the caseworker's task: it goes back to the team
    assert moved.get_json()["tasks_unassigned"][0]["case"] == cases["late9"]["number"]
    other = api("admin").get(f"/api/v1/cases/{cases['late12']['id']}").get_json()
    assert other["caseworker"]["username"] == "sagsbehandler"


@pytest.mark.parametrize("body, status, words", [
    ({"from": "sagsbehandler", "to": "sagsbehandler2"}, 422, "not an active caseworker"),
    ({"from": "sagsbehandler", "to": "ingen"}, 422, "no user 'ingen'"),
    ({"from": "sagsbehandler", "to": "sagsbehandler"}, 422, "same caseworker"),
    ({"from": "sagsbehandler3", "to": "sagsbehandler", "case_ids": "late9"}, 422,
     "not the case's caseworker"),
    ({"from": "sagsbehandler2", "to": "sagsbehandler", "case_ids": "vest"}, 403, "leader"),
    ({"from": "sagsbehandler", "to": "sagsbehandler3", "case_ids": [2147483600]}, 404,
     "no case"),
    ({"to": "sagsbehandler3"}, 422, "from"),
])
def test_bad_reassignments_change_nothing(app, api, cases, body, status, words):
    if isinstance(body.get("case_ids"), str):
        body = {**body, "case_ids": [cases[body["case_ids"]]["id"]]}
    with app.app_context():
        before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
        db.session.remove()
    response = api("leder").post("/api/v1/reassignments", json=body)
    assert response.status_code == status, response.get_json()
    assert words in str(response.get_json())
    if status == 403:  # a case of another team is not named by its number
        assert cases["vest"]["number"] not in str(response.get_json())
    with app.app_context():
        after = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
        owners = db.session.scalars(select(CaseDeadline.responsible_id)).all()
        worker = db.session.scalar(select(User.id).where(User.username == "sagsbehandler"))
        db.session.remove()
    assert after == before
    assert owners.count(worker) == 4


# -- calendar feeds --------------------------------------------------------------------------


def test_calendar_feed_lists_deadlines_and_due_tasks_without_the_citizen(api, cases):
    worker = api("sagsbehandler")
    created = worker.post("/api/v1/me/calendar")
    assert created.status_code == 201
    url = created.get_json()["url"]
    path = url[url.index("/calendar/"):]
    feed = worker.client.get(path)  # no token: the address is the key
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    text = feed.get_data(as_text=True)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    unfolded = text.replace("\r\n ", "")
    for key in ("late9", "late12", "soon", "fresh"):
        assert f"sag {cases[key]['number']}" in unfolded
    assert cases["soon3"]["number"] not in unfolded  # not hers
    assert unfolded.count("SUMMARY:Frist: ") == 4
    assert unfolded.count("SUMMARY:Opgave: ") == 4  # each case's first task
    assert unfolded.count("BEGIN:VEVENT") == 8
    assert "Emil Hansen" not in unfolded and "0102031234" not in unfolded
    due = datetime.fromisoformat(cases["late9"]["deadlines"][0]["due_at"])
    assert f"DTSTART;VALUE=DATE:{due.astimezone().strftime('%Y%m')}" in unfolded
    assert "DESCRIPTION:Hjemmel: Retssikkerhedsloven § 3\\, stk. 2" in unfolded


def test_calendar_address_can_be_renewed_and_revoked(api, cases):
    worker = api("sagsbehandler")
    first = worker.post("/api/v1/me/calendar").get_json()["url"]
    second = worker.post("/api/v1/me/calendar").get_json()["url"]
    assert first != second
    path = lambda url: url[url.index("/calendar/"):]  # noqa: E731
    assert worker.client.get(path(first)).status_code == 404
    assert worker.client.get(path(second)).status_code == 200
    assert worker.client.delete("/api/v1/me/calendar", headers=worker.headers).status_code == 204
    gone = worker.client.get(path(second))
    assert gone.status_code == 404 and "revoked" in gone.get_json()["message"]
    assert worker.client.get("/calendar/" + "x" * 200 + ".ics").status_code == 404
