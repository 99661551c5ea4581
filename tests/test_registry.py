"""The process registry: the shipped processes parse, user tasks keep their Camunda attributes,
deployments are versioned by content, running cases stay on their version, and bad files are
refused with a message naming the file and the problem."""

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bpmn_helpers import (
    CITIZEN,
    chain,
    definitions,
    end,
    linear,
    process,
    received_yesterday,
    start,
    timer_event,
    user_task,
)
from conftest import get_user
from sqlalchemy import func, select

from engine.bpmn import runtime
from engine.bpmn.registry import ProcessRegistry, parse_sources, read_folder
from engine.bpmn.specs import CaseUserTask
from engine.db import transaction
from engine.deadlines import load_catalogue
from engine.errors import NotFound, ProcessDefinitionError
from engine.forms import FormCatalog
from engine.models import Instance, ProcessVersion
from engine.services import Casework

ROOT = Path(__file__).resolve().parent.parent
PROCESSES_DIR = ROOT / "processes"
FORMS_DIR = ROOT / "forms"


def _user_task_specs(definition):
    specs = [definition.spec, *definition.subprocess_specs.values()]
    return {t.bpmn_id: t for s in specs for t in s.task_specs.values()
            if isinstance(t, CaseUserTask)}


# -- the shipped processes -----------------------------------------------------------------

def test_shipped_processes_parse_with_their_forms(forms):
    definitions_ = parse_sources(read_folder(PROCESSES_DIR), forms)
    assert set(definitions_) == {"henvendelse", "indhent_oplysninger", "oplysningsanmodning",
                                 "sel50", "sel85", "opfoelgning"}
    # called by sel50 and sel85, not started on their own
    assert definitions_["oplysningsanmodning"].startable is False
    assert definitions_["opfoelgning"].startable is False
    # a version carries what it calls, and the DMN table the follow-up module decides with
    for pid in ("sel50", "sel85"):
        assert set(definitions_[pid].sources) == {
            f"{pid}.bpmn", "oplysningsanmodning.bpmn", "opfoelgning.bpmn",
            "opfoelgningsinterval.dmn"}
        assert definitions_[pid].startable is True
    main = definitions_["henvendelse"]
    assert main.startable is True
    assert main.name == "Henvendelse om støtte"
    # the called process travels with the caller, and cannot be started on its own
    assert set(main.sources) == {"henvendelse.bpmn", "indhent_oplysninger.bpmn"}
    assert "indhent_oplysninger" in main.subprocess_specs
    assert definitions_["indhent_oplysninger"].startable is False
    tasks = _user_task_specs(main)
    assert {"vurder_henvendelse", "godkend_afvisning", "traef_afgoerelse", "godkend_afgoerelse",
            "anmod_oplysninger", "registrer_svar", "ryk_for_svar"} <= set(tasks)
    for task in tasks.values():
        assert task.form.key in forms
        assert task.candidate_groups or task.assignee
    assert len(main.content_hash) == 64


def test_content_hash_depends_on_the_sources_only(forms):
    sources = read_folder(PROCESSES_DIR)
    first = parse_sources(sources, forms)["henvendelse"].content_hash
    assert parse_sources(dict(sources), forms)["henvendelse"].content_hash == first
    sources["henvendelse.bpmn"] = sources["henvendelse.bpmn"].replace(
        "Vurdér henvendelsen", "Vurdér henvendelsen igen")
    assert parse_sources(sources, forms)["henvendelse"].content_hash != first


# -- Camunda attributes of user tasks ------------------------------------------------------

ATTRIBUTE_PROCESS = linear("attributter", ("opgave", user_task(
    "opgave", "Opgave", form="godkend", groups="sagsbehandler, leder",
    assignee="leder", dueDate="P5D",
    followUpDate="datetime.date(2026, 12, 1)", priority="high")))


def _check_attributes(task):
    assert isinstance(task, CaseUserTask)
    assert task.form.key == "godkend"
    assert task.candidate_groups == ["sagsbehandler", "leder"]
    assert task.candidate_users == []
    assert task.assignee == "leder"
    assert task.due_date == "P5D"
    assert task.follow_up_date == "datetime.date(2026, 12, 1)"
    assert task.priority == "high"


def test_candidate_users_are_refused_because_they_are_not_enforced(forms):
    source = linear("brugere", ("opgave", user_task(
        "opgave", "Opgave", groups="sagsbehandler", candidateUsers="anna,bo")))
    with pytest.raises(ProcessDefinitionError,
                       match="element opgave \\(Opgave\\): camunda:candidateUsers is not "
                             "supported"):
        parse_sources({"brugere.bpmn": source}, forms)


