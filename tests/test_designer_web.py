"""The process designer's pages (/designer): who may open them, drafts with optimistic
locking, import and export, what elements reference, validation and deployment from the
modeler page, versions, differences and moving running cases. On SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from conftest import new_case_body
from web_helpers import _csrf, _login

from engine.db import transaction
from engine.models import AuditEvent, Instance, ProcessDraft, ProcessVersion

SEL85 = "sel85.bpmn"


def _designer(app, username="designer"):
    client = app.test_client()
    _login(client, username)
    page = client.get("/designer/").get_data(as_text=True)
    token = _csrf(page) if "csrf_token" in page else None
    return client, token


def _post_json(client, token, path, body):
    return client.post(path, json=body, headers={"X-CSRFToken": token,
                                                 "Accept": "application/json"})


def _xml(client, name=SEL85):
    response = client.get(f"/designer/filer/{name}/xml")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# -- who may --------------------------------------------------------------------------------

DESIGNER_PAGES = ["/designer/", f"/designer/filer/{SEL85}", f"/designer/filer/{SEL85}/xml",
                  f"/designer/filer/{SEL85}/eksport", "/designer/processer/sel85/versioner",
                  "/designer/formularer/sel85_henvendelse", "/designer/frister/sel85_afgoerelse",
                  "/designer/breve/kvittering_underretning"]


@pytest.mark.parametrize("username,status", [
    ("sagsbehandler", 403), ("leder", 403), ("designer", 200), ("admin", 200)])
def test_only_designers_and_administrators_open_the_designer(app, username, status):
    client, _token = _designer(app, username)
    for path in DESIGNER_PAGES:
        response = client.get(path)
        assert response.status_code == status, path
        if status == 403:
            assert "Ingen adgang" in response.get_data(as_text=True)


def test_every_designer_route_refuses_a_caseworker(app):
    """Every route of the blueprint, GET and POST, is checked before it runs."""
    client, _ = _designer(app, "sagsbehandler")
    token = _csrf(client.get("/indbakke").get_data(as_text=True))
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("designer.")]
    assert len(rules) >= 15
    for rule in rules:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: {
            "file_name": SEL85, "process_id": "sel85", "key": "x",
        }.get(m.group(1), "x"), rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            response = client.open(path, method=method, json={},
                                   headers={"X-CSRFToken": token})
            assert response.status_code == 403, (method, path)


def test_anonymous_is_sent_to_the_login(app):
    client = app.test_client()
    response = client.get("/designer/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/designer/filer/sel85.bpmn/kladde", json={"xml": "x"},
                       headers={"Accept": "application/json"}).status_code in (400, 401)


# -- the files, drafts --------------------------------------------------------------------------

def test_the_list_shows_every_deployed_file(app):
    client, _ = _designer(app)
    page = client.get("/designer/").get_data(as_text=True)
    for name in ("sel50.bpmn", SEL85, "opfoelgning.bpmn", "opfoelgningsinterval.dmn"):
        assert f"/designer/filer/{name}" in page
    assert "/designer/processer/sel85/versioner" in page


def test_editor_page_loads_the_modeler_and_names_what_elements_reference(app):
    client, _ = _designer(app)
    page = client.get(f"/designer/filer/{SEL85}").get_data(as_text=True)
    assert "bpmn-modeler.js" in page and "properties-panel.js" in page
    assert 'data-lock-version=""' in page  # no draft yet: the deployed text
    # the list of references links forms, letters and deadlines to their pages
    assert "/designer/formularer/sel85_henvendelse" in page
    assert "/designer/frister/sel85_afgoerelse" in page
    assert "/designer/breve/" in page


def test_a_decision_table_opens_in_dmn_js(app):
    client, _ = _designer(app)
    page = client.get("/designer/filer/opfoelgningsinterval.dmn").get_data(as_text=True)
    assert "dmn-modeler.js" in page and "bpmn-modeler.js" not in page


def test_vendor_files_are_served_from_npm(app):
    client, _ = _designer(app)
    for name in ("bpmn-modeler.js", "properties-panel.js", "camunda.json", "dmn-modeler.js"):
        response = client.get(f"/vendor/{name}")  # the pages' one vendor route
        assert response.status_code == 200, name
        assert len(response.data) > 1000
    assert client.get("/vendor/..%2Fpackage.json").status_code == 404
    assert client.get("/vendor/nope.js").status_code == 404


def test_save_a_draft_then_a_stale_save_is_a_conflict(app):
    client, token = _designer(app)
    xml = _xml(client).replace('name="Socialpædagogisk', 'name="Ændret socialpædagogisk', 1)
    first = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                       {"xml": xml, "lock_version": None})
    assert first.status_code == 200, first.get_json()
    version = first.get_json()["lock_version"]
    assert version == 1 and first.get_json()["updated_by"] == "designer"
    # the draft is what opens now
    assert "Ændret socialpædagogisk" in _xml(client)
    assert f'data-lock-version="{version}"' in client.get(
        f"/designer/filer/{SEL85}").get_data(as_text=True)
    again = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                       {"xml": xml + "\n", "lock_version": version})
    assert again.status_code == 200 and again.get_json()["lock_version"] == version + 1
    # another tab still holds the first version: refused, the newer draft kept
    stale = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                       {"xml": "<lost/>", "lock_version": version})
    assert stale.status_code == 409 and "meanwhile" in stale.get_json()["message"]
    assert "<lost/>" not in _xml(client)
    # a second first save (two tabs on the deployed text) is refused as well
    assert _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": xml, "lock_version": None}).status_code == 409
    # the deployed text is still there to compare with
    assert "Ændret socialpædagogisk" not in client.get(
        f"/designer/filer/{SEL85}/xml?udrullet=1").get_data(as_text=True)


@pytest.mark.parametrize("body,field", [
    ({"lock_version": None}, "xml"),
    ({"xml": "   ", "lock_version": None}, "xml"),
    ({"xml": "<a/>", "lock_version": "1"}, "lock_version"),
    ({"xml": "<a/>", "lock_version": True}, "lock_version"),
])
def test_bad_drafts_are_refused_by_name(app, body, field):
    client, token = _designer(app)
    response = _post_json(client, token, f"/designer/filer/{SEL85}/kladde", body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessDraft).count() == 0


def test_a_file_over_the_limit_is_refused_with_a_message(app):
    client, token = _designer(app)
    too_large = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                           {"xml": "x" * (2 * 1024 * 1024 + 1), "lock_version": None})
    assert too_large.status_code == 422
    assert "at most 2 MB" in too_large.get_json()["fields"]["xml"][0]
    # a body beyond what any file needs is cut off before it is read, said in Danish too
    huge = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": "x" * (7 * 1024 * 1024), "lock_version": None})
    assert huge.status_code == 413
    assert huge.get_json()["besked"] == "Det, der blev sendt, er for stort."


def test_bad_file_names_are_refused(app):
    client, token = _designer(app)
    for name in ("..%2Fsecret.bpmn", "x.txt", ".hidden.bpmn"):
        response = _post_json(client, token, f"/designer/filer/{name}/kladde",
                              {"xml": "<a/>", "lock_version": None})
        assert response.status_code in (404, 422), name
    assert client.get("/designer/filer/nope.bpmn").status_code == 404


def test_a_json_save_needs_the_csrf_token(app):
    client, _token = _designer(app)
    response = client.post(f"/designer/filer/{SEL85}/kladde", json={"xml": "<a/>"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 400


def test_discard_a_draft(app):
    client, token = _designer(app)
    xml = _xml(client)
    assert _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": xml.replace("Socialpædagogisk", "Kladde", 1),
                       "lock_version": None}).status_code == 200
    page = client.post(f"/designer/filer/{SEL85}/kasser", data={"csrf_token": token},
                       follow_redirects=True)
    assert page.status_code == 200 and "kasseret" in page.get_data(as_text=True)
    assert "Kladde" not in _xml(client).split("<bpmn:process", 1)[1][:300]


def test_export_downloads_the_file(app):
    client, _ = _designer(app)
    response = client.get(f"/designer/filer/{SEL85}/eksport")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{SEL85}"'
    assert b'id="sel85"' in response.data


# -- references ----------------------------------------------------------------------------------

def test_reference_pages_show_the_form_the_letter_and_the_deadline(app):
    client, _ = _designer(app)
    form = client.get("/designer/formularer/sel85_henvendelse").get_data(as_text=True)
    assert "forms/sel85_henvendelse.json" in form and "&#34;properties&#34;" in form
    letter = client.get("/designer/breve/kvittering_underretning").get_data(as_text=True)
    assert "letters/" in letter
    deadline = client.get("/designer/frister/sel85_afgoerelse").get_data(as_text=True)
    assert "deadlines.toml" in deadline and "Retssikkerhedsloven" in deadline
    for path in ("/designer/formularer/nope", "/designer/breve/nope", "/designer/frister/nope"):
        response = client.get(path)
        assert response.status_code == 404 and "findes ikke" in response.get_data(as_text=True)


def test_saving_returns_the_references_of_the_new_text(app):
    client, token = _designer(app)
    xml = _xml(client).replace('camunda:formKey="sel85_henvendelse"',
                               'camunda:formKey="findes_ikke"', 1)
    body = _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": xml, "lock_version": None}).get_json()
    refs = [ref for refs in body["references"].values() for ref in refs]
    assert {"kind": "form", "key": "findes_ikke", "exists": False} in [
        {k: r[k] for k in ("kind", "key", "exists")} for r in refs]


# -- validation and deployment -------------------------------------------------------------------

def test_validate_names_the_element_and_saves_nothing(app):
    client, token = _designer(app)
    xml = _xml(client).replace('camunda:formKey="sel85_henvendelse"',
                               'camunda:formKey="findes_ikke"', 1)
    response = _post_json(client, token, f"/designer/filer/{SEL85}/valider", {"xml": xml})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is False
    problem = next(p for p in body["problems"] if p["element_id"] == "registrer_henvendelse")
    assert problem["file"] == SEL85 and problem["element_name"] == "Registrér henvendelsen"
    assert "findes_ikke" in problem["message"]
    ok = _post_json(client, token, f"/designer/filer/{SEL85}/valider", {"xml": _xml(client)})
    assert ok.get_json() == {**ok.get_json(), "ok": True, "problems": []}
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessDraft).count() == 0


@pytest.mark.parametrize("xml,words", [
    ("<bpmn:definitions", "not well-formed"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "DOCTYPE"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
     "DOCTYPE"),
])
def test_hostile_files_are_refused_and_nothing_is_deployed(app, xml, words):
    client, token = _designer(app)
    check = _post_json(client, token, f"/designer/filer/{SEL85}/valider", {"xml": xml})
    assert check.status_code == 200 and not check.get_json()["ok"]
    assert words in " ".join(p["message"] for p in check.get_json()["problems"])
    deploy = _post_json(client, token, f"/designer/filer/{SEL85}/udrul", {"xml": xml})
    assert deploy.status_code == 422
    assert deploy.get_json()["problems"]
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessVersion).filter_by(process_id="sel85").count() == 1


def test_deploy_makes_the_next_version_and_removes_the_draft(app, api):
    client, token = _designer(app)
    running = api("sagsbehandler").post("/api/v1/cases", json={
        **new_case_body(), "process": "sel85"}).get_json()
    xml = _xml(client).replace('camunda:candidateGroups="sagsbehandler" camunda:dueDate="P3D"',
                               'camunda:candidateGroups="nord" camunda:dueDate="P3D"', 1)
    assert 'camunda:candidateGroups="nord"' in xml
    assert _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": xml, "lock_version": None}).status_code == 200
    # a page that loaded before the draft was saved may not deploy over it
    stale = _post_json(client, token, f"/designer/filer/{SEL85}/udrul",
                       {"xml": xml, "lock_version": None})
    assert stale.status_code == 409 and "newer draft" in stale.get_json()["message"]
    response = _post_json(client, token, f"/designer/filer/{SEL85}/udrul",
                          {"xml": xml, "lock_version": 1})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["versions"] == [{"process_id": "sel85", "version": 2}]
    assert "sel85 version 2" in response.get_json()["message"]
    # the same text again deploys nothing
    again = _post_json(client, token, f"/designer/filer/{SEL85}/udrul", {"xml": xml})
    assert again.get_json()["versions"] == []
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessDraft).count() == 0
            version = session.query(ProcessVersion).filter_by(process_id="sel85",
                                                              version=2).one()
            assert version.deployed_by == "designer" and version.origin == "designer"
            event = session.query(AuditEvent).filter_by(kind="process_deployed").one()
            assert event.data["version"] == 2

    page = client.get("/designer/processer/sel85/versioner").get_data(as_text=True)
    assert page.count("<tr>") == 3  # head and two versions
    diff = client.get("/designer/processer/sel85/forskel?fra=1&til=2").get_data(as_text=True)
    assert "registrer_henvendelse" in diff and "candidateGroups=&#34;nord&#34;" in diff

    plan = client.get("/designer/processer/sel85/flyt?til=2")
    assert plan.status_code == 200
    page = plan.get_data(as_text=True)
    assert running["number"] in page and "Flyt den sag, der kan flyttes" in page
    moved = client.post("/designer/processer/sel85/flyt", data={"csrf_token": token, "til": "2"},
                        follow_redirects=True)
    assert "Flyttet til version 2: 1. Blev, hvor de var: 0." in moved.get_data(as_text=True)
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            instance = session.query(Instance).filter_by(case_id=running["id"]).one()
            assert session.get(ProcessVersion, instance.process_version_id).version == 2
            assert session.query(AuditEvent).filter_by(
                case_id=running["id"], kind="process_migrated").count() == 1


def _dmn_copy(client, decision_id="interval_kopi"):
    text = _xml(client, "opfoelgningsinterval.dmn")
    ids = re.findall(r'<decision id="([^"]+)"', text)
    assert ids, "the shipped decision table has a decision"
    return text.replace(f'id="{ids[0]}"', f'id="{decision_id}"', 1), ids[0]


def test_a_new_decision_table_goes_with_the_process_that_names_it(app):
    client, token = _designer(app)
    dmn, old_id = _dmn_copy(client)
    alone = _post_json(client, token, "/designer/filer/ny.dmn/kladde",
                       {"xml": dmn, "lock_version": None})
    assert alone.status_code == 200
    # deployed alone it would belong to no version: refused, the draft kept
    refused = _post_json(client, token, "/designer/filer/ny.dmn/udrul",
                         {"xml": dmn, "lock_version": 1})
    assert refused.status_code == 422
    assert "no process uses this file" in refused.get_json()["fields"]["files.ny.dmn"][0]
    assert _xml(client, "ny.dmn") == dmn
    # the follow-up module switched to the new table takes its draft along
    module = _xml(client, "opfoelgning.bpmn").replace(
        f'decisionRef="{old_id}"', 'decisionRef="interval_kopi"')
    assert 'decisionRef="interval_kopi"' in module
    deployed = _post_json(client, token, "/designer/filer/opfoelgning.bpmn/udrul",
                          {"xml": module, "lock_version": None})
    assert deployed.status_code == 200, deployed.get_json()
    assert deployed.get_json()["files"] == ["ny.dmn", "opfoelgning.bpmn"]
    assert ("opfoelgning", 2) in [(v["process_id"], v["version"])
                                  for v in deployed.get_json()["versions"]]
    assert client.get("/designer/filer/ny.dmn/xml?udrullet=1").status_code == 200
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessDraft).count() == 0


def test_a_deployed_process_is_neither_renamed_nor_removed(app):
    client, token = _designer(app)
    xml = _xml(client, "henvendelse.bpmn").replace('id="henvendelse"', 'id="henvendelse_ny"')
    xml = xml.replace('processRef="henvendelse"', 'processRef="henvendelse_ny"')
    response = _post_json(client, token, "/designer/filer/henvendelse.bpmn/udrul",
                          {"xml": xml, "lock_version": None})
    assert response.status_code == 422
    assert "'henvendelse' is no longer defined" in response.get_json()["fields"]["files"][0]
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessVersion).filter(
                ProcessVersion.process_id.like("henvendelse%")).count() == 1


@pytest.mark.parametrize("query,status", [
    ("fra=1&til=x", 422), ("fra=&til=1", 422), ("fra=1&til=99", 404), ("til=1", 422)])
def test_bad_version_numbers_are_named(app, query, status):
    client, _ = _designer(app)
    response = client.get(f"/designer/processer/sel85/forskel?{query}")
    assert response.status_code == status
    assert client.get("/designer/processer/findes_ikke/versioner").status_code == 404
    assert client.get("/designer/processer/sel85/flyt?til=abc").status_code == 422
    first = client.get("/designer/processer/sel85/flyt?til=1")
    assert first.status_code == 422 and "Oplysningerne kan ikke bruges" in first.get_data(
        as_text=True)
    assert "move only to a newer one" in first.get_data(as_text=True)


# -- import ---------------------------------------------------------------------------------------

CAMUNDA_FILE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="proeve" name="Prøve" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="vent" name="Vent">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>P5D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="slut"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="vent"/>
    <bpmn:sequenceFlow id="f2" sourceRef="vent" targetRef="slut"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _upload(client, token, name, text, **extra):
    import io

    return client.post("/designer/importer", data={
        "csrf_token": token, "fil": (io.BytesIO(text.encode()), name), **extra},
        content_type="multipart/form-data", follow_redirects=True)


def test_import_a_camunda_modeler_file_turns_bare_timers_into_python(app):
    client, token = _designer(app)
    page = _upload(client, token, "proeve.bpmn", CAMUNDA_FILE)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "proeve.bpmn er importeret som kladde" in text
    assert "P5D" in text  # the note says what was turned
    xml = _xml(client, "proeve.bpmn")
    assert "<bpmn:timeDuration>\"P5D\"</bpmn:timeDuration>" in xml
    # importing again over the draft needs the overwrite box
    again = _upload(client, token, "proeve.bpmn", CAMUNDA_FILE)
    assert again.status_code == 409 and "overwrite" in again.get_data(as_text=True)
    assert _upload(client, token, "proeve.bpmn", CAMUNDA_FILE,
                   overskriv="1").status_code == 200
    dmn = _xml(client, "opfoelgningsinterval.dmn")
    assert _upload(client, token, "kopi.dmn", dmn).status_code == 200
    assert _xml(client, "kopi.dmn") == dmn


@pytest.mark.parametrize("name,text,words", [
    ("x.bpmn", '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
               "<x>&e;</x>", "DOCTYPE"),
    ("x.bpmn", "<bpmn:definitions", "well-formed"),
    ("x.txt", "<a/>", "file name"),
    ("x.bpmn", "<html/>", "er ikke en BPMN-fil"),
    ("x.dmn", CAMUNDA_FILE, "er ikke en DMN-fil"),
    ("x.bpmn", CAMUNDA_FILE.replace("<bpmn:sequenceFlow id=\"f2\"",
                                    "<bpmn:sequenceFlow id=\"f2\"><bpmn:conditionExpression>"
                                    "${execution.getVariable('x')}</bpmn:conditionExpression>"
                                    "</bpmn:sequenceFlow><bpmn:sequenceFlow id=\"f3\""), "f2"),
])
def test_hostile_or_unconvertible_imports_are_refused_and_nothing_saved(app, name, text, words):
    client, token = _designer(app)
    page = _upload(client, token, name, text)
    assert 400 <= page.status_code < 500
    assert words in page.get_data(as_text=True)
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(ProcessDraft).count() == 0


# -- test runs ---------------------------------------------------------------------------------

def _trial(client, token, steps, action, **fields):
    import json as _json

    return client.post(f"/designer/filer/{SEL85}/proevekoersel", data={
        "csrf_token": token, "_steps": _json.dumps(steps), "_action": action, **fields})


def _steps_of(page: str) -> list:
    import html
    import json as _json

    match = re.search(r'name="_steps" value="([^"]*)"', page)
    return _json.loads(html.unescape(match.group(1)))


def test_a_test_run_walks_tasks_moves_time_and_saves_a_scenario(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "SCENARIOS_DIR", str(tmp_path))
    client, token = _designer(app)
    start_page = client.get(f"/designer/filer/{SEL85}/proevekoersel")
    assert start_page.status_code == 200 and "Start en prøvesag" in start_page.get_data(
        as_text=True)
    started = _trial(client, token, [], "start", proces="sel85", navn="Prøve Borger",
                     cpr="0101801234", modtaget="2026-11-02")
    page = started.get_data(as_text=True)
    assert started.status_code == 200, page
    assert "registrer_henvendelse" in page
    steps = _steps_of(page)
    assert steps[0]["start"]["at"].startswith("2026-11-02")
    # the task's form from forms/, filled in and completed in the sandbox
    form = _trial(client, token, steps, "fill", _task="registrer_henvendelse")
    assert form.status_code == 200 and 'name="_form" value="sel85_henvendelse"' in \
        form.get_data(as_text=True)
    refused = _trial(client, token, steps, "complete", _task="registrer_henvendelse",
                     _form="sel85_henvendelse")
    assert refused.status_code == 422
    assert _steps_of(refused.get_data(as_text=True)) == steps  # the failed step is not kept
    # time moves: ten weeks later the municipality's 8-week deadline is overdue
    later = _trial(client, token, steps, "advance", dage="70")
    page = later.get_data(as_text=True)
    assert later.status_code == 200, page
    assert "overskredet" in page
    steps = _steps_of(page)
    assert steps[-1] == {"advance": {"days": 70}}
    not_json = _trial(client, token, steps, "message", besked="samtykke_tilbagekaldt",
                      data="{ikke json")
    assert not_json.status_code == 422 and "Data skal være JSON" in not_json.get_data(
        as_text=True)
    unknown = _trial(client, token, steps, "message", besked="findes_ikke", data="{}")
    assert unknown.status_code == 422 and _steps_of(unknown.get_data(as_text=True)) == steps
    bad = _trial(client, token, steps, "advance", dage="nul")
    assert bad.status_code == 422 and "antal dage" in bad.get_data(as_text=True)
    saved = _trial(client, token, steps, "save", scenarie="sel85_frist_overskredet",
                   beskrivelse="Fristen overskrides")
    assert saved.status_code == 200 and "sel85_frist_overskredet" in saved.get_data(
        as_text=True)
    scenario = (tmp_path / "sel85_frist_overskredet.json").read_text(encoding="utf-8")
    assert '"advance"' in scenario and "registrer_henvendelse" in scenario
    bad_name = _trial(client, token, steps, "save", scenarie="../ud")
    assert bad_name.status_code == 422
    assert _steps_of(bad_name.get_data(as_text=True)) == steps  # the run stays on the page
    taken = _trial(client, token, steps, "save", scenarie="sel85_frist_overskredet")
    assert taken.status_code == 409 and "exists already" in taken.get_data(as_text=True)
    assert _steps_of(taken.get_data(as_text=True)) == steps
    not_open = _trial(client, token, steps, "fill", _task="samtykke")
    assert not_open.status_code == 422 and "samtykke er ikke åben" in not_open.get_data(
        as_text=True)
    assert not any(p.name == "ud.json" for p in tmp_path.parent.iterdir())
    # nothing of this reached the real database
    with app.app_context():
        with transaction(app.extensions["sqlalchemy"].session) as session:
            assert session.query(Instance).count() == 0


# -- scenarios ---------------------------------------------------------------------------------

def test_the_scenarios_of_a_file_replay_against_its_draft(app, tmp_path, monkeypatch):
    import json as _json
    import shutil

    from api.config import PROJECT_ROOT

    for name in ("sel85_til_indstilling", "sel50_screening_lukker_sagen"):
        shutil.copy(PROJECT_ROOT / "processes" / "scenarios" / f"{name}.json", tmp_path)
    (tmp_path / "broken.json").write_text("{ikke json", encoding="utf-8")
    monkeypatch.setitem(app.config, "SCENARIOS_DIR", str(tmp_path))
    client, token = _designer(app)
    listed = client.get("/designer/").get_data(as_text=True)
    assert "sel85_til_indstilling" in listed and "kan ikke læses" in listed
    same = client.post(f"/designer/filer/{SEL85}/scenarier", data={"csrf_token": token})
    page = same.get_data(as_text=True)
    assert same.status_code == 200, page
    assert "sel85_til_indstilling" in page and "sel50_screening" not in page  # its processes
    assert "som gemt" in page and "afviger" in page  # the broken file is shown, not hidden
    # a draft that takes the consent step out of the path no longer matches the scenario
    scenario = _json.loads((tmp_path / "sel85_til_indstilling.json").read_text("utf-8"))
    assert "samtykke" in scenario["expect"]["path"]
    xml = _xml(client).replace('name="Indhent samtykke"', 'name="Samtykke (ændret)"', 1)
    changed = xml.replace('camunda:formKey="sel85_samtykke"', 'camunda:formKey="findes_ikke"',
                          1)
    assert changed != xml
    assert _post_json(client, token, f"/designer/filer/{SEL85}/kladde",
                      {"xml": changed, "lock_version": None}).status_code == 200
    differs = client.post(f"/designer/filer/{SEL85}/scenarier", data={"csrf_token": token})
    text = differs.get_data(as_text=True)
    assert "Afspillet mod kladden" in text
    assert "scenarier går ikke længere den vej" in text


def test_an_unexpected_error_on_a_designer_page_is_a_danish_page(app, monkeypatch):
    """Not the JSON the editor's own calls get: the page a person asked for."""
    from engine.bpmn import drafts

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    client, token = _designer(app)
    monkeypatch.setattr(drafts, "list_files", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    page = client.get("/designer/", headers={"Accept": "text/html"})
    assert page.status_code == 500
    assert "Fejlen er skrevet i loggen" in page.get_data(as_text=True)
    assert "Til procesdesigneren" in page.get_data(as_text=True)
    called = client.get("/designer/", headers={"Accept": "application/json"})
    assert called.status_code == 500 and called.is_json
