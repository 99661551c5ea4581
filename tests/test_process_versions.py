"""Process versions from the designer: deploying changed files from the browser as new versions
(running cases stay, new cases start on them, a restart does not deploy the folder back over
them), listing and comparing versions, and moving running cases to a new version (a dry run
naming the cases that cannot move and why, then one action that moves the others). On SQLite
and PostgreSQL."""

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from bpmn_helpers import linear, timer_event, user_task
from conftest import get_user
from scenario import _complete, _task
from sqlalchemy import select

from engine.bpmn import versions
from engine.bpmn.registry import ProcessRegistry
from engine.clock import now
from engine.db import transaction
from engine.errors import Forbidden
from engine.models import AuditEvent, Case, Instance, ProcessVersion, Task

ROOT = Path(__file__).resolve().parent.parent
PROCESSES_DIR = ROOT / "processes"

CITIZEN = {"cpr": "1503801237", "name": "Peter Madsen", "address": "Åboulevarden 12, 8000 Aarhus C"}
ENQUIRY = {"kilde": "borger", "ansoegt_om": "Hjælp til at klare hverdagen i egen bolig.",
           "borgerens_situation": "Bor alene efter udskrivning fra psykiatrien."}
CONSENT = {"samtykke_formaal": "At udrede Peters behov for støtte.", "samtykker": [
    {"part": "Peter Madsen", "rolle": "borger", "givet": True, "dato": "2026-11-02",
     "form": "skriftlig", "omfang": ["egen_laege", "psykiatri"]}]}


def _sel85() -> str:
    return (PROCESSES_DIR / "sel85.bpmn").read_text(encoding="utf-8")


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, (old, text.count(old))
    return text.replace(old, new)


def _regroup_first_step(text: str) -> str:
    """registrer_henvendelse: for leaders too, and due in 5 days instead of 3."""
    return _replace(
        text, 'camunda:formKey="sel85_henvendelse" camunda:candidateGroups="sagsbehandler" '
              'camunda:dueDate="P3D"',
        'camunda:formKey="sel85_henvendelse" camunda:candidateGroups="sagsbehandler,leder" '
        'camunda:dueDate="P5D"')


def _without_consent_step(text: str) -> str:
    """sel85 without the user task `samtykke`: the consent letter leads straight to planning
    the information gathering."""
    text, removed = re.subn(r'\s*<bpmn:userTask id="samtykke" .*?</bpmn:userTask>', "", text,
                            flags=re.S)
    assert removed == 1
    text = _replace(text, 'sourceRef="send_samtykke" targetRef="samtykke"',
                    'sourceRef="send_samtykke" targetRef="plan_indhentning"')
    text = _replace(text, "<bpmn:incoming>f_samtykke__plan_indhentning</bpmn:incoming>",
                    "<bpmn:incoming>f_send_samtykke__samtykke</bpmn:incoming>")
    for pattern in (r'\s*<bpmn:sequenceFlow id="f_samtykke__plan_indhentning"[^>]*/>',
                    r'\s*<bpmndi:BPMNShape id="samtykke_di".*?</bpmndi:BPMNShape>',
                    r'\s*<bpmndi:BPMNEdge id="f_samtykke__plan_indhentning_di".*?'
                    r'</bpmndi:BPMNEdge>'):
        text, n = re.subn(pattern, "", text, flags=re.S)
        assert n == 1, pattern
    return text


def _open(worker) -> dict:
    response = worker.post("/api/v1/cases", json={
        "process": "sel85", "citizen": CITIZEN,
        "received_at": (now() - timedelta(days=2)).isoformat(timespec="seconds")})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _version(session, process_id: str, number: int) -> ProcessVersion:
    return session.scalar(select(ProcessVersion).where(
        ProcessVersion.process_id == process_id, ProcessVersion.version == number))


def _instance(session, case) -> Instance:
    session.expire_all()
    return session.scalar(select(Instance).where(Instance.case_id == case["id"]))


def _deploy(designer, files: dict[str, str], status=200):
    response = designer.post("/api/v1/processes/deploy", json={"files": files})
    assert response.status_code == status, response.get_json()
    return response.get_json()


