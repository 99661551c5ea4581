"""Validation of BPMN files before deployment (engine/bpmn/validation.py), the
`sagsflow processes check` command and the Camunda Modeler import: every malformed or hostile
file is refused with a structured problem naming the file, the element and what is wrong."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from bpmn_helpers import (
    chain,
    definitions,
    end,
    flow,
    gateway,
    linear,
    process,
    script_task,
    start,
    timer_event,
    user_task,
)
from click.testing import CliRunner

from api.cli import main as cli_main
from engine.bpmn.camunda_import import from_camunda_modeler, juel_to_python
from engine.bpmn.registry import parse_sources, read_folder
from engine.bpmn.validation import MAX_FILE_BYTES, Problem, validate_sources
from engine.errors import ProcessDefinitionError

ROOT = Path(__file__).resolve().parent.parent
PROCESSES_DIR = ROOT / "processes"
DEADLINES = {"sel50_4m", "partshoering_svar"}
LETTERS = {"lukning", "partshoering"}


def _problems(forms, source: str, name: str = "p.bpmn", **kwargs) -> list[Problem]:
    return validate_sources({name: source}, forms, kwargs.get("deadlines", DEADLINES),
                            kwargs.get("letters", LETTERS))


def _only(problems: list[Problem], rule: str | None = None) -> Problem:
    chosen = [p for p in problems if rule is None or p.rule == rule]
    assert len(chosen) == 1, problems
    return chosen[0]


def _with_properties(task_xml: str, **props: str) -> str:
    """A user task (from bpmn_helpers.user_task) with camunda:properties."""
    inner = "".join(f'<camunda:property name="{k}" value="{v}" />' for k, v in props.items())
    return task_xml.replace(" />", "><bpmn:extensionElements><camunda:properties>"
                                   f"{inner}</camunda:properties></bpmn:extensionElements>"
                                   "</bpmn:userTask>")


# -- the shipped processes pass ---------------------------------------------------------------

def test_the_shipped_processes_have_no_problem(forms):
    assert validate_sources(read_folder(PROCESSES_DIR), forms) == []


def test_the_shipped_decisions_are_marked_and_preceded_by_a_hearing(forms):
    sources = read_folder(PROCESSES_DIR)
    for name in ("sel50.bpmn", "sel85.bpmn"):
        assert '<camunda:property name="trin" value="afgoerelse" />' in sources[name]
        assert '<camunda:property name="trin" value="partshoering" />' in sources[name]
        # take the hearing marker away: the decision is reported, with a path that skips it
        unmarked = dict(sources)
        unmarked[name] = sources[name].replace(
            '<camunda:property name="trin" value="partshoering" />', "")
        problem = _only(validate_sources(unmarked, forms))
        assert (problem.file, problem.element_id, problem.element_name, problem.rule) == (
            name, "afgoerelse", "Træf afgørelse", "hearing")
        assert "can be reached without a hearing" in problem.message
        assert "→ afgoerelse" in problem.message
    assert 'name="hoering_undtagelse"' in sources["henvendelse.bpmn"]


# -- XML safety ---------------------------------------------------------------------------------

def test_a_called_process_that_is_gone_is_named_at_the_call_activity(forms):
    sources = read_folder(PROCESSES_DIR)
    sources["opfoelgning.bpmn"] = sources["opfoelgning.bpmn"].replace(
        'id="opfoelgning"', 'id="opfoelgning_ny"', 1)
    problems = validate_sources(sources, forms)
    assert {(p.file, p.element_id) for p in problems} == {
        ("sel50.bpmn", "folg_op"), ("sel85.bpmn", "folg_op")}
    assert all("calls process 'opfoelgning'" in p.message for p in problems)
    assert {p.element_name for p in problems} == {"Opfølgning (modul)"}


def test_broken_xml_is_refused_naming_the_line(forms):
    source = linear("brudt", ("opgave", user_task("opgave")))
    lines = source.splitlines()
    broken_line = next(i for i, line in enumerate(lines) if "<bpmn:userTask" in line)
    lines[broken_line] = lines[broken_line].replace(" />", ">")  # never closed
    problem = _only(_problems(forms, "\n".join(lines), "brudt.bpmn"))
    assert problem.rule == "xml" and problem.element_id is None
    assert problem.message.startswith("not well-formed XML: line ")
    assert problem.line is not None and problem.line >= broken_line + 1
    assert str(problem).startswith("brudt.bpmn: not well-formed XML: line ")


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="lol" name="&lol9;" isExecutable="true"><bpmn:startEvent id="s" name="&lol9;"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_entity_bomb_is_refused_before_it_is_expanded(forms):
    started = time.perf_counter()
    problem = _only(_problems(forms, BILLION_LAUGHS, "bombe.bpmn"))
    assert time.perf_counter() - started < 1
    assert problem.rule == "xml"
    assert problem.message == "line 2: a DOCTYPE (DTD or entity declarations) is not allowed"
    assert problem.line == 2
    assert "lollol" not in str(problem)


def test_external_entity_is_refused_without_reading_the_file(forms):
    source = linear("xxe", ("opgave", user_task("opgave", name="&xxe;")))
    source = source.replace("?>", '?>\n<!DOCTYPE bpmn:definitions '
                                  '[<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1)
    problems = _problems(forms, source, "xxe.bpmn")
    problem = _only(problems)
    assert "DOCTYPE" in problem.message and problem.rule == "xml"
    assert "root:" not in str(problems)
    with pytest.raises(ProcessDefinitionError) as refused:
        parse_sources({"xxe.bpmn": source}, forms)
    assert "root:" not in refused.value.message
    assert refused.value.problems == problems


def test_oversized_file_is_refused_before_parsing(forms):
    padding = "<!-- " + "x" * MAX_FILE_BYTES + " -->"
    source = linear("stor", ("opgave", user_task("opgave"))).replace("?>", "?>" + padding, 1)
    problem = _only(_problems(forms, source, "stor.bpmn"))
    assert problem.rule == "size"
    assert f"at most {MAX_FILE_BYTES:,} bytes (2 MB) are accepted" in problem.message
    # the same file a little smaller is fine
    assert _problems(forms, source.replace(padding, "<!-- x -->"), "stor.bpmn") == []


# -- SpiffWorkflow's errors and the casework rules ----------------------------------------------

def test_non_executable_process_is_refused_naming_the_process(forms):
    source = definitions(process("udkast", start(), user_task("opgave"), end(),
                                 *chain("start", "opgave", "end"), name="Udkast",
                                 executable=False))
    problem = _only(_problems(forms, source, "udkast.bpmn"))
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "udkast", "Udkast", "executable")
    assert 'isExecutable="false"' in problem.message


def test_spiffworkflow_error_is_translated_to_name_the_element(forms):
    source = definitions(process("uden_start", user_task("opgave"), end(),
                                 *chain("opgave", "end"), name="Uden start"))
    problem = _only(_problems(forms, source, "uden_start.bpmn"))
    assert (problem.element_id, problem.element_name) == ("uden_start", "Uden start")
    assert "No start event" in problem.message
    assert str(problem).startswith("uden_start.bpmn: element uden_start (Uden start): ")


def test_unknown_form_and_missing_group_are_all_reported(forms):
    source = linear("opgaver",
                    ("a", user_task("a", "Første", form="findes_ikke")),
                    ("b", user_task("b", "Anden", groups=None)),
                    ("c", user_task("c", "Tredje", form="findes_heller_ikke", groups=None)))
    problems = _problems(forms, source, "opgaver.bpmn")
    assert [(p.element_id, p.element_name, p.rule, p.message) for p in problems] == [
        ("a", "Første", "form", "form 'findes_ikke' does not exist in forms/"),
        ("b", "Anden", "assignment",
         "user task has neither camunda:candidateGroups nor camunda:assignee"),
        ("c", "Tredje", "form", "form 'findes_heller_ikke' does not exist in forms/"),
        ("c", "Tredje", "assignment",
         "user task has neither camunda:candidateGroups nor camunda:assignee"),
    ]
    with pytest.raises(ProcessDefinitionError) as refused:
        parse_sources({"opgaver.bpmn": source}, forms)
    assert refused.value.problems == problems
    assert refused.value.message.splitlines() == [str(p) for p in problems]
    assert refused.value.message.startswith(
        "opgaver.bpmn: element a (Første): form 'findes_ikke' does not exist")


def test_script_that_escapes_the_sandbox_is_refused(forms):
    source = linear("hacking", ("hack", script_task(
        "hack", "x = ().__class__.__base__.__subclasses__()", name="Hack")))
    problem = _only(_problems(forms, source, "hack.bpmn"))
    assert (problem.element_id, problem.element_name, problem.rule) == ("hack", "Hack", "sandbox")
    assert problem.message.startswith("script refused by the sandbox: ")
    assert "__class__" in problem.message


@pytest.mark.parametrize("kind, expression, expected", [
    ("timeDuration", '"P5X"', "invalid timer: 'P5X' is not an ISO 8601 duration"),
    ("timeDate", '"2026-13-01"', "invalid timer: '2026-13-01' is not an ISO 8601 date"),
    ("timeDuration", "P5D", 'invalid timer: write the ISO 8601 value as a Python string: '
                            '"P5D" (with quotes); importing the file from Camunda Modeler '
                            'converts this'),
    ("timeCycle", "${interval}", "invalid timer: ${interval} is a JUEL expression"),
    ("timeDuration", "().__class__", "script refused by the sandbox"),
])
def test_bad_timer_is_refused_naming_the_event(forms, kind, expression, expected):
    source = linear("timer", ("vent", timer_event("vent", expression, kind)))
    problem = _only(_problems(forms, source, "timer.bpmn"))
    assert problem.element_id == "vent"
    assert expected in problem.message


def _choice(condition: str) -> str:
    return definitions(process(
        "valg", start(), gateway("gw_valg", "Valg", default="f_nej"), user_task("opgave"),
        end(), end("slut_nej"),
        flow("start", "gw_valg"),
        f'<bpmn:sequenceFlow id="f_ja" name="Ja" sourceRef="gw_valg" targetRef="opgave">'
        f"<bpmn:conditionExpression>{condition}</bpmn:conditionExpression></bpmn:sequenceFlow>",
        flow("gw_valg", "slut_nej", flow_id="f_nej"),
        flow("opgave", "end")))


@pytest.mark.parametrize("condition, expected", [
    ("udfald ==", "condition of sequence flow f_ja (Ja) refused by the sandbox: Line 1: "
                   "SyntaxError"),
    ("udfald.__class__", "condition of sequence flow f_ja (Ja) refused by the sandbox"),
    ('${udfald == "afvis"}', "is a JUEL expression (Camunda); conditions are Python"),
])
def test_bad_condition_is_refused_naming_gateway_and_flow(forms, condition, expected):
    problem = _only(_problems(forms, _choice(condition), "valg.bpmn"))
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "gw_valg", "Valg", "condition")
    assert expected in problem.message
    assert _problems(forms, _choice('udfald == "afvis"'), "valg.bpmn") == []


def test_unknown_deadline_and_letter_are_refused(forms):
    source = linear("frister", ("s", script_task(
        "s", 'start_deadline("findes_ikke")\nprepare_letter("ukendt_brev")', name="Start")),
        ("o", user_task("o", "Opgave", dueDate='deadline("heller_ikke")')))
    problems = _problems(forms, source, "frister.bpmn")
    assert [(p.element_id, p.rule, p.message) for p in problems] == [
        ("s", "deadline", "unknown deadline 'findes_ikke' (not in processes/deadlines.toml)"),
        ("s", "letter", "unknown letter 'ukendt_brev' (not in letters/letters.toml)"),
        ("o", "deadline", "unknown deadline 'heller_ikke' (not in processes/deadlines.toml)"),
    ]


# -- implicit splits and merges ------------------------------------------------------------------

def test_implicit_split_is_refused(forms):
    source = definitions(process(
        "split", start(), user_task("a", "Opgave A"), user_task("b"), user_task("c"),
        end("e1"), end("e2"),
        *chain("start", "a"), flow("a", "b", flow_id="f_ab"), flow("a", "c", flow_id="f_ac"),
        *chain("b", "e1"), *chain("c", "e2")))
    problems = _problems(forms, source, "split.bpmn")
    problem = _only(problems)  # SpiffWorkflow's own complaint about `a` is not repeated
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "a", "Opgave A", "implicit-split")
    assert "2 sequence flows leave this user task (f_ab, f_ac)" in problem.message
    assert "put a gateway after it" in problem.message


def test_implicit_merge_is_refused(forms):
    source = definitions(process(
        "merge", start(), gateway("gw", "Hvad nu?", default="f_b"), user_task("a"),
        user_task("b"), user_task("samlet", "Samlet opgave"), end(),
        flow("start", "gw"), flow("gw", "a", "x == 1", flow_id="f_a"),
        flow("gw", "b", flow_id="f_b"),
        flow("a", "samlet", flow_id="f_a_samlet"), flow("b", "samlet", flow_id="f_b_samlet"),
        flow("samlet", "end")))
    problem = _only(_problems(forms, source, "merge.bpmn"))
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "samlet", "Samlet opgave", "implicit-merge")
    assert "2 sequence flows enter this user task (f_a_samlet, f_b_samlet)" in problem.message
    # a version deployed before the rule still loads (running cases keep working)
    assert "merge" in parse_sources({"merge.bpmn": source}, forms, design_rules=False)


def test_several_flows_into_an_end_event_and_boundary_events_are_fine(forms):
    source = definitions(process(
        "ok", start(), gateway("gw", default="f_b"), user_task("a"), user_task("b"),
        user_task("rykker"), end(),
        '<bpmn:boundaryEvent id="frist" attachedToRef="a" cancelActivity="false">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>"P5D"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>",
        flow("start", "gw"), flow("gw", "a", "x == 1", flow_id="f_a"),
        flow("gw", "b", flow_id="f_b"), flow("a", "end"), flow("b", "end"),
        flow("frist", "rykker"), flow("rykker", "end")))
    assert _problems(forms, source, "ok.bpmn") == []


# -- a hearing before every decision -------------------------------------------------------------

def _decision_process(decision_props: dict, hearing_on_both: bool = False) -> str:
    """start -> gw: either straight to the decision, or through the hearing."""
    hearing = _with_properties(user_task("hoering", "Partshøring", form="partshoering"),
                               trin="partshoering")
    direct_target = "hoering2" if hearing_on_both else "gw_join"
    extra = [_with_properties(user_task("hoering2", "Partshøring igen", form="partshoering"),
                              trin="partshoering"), flow("hoering2", "gw_join")] \
        if hearing_on_both else []
    return definitions(process(
        "sag", start(), gateway("gw", "Høring?", default="f_hoer"), hearing,
        '<bpmn:exclusiveGateway id="gw_join" />',
        _with_properties(user_task("afgoerelse", "Træf afgørelse", form="godkend"),
                         **decision_props),
        end(), *extra,
        flow("start", "gw"), flow("gw", "hoering", flow_id="f_hoer"),
        flow("gw", direct_target, "hurtigt is True", flow_id="f_direkte"),
        flow("hoering", "gw_join"), flow("gw_join", "afgoerelse"), flow("afgoerelse", "end")))


def test_decision_that_can_be_reached_without_a_hearing_is_refused(forms):
    problem = _only(_problems(forms, _decision_process({"trin": "afgoerelse"}), "sag.bpmn"))
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "afgoerelse", "Træf afgørelse", "hearing")
    assert "the path start → gw → gw_join → afgoerelse has no step with trin = partshoering" \
        in problem.message
    assert "hoering_undtagelse" in problem.message


def test_decision_after_a_hearing_on_every_path_passes(forms):
    source = _decision_process({"trin": "afgoerelse"}, hearing_on_both=True)
    assert _problems(forms, source, "sag.bpmn") == []


def test_decision_with_an_explicit_exception_passes(forms):
    source = _decision_process({"trin": "afgoerelse", "hoering_undtagelse":
                                "Forvaltningsloven § 19, stk. 2, nr. 1: fuldt medhold"})
    assert _problems(forms, source, "sag.bpmn") == []
    assert "sag" in parse_sources({"sag.bpmn": source}, forms)


@pytest.mark.parametrize("props, expected", [
    ({"trin": "afgoerelse", "hoering_undtagelse": "  "}, "hoering_undtagelse is empty"),
    ({"trin": "afgorelse"}, "unknown trin 'afgorelse'"),
    ({"hoering_undtagelse": "fordi"}, "hoering_undtagelse is only for a decision"),
])
def test_hearing_markers_that_are_wrong_are_refused(forms, props, expected):
    problems = _problems(forms, _decision_process(props), "sag.bpmn")
    problem = _only(problems)
    assert problem.element_id == "afgoerelse" and expected in problem.message


def test_decision_inside_a_sub_process_needs_the_hearing_before_the_sub_process(forms):
    inner = ('<bpmn:subProcess id="del" name="Afgørelsen">'
             '<bpmn:startEvent id="del_start" />'
             + _with_properties(user_task("afg", "Afgør", form="godkend"), trin="afgoerelse")
             + '<bpmn:endEvent id="del_slut" />'
             + flow("del_start", "afg") + flow("afg", "del_slut") + "</bpmn:subProcess>")
    hearing = _with_properties(user_task("hoering", form="partshoering"), trin="partshoering")
    with_hearing = definitions(process("sp", start(), hearing, inner, end(),
                                       *chain("start", "hoering", "del", "end")))
    assert _problems(forms, with_hearing, "sp.bpmn") == []
    without = definitions(process("sp", start(), inner, end(), *chain("start", "del", "end")))
    problem = _only(_problems(forms, without, "sp.bpmn"))
    assert problem.element_id == "afg"
    assert "start → del → del_start → afg" in problem.message


# -- the command ---------------------------------------------------------------------------------

def _check(*args: str):
    return CliRunner().invoke(cli_main, ["processes", "check", *args])


def test_check_command_accepts_the_shipped_processes():
    files = sorted(str(p) for p in PROCESSES_DIR.iterdir() if p.suffix in (".bpmn", ".dmn"))
    result = _check(*files)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"ok {Path(f).name}" for f in files]


def test_check_command_prints_every_problem_and_fails(tmp_path):
    bad = tmp_path / "daarlig.bpmn"
    bad.write_text(linear("daarlig", ("a", user_task("a", "Opgave", form="findes_ikke")),
                          ("b", user_task("b", "Anden", groups=None))), encoding="utf-8")
    broken = tmp_path / "brudt.bpmn"
    broken.write_text("<bpmn:definitions>", encoding="utf-8")
    good = tmp_path / "god.bpmn"
    good.write_text(linear("god", ("a", user_task("a"))), encoding="utf-8")
    result = _check(str(bad), str(broken), str(good))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "daarlig.bpmn: element a (Opgave): form 'findes_ikke' does not exist in forms/" \
        in lines
    assert "daarlig.bpmn: element b (Anden): user task has neither camunda:candidateGroups " \
           "nor camunda:assignee" in lines
    assert any(line.startswith("brudt.bpmn: not well-formed XML: line 1") for line in lines)
    assert "ok god.bpmn" in lines
    assert "3 problem(s) in 2 file(s)" in lines


def test_check_command_reads_a_new_version_with_the_files_it_calls(tmp_path):
    # sel50 calls oplysningsanmodning and opfoelgning from the processes folder
    changed = tmp_path / "sel50.bpmn"
    changed.write_text((PROCESSES_DIR / "sel50.bpmn").read_text(encoding="utf-8"),
                       encoding="utf-8")
    assert _check(str(changed)).output.splitlines() == ["ok sel50.bpmn"]
    alone = _check("--alone", str(changed))
    assert alone.exit_code == 1 and "oplysningsanmodning" in alone.output


def test_check_command_exit_codes_in_a_real_process(tmp_path):
    bad = tmp_path / "hack.bpmn"
    bad.write_text(linear("hacking", ("hack", script_task(
        "hack", "().__class__.__base__.__subclasses__()"))), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "sagsflow"), "processes", "check"]
    shipped = subprocess.run([*command, str(PROCESSES_DIR / "sel85.bpmn")],
                             capture_output=True, text=True, timeout=120)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    refused = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "hack.bpmn: element hack (hack): script refused by the sandbox" in refused.stdout


# -- the Camunda Modeler import ------------------------------------------------------------------

CAMUNDA_FILE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_1"
    targetNamespace="http://bpmn.io/schema/bpmn" exporter="Camunda Modeler">
  <bpmn:process id="fra_camunda" name="Fra Camunda" isExecutable="false">
    <bpmn:startEvent id="start" />
    <bpmn:exclusiveGateway id="gw" name="Udfald?" default="f_andet" />
    <bpmn:userTask id="afvis" name="Afvis" camunda:formKey="godkend"
        camunda:candidateGroups="sagsbehandler" />
    <bpmn:intermediateCatchEvent id="vent" name="Vent fem dage">
      <bpmn:timerEventDefinition id="vent_def">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P5D</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="dato" name="Nytår">
      <bpmn:timerEventDefinition>
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">2026-01-01T00:00:00</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="slut" />
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f_afvis" name="Afvis" sourceRef="gw" targetRef="afvis">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >CONDITION</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_andet" sourceRef="gw" targetRef="vent" />
    <bpmn:sequenceFlow id="f_vent" sourceRef="vent" targetRef="dato" />
    <bpmn:sequenceFlow id="f_dato" sourceRef="dato" targetRef="slut" />
    <bpmn:sequenceFlow id="f_afvist" sourceRef="afvis" targetRef="slut" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_camunda_file_is_converted_and_then_passes(forms):
    source = CAMUNDA_FILE.replace("CONDITION", '${udfald == "afvis" &amp;&amp; !sag.haster}')
    # as it is: SpiffWorkflow skips a process that is not executable, so that is all we hear
    assert [(p.element_id, p.rule) for p in _problems(forms, source, "camunda.bpmn")] == [
        ("fra_camunda", "executable")]
    executable = source.replace('isExecutable="false"', 'isExecutable="true"')
    assert [(p.element_id, p.rule) for p in _problems(forms, executable, "camunda.bpmn")] == [
        ("gw", "condition"), ("vent", "timer"), ("dato", "timer")]

    converted, notes = from_camunda_modeler(source)
    assert _problems(forms, converted, "camunda.bpmn") == []
    assert "<bpmn:timeDuration" in converted and '>"P5D"</bpmn:timeDuration>' in converted
    assert '>"2026-01-01T00:00:00"</bpmn:timeDate>' in converted
    assert 'isExecutable="true"' in converted
    assert notes == [
        'process fra_camunda (Fra Camunda): isExecutable was "false" (the modeler\'s '
        'default); set to "true" so that it can run',
        'element vent (Vent fem dage): timer timeDuration P5D written as the Python string '
        '"P5D"',
        'element dato (Nytår): timer timeDate 2026-01-01T00:00:00 written as the Python string '
        '"2026-01-01T00:00:00"',
        'element f_afvis (Afvis): condition ${udfald == "afvis" && !sag.haster} converted to '
        '((udfald == \'afvis\') and (not sag[\'haster\']))',
    ]
    definition = parse_sources({"camunda.bpmn": converted}, forms)["fra_camunda"]
    assert definition.name == "Fra Camunda"


@pytest.mark.parametrize("juel, python", [
    ("alder >= 18", "(alder >= 18)"),
    ("a eq 'x' or b ne \"y\"", "((a == 'x') or (b != 'y'))"),
    ("a lt 1 and b gt 2.5 and c le -3 and d ge 4", "((a < 1) and (b > 2.5) and (c <= (-3)) "
                                                    "and (d >= 4))"),
    ("not (godkendt || afvist)", "(not (godkendt or afvist))"),
    ("sag.part.navn != null", "(sag['part']['navn'] is not None)"),
    ("x == null", "(x is None)"),
    ("godkendt == true", "(godkendt == True)"),
    ("'it\\'s' == svar", '("it\'s" == svar)'),
])
def test_juel_conditions_become_python(juel, python):
    assert juel_to_python(juel) == python
    compile(python, "<condition>", "eval")


@pytest.mark.parametrize("condition, expected", [
    ("${empty sag.navn}", "the operator 'empty' is not supported"),
    ("${sag.getNavn() == 'x'}", "calling sag['getNavn'](…) is not supported"),
    ("${beloeb + 1 > 5}", "'+' is not supported"),
    ("${liste[0] == 1}", "'[' is not supported"),
    ("${__import__ == 1}", "the variable name '__import__' cannot be used in Python"),
    ("${a == b == c}", "a chain of comparisons is not supported"),
    ("${(a == 1}", "a parenthesis is not closed"),
    ("${}", "the expression is empty"),
])
def test_juel_conditions_outside_the_subset_are_refused_naming_the_flow(condition, expected):
    with pytest.raises(ProcessDefinitionError) as refused:
        from_camunda_modeler(CAMUNDA_FILE.replace("CONDITION", condition))
    [problem] = refused.value.problems
    assert (problem.element_id, problem.element_name, problem.rule) == (
        "f_afvis", "Afvis", "camunda-import")
    assert expected in problem.message, problem.message
    assert f"condition {condition} cannot be converted" in problem.message


def test_script_condition_and_juel_timer_are_refused():
    script = '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"\n        >CONDITION'
    assert script in CAMUNDA_FILE and ">P5D<" in CAMUNDA_FILE
    source = CAMUNDA_FILE.replace(script, script.replace(
        '"\n        >CONDITION', '" language="javascript">true')).replace(">P5D<", ">${frist}<")
    with pytest.raises(ProcessDefinitionError) as refused:
        from_camunda_modeler(source)
    assert [(p.element_id, p.message.split(":")[0]) for p in refused.value.problems] == [
        ("vent", "timer timeDuration ${frist} is a JUEL expression"),
        ("f_afvis", "the condition is a script (javascript); only expressions are imported"),
    ]


def test_import_refuses_hostile_xml():
    with pytest.raises(ProcessDefinitionError, match="DOCTYPE"):
        from_camunda_modeler(BILLION_LAUGHS)
    with pytest.raises(ProcessDefinitionError, match="not well-formed XML: line 1"):
        from_camunda_modeler("<bpmn:definitions")
    with pytest.raises(ProcessDefinitionError, match="at most"):
        from_camunda_modeler("<a>" + " " * MAX_FILE_BYTES + "</a>")


def test_python_conditions_and_quoted_timers_are_left_alone():
    source = CAMUNDA_FILE.replace("CONDITION", 'udfald == "afvis"').replace(
        ">P5D<", '>"P5D"<').replace('isExecutable="false"', 'isExecutable="true"')
    converted, notes = from_camunda_modeler(source)
    assert 'udfald == "afvis"</bpmn:conditionExpression>' in converted
    assert '>"P5D"</bpmn:timeDuration>' in converted
    assert [n for n in notes if "vent" in n or "f_afvis" in n or "isExecutable" in n] == []
