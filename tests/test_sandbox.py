"""The RestrictedPython sandbox of BPMN scripts and expressions: escapes are refused when
compiled, at deploy time and at run time; ordinary scripts still work; a failing script puts
the instance in error, and a retry with corrected data moves it on."""

from pathlib import Path

import pytest
from bpmn_helpers import (
    CITIZEN,
    definitions,
    end,
    flow,
    gateway,
    linear,
    process,
    received_yesterday,
    script_task,
    start,
    timer_event,
    user_task,
)
from conftest import get_user
from sqlalchemy import select

from engine.bpmn.registry import ProcessRegistry, parse_sources, read_folder
from engine.bpmn.sandbox import (
    DEFAULT_GLOBALS,
    RestrictedEnvironment,
    ScriptRefused,
    check_expression,
    check_script,
    create_script_engine,
)
from engine.db import transaction
from engine.errors import Conflict, ProcessDefinitionError
from engine.models import AuditEvent, Instance, Task


@pytest.fixture
def env():
    return RestrictedEnvironment(dict(DEFAULT_GLOBALS))


# -- escapes the compiler refuses ----------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "__import__('os')",
    "().__class__.__base__.__subclasses__()",
    "x.__class__",
    "[c for c in ().__class__.__mro__]",
    "datetime.__loader__",
    "math.__dict__",
    "(y for y in [1]).gi_frame.f_globals",
    "eval('1 + 1')",
    "exec('y = 1')",
])
def test_escape_is_refused_when_compiled(env, expression):
    with pytest.raises(ScriptRefused):
        check_expression(expression)
    with pytest.raises(ScriptRefused):
        env.evaluate(expression, {"x": 1})


def test_refused_script_is_not_run_at_all(env, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ScriptRefused, match="__import__"):
        check_script(f"__import__('os').system('touch {marker}')")
    with pytest.raises(ScriptRefused, match="__import__"):
        env.execute(f"__import__('os').system('touch {marker}')", {})
    assert not marker.exists()


def test_import_statement_is_refused_when_compiled(env, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ScriptRefused, match="line 1: import is not allowed"):
        check_script(f"import os\nos.system('touch {marker}')")
    with pytest.raises(ScriptRefused, match="import is not allowed"):
        env.execute(f"import os\nos.system('touch {marker}')", {})
    with pytest.raises(ScriptRefused, match="line 2: import"):
        check_script("x = 1\nfrom os import system")
    assert not marker.exists()


# -- builtins the sandbox lacks: refused when compiled (at deploy), named ----------------------

@pytest.mark.parametrize("expression, name", [
    ("open('/etc/passwd').read()", "open"),
    ("getattr(x, '__class__')", "getattr"),
    ("type(x).mro()", "type"),
    ("globals()", "globals"),
    ("vars(x)", "vars"),
    ("compile('1', 'f', 'eval')", "compile"),
])
def test_unavailable_builtin_is_refused_when_compiled(env, expression, name):
    with pytest.raises(ScriptRefused, match=rf"{name}\(\) is not available"):
        check_expression(expression)
    with pytest.raises(ScriptRefused):
        env.evaluate(expression, {"x": 1})


def test_a_function_of_ones_own_may_share_a_builtins_name(env):
    """Only Python's builtin is refused: a script that defines `vars` itself may call it."""
    check_script("def vars(a):\n    return a\nresultat = vars(2)")


def test_a_format_string_finds_no_attributes_at_run_time(env):
    check_expression("'{0.__class__}'.format(x)")  # compiles: the method refuses at run time
    with pytest.raises(NotImplementedError):
        env.evaluate("'{0.__class__}'.format(x)", {"x": 1})


