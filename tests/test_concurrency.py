"""Many clients at once: two completions of the same task, exactly one wins and the other gets
409; completions of different cases never get in each other's way."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import PASSWORD, new_case_body
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db import transaction
from engine.errors import Conflict
from engine.models import AuditEvent, Instance, Task


def _token(base, username):
    response = requests.post(f"{base}/api/v1/auth/token",
                             json={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _open_case(base, headers, cpr="0102031234"):
    response = requests.post(f"{base}/api/v1/cases", json=new_case_body(cpr=cpr),
                             headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


DATA = {"data": {"henvendelse": "Bekymring", "udfald": "oplys"}}


def test_simultaneous_completions_of_one_task_exactly_one_wins(live_server, session):
    headers = _token(live_server, "sagsbehandler")
    case = _open_case(live_server, headers)
    task_id = case["open_tasks"][0]["id"]
    clients = 8
    barrier = threading.Barrier(clients)

    def complete(_):
        barrier.wait()
        return requests.post(f"{live_server}/api/v1/tasks/{task_id}/complete", json=DATA,
                             headers=headers, timeout=60)

    with ThreadPoolExecutor(clients) as pool:
        responses = list(pool.map(complete, range(clients)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (clients - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            message = response.json()["message"]
            assert "no longer" in message or "reload" in message

    session.expire_all()
    completions = session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.case_id == case["id"], AuditEvent.kind == "task_completed"))
    assert completions == 1
    open_tasks = session.scalars(select(Task.bpmn_id).where(
        Task.case_id == case["id"], Task.state == "ready")).all()
    assert open_tasks == ["anmod_oplysninger"]  # moved on exactly once


def test_completions_of_different_cases_do_not_conflict(live_server, session):
    headers = _token(live_server, "sagsbehandler")
    cases = [_open_case(live_server, headers, cpr=f"01020{i}1234") for i in range(8)]
    barrier = threading.Barrier(len(cases))

    def complete(case):
        barrier.wait()
        task_id = case["open_tasks"][0]["id"]
        return requests.post(f"{live_server}/api/v1/tasks/{task_id}/complete", json=DATA,
                             headers=headers, timeout=60)

    with ThreadPoolExecutor(len(cases)) as pool:
        responses = list(pool.map(complete, cases))
    assert [r.status_code for r in responses] == [200] * len(cases), [r.text for r in responses]


def test_stale_instance_write_is_a_conflict(app, session, database_url):
    """The version counter: a writer that loaded the instance before another writer committed
    loses, and nothing it did is saved."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite takes the write lock at BEGIN (BEGIN IMMEDIATE), so two write "
                    "transactions cannot interleave there; the threaded HTTP test covers SQLite")
    from datetime import datetime

    from conftest import get_user

    from api.extensions import db

    casework = app.extensions["casework"]
    with transaction(session):
        body = new_case_body()
        case = casework.open_case(session, get_user(session, "sagsbehandler"), "henvendelse",
                                  body["citizen"], datetime.fromisoformat(body["received_at"]))
    first, second = Session(db.engine), Session(db.engine)
    try:
        a = first.scalar(select(Instance).where(Instance.case_id == case.id))
        b = second.scalar(select(Instance).where(Instance.case_id == case.id))
        a.error_message = "first writer"
        first.commit()
        b.error_message = "second writer"
        with pytest.raises(Conflict):
            with transaction(second):
                pass
    finally:
        first.close()
        second.close()
    session.expire_all()
    stored = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert stored.error_message == "first writer"


def test_simultaneous_claims_of_one_task_exactly_one_wins(live_server, session):
    owner = _token(live_server, "sagsbehandler")
    case = _open_case(live_server, owner)
    task_id = case["open_tasks"][0]["id"]
    released = requests.post(f"{live_server}/api/v1/tasks/{task_id}/unclaim", headers=owner,
                             timeout=30)
    assert released.status_code == 200 and released.json()["assignee"] is None
    claimers = [_token(live_server, name) for name in ("sagsbehandler", "sagsbehandler3")] * 3
    barrier = threading.Barrier(len(claimers))

    def claim(headers):
        barrier.wait()
        return requests.post(f"{live_server}/api/v1/tasks/{task_id}/claim", headers=headers,
                             timeout=60)

    with ThreadPoolExecutor(len(claimers)) as pool:
        responses = list(pool.map(claim, claimers))
    winners = [r for r in responses if r.status_code == 200]
    # the winner may claim again (idempotent for the same user); nobody else gets it
    assert {r.json()["assignee"] for r in winners} == {winners[0].json()["assignee"]}
    assert all(r.status_code in (200, 409) for r in responses), [r.text for r in responses]
    session.expire_all()
    claims = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case["id"], AuditEvent.kind == "task_claimed")).all()
    assert len(claims) == 1
    stored = session.get(Task, task_id)
    assert stored.assignee.username == winners[0].json()["assignee"]