# -- deploying from the designer -----------------------------------------------------------------

def test_deployed_files_make_new_versions_running_cases_stay_and_new_cases_start_on_them(
        app, api, session, forms):
    worker, designer = api("sagsbehandler"), api("designer")
    old_case = _open(worker)
    _complete(worker, old_case, "registrer_henvendelse", ENQUIRY)

    # A user task's groups in sel85, and the reply timer of the called request process: every
    # process that carries the called file gets a new version too.
    called = (PROCESSES_DIR / "oplysningsanmodning.bpmn").read_text(encoding="utf-8")
    changed_timer = _replace(called, '<bpmn:timeDuration>"P%dD" % svarfrist_dage<',
                             '<bpmn:timeDuration>"P%dD" % (svarfrist_dage + 7)<')
    consent_for_leaders = _replace(
        _sel85(), 'camunda:formKey="sel85_samtykke" camunda:candidateGroups="sagsbehandler"',
        'camunda:formKey="sel85_samtykke" camunda:candidateGroups="sagsbehandler,leder"')
    created = _deploy(designer, {"sel85.bpmn": consent_for_leaders,
                                 "oplysningsanmodning.bpmn": changed_timer})
    assert sorted((v["process_id"], v["version"]) for v in created) == [
        ("oplysningsanmodning", 2), ("sel50", 2), ("sel85", 2)]
    assert {(v["origin"], v["deployed_by"]) for v in created} == {("designer", "designer")}
    session.expire_all()
    v1, v2 = _version(session, "sel85", 1), _version(session, "sel85", 2)
    assert v2.sources["oplysningsanmodning.bpmn"] == changed_timer
    assert "opfoelgning.bpmn" in v2.sources  # what it calls still resolves
    assert _version(session, "henvendelse", 2) is None  # untouched processes keep theirs
    deployed = session.scalars(select(AuditEvent).where(
        AuditEvent.kind == "process_deployed")).all()
    assert sorted(e.data["process"] for e in deployed) == ["oplysningsanmodning", "sel50",
                                                           "sel85"]
    assert {e.actor.username for e in deployed} == {"designer"}

    # the running case stays on version 1; a new case starts on version 2
    assert _instance(session, old_case).process_version_id == v1.id
    assert _task(worker, old_case, "samtykke")["candidate_groups"] == ["sagsbehandler"]
    new_case = _open(worker)
    assert new_case["process_version"] == 2
    assert _instance(session, new_case).process_version_id == v2.id
    _complete(worker, new_case, "registrer_henvendelse", ENQUIRY)
    assert _task(worker, new_case, "samtykke")["candidate_groups"] == ["sagsbehandler", "leder"]
    _complete(worker, old_case, "samtykke", CONSENT)
    _task(worker, old_case, "plan_indhentning")

    # Deploying the same again changes nothing.
    assert _deploy(designer, {"sel85.bpmn": consent_for_leaders}) == []

    # A restart deploys the folder only when it differs from the latest folder version: not
    # back over the designer's version.
    casework = app.extensions["casework"]
    restarted = ProcessRegistry(PROCESSES_DIR, forms, casework.registry.deadline_keys,
                                casework.registry.letter_keys)
    with transaction(session):
        assert restarted.deploy(session, "system") == []
    assert restarted.startable_version(session, "sel85").version == 2
    assert restarted.definition_for(v2).sources["sel85.bpmn"] == consent_for_leaders


def test_a_changed_folder_is_deployed_over_a_designer_version(app, api, session, forms,
                                                              tmp_path):
    _deploy(api("designer"), {"sel85.bpmn": _regroup_first_step(_sel85())})
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES_DIR, folder)
    path = folder / "sel85.bpmn"
    path.write_text(_replace(_sel85(), 'name="Registrér henvendelsen"',
                             'name="Registrér henvendelsen (mappen)"'), encoding="utf-8")
    registry = app.extensions["casework"].registry
    with transaction(session):
        created = ProcessRegistry(folder, forms, registry.deadline_keys,
                                  registry.letter_keys).deploy(session, "system")
    assert [(v.process_id, v.version, v.origin) for v in created] == [("sel85", 3, "folder")]