def test_element_name_longer_than_its_column_is_refused(forms):
    source = linear("lang", ("opgave", user_task("opgave", "x" * 201, groups="sagsbehandler")))
    with pytest.raises(ProcessDefinitionError, match="the name at most 200 characters"):
        parse_sources({"lang.bpmn": source}, forms)


def test_user_task_keeps_assignment_and_date_attributes(forms):
    definition = parse_sources({"attributter.bpmn": ATTRIBUTE_PROCESS}, forms)["attributter"]
    _check_attributes(_user_task_specs(definition)["opgave"])
    assert [t.bpmn_id for t in definition.user_tasks] == ["opgave"]


def test_user_task_attributes_survive_serialization(forms):
    registry_serializer = ProcessRegistry(PROCESSES_DIR, forms).serializer
    definition = parse_sources({"attributter.bpmn": ATTRIBUTE_PROCESS}, forms)["attributter"]
    workflow = runtime.start(definition, {})
    assert runtime.run_engine(workflow) is None
    restored = runtime.load(registry_serializer, runtime.dump(registry_serializer, workflow))
    [ready] = runtime.ready_user_tasks(restored)
    _check_attributes(ready.task_spec)
    created = received_yesterday()
    assert runtime.resolve_date(ready, ready.task_spec.follow_up_date, created).astimezone(
        UTC).date().isoformat() == "2026-12-01"
    assert (runtime.resolve_date(ready, ready.task_spec.due_date, created) - created).days == 5


def test_task_row_gets_assignee_groups_and_dates_from_the_attributes(session, tmp_path, forms):
    (tmp_path / "attributter.bpmn").write_text(ATTRIBUTE_PROCESS, encoding="utf-8")
    casework = Casework(ProcessRegistry(tmp_path, forms), forms)
    with transaction(session):
        casework.registry.deploy(session, "test")
        case = casework.open_case(session, get_user(session, "sagsbehandler"), "attributter",
                                  CITIZEN, received_yesterday())
    [task] = casework.open_tasks_of_case(session, case)
    assert task.assignee_id == get_user(session, "leder").id  # camunda:assignee names a user
    assert task.groups == ["sagsbehandler", "leder"]
    assert task.form_key == "godkend"
    assert task.due_at - task.created_at == timedelta(days=5)
    # a date means the end of that day in Denmark (CET, UTC+1, in December)
    assert task.follow_up_at == datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC)


def test_user_task_without_attributes_gets_empty_lists(forms):
    source = linear("enkel", ("opgave", user_task("opgave", groups="sagsbehandler")))
    task = _user_task_specs(parse_sources({"enkel.bpmn": source}, forms)["enkel"])["opgave"]
    assert task.candidate_groups == ["sagsbehandler"]
    assert task.candidate_users == []
    assert task.assignee is None and task.due_date is None and task.priority is None


# -- versioning ----------------------------------------------------------------------------

@pytest.fixture
def project_copy(tmp_path):
    """processes/ and forms/ copied into tmp_path, to be edited."""
    shutil.copytree(PROCESSES_DIR, tmp_path / "processes")
    shutil.copytree(FORMS_DIR, tmp_path / "forms")
    return tmp_path


def _casework(folder: Path) -> Casework:
    forms = FormCatalog.load(folder / "forms")
    deadlines = load_catalogue(folder / "processes")
    return Casework(ProcessRegistry(folder / "processes", forms, set(deadlines.keys())), forms,
                    deadlines)


def _versions(session, process_id):
    return list(session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_id == process_id).order_by(ProcessVersion.version)))


def _open_task_names(session, casework, case):
    return {t.bpmn_id: t.name for t in casework.open_tasks_of_case(session, case)}


def _complete(session, casework, case, username, bpmn_id, data):
    [task] = [t for t in casework.open_tasks_of_case(session, case) if t.bpmn_id == bpmn_id]
    with transaction(session):
        casework.complete_task(session, get_user(session, username), task.id, data)


def test_deploying_unchanged_content_creates_no_version(session, project_copy):
    # conftest deployed the shipped processes as version 1 before the test
    before = {v.process_id: (v.version, v.content_hash) for v in
              session.scalars(select(ProcessVersion))}
    assert before["henvendelse"][0] == 1
    casework = _casework(project_copy)
    with transaction(session):
        assert casework.registry.deploy(session, "test") == []
    with transaction(session):
        assert casework.registry.deploy(session, "test") == []
    after = {v.process_id: (v.version, v.content_hash) for v in
             session.scalars(select(ProcessVersion))}
    assert after == before


