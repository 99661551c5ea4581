"""Authentication through the REST API: tokens, what happens without one, the public routes
(health check, OpenAPI document, browsable docs) and how secrets are stored."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from conftest import PASSWORD, USERS
from sqlalchemy import select

from api.extensions import db
from engine.clock import now
from engine.models import ApiToken, User

TOKEN_URL = "/api/v1/auth/token"
TOKEN_ENDPOINT = "auth.issue_token_view"


def _login(client, username, password=PASSWORD):
    return client.post(TOKEN_URL, json={"username": username, "password": password})


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


def _protected_requests(app):
    """(method, url) for every /api/v1 route but the token route, path parameters filled in."""
    requests = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == TOKEN_ENDPOINT:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            requests.append((method, url))
    return requests


def test_token_for_the_right_password_opens_the_api(app):
    client = app.test_client()
    before = now()
    response = _login(client, "sagsbehandler")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["user"]["username"] == "sagsbehandler"
    assert body["user"]["role"] == "sagsbehandler"
    assert [t["key"] for t in body["user"]["teams"]] == ["nord"]
    lifetime = timedelta(hours=app.config["TOKEN_LIFETIME_HOURS"])
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert before + lifetime <= expires_at <= now() + lifetime

    cases = client.get("/api/v1/cases", headers=_bearer(body["token"]))
    assert cases.status_code == 200
    assert "items" in cases.get_json()


def test_each_login_gets_its_own_token(app):
    client = app.test_client()
    first = _login(client, "leder").get_json()["token"]
    second = _login(client, "leder").get_json()["token"]
    assert first != second
    for token in (first, second):
        assert client.get("/api/v1/tasks", headers=_bearer(token)).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401(app):
    client = app.test_client()
    wrong_password = _login(client, "sagsbehandler", PASSWORD + "x")
    unknown_user = _login(client, "ingen-saadan-bruger")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.is_json and unknown_user.is_json
    assert wrong_password.get_json()["message"]
    # the answer must not tell an attacker which usernames exist
    assert wrong_password.get_json() == unknown_user.get_json()
    assert "token" not in wrong_password.get_json()


@pytest.mark.parametrize("body, missing", [
    ({"password": PASSWORD}, {"username"}),
    ({"username": "sagsbehandler"}, {"password"}),
    ({}, {"username", "password"}),
])
def test_token_request_without_a_field_is_422_naming_it(app, body, missing):
    response = app.test_client().post(TOKEN_URL, json=body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["message"]
    assert set(payload["fields"]) == missing


def test_inactive_user_can_neither_log_in_nor_use_an_old_token(app):
    client = app.test_client()
    token = _login(client, "sagsbehandler3").get_json()["token"]
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "sagsbehandler3"))
        user.active = False
        db.session.commit()
        db.session.remove()
    try:
        login = _login(client, "sagsbehandler3")
        assert login.status_code == 401
        assert login.get_json() == _login(client, "ingen-saadan-bruger").get_json()
        old_token = client.get("/api/v1/cases", headers=_bearer(token))
        assert old_token.status_code == 401
        assert old_token.get_json()["message"]
    finally:
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == "sagsbehandler3"))
            user.active = True
            db.session.commit()
            db.session.remove()
    assert client.get("/api/v1/cases", headers=_bearer(token)).status_code == 200


def test_the_route_table_has_the_protected_routes(app):
    """Guards the tests below: they walk the URL map, which must hold the v1 routes."""
    requests = set(_protected_requests(app))
    for expected in [("GET", "/api/v1/processes"), ("GET", "/api/v1/cases"),
                     ("POST", "/api/v1/cases"), ("GET", "/api/v1/cases/1"),
                     ("POST", "/api/v1/cases/1/retry"), ("GET", "/api/v1/tasks"),
                     ("GET", "/api/v1/tasks/1"), ("POST", "/api/v1/tasks/1/claim"),
                     ("POST", "/api/v1/tasks/1/unclaim"), ("POST", "/api/v1/tasks/1/assign"),
                     ("POST", "/api/v1/tasks/1/complete")]:
        assert expected in requests
    assert ("POST", TOKEN_URL) not in requests


def test_every_api_route_without_a_token_is_401_json(app):
    client = app.test_client()
    for method, url in [*_protected_requests(app), ("GET", "/api/v1/no-such-route")]:
        response = client.open(url, method=method, json={})
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.is_json, (method, url)
        assert "Bearer" in response.get_json()["message"], (method, url)


@pytest.mark.parametrize("header", [
    "Bearer not-a-real-token",
    "Bearer " + "x" * 500,
    "Bearer æøå",
    "Basic c2Fnc2JlaGFuZGxlcjpoZW1tZWxpZ3Q=",
    "Bearer",
    "bearer",
    "Token abc",
])
def test_every_api_route_with_a_garbage_token_is_401_json(app, header):
    client = app.test_client()
    for method, url in _protected_requests(app):
        response = client.open(url, method=method, json={}, headers={"Authorization": header})
        assert response.status_code == 401, (method, url, response.status_code)
        assert response.get_json()["message"], (method, url)


def test_token_stops_working_when_it_expires(app):
    client = app.test_client()
    body = _login(client, "sagsbehandler").get_json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    headers = _bearer(body["token"])

    with time_machine.travel(expires_at - timedelta(minutes=1), tick=False):
        assert client.get("/api/v1/cases", headers=headers).status_code == 200
    with time_machine.travel(expires_at + timedelta(seconds=1), tick=False):
        response = client.get("/api/v1/cases", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.get_json()["message"]
        # a new login then works again
        fresh = _login(client, "sagsbehandler").get_json()["token"]
        assert client.get("/api/v1/cases", headers=_bearer(fresh)).status_code == 200


def test_health_check_answers_without_a_token(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"


def test_openapi_document_lists_the_v1_routes_and_the_bearer_scheme(app):
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Sagsflow"

    documented = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    routed = {(method, re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert ("GET", "/api/v1/cases/{case_id}") in routed
    assert routed == documented

    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            if path == TOKEN_URL:
                assert not operation.get("security"), "the token route must be public"
            else:
                assert {"bearer": []} in operation.get("security", []), (method, path)


def test_api_docs_page_is_html_listing_every_path(app):
    client = app.test_client()
    spec = client.get("/api/openapi.json").get_json()
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<html" in page
    for path, item in spec["paths"].items():
        assert f"<code>{path}</code>" in page, path
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                assert re.search(rf">{method.upper()}</span> <code>{re.escape(path)}</code>",
                                 page), (method, path)


def test_passwords_are_stored_as_argon2_hashes_and_tokens_as_digests(app):
    raw = _login(app.test_client(), "admin").get_json()["token"]
    with app.app_context():
        users = db.session.scalars(select(User)).all()
        tokens = db.session.scalars(select(ApiToken)).all()
        db.session.remove()
    assert {u.username for u in users} >= {username for username, *_ in USERS}
    for user in users:
        assert user.password_hash.startswith("$argon2"), user.username
        assert PASSWORD not in user.password_hash
    assert tokens
    assert all(raw not in t.token_hash for t in tokens)


def test_logout_revokes_only_the_token_it_was_sent_with(app):
    client = app.test_client()
    first = _login(client, "sagsbehandler").get_json()["token"]
    second = _login(client, "sagsbehandler").get_json()["token"]
    assert client.post("/api/v1/auth/logout", headers=_bearer(first)).status_code == 204
    assert client.get("/api/v1/cases", headers=_bearer(first)).status_code == 401
    assert client.get("/api/v1/cases", headers=_bearer(second)).status_code == 200


def test_scheduler_tick_purges_expired_tokens_only(app):
    from api.scheduler import tick

    client = app.test_client()
    old = _login(client, "sagsbehandler").get_json()["token"]
    with time_machine.travel(now() + timedelta(hours=13), tick=False):
        fresh = _login(client, "sagsbehandler").get_json()["token"]
        tick(app)
        with app.app_context():
            remaining = db.session.scalars(select(ApiToken.token_hash)).all()
            db.session.remove()
        assert len(remaining) == 1
        assert client.get("/api/v1/cases", headers=_bearer(fresh)).status_code == 200
        assert client.get("/api/v1/cases", headers=_bearer(old)).status_code == 401


def test_repeated_failed_log_ins_lock_the_account_for_a_while(app):
    from datetime import timedelta

    import time_machine

    from engine.accounts import LOCK_MINUTES, MAX_FAILED_LOGINS
    from engine.clock import now

    client = app.test_client()
    for _ in range(MAX_FAILED_LOGINS):
        assert _login(client, "sagsbehandler", PASSWORD + "x").status_code == 401
    # locked: even the right password is refused, and the answer says until when
    locked = _login(client, "sagsbehandler", PASSWORD)
    assert locked.status_code == 429 and "locked" in locked.get_json()["message"]
    assert _login(client, "leder", PASSWORD).status_code == 200  # only that account
    with time_machine.travel(now() + timedelta(minutes=LOCK_MINUTES, seconds=5), tick=False):
        assert _login(client, "sagsbehandler", PASSWORD).status_code == 200
        # a success starts the count afresh: one more failure does not lock again
        assert _login(client, "sagsbehandler", PASSWORD + "x").status_code == 401
        assert _login(client, "sagsbehandler", PASSWORD).status_code == 200


def test_a_burst_of_parallel_guesses_cannot_slip_past_the_lock(live_server):
    import threading

    import requests

    from engine.accounts import MAX_FAILED_LOGINS

    clients, answers = 12, []
    barrier = threading.Barrier(clients)

    def guess():
        barrier.wait()
        answers.append(requests.post(f"{live_server}{TOKEN_URL}", json={
            "username": "leder2", "password": "forkert"}, timeout=60).status_code)

    threads = [threading.Thread(target=guess) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(401) == MAX_FAILED_LOGINS, answers
    assert answers.count(429) == clients - MAX_FAILED_LOGINS, answers