def test_a_change_to_a_called_file_in_the_folder_keeps_the_designers_version(
        app, api, session, forms, tmp_path):
    """The folder's edit to the follow-up module is deployed on its own: sel85 gets a new
    version with the new module and still the designer's first step, not the folder's."""
    regrouped = _regroup_first_step(_sel85())
    _deploy(api("designer"), {"sel85.bpmn": regrouped})
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES_DIR, folder)
    module = (folder / "opfoelgning.bpmn").read_text(encoding="utf-8")
    edited = module.replace('name="Tid til opfølgning (fristens varsel)"',
                            'name="Tid til opfølgning"', 1)
    assert edited != module
    (folder / "opfoelgning.bpmn").write_text(edited, encoding="utf-8")
    registry = app.extensions["casework"].registry
    with transaction(session):
        created = ProcessRegistry(folder, forms, registry.deadline_keys,
                                  registry.letter_keys).deploy(session, "system")
    assert sorted((v.process_id, v.version) for v in created) == [
        ("opfoelgning", 2), ("sel50", 2), ("sel85", 3)]
    session.expire_all()
    latest = _version(session, "sel85", 3)
    assert latest.sources["sel85.bpmn"] == regrouped
    assert latest.sources["opfoelgning.bpmn"] == edited


def test_bad_files_are_refused_naming_the_problem_and_nothing_is_deployed(api, session):
    designer = api("designer")
    refused = _deploy(designer, {"sel85.bpmn": _sel85().replace("</bpmn:process>", "", 1)},
                      status=422)
    assert refused["message"].startswith("sel85.bpmn: not well-formed XML")
    refused = _deploy(designer, {"sel85.bpmn": _replace(
        _sel85(), 'camunda:formKey="sel85_samtykke"', 'camunda:formKey="findes_ikke"')},
        status=422)
    assert "samtykke" in refused["message"] and "findes_ikke" in refused["message"]
    refused = _deploy(designer, {"../sel85.bpmn": _sel85()}, status=422)
    assert "files.../sel85.bpmn" in refused["fields"]
    refused = _deploy(designer, {"sel85.txt": _sel85()}, status=422)
    assert "files.sel85.txt" in refused["fields"]
    assert "files" in _deploy(designer, {}, status=422)["fields"]
    assert "files" in designer.post("/api/v1/processes/deploy", json={}).get_json()["fields"]
    assert "files.sel85.bpmn" in _deploy(designer, {"sel85.bpmn": ""}, status=422)["fields"]
    session.expire_all()
    assert _version(session, "sel85", 2) is None


# -- versions and differences --------------------------------------------------------------------

def test_versions_are_listed_and_compared_element_by_element(api):
    designer = api("designer")
    _deploy(designer, {"sel85.bpmn": _without_consent_step(_regroup_first_step(_sel85()))})
    listed = designer.get("/api/v1/processes/sel85/versions")
    assert listed.status_code == 200, listed.get_json()
    rows = listed.get_json()
    assert [(v["version"], v["origin"], v["deployed_by"]) for v in rows] == [
        (2, "designer", "designer"), (1, "folder", "test")]
    assert all(len(v["content_hash"]) == 64 and v["deployed_at"] for v in rows)

    diff = designer.get("/api/v1/processes/sel85/diff?from=1&to=2")
    assert diff.status_code == 200, diff.get_json()
    body = diff.get_json()
    assert (body["from"], body["to"]) == (1, 2)
    assert [(e["process"], e["id"], e["name"]) for e in body["removed"]] == [
        ("sel85", "samtykke", "Registrér samtykke")]
    assert body["added"] == []
    changed = {e["id"]: e for e in body["changed"]}
    assert "candidate_groups" in changed["registrer_henvendelse"]["changes"]
    assert "due_date" in changed["registrer_henvendelse"]["changes"]
    assert '+    <bpmn:userTask id="registrer_henvendelse"' in body["text_diff"]
    assert '-    <bpmn:userTask id="samtykke"' in body["text_diff"]
    assert body["text_diff"].startswith("--- v1/sel85.bpmn\n+++ v2/sel85.bpmn\n")

    same = designer.get("/api/v1/processes/sel85/diff?from=1&to=1").get_json()
    assert (same["added"], same["removed"], same["changed"], same["text_diff"]) == (
        [], [], [], "")


