"""Task drafts through the REST API (PUT /api/v1/tasks/{id}/draft, the "draft" of GET
/api/v1/tasks/{id}): any part of a form, in any order, checked for the kind of each value but
not for what is missing; a stale version is refused with who saved; only whoever may complete
the task saves its draft; completing the task removes it.

The task is vurder_henvendelse of the henvendelse process (forms/vurder_henvendelse.json:
henvendelse text 1..5000 and udfald oplys|afvis required; borger_navn and modtaget_dato
read-only), assigned to sagsbehandler, who opens the case."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import PASSWORD, new_case_body
from sqlalchemy import func, select

from engine.models import TaskDraft

VURDER_OPLYS = {"henvendelse": "Bekymring fra skolen", "udfald": "oplys"}


def _open(client) -> tuple[dict, dict]:
    response = client.post("/api/v1/cases", json=new_case_body())
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    [task] = case["open_tasks"]
    assert task["bpmn_id"] == "vurder_henvendelse"
    return case, task


def _put_draft(client, task_id, data, version=None):
    return client.client.put(f"/api/v1/tasks/{task_id}/draft",
                             json={"data": data, "version": version}, headers=client.headers)


def _saved(client, task_id, data, version=None) -> dict:
    response = _put_draft(client, task_id, data, version)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _detail(client, task_id) -> dict:
    response = client.get(f"/api/v1/tasks/{task_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def worker(api):
    return api("sagsbehandler")


@pytest.fixture
def opened(worker):
    return _open(worker)


def test_a_partial_draft_is_kept_and_the_form_reopens_with_it(worker, opened):
    case, task = opened
    before = _detail(worker, task["id"])
    assert before["draft"] is None
    assert before["data"] == {"borger_navn": "Emil Hansen", "modtaget_dato": "2026-11-20"}

    saved = _saved(worker, task["id"], {"begrundelse": "Skriver videre i morgen"})
    assert saved["data"] == {"begrundelse": "Skriver videre i morgen"}
    assert saved["version"] == 1
    assert saved["saved_by"] == "sagsbehandler"
    assert saved["saved_at"]

    detail = _detail(worker, task["id"])
    assert detail["state"] == "ready"
    assert detail["draft"] == saved
    # The pre-fill is what the case knows with the draft over it.
    assert detail["data"] == {"borger_navn": "Emil Hansen", "modtaget_dato": "2026-11-20",
                              "begrundelse": "Skriver videre i morgen"}


def test_each_save_is_the_form_as_it_is_and_counts_up_the_version(worker, opened):
    _case, task = opened
    _saved(worker, task["id"], {"henvendelse": "Bekymring", "begrundelse": "Foreløbig"})
    second = _saved(worker, task["id"], {"udfald": "afvis", "henvendelse": "Bekymring"}, 1)
    assert second["version"] == 2
    # The whole form is saved as sent: a field cleared in the form is gone from the draft.
    assert second["data"] == {"udfald": "afvis", "henvendelse": "Bekymring"}
    detail = _detail(worker, task["id"])
    assert detail["draft"]["version"] == 2
    assert "begrundelse" not in detail["data"]
    assert detail["data"]["udfald"] == "afvis"


def test_a_draft_may_leave_required_fields_out_and_text_empty(worker, opened):
    _case, task = opened
    saved = _saved(worker, task["id"], {"henvendelse": ""})  # minLength 1 waits for completion
    assert saved["data"] == {"henvendelse": ""}
    assert _saved(worker, task["id"], {}, 1)["data"] == {}


def test_read_only_fields_in_a_draft_are_not_kept(worker, opened):
    _case, task = opened
    saved = _saved(worker, task["id"], {"borger_navn": "En anden", "henvendelse": "Bekymring"})
    assert saved["data"] == {"henvendelse": "Bekymring"}
    assert _detail(worker, task["id"])["data"]["borger_navn"] == "Emil Hansen"


@pytest.mark.parametrize("data, field, message", [
    ({"henvendelse": 123}, "henvendelse", "must be text"),
    ({"udfald": "maaske"}, "udfald", 'must be one of "oplys", "afvis"'),
    ({"henvendelse": "x" * 5001}, "henvendelse", "is too long"),
    ({"begrundelse": ["liste"]}, "begrundelse", "must be text"),
    ({"henvendelse": "Bekymring", "ukendt_felt": "x"}, "ukendt_felt", "unknown field"),
    ({"modtaget_dato": "ikke en dato"}, "modtaget_dato", "must be a valid date"),
])
def test_a_value_of_the_wrong_kind_is_422_naming_the_field_and_the_draft_stays(
        worker, opened, data, field, message):
    _case, task = opened
    kept = _saved(worker, task["id"], {"henvendelse": "Det gemte"})
    response = _put_draft(worker, task["id"], data, 1)
    assert response.status_code == 422, response.get_json()
    fields = response.get_json()["fields"]
    assert list(fields) == [field]
    assert any(message in m for m in fields[field]), fields
    assert _detail(worker, task["id"])["draft"] == kept


def test_several_wrong_fields_are_named_at_once(worker, opened):
    _case, task = opened
    response = _put_draft(worker, task["id"], {"henvendelse": 1, "udfald": "x", "bogus": 2})
    assert response.status_code == 422
    assert sorted(response.get_json()["fields"]) == ["bogus", "henvendelse", "udfald"]
    assert _detail(worker, task["id"])["draft"] is None


@pytest.mark.parametrize("body", [
    {"version": 1},
    {"data": "tekst"},
    {"data": [1, 2]},
    {"data": {}, "version": -1},
    {"data": {}, "version": "en"},
])
def test_a_malformed_draft_request_is_422(worker, opened, body):
    _case, task = opened
    response = worker.client.put(f"/api/v1/tasks/{task['id']}/draft", json=body,
                                 headers=worker.headers)
    assert response.status_code == 422, response.get_json()
    assert _detail(worker, task["id"])["draft"] is None


def test_a_stale_version_is_409_naming_who_saved_and_overwrites_nothing(api, worker, opened):
    _case, task = opened
    _saved(worker, task["id"], {"henvendelse": "Første udkast"})
    # The leader gives the task to a colleague, who goes on from version 1.
    leader = api("leder")
    assert leader.post(f"/api/v1/tasks/{task['id']}/assign",
                       json={"assignee": "sagsbehandler3"}).status_code == 200
    colleague = api("sagsbehandler3")
    opened_at = _detail(colleague, task["id"])["draft"]
    assert opened_at["saved_by"] == "sagsbehandler" and opened_at["version"] == 1
    theirs = _saved(colleague, task["id"], {"henvendelse": "Kollegaens udkast"}, 1)
    assert theirs["version"] == 2 and theirs["saved_by"] == "sagsbehandler3"
    # The task comes back; the first caseworker's form was opened at version 1.
    assert leader.post(f"/api/v1/tasks/{task['id']}/assign",
                       json={"assignee": "sagsbehandler"}).status_code == 200
    stale = _put_draft(worker, task["id"], {"henvendelse": "Gammel fane"}, 1)
    assert stale.status_code == 409, stale.get_json()
    assert "sagsbehandler3" in stale.get_json()["message"]
    assert _detail(worker, task["id"])["draft"] == theirs
    # Version 0 says "there was no draft when I opened the form": also stale now.
    assert _put_draft(worker, task["id"], {"henvendelse": "Ny fane"}, 0).status_code == 409
    assert _detail(worker, task["id"])["draft"] == theirs
    # With the current version the save goes through.
    assert _saved(worker, task["id"], {"henvendelse": "Efter genindlæsning"}, 2)["version"] == 3


def test_a_version_for_a_draft_that_does_not_exist_is_409(worker, opened):
    _case, task = opened
    response = _put_draft(worker, task["id"], {"henvendelse": "x"}, 4)
    assert response.status_code == 409
    assert "no longer exists" in response.get_json()["message"]
    assert _detail(worker, task["id"])["draft"] is None
    assert _saved(worker, task["id"], {"henvendelse": "x"}, 0)["version"] == 1


def test_without_a_version_the_save_goes_over_the_last_one(worker, opened):
    _case, task = opened
    _saved(worker, task["id"], {"henvendelse": "a"})
    assert _saved(worker, task["id"], {"henvendelse": "b"})["version"] == 2
    assert _detail(worker, task["id"])["draft"]["data"] == {"henvendelse": "b"}


@pytest.mark.parametrize("username, why", [
    ("sagsbehandler3", "assigned to someone else"),
    ("leder", "assigned to someone else"),
    ("sagsbehandler2", "another team"),
    ("admin", "only caseworkers and leaders"),
    ("designer", "sees no cases"),
])
def test_someone_who_may_not_work_on_the_task_cannot_save_its_draft(api, worker, opened,
                                                                    username, why):
    _case, task = opened
    kept = _saved(worker, task["id"], {"henvendelse": "Mit udkast"})
    response = _put_draft(api(username), task["id"], {"henvendelse": "Ikke mit"}, 1)
    assert response.status_code == 403, (why, response.get_json())
    assert _detail(worker, task["id"])["draft"] == kept


def test_a_candidate_saves_the_draft_of_an_unassigned_task(api, worker, opened):
    _case, task = opened
    assert worker.post(f"/api/v1/tasks/{task['id']}/unclaim").status_code == 200
    colleague = api("sagsbehandler3")
    saved = _saved(colleague, task["id"], {"henvendelse": "Fra teamet"})
    assert saved["saved_by"] == "sagsbehandler3"
    # Saving a draft does not take the task.
    assert _detail(worker, task["id"])["assignee"] is None
    # The leader is no candidate (group sagsbehandler) of the unassigned task.
    assert _put_draft(api("leder"), task["id"], {"henvendelse": "x"}).status_code == 403


def test_a_draft_of_an_unknown_task_is_404(worker):
    response = _put_draft(worker, "00000000-0000-0000-0000-000000000000", {})
    assert response.status_code == 404


def test_completing_still_requires_every_field_and_keeps_the_draft(worker, opened):
    _case, task = opened
    kept = _saved(worker, task["id"], {"henvendelse": "Kun halvdelen"})
    response = worker.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={"data": kept["data"]})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"udfald": ["required field is missing"]}
    detail = _detail(worker, task["id"])
    assert detail["state"] == "ready"
    assert detail["draft"] == kept
    # What a draft may hold is not enough for completion: empty text is refused then.
    response = worker.post(f"/api/v1/tasks/{task['id']}/complete",
                           json={"data": {"henvendelse": "", "udfald": "oplys"}})
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["henvendelse"]
    assert _detail(worker, task["id"])["draft"] == kept


def test_completing_the_task_removes_its_draft(worker, opened, session):
    case, task = opened
    _saved(worker, task["id"], {"henvendelse": "Bekymring fra skolen"})
    done = worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": VURDER_OPLYS})
    assert done.status_code == 200, done.get_json()
    detail = _detail(worker, task["id"])
    assert detail["state"] == "completed"
    assert detail["draft"] is None
    assert detail["data"] == {}
    assert session.get(TaskDraft, task["id"]) is None
    # The next task of the case starts without a draft.
    [following] = worker.get(f"/api/v1/cases/{case['id']}").get_json()["open_tasks"]
    assert _detail(worker, following["id"])["draft"] is None


def test_the_draft_of_a_completed_task_is_409(worker, opened, session):
    _case, task = opened
    assert worker.post(f"/api/v1/tasks/{task['id']}/complete",
                       json={"data": VURDER_OPLYS}).status_code == 200
    response = _put_draft(worker, task["id"], {"henvendelse": "For sent"})
    assert response.status_code == 409
    assert "completed" in response.get_json()["message"]
    assert session.scalar(select(func.count()).select_from(TaskDraft).where(
        TaskDraft.task_id == task["id"])) == 0


def test_a_draft_leaves_no_trace_in_the_case_data_or_the_next_step(worker, opened):
    """A draft is not an answer: the process goes on with what the completion sent."""
    case, task = opened
    _saved(worker, task["id"], {"henvendelse": "Udkast", "udfald": "afvis",
                                "begrundelse": "Kun i kladden"})
    done = worker.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": VURDER_OPLYS})
    assert done.status_code == 200
    [following] = worker.get(f"/api/v1/cases/{case['id']}").get_json()["open_tasks"]
    assert following["bpmn_id"] == "anmod_oplysninger"  # oplys, not the draft's afvis
    [completed] = [e for e in worker.get(f"/api/v1/cases/{case['id']}").get_json()["timeline"]
                   if e["kind"] == "task_completed"]
    assert "Kun i kladden" not in str(completed)


def _token(base, username):
    response = requests.post(f"{base}/api/v1/auth/token",
                             json={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_simultaneous_first_saves_one_wins_the_others_are_told(live_server, session,
                                                               database_url, request):
    """Two tabs opened the form with no draft (version 0) and save at the same moment: one
    draft is kept, every other save is a 409, never an error."""
    headers = _token(live_server, "sagsbehandler")
    response = requests.post(f"{live_server}/api/v1/cases", json=new_case_body(),
                             headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    task_id = response.json()["open_tasks"][0]["id"]
    clients = 8
    barrier = threading.Barrier(clients)

    def warm_up(_):  # every server thread holds a database connection before the race
        barrier.wait()
        return requests.get(f"{live_server}/api/v1/tasks/{task_id}", headers=headers,
                            timeout=60).status_code

    def save(i):
        barrier.wait()
        return requests.put(f"{live_server}/api/v1/tasks/{task_id}/draft",
                            json={"data": {"henvendelse": f"fane {i}"}, "version": 0},
                            headers=headers, timeout=60)

    with ThreadPoolExecutor(clients) as pool:
        assert list(pool.map(warm_up, range(clients))) == [200] * clients
        responses = list(pool.map(save, range(clients)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (clients - 1), [(r.status_code, r.text) for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    session.expire_all()
    draft = session.get(TaskDraft, task_id)
    assert draft.version == 1
    assert draft.data == winner["data"]