def test_datetime_does_not_hand_out_the_sys_module(env, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(AttributeError, match="no attribute 'sys'"):
        env.evaluate("datetime.sys", {})
    with pytest.raises(AttributeError):
        env.execute(f"datetime.sys.modules['os'].system('touch {marker}')", {})
    assert not marker.exists()


def test_missing_attribute_raises_as_in_python(env):
    with pytest.raises(AttributeError, match="'str' object has no attribute 'nothing'"):
        env.evaluate("x.nothing", {"x": "abc"})
    assert env.evaluate("x.upper()", {"x": "abc"}) == "ABC"


def test_script_cannot_write_attributes_of_objects(env):
    with pytest.raises(TypeError):
        env.execute("d = datetime.date(2026, 1, 1)\nd.year = 1999", {})


# -- ordinary scripts ----------------------------------------------------------------------

def test_script_assigns_computed_values_into_task_data(env):
    data = {"a": 2, "b": 3, "navne": ["anna", "bo"], "gammel": 1}
    env.execute(
        "total = a * b + 1\n"
        "store = [n.upper() for n in navne if n]\n"
        "frist = (datetime.date(2026, 11, 20) + datetime.timedelta(days=14)).isoformat()\n"
        "rund = math.ceil(total / 4)\n"
        "total += 10\n"
        "del gammel\n",
        data,
    )
    assert data["total"] == 17
    assert data["store"] == ["ANNA", "BO"]
    assert data["frist"] == "2026-12-04"
    assert data["rund"] == 2
    assert "gammel" not in data


def test_script_leaves_no_helpers_or_globals_in_task_data(env):
    data = {"n": 2}
    env.execute("def dobbelt(v):\n    return v * 2\nresultat = dobbelt(n)\n", data)
    assert data == {"n": 2, "resultat": 4}


def test_expression_reads_task_data_and_safe_helpers(env):
    assert env.evaluate('udfald == "afvis"', {"udfald": "afvis"}) is True
    assert env.evaluate('udfald == "afvis"', {"udfald": "oplys"}) is False
    assert env.evaluate("sum(x for x in tal) + max(tal)", {"tal": [1, 2, 3]}) == 9
    assert env.evaluate("datetime.date.fromisoformat(d).weekday()", {"d": "2026-11-23"}) == 0
    assert env.evaluate('"P%dD" % dage', {"dage": 14}) == "P14D"


def test_script_engine_uses_the_sandbox():
    engine = create_script_engine()
    assert isinstance(engine.environment, RestrictedEnvironment)


# -- deploy time: parse_sources refuses the file, naming file and element --------------------

def _gateway_process(condition: str) -> str:
    return definitions(process(
        "sandbox_gw", start(), gateway("gw_valg", "Valg", default="f_nej"),
        user_task("opgave"), end(),
        flow("start", "gw_valg"),
        flow("gw_valg", "opgave", condition, flow_id="f_ja"),
        flow("gw_valg", "end", flow_id="f_nej"),
        flow("opgave", "end", flow_id="f_opgave"),
    ))


@pytest.mark.parametrize("element_id, build", [
    ("hack", lambda cmd: linear("sandbox_script", ("hack", script_task(
        "hack", f"__import__('os').system('{cmd}')", name="Hack")))),
    ("gw_valg", lambda cmd: _gateway_process(f"__import__('os').system('{cmd}') == 0")),
    ("vent", lambda cmd: linear("sandbox_timer", ("vent", timer_event(
        "vent", f"().__class__.__base__.__subclasses__() or '{cmd}'")))),
    ("frist", lambda cmd: linear("sandbox_due", ("frist", user_task(
        "frist", dueDate=f"__import__('os').system('{cmd}')")))),
])
def test_deploy_refuses_a_file_whose_script_escapes_the_sandbox(tmp_path, forms, element_id,
                                                                 build):
    marker = tmp_path / "pwned"
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "ondsindet.bpmn").write_text(build(f"touch {marker}"), encoding="utf-8")

    with pytest.raises(ProcessDefinitionError) as raised:
        parse_sources(read_folder(folder), forms)
    message = raised.value.message
    assert message.startswith("ondsindet.bpmn: ")
    assert f"element {element_id}" in message
    with pytest.raises(ProcessDefinitionError, match="ondsindet.bpmn"):
        ProcessRegistry(folder, forms)
    assert not marker.exists()


# -- run time: the instance goes to error, nothing escapes, retry moves it on ---------------

def _open(session, casework, process_id, username="sagsbehandler"):
    with transaction(session):
        case = casework.open_case(session, get_user(session, username), process_id, CITIZEN,
                                  received_yesterday())
    return case


def _instance(session, case):
    return session.scalar(select(Instance).where(Instance.case_id == case.id))


def _events(session, case, kind):
    return list(session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id,
                                                         AuditEvent.kind == kind)))


