"""Who may open which page: every page of the web application as every kind of user, on a case
of team nord (as tests/test_api_permissions.py does for the REST API). Access is decided in
engine/permissions.py; a page refused is a Danish 403 page, never the case's data."""

from __future__ import annotations

import pytest
from conftest import new_case_body
from web_helpers import _login

USERS = ("sagsbehandler", "sagsbehandler3", "sagsbehandler2", "leder", "leder2", "designer",
         "admin")

#                                                 sagsb sagsb3 sagsb2 leder leder2 design admin
PAGES = {
    "/login": (200, 200, 200, 200, 200, 200, 200),
    "/indbakke": (200, 200, 200, 200, 200, 200, 200),
    "/sager/ny": (200, 200, 200, 200, 200, 403, 200),
    "/sager/{case}": (200, 200, 403, 200, 403, 403, 200),
    "/sager/{case}/diagram.bpmn": (200, 200, 403, 200, 403, 403, 200),
    "/opgaver/{task}": (200, 200, 403, 200, 403, 403, 200),
    "/breve/{letter}": (200, 200, 403, 200, 403, 403, 200),
    "/frister": (200, 200, 200, 200, 200, 403, 200),
    "/frister.csv": (200, 200, 200, 200, 200, 403, 200),
    "/sagsbyrde": (403, 403, 403, 200, 200, 403, 200),
    "/adgangslog": (403, 403, 403, 403, 403, 403, 200),
}
# Pages that take a form (POST): each is tested with its own permissions in tests/test_web.py.
POSTS = {"/login", "/logout", "/indbakke", "/sager/ny", "/opgaver/<task_id>/<action>",
         "/opgaver/<task_id>/kladde", "/opgaver/<task_id>/afslut", "/breve/<int:letter_id>",
         "/frister/flyt", "/indbakke/filtre",
         "/indbakke/filtre/<int:filter_id>/slet"}


@pytest.fixture
def nord_case(api):
    worker = api("sagsbehandler")
    case = worker.post("/api/v1/cases", json=new_case_body()).get_json()
    letter = worker.post(f"/api/v1/cases/{case['id']}/letters",
                         json={"letter": "lukning", "texts": {}}).get_json()
    return {"case": case["id"], "task": case["open_tasks"][0]["id"], "letter": letter["id"]}


def test_every_page_is_in_the_table(app):
    pages = {rule.rule.replace("<int(max=2147483647):case_id>", "{case}")
             .replace("<task_id>", "{task}")
             .replace("<int(max=2147483647):letter_id>", "{letter}")
             for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("web.") and "GET" in rule.methods}
    # "/" redirects to the inbox; PDFs are tested in tests/test_web.py; /vendor serves the
    # bpmn-js library files (no case data) to everyone
    assert pages - {"/", "/vendor/<name>"} - {p for p in pages if "/pdf" in p} == set(PAGES)
    posts = {rule.rule.replace("<int(max=2147483647):letter_id>", "<int:letter_id>")
             .replace("<int(max=2147483647):filter_id>", "<int:filter_id>")
             for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("web.") and "POST" in rule.methods}
    assert posts == POSTS


@pytest.mark.parametrize("path", PAGES)
def test_each_user_gets_the_page_or_a_403(app, nord_case, path):
    url = path.format(**nord_case)
    for username, expected in zip(USERS, PAGES[path], strict=True):
        client = app.test_client()
        _login(client, username=username)
        response = client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == expected, (username, url, response.status_code)
        if expected == 403:
            page = response.get_data(as_text=True)
            assert "Ingen adgang" in page, (username, url)
