"""Who may do what: every /api/v1 route against every kind of user, on a case of team nord.

The table follows engine/permissions.py and the checks in engine/services.py:
- caseworkers and leaders see the cases and tasks of their own teams; administrators see all;
  process designers see none;
- only caseworkers and leaders work on tasks (claim, complete), and only tasks meant for them:
  assigned to them, or unassigned with a candidate group they belong to;
- the assignee or a leader of the case's team (or an administrator) gives a task back; leaders
  of the team (and administrators) assign tasks;
- the case's caseworker, leaders and administrators may retry a case in error;
- the team's caseworkers and leaders meet, pause and resume its deadlines;
- the deadline queue shows leaders their teams, caseworkers their own deadlines, administrators
  all; leaders of the case's team (and administrators) move it to another caseworker;
- everyone may make and revoke their own calendar address;
- the team's caseworkers and leaders write and issue its letters; whoever may see the case
  reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from conftest import new_case_body
from sqlalchemy import select

from api.extensions import db
from engine.clock import now
from engine.models import Team

USERS = ("sagsbehandler", "sagsbehandler3", "sagsbehandler2", "leder", "leder2", "designer",
         "admin")
VURDER_OPLYS = {"henvendelse": "Bekymring fra skolen", "udfald": "oplys"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {case} and {task} are filled in
    statuses: tuple  # one per user, in the order of USERS
    body: dict | None = None
    unassigned: bool = False  # unclaim the task first (it starts assigned to sagsbehandler)
    note: str = field(default="", compare=False)


# The case: team nord, opened by sagsbehandler, who is its caseworker. Its one open task,
# vurder_henvendelse (candidate group sagsbehandler), is assigned to sagsbehandler.
#
#                                                     sagsb sagsb3 sagsb2 leder leder2 design admin
ROUTES = (
    Route("GET", "/api/v1/processes", (200, 200, 200, 200, 200, 200, 200)),
    Route("POST", "/api/v1/processes/deploy", (403, 403, 403, 403, 403, 422, 422),
          body={"files": {"x.txt": "y"}}, note="422: allowed, but x.txt is no BPMN/DMN file"),
    Route("GET", "/api/v1/processes/{process}/versions", (403, 403, 403, 403, 403, 200, 200)),
    Route("GET", "/api/v1/processes/{process}/diff", (403, 403, 403, 403, 403, 422, 422)),
    Route("GET", "/api/v1/processes/{process}/migration", (403, 403, 403, 403, 403, 422, 422)),
    Route("POST", "/api/v1/processes/{process}/migration", (403, 403, 403, 403, 403, 422, 422),
          body={"to": 1}, note="422: allowed, but cases move only to a version after the first"),
    Route("GET", "/api/v1/cases", (200, 200, 200, 200, 200, 200, 200)),
    Route("POST", "/api/v1/cases", (201, 201, 403, 201, 403, 403, 201),
          body={"team_id": "nord"}, note="opens a second case, for team nord"),
    Route("GET", "/api/v1/cases/{case}", (200, 200, 403, 200, 403, 403, 200)),
    Route("PATCH", "/api/v1/cases/{case}", (200, 200, 403, 200, 403, 403, 200),
          body={"status": "dormant"}),
    Route("POST", "/api/v1/cases/{case}/retry", (409, 403, 403, 409, 403, 403, 409), body={},
          note="409: allowed, but the case is not in error"),
    Route("POST", "/api/v1/cases/{case}/deadlines/{key}", (200, 200, 403, 200, 403, 403, 403),
          body={"action": "meet"}, note="the team's caseworkers and leaders"),
    Route("POST", "/api/v1/cases/{case}/messages/{message}", (409, 409, 403, 409, 403, 403, 403),
          body={"data": {"kilde": "borger", "indhold": "Ny bekymring",
                         "vold_eller_overgreb": False}},
          note="409: allowed, but this case's process takes no new notification"),
    Route("GET", "/api/v1/queues/deadlines", (200, 200, 200, 200, 200, 403, 200),
          note="leaders see the teams they lead, caseworkers their own deadlines"),
    Route("POST", "/api/v1/reassignments", (403, 403, 403, 200, 403, 403, 200),
          body={"from": "sagsbehandler", "to": "sagsbehandler3", "case_ids": "{case}"},
          note="a leader of the case's team"),
    Route("POST", "/api/v1/me/calendar", (201, 201, 201, 201, 201, 201, 201)),
    Route("DELETE", "/api/v1/me/calendar", (404, 404, 404, 404, 404, 404, 404),
          note="404: allowed, but the user has no calendar address"),
    Route("GET", "/api/v1/cases/{case}/letters", (200, 200, 403, 200, 403, 403, 200)),
    Route("POST", "/api/v1/cases/{case}/letters", (201, 201, 403, 201, 403, 403, 403),
          body={"letter": "lukning", "texts": {"aarsag": "Sagen er afgjort."}}),
    Route("GET", "/api/v1/letters/{letter}", (200, 200, 403, 200, 403, 403, 200),
          note="{letter}: a draft of the case, made by sagsbehandler"),
    Route("PATCH", "/api/v1/letters/{letter}", (200, 200, 403, 200, 403, 403, 403),
          body={"texts": {"aarsag": "Rettet."}}),
    Route("GET", "/api/v1/letters/{letter}/preview", (200, 200, 403, 200, 403, 403, 200)),
    Route("POST", "/api/v1/letters/{letter}/issue", (200, 200, 403, 200, 403, 403, 403)),
    Route("POST", "/api/v1/letters/{letter}/correct", (409, 409, 403, 409, 403, 403, 403),
          note="409: allowed, but a draft is edited, not corrected"),
    Route("GET", "/api/v1/letters/{letter}/pdf", (409, 409, 403, 409, 403, 403, 409),
          note="409: allowed, but a draft has no PDF yet"),
    Route("POST", "/api/v1/letters/{letter}/retry-delivery", (409, 409, 403, 409, 403, 403, 403),
          note="409: allowed, but the draft is not in the outbox"),
    Route("GET", "/api/v1/outbox", (200, 200, 200, 200, 200, 200, 200),
          note="each sees the outbox of their own teams (a designer: none)"),
    Route("GET", "/api/v1/tasks", (200, 200, 200, 200, 200, 200, 200)),
    Route("GET", "/api/v1/tasks/{task}", (200, 200, 403, 200, 403, 403, 200)),
    Route("POST", "/api/v1/tasks/{task}/claim", (200, 200, 403, 403, 403, 403, 403),
          unassigned=True, note="the leader is not in the task's candidate group"),
    Route("POST", "/api/v1/tasks/{task}/unclaim", (200, 403, 403, 200, 403, 403, 200)),
    Route("POST", "/api/v1/tasks/{task}/assign", (403, 403, 403, 200, 403, 403, 200),
          body={"assignee": "sagsbehandler3"}),
    Route("PUT", "/api/v1/tasks/{task}/draft", (200, 403, 403, 403, 403, 403, 403),
          body={"data": {"henvendelse": "Bekymring"}}, note="as completing: who may do it"),
    Route("POST", "/api/v1/tasks/{task}/complete", (200, 403, 403, 403, 403, 403, 403),
          body={"data": VURDER_OPLYS}),
    Route("POST", "/api/v1/tasks/{task}/complete", (200, 200, 403, 403, 403, 403, 403),
          body={"data": VURDER_OPLYS}, unassigned=True),
    Route("POST", "/api/v1/auth/logout", (204, 204, 204, 204, 204, 204, 204),
          note="everyone may end their own token"),
)


def _received() -> str:
    return (now() - timedelta(days=1)).isoformat(timespec="seconds")


def _nord_id(app) -> int:
    with app.app_context():
        team_id = db.session.scalar(select(Team.id).where(Team.key == "nord"))
        db.session.remove()
    return team_id


def _nord_case(api) -> tuple[dict, dict]:
    response = api("sagsbehandler").post("/api/v1/cases",
                                         json=new_case_body(received_at=_received()))
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    [task] = case["open_tasks"]
    assert case["team"]["key"] == "nord" and task["assignee"] == "sagsbehandler"
    return case, task


def _snapshot(api, case_id) -> dict:
    """What a refused request must leave untouched (read as the administrator)."""
    case = api("admin").get(f"/api/v1/cases/{case_id}").get_json()
    return {"status": case["status"],
            "tasks": [(t["id"], t["state"], t["assignee"]) for t in case["open_tasks"]],
            "timeline": [(e["kind"], e["actor"], e["task_id"]) for e in case["timeline"]],
            "instances": [i["status"] for i in case["instances"]]}


def _case_count(api) -> int:
    return api("admin").get("/api/v1/cases").get_json()["total"]


def _route_id(route: Route) -> str:
    suffix = " (unassigned)" if route.unassigned else ""
    return f"{route.method} {route.path}{suffix}"


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{\w+\}", "{}", path)


def test_table_covers_every_route(app):
    routed = {(method, _shape(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and rule.endpoint != "auth.issue_token_view"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    tabled = {(route.method, _shape(route.path)) for route in ROUTES}
    assert routed == tabled
    assert all(len(route.statuses) == len(USERS) for route in ROUTES)


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_route_gives_each_user_the_status_of_the_table(app, api, route, username):
    case, task = _nord_case(api)
    if route.unassigned:
        assert api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim").status_code == 200
    body = dict(route.body) if route.body is not None else None
    if body and body.get("team_id") == "nord":
        body = {**new_case_body(received_at=_received()), "team_id": _nord_id(app)}
    if body and body.get("case_ids") == "{case}":
        body["case_ids"] = [case["id"]]
    letter_id = None
    if "{letter}" in route.path:
        made = api("sagsbehandler").post(f"/api/v1/cases/{case['id']}/letters", json={
            "letter": "lukning", "texts": {"aarsag": "Sagen er afgjort."}})
        assert made.status_code == 201, made.get_json()
        letter_id = made.get_json()["id"]
    url = route.path.format(case=case["id"], task=task["id"], key="sel85_afgoerelse",
                            process="henvendelse",
                            letter=letter_id, message="ny_underretning")
    before, cases_before = _snapshot(api, case["id"]), _case_count(api)

    client = api(username)
    response = client.client.open(url, method=route.method, json=body, headers=client.headers)

    expected = route.statuses[USERS.index(username)]
    assert response.status_code == expected, response.get_json()
    assert response.is_json or response.mimetype in ("text/html", "application/pdf")
    if expected >= 400:
        assert response.get_json()["message"]
        assert _snapshot(api, case["id"]) == before
        assert _case_count(api) == cases_before


@pytest.mark.parametrize("username", USERS)
def test_lists_show_the_case_exactly_to_those_who_may_open_it(api, username):
    case, task = _nord_case(api)
    client = api(username)
    may_open = client.get(f"/api/v1/cases/{case['id']}").status_code == 200
    case_ids = [c["id"] for c in client.get("/api/v1/cases").get_json()["items"]]
    task_ids = [t["id"] for t in client.get("/api/v1/tasks?scope=all").get_json()["items"]]
    assert (case["id"] in case_ids) == may_open
    assert (task["id"] in task_ids) == may_open
    [detail_route] = [r for r in ROUTES if r.method == "GET" and r.path == "/api/v1/cases/{case}"]
    assert may_open == (detail_route.statuses[USERS.index(username)] == 200)


@pytest.mark.parametrize("username, sees_case", [("sagsbehandler", True),
                                                 ("sagsbehandler3", True), ("leder", True),
                                                 ("admin", True), ("sagsbehandler2", False),
                                                 ("designer", False)])
def test_allowed_actions_really_happen(api, username, sees_case):
    """The other side of the table: a 2xx must mean the change was made."""
    case, task = _nord_case(api)
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim")
    assign = api(username).post(f"/api/v1/tasks/{task['id']}/assign",
                                json={"assignee": "sagsbehandler3"})
    now_assigned = _snapshot(api, case["id"])["tasks"][0][2]
    leads_nord = username in ("leder", "admin")
    assert (assign.status_code == 200) == leads_nord
    assert now_assigned == ("sagsbehandler3" if leads_nord else None)
    listed = api(username).get(f"/api/v1/tasks?scope=all&case={case['id']}").get_json()["items"]
    assert bool(listed) == sees_case