# -- moving running cases ------------------------------------------------------------------------

def test_dry_run_then_moving_the_movable_cases_leaves_the_others_untouched(api, session):
    worker, designer = api("sagsbehandler"), api("designer")
    movable = _open(worker)  # at registrer_henvendelse, which v2 keeps (changed)
    unmovable = _open(worker)
    _complete(worker, unmovable, "registrer_henvendelse", ENQUIRY)  # at samtykke: v2 drops it
    _deploy(designer, {"sel85.bpmn": _without_consent_step(_regroup_first_step(_sel85()))})
    v1, v2 = _version(session, "sel85", 1), _version(session, "sel85", 2)
    before = _instance(session, unmovable)
    before = (before.serialized, before.lock_version, before.process_version_id)

    plan = designer.get("/api/v1/processes/sel85/migration?to=2")
    assert plan.status_code == 200, plan.get_json()
    plan = plan.get_json()
    assert (plan["movable"], plan["unmovable"]) == (1, 1)
    by_case = {c["case_id"]: c for c in plan["cases"]}
    assert by_case[movable["id"]]["movable"] is True
    assert by_case[movable["id"]]["current"] == ["registrer_henvendelse"]
    assert by_case[movable["id"]]["reasons"] == []
    stuck = by_case[unmovable["id"]]
    assert (stuck["movable"], stuck["from_version"], stuck["current"]) == (
        False, 1, ["samtykke"])
    assert any("samtykke" in r and "not in version 2" in r for r in stuck["reasons"])
    # the dry run changed nothing
    assert _instance(session, movable).process_version_id == v1.id

    result = designer.post("/api/v1/processes/sel85/migration", json={"to": 2})
    assert result.status_code == 200, result.get_json()
    result = result.get_json()
    assert [c["case_id"] for c in result["moved"]] == [movable["id"]]
    assert [c["case_id"] for c in result["stayed"]] == [unmovable["id"]]

    session.expire_all()
    moved_instance = _instance(session, movable)
    assert moved_instance.process_version_id == v2.id
    assert session.get(Case, movable["id"]).process_version_id == v2.id
    [event] = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == movable["id"], AuditEvent.kind == "process_migrated")).all()
    assert (event.actor.username, event.data["from_version"], event.data["to_version"]) == (
        "designer", 1, 2)
    assert event.data["changed_tasks"] == ["registrer_henvendelse"]
    # the open task takes the new version's groups and due date (from when it was created)
    [row] = session.scalars(select(Task).where(Task.case_id == movable["id"],
                                               Task.state == "ready")).all()
    assert row.groups == ["sagsbehandler", "leder"]
    assert row.due_at - row.created_at == timedelta(days=5)
    # ... and the case goes on along the new version: no consent step
    _complete(worker, movable, "registrer_henvendelse", ENQUIRY)
    assert _task(worker, movable, "plan_indhentning")
    assert [t["bpmn_id"] for t in worker.get(f"/api/v1/cases/{movable['id']}").get_json()[
        "open_tasks"]] == ["plan_indhentning"]

    # the case that could not move is exactly as it was, and goes on along version 1
    after = _instance(session, unmovable)
    assert (after.serialized, after.lock_version, after.process_version_id) == before
    assert not session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == unmovable["id"], AuditEvent.kind == "process_migrated")).all()
    _complete(worker, unmovable, "samtykke", CONSENT)
    assert _task(worker, unmovable, "plan_indhentning")

    # a second dry run lists only the case still on version 1
    again = designer.get("/api/v1/processes/sel85/migration?to=2").get_json()
    assert [c["case_id"] for c in again["cases"]] == [unmovable["id"]]