def test_changed_file_is_deployed_as_a_new_version_and_old_cases_stay_on_theirs(
        session, project_copy):
    v1_casework = _casework(project_copy)
    worker = get_user(session, "sagsbehandler")
    with transaction(session):
        old_case = v1_casework.open_case(session, worker, "henvendelse", CITIZEN,
                                         received_yesterday())
    [v1] = _versions(session, "henvendelse")
    assert old_case.process_version_id == v1.id
    assert _open_task_names(session, v1_casework, old_case) == {
        "vurder_henvendelse": "Vurdér henvendelsen"}

    path = project_copy / "processes" / "henvendelse.bpmn"
    text = path.read_text(encoding="utf-8")
    edited = (text.replace('name="Vurdér henvendelsen"', 'name="Vurdér henvendelsen (ny)"')
              .replace('name="Godkend afvisning"', 'name="Godkend afvisning (ny)"'))
    assert edited.count("(ny)") == 2
    path.write_text(edited, encoding="utf-8")

    v2_casework = _casework(project_copy)
    with transaction(session):
        created = v2_casework.registry.deploy(session, "designer")
    assert [(v.process_id, v.version) for v in created] == [("henvendelse", 2)]
    first, second = _versions(session, "henvendelse")
    assert (first.id, second.version) == (v1.id, 2)
    assert second.content_hash != first.content_hash
    assert second.deployed_by == "designer"
    assert "Vurdér henvendelsen (ny)" in second.sources["henvendelse.bpmn"]
    assert "Vurdér henvendelsen (ny)" not in first.sources["henvendelse.bpmn"]
    # the called process did not change, so it keeps its version
    assert [v.version for v in _versions(session, "indhent_oplysninger")] == [1]

    with transaction(session):
        new_case = v2_casework.open_case(session, worker, "henvendelse",
                                         {"cpr": "1506884321", "name": "Fatima Ali"},
                                         received_yesterday())
    assert new_case.process_version_id == second.id
    assert _open_task_names(session, v2_casework, new_case) == {
        "vurder_henvendelse": "Vurdér henvendelsen (ny)"}

    # the server now runs the new registry; the old case still follows version 1
    rejection = {"henvendelse": "Uden for målgruppen", "udfald": "afvis"}
    _complete(session, v2_casework, old_case, "sagsbehandler", "vurder_henvendelse", rejection)
    _complete(session, v2_casework, new_case, "sagsbehandler", "vurder_henvendelse", rejection)
    assert _open_task_names(session, v2_casework, old_case) == {
        "godkend_afvisning": "Godkend afvisning"}
    assert _open_task_names(session, v2_casework, new_case) == {
        "godkend_afvisning": "Godkend afvisning (ny)"}
    instances = {i.case_id: i.process_version_id for i in session.scalars(select(Instance))}
    assert instances == {old_case.id: first.id, new_case.id: second.id}


def test_older_version_loads_from_its_stored_sources(session, project_copy):
    [v1] = _versions(session, "henvendelse")
    path = project_copy / "processes" / "henvendelse.bpmn"
    path.write_text(path.read_text(encoding="utf-8").replace(
        'name="Vurdér henvendelsen"', 'name="Vurdér sagen"'), encoding="utf-8")
    casework = _casework(project_copy)
    with transaction(session):
        [v2] = casework.registry.deploy(session, "test")

    assert casework.registry.definition_for(v2) is casework.registry.current["henvendelse"]
    old = casework.registry.definition_for(v1)
    assert old is not casework.registry.current["henvendelse"]
    assert old.content_hash == v1.content_hash
    assert _user_task_specs(old)["vurder_henvendelse"].bpmn_name == "Vurdér henvendelsen"
    assert casework.registry.definition_for(v1) is old  # parsed once, then cached

    # even with the file gone from the folder, the stored version still loads
    path.unlink()
    forms = FormCatalog.load(project_copy / "forms")
    without_file = ProcessRegistry(project_copy / "processes", forms)
    assert "henvendelse" not in without_file.current
    reloaded = without_file.definition_for(v2)
    assert _user_task_specs(reloaded)["vurder_henvendelse"].bpmn_name == "Vurdér sagen"
    assert session.scalar(select(func.count()).select_from(ProcessVersion).where(
        ProcessVersion.process_id == "henvendelse")) == 2