def test_a_process_calling_an_unavailable_builtin_is_refused_at_deploy(build_casework,
                                                                      tmp_path):
    marker = str(tmp_path / "pwned")
    with pytest.raises(ProcessDefinitionError,
                       match=r"element laes_fil \(Læs fil\).*open\(\) is not available"):
        build_casework({"fejl.bpmn": linear("sandbox_fejl", (
            "laes_fil", script_task("laes_fil", f"indhold = open({marker!r}, 'w')",
                                    name="Læs fil")))})
    assert not Path(marker).exists()


@pytest.mark.parametrize("script, reason", [
    ("indhold = [1, 2][{marker!r}.count('/') * 0 + 5]", "IndexError"),
    ("datetime.sys.modules['os'].system('touch ' + {marker!r})", "AttributeError"),
])
def test_script_failing_at_run_time_puts_the_instance_in_error(session, build_casework,
                                                               tmp_path, script, reason):
    marker = str(tmp_path / "pwned")
    casework = build_casework({"fejl.bpmn": linear("sandbox_fejl", (
        "laes_fil", script_task("laes_fil", script.format(marker=marker), name="Læs fil")))})

    case = _open(session, casework, "sandbox_fejl")

    instance = _instance(session, case)
    assert instance.status == "error"
    assert reason in instance.error_message
    assert instance.error_element == "laes_fil (Læs fil)"
    errors = _events(session, case, "error")
    assert len(errors) == 1
    assert errors[0].data["element"] == "laes_fil (Læs fil)"
    assert errors[0].data["message"] == instance.error_message
    assert not Path(marker).exists()


def test_retry_with_corrected_data_moves_the_instance_on(session, build_casework):
    casework = build_casework({"valg.bpmn": definitions(process(
        "sandbox_valg", start(), gateway("gw_beslutning", "Beslutning"),
        user_task("ja_opgave", "Ja-opgave"), end(), end("end_nej"),
        flow("start", "gw_beslutning"),
        flow("gw_beslutning", "ja_opgave", 'beslutning == "ja"'),
        flow("gw_beslutning", "end_nej", 'beslutning == "nej"'),
        flow("ja_opgave", "end"),
    ))})
    case = _open(session, casework, "sandbox_valg")
    instance = _instance(session, case)
    assert instance.status == "error"
    assert "beslutning" in instance.error_message
    assert instance.error_element == "gw_beslutning (Beslutning)"
    assert casework.open_tasks_of_case(session, case) == []

    leader = get_user(session, "leder")
    with transaction(session):
        casework.retry(session, leader, case.id, data={"beslutning": "ja"})

    instance = _instance(session, case)
    assert instance.status == "running"
    assert instance.error_message is None and instance.error_element is None
    tasks = casework.open_tasks_of_case(session, case)
    assert [(t.bpmn_id, t.name) for t in tasks] == [("ja_opgave", "Ja-opgave")]
    retried = _events(session, case, "retried")
    assert [e.data["data"] for e in retried] == [{"beslutning": "ja"}]
    assert retried[0].actor_id == leader.id

    with pytest.raises(Conflict, match="not in error"), transaction(session):
        casework.retry(session, leader, case.id)


def test_retry_without_a_fix_leaves_the_instance_in_error(session, build_casework):
    casework = build_casework({"valg.bpmn": _gateway_process("mangler > 1")})
    case = _open(session, casework, "sandbox_gw")
    assert _instance(session, case).status == "error"

    worker = get_user(session, "sagsbehandler")  # the case's caseworker may retry too
    with transaction(session):
        casework.retry(session, worker, case.id)

    instance = _instance(session, case)
    assert instance.status == "error"
    assert instance.error_element == "gw_valg (Valg)"
    assert len(_events(session, case, "error")) == 2
    assert session.scalars(select(Task).where(Task.case_id == case.id)).all() == []


def test_endless_loop_is_stopped_with_a_clear_error(env):
    with pytest.raises(ScriptRefused, match="an endless loop"):
        env.execute("n = 0\nwhile True:\n    n += 1", {})
    with pytest.raises(ScriptRefused, match="an endless loop"):
        env.evaluate("[n for n in range(999) for m in range(999)]", {})


def test_line_budget_leaves_the_tracer_of_the_caller_in_place(env):
    import sys

    def tracer(*_args):
        return None

    sys.settrace(tracer)
    try:
        env.execute("x = 1", {})
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(None)