def test_only_designers_and_administrators_deploy_compare_and_move(api, session):
    worker = api("sagsbehandler")
    for response in (
            worker.post("/api/v1/processes/deploy", json={"files": {"sel85.bpmn": _sel85()}}),
            worker.get("/api/v1/processes/sel85/versions"),
            worker.get("/api/v1/processes/sel85/diff?from=1&to=1"),
            worker.get("/api/v1/processes/sel85/migration?to=1"),
            worker.post("/api/v1/processes/sel85/migration", json={"to": 1}),
            api("leder").get("/api/v1/processes/sel85/versions")):
        assert response.status_code == 403, response.get_json()
        assert "designer" in response.get_json()["message"]
    assert api("admin").get("/api/v1/processes/sel85/versions").status_code == 200
    with pytest.raises(Forbidden):
        versions.list_versions(session, get_user(session, "sagsbehandler"), "sel85")


@pytest.mark.parametrize("method, url, body, status, named", [
    ("get", "/api/v1/processes/findes_ikke/versions", None, 404, "findes_ikke"),
    ("get", "/api/v1/processes/sel85/diff?to=1", None, 422, "from"),
    ("get", "/api/v1/processes/sel85/diff?from=1&to=x", None, 422, "to"),
    ("get", "/api/v1/processes/sel85/diff?from=1&to=9", None, 404, "version 9"),
    ("get", "/api/v1/processes/sel85/migration", None, 422, "to"),
    ("get", "/api/v1/processes/sel85/migration?to=0", None, 422, "to"),
    ("get", "/api/v1/processes/findes_ikke/migration?to=1", None, 404, "findes_ikke"),
    ("post", "/api/v1/processes/sel85/migration", {}, 422, "to"),
    ("post", "/api/v1/processes/sel85/migration", {"to": "2"}, 404, "version 2"),
    ("post", "/api/v1/processes/sel85/migration", {"to": 1, "x": 1}, 422, "x"),
])
def test_bad_input_is_refused_naming_what_is_wrong(api, method, url, body, status, named):
    designer = api("designer")
    response = designer.get(url) if method == "get" else designer.post(url, json=body)
    assert response.status_code == status, response.get_json()
    answer = response.get_json()
    assert named in answer["message"] or named in answer.get("fields", {}), answer


# -- timers of moved cases -----------------------------------------------------------------------

def _timer_process(duration: str) -> str:
    return linear("ventetid", ("forberedelse", user_task("forberedelse", "Forberedelse")),
                  ("vent", timer_event("vent", duration)),
                  ("opfoelg", user_task("opfoelg", "Opfølg")))


def test_a_moved_timer_keeps_its_start_and_an_unchanged_one_its_due_time(
        build_casework, session, forms):
    """A waiting duration timer whose duration changed counts from when it started waiting,
    not from the move; the data of the steps it stands at is kept."""
    casework = build_casework({"ventetid.bpmn": _timer_process('"P10D"')})
    casework.registry.casework = casework  # what the web pages use
    worker, designer = get_user(session, "sagsbehandler"), get_user(session, "designer")
    started = datetime.fromisoformat("2026-11-02T10:00:00+01:00")
    with time_machine.travel(started, tick=False):
        with transaction(session):
            case = casework.open_case(session, worker, "ventetid",
                                      {"cpr": "1506884321", "name": "Fatima Ali"},
                                      started - timedelta(hours=1))
        [task] = casework.open_tasks_of_case(session, case)
        with transaction(session):
            casework.complete_task(session, worker, task.id, {"godkendt": True})
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.next_due_at == started + timedelta(days=10)

    with time_machine.travel(started + timedelta(days=3), tick=False):
        with transaction(session):
            [v2] = versions.deploy_sources(session, casework.registry, designer,
                                           {"ventetid.bpmn": _timer_process('"P5D"')})
            plan = versions.migration_plan(session, casework.registry, designer, "ventetid", 2)
        assert [(c["case_id"], c["movable"], c["current"]) for c in plan] == [
            (case.id, True, ["vent"])]
        with transaction(session):
            result = versions.migrate_cases(session, casework, designer, "ventetid", 2)
        assert [c["case_id"] for c in result["moved"]] == [case.id]
    session.expire_all()
    instance = session.get(Instance, instance.id)
    assert instance.process_version_id == v2.id
    assert instance.next_due_at == started + timedelta(days=5)  # not the move + 5 days