def test_latest_version_is_the_one_cases_start_on(session, casework):
    version = casework.registry.startable_version(session, "henvendelse")
    assert version.version == 1
    with pytest.raises(NotFound, match="indhent_oplysninger"):
        casework.registry.startable_version(session, "indhent_oplysninger")
    with pytest.raises(NotFound, match="findes_ikke"):
        casework.registry.startable_version(session, "findes_ikke")


# -- files that cannot be deployed -----------------------------------------------------------

def _refused(forms, sources: dict[str, str]) -> str:
    with pytest.raises(ProcessDefinitionError) as raised:
        parse_sources(sources, forms)
    return raised.value.message


def test_malformed_xml_is_refused_naming_the_file(forms):
    broken = linear("brudt", ("opgave", user_task("opgave"))).replace("</bpmn:process>", "")
    message = _refused(forms, {"ok.bpmn": linear("ok", ("t", user_task("t"))),
                               "brudt.bpmn": broken})
    assert message.startswith("brudt.bpmn: not well-formed XML")


def test_empty_file_is_refused(forms):
    assert _refused(forms, {"tom.bpmn": ""}).startswith("tom.bpmn: not well-formed XML")


def test_document_that_is_not_bpmn_is_refused(forms):
    message = _refused(forms, {"andet.bpmn": '<?xml version="1.0"?><andet />'})
    assert message.startswith("andet.bpmn: ")
    assert "andet" in message.split(": ", 1)[1]


def test_internal_entity_is_refused_and_never_expanded(forms):
    source = linear("entitet", ("opgave", user_task("opgave", name="&hemmelig;")))
    source = source.replace("?>", '?>\n<!DOCTYPE bpmn:definitions '
                                  '[<!ENTITY hemmelig "UDVIDET">]>', 1)
    message = _refused(forms, {"entitet.bpmn": source})
    assert message.startswith("entitet.bpmn: ")
    assert "DOCTYPE" in message
    assert "UDVIDET" not in message


def test_external_entity_is_refused_without_reading_the_file(forms, tmp_path):
    secret = tmp_path / "hemmelig.txt"
    secret.write_text("HEMMELIGT-INDHOLD")
    source = linear("xxe", ("opgave", user_task("opgave", name="&xxe;")))
    source = source.replace("?>", f'?>\n<!DOCTYPE bpmn:definitions '
                                  f'[<!ENTITY xxe SYSTEM "file://{secret}">]>', 1)
    message = _refused(forms, {"xxe.bpmn": source})
    assert message.startswith("xxe.bpmn: ")
    assert "HEMMELIGT-INDHOLD" not in message


@pytest.mark.parametrize("task, expected", [
    (user_task("opgave", "Opgave", form=None), "user task has no camunda:formKey"),
    (user_task("opgave", "Opgave", form="findes_ikke"),
     "form 'findes_ikke' does not exist in forms/"),
    (user_task("opgave", "Opgave", groups=None),
     "neither camunda:candidateGroups nor camunda:assignee"),
    (user_task("opgave", "Opgave", dueDate="frist + ("), "invalid due_date"),
    (user_task("opgave", "Opgave", followUpDate="().__class__"), "invalid follow_up_date"),
])
def test_user_task_that_cannot_be_worked_is_refused(forms, task, expected):
    message = _refused(forms, {"opgave.bpmn": linear("opgaver", ("opgave", task))})
    assert message.startswith("opgave.bpmn: element opgave (Opgave): ")
    assert expected in message


def test_user_task_with_only_an_assignee_is_accepted(forms):
    source = linear("tildelt", ("opgave", user_task("opgave", groups=None, assignee="leder")))
    assert "tildelt" in parse_sources({"tildelt.bpmn": source}, forms)


def test_unknown_form_is_accepted_when_loading_a_stored_version_without_forms():
    source = linear("gammel", ("opgave", user_task("opgave", form="fjernet_formular")))
    assert "gammel" in parse_sources({"gammel.bpmn": source}, None)


@pytest.mark.parametrize("kind, expression, expected", [
    ("timeDuration", '"P" + (', "script refused by the sandbox"),
    ("timeDuration", '"P5X"', "'P5X' is not an ISO 8601 duration"),
    ("timeDuration", "14", "14 is not an ISO 8601 duration"),
    ("timeDate", '"2026-13-01"', "'2026-13-01' is not an ISO 8601 date and time"),
    ("timeCycle", '"R3/hver uge"', "is not an ISO 8601 cycle"),
    ("timeDuration", "P5D", 'as a Python string: "P5D" (with quotes)'),
    ("timeDate", "2026-12-01T09:00:00", 'as a Python string: "2026-12-01T09:00:00"'),
    ("timeCycle", "R3/PT1H", 'as a Python string: "R3/PT1H"'),
])
def test_invalid_timer_expression_is_refused(forms, kind, expression, expected):
    source = linear("timer", ("vent", timer_event("vent", expression, kind)))
    message = _refused(forms, {"timer.bpmn": source})
    assert message.startswith("timer.bpmn: element vent")
    assert expected in message


@pytest.mark.parametrize("kind, expression", [
    ("timeDuration", '"P14D"'),
    ("timeDuration", '"P%dD" % svarfrist_dage'),
    ("timeDate", '"2026-12-01T09:00:00+01:00"'),
    ("timeCycle", '"R3/PT1H"'),
])
def test_valid_timer_expression_is_accepted(forms, kind, expression):
    source = linear("timer", ("vent", timer_event("vent", expression, kind)))
    assert "timer" in parse_sources({"timer.bpmn": source}, forms)


def test_process_that_is_not_executable_is_refused(forms):
    source = definitions(process("udkast", start(), user_task("opgave"), end(),
                                 *chain("start", "opgave", "end"), executable=False))
    message = _refused(forms, {"udkast.bpmn": source})
    assert message.startswith("udkast.bpmn: ")
    assert "udkast" in message and 'isExecutable="false"' in message


def test_call_to_a_missing_process_is_refused(forms):
    source = definitions(process(
        "hoved", start(), '<bpmn:callActivity id="kald" calledElement="findes_ikke" />', end(),
        *chain("start", "kald", "end")))
    message = _refused(forms, {"hoved.bpmn": source})
    assert message.startswith("hoved.bpmn: ")
    assert "findes_ikke" in message


def test_duplicate_process_id_is_refused(forms):
    source = linear("dobbelt", ("opgave", user_task("opgave")))
    message = _refused(forms, {"a.bpmn": source, "b.bpmn": source})
    assert "Duplicate process ID: dobbelt" in message


def test_process_without_start_event_is_refused(forms):
    source = definitions(process("uden_start", user_task("opgave"), end(),
                                 *chain("opgave", "end")))
    message = _refused(forms, {"uden_start.bpmn": source})
    assert message.startswith("uden_start.bpmn: element uden_start")
    assert "No start event" in message


def test_registry_refuses_a_folder_with_a_bad_file(tmp_path, forms):
    (tmp_path / "god.bpmn").write_text(linear("god", ("t", user_task("t"))), encoding="utf-8")
    (tmp_path / "daarlig.bpmn").write_text(
        linear("daarlig", ("t", user_task("t", form="findes_ikke"))), encoding="utf-8")
    (tmp_path / "noter.txt").write_text("ignored: not a process file")
    with pytest.raises(ProcessDefinitionError, match=r"^daarlig\.bpmn: element t"):
        ProcessRegistry(tmp_path, forms)
    (tmp_path / "daarlig.bpmn").unlink()
    assert set(ProcessRegistry(tmp_path, forms).current) == {"god"}


def test_process_file_not_in_utf8_is_refused_naming_the_file(tmp_path, forms):
    source = linear("latin", ("t", user_task("t", "Træf afgørelse")))
    (tmp_path / "latin.bpmn").write_bytes(source.encode("latin-1"))
    with pytest.raises(ProcessDefinitionError, match=r"^latin\.bpmn: not UTF-8 text"):
        read_folder(tmp_path)


@pytest.mark.parametrize("cell, problem", [
    ("().__class__.__base__", "script refused by the sandbox: decision"),
    ('? in __import__("os").listdir("/")', "script refused by the sandbox: decision"),
    ("6 +", "Malformed Output Expression"),
])
def test_a_decision_table_cell_that_escapes_or_does_not_parse_is_refused(cell, problem):
    sources = read_folder(PROCESSES_DIR)
    table = sources["opfoelgningsinterval.dmn"]
    target = '<outputEntry id="regel_boern_ud"><text>6</text>' if cell == "6 +" else \
        '<inputEntry id="regel_boern_omraade"><text>"boern"</text>'
    assert target in table
    sources["opfoelgningsinterval.dmn"] = table.replace(
        target, target.replace("6" if cell == "6 +" else '"boern"', cell))
    with pytest.raises(ProcessDefinitionError, match=problem):
        parse_sources(sources, None)
