"""Mechanisms of the follow-up module: the named form checks alle_maal_fulgt_op and
periode_i_orden, the expression function deadline_reminder(), the script functions ffb() and
luk_sag() (the process closes its case), and the DMN files a process's stored version keeps
with it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import time_machine
from bpmn_helpers import (
    CITIZEN,
    chain,
    definitions,
    end,
    flow,
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

from engine.bpmn import runtime
from engine.bpmn.registry import parse_sources
from engine.clock import LOCAL_TZ, now
from engine.db import transaction
from engine.deadlines import load_catalogue
from engine.deadlines.functions import change_entry, deadline_functions
from engine.errors import ProcessDefinitionError
from engine.form_checks import (
    CHECKS,
    every_goal_followed_up,
    interval_within_the_law,
    period_in_order,
)
from engine.models import AuditEvent, Case, CaseDeadline, Instance, ProcessVersion, Task

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_catalogue(ROOT / "processes")


# -- alle_maal_fulgt_op -----------------------------------------------------------------------

GOALS = {"maal_vurdering": [{"maal": "Handle ind selv"}, {"maal": "Komme i beskæftigelse"}]}


def _assessed(*goals: str) -> dict:
    return {"maal_vurdering": [{"maal": g, "vurdering": "delvist opfyldt"} for g in goals]}


def test_the_goal_check_is_the_one_the_forms_name():
    assert CHECKS["alle_maal_fulgt_op"] is every_goal_followed_up
    assert CHECKS["periode_i_orden"] is period_in_order


def test_every_goal_assessed_once_passes_in_any_order():
    assert every_goal_followed_up(_assessed("Komme i beskæftigelse", "Handle ind selv"),
                                  GOALS, {}) == {}
    # Spaces around a goal are not a different goal.
    assert every_goal_followed_up(_assessed(" Handle ind selv", "Komme i beskæftigelse "),
                                  GOALS, {}) == {}


def test_a_goal_left_out_is_named():
    problems = every_goal_followed_up(_assessed("Handle ind selv"), GOALS, {})
    assert list(problems) == ["maal_vurdering"]
    [problem] = problems["maal_vurdering"]
    assert "'Komme i beskæftigelse'" in problem
    assert "Handle ind selv" not in problem


def test_no_assessment_at_all_names_every_goal():
    [problem] = every_goal_followed_up({}, GOALS, {})["maal_vurdering"]
    assert "'Handle ind selv'" in problem and "'Komme i beskæftigelse'" in problem


def test_an_added_goal_is_refused_and_named():
    problems = every_goal_followed_up(
        _assessed("Handle ind selv", "Komme i beskæftigelse", "Lære at cykle"), GOALS, {})
    [problem] = problems["maal_vurdering"]
    assert "not a goal of the decision, or assessed twice: 'Lære at cykle'" in problem
    assert "new decision" in problem


def test_a_changed_goal_is_both_missing_and_added():
    problems = every_goal_followed_up(
        _assessed("Handle ind selv", "Komme i beskæftigelse snart"), GOALS, {})
    text = " | ".join(problems["maal_vurdering"])
    assert "no assessment of the goal(s) 'Komme i beskæftigelse'" in text
    assert "not a goal of the decision, or assessed twice: 'Komme i beskæftigelse snart'" in text


def test_a_goal_assessed_twice_is_refused():
    problems = every_goal_followed_up(
        _assessed("Handle ind selv", "Handle ind selv", "Komme i beskæftigelse"), GOALS, {})
    [problem] = problems["maal_vurdering"]
    assert "assessed twice: 'Handle ind selv'" in problem


def test_a_goal_the_decision_names_twice_is_assessed_twice():
    twice = {"maal_vurdering": [{"maal": "Samme"}, {"maal": "Samme "}]}
    [problem] = every_goal_followed_up(_assessed("Samme"), twice, {})["maal_vurdering"]
    assert "no assessment of the goal(s) 'Samme'" in problem  # one copy is not enough
    assert every_goal_followed_up(_assessed("Samme", "Samme"), twice, {}) == {}


@pytest.mark.parametrize("area, months, refused", [
    ("boern", 6, False), ("boern", 7, True), ("voksne", 24, False), (None, 12, False)])
def test_a_childs_next_follow_up_comes_within_6_months(area, months, refused):
    # what the shipped decision table (processes/opfoelgningsinterval.dmn) gives each area
    from_the_table = {"boern": {"laengste_opfoelgning_maaneder": 6,
                                "opfoelgning_hjemmel": "Barnets lov § 95"},
                      "voksne": {"laengste_opfoelgning_maaneder": 24,
                                 "opfoelgning_hjemmel": "Serviceloven § 148, stk. 2"}}
    problems = interval_within_the_law({"naeste_opfoelgning_maaneder": months},
                                       {"omraade": area, **from_the_table.get(area, {})}, {})
    assert bool(problems) == refused
    if refused:
        assert "Barnets lov § 95" in problems["naeste_opfoelgning_maaneder"][0]


def test_without_goals_on_the_case_nothing_may_be_assessed():
    assert every_goal_followed_up({"maal_vurdering": []}, {}, {}) == {}
    assert every_goal_followed_up({}, {"maal_vurdering": None}, {}) == {}
    assert "maal_vurdering" in every_goal_followed_up(_assessed("Noget"), {}, {})


# -- periode_i_orden --------------------------------------------------------------------------


@pytest.mark.parametrize("start_day, end_day", [
    ("2027-01-01", "2027-12-31"),
    ("2027-03-15", "2027-03-15"),  # one day
    ("2026-12-31", "2027-01-01"),
    ("2027-01-01", None),  # open-ended
    (None, "2027-01-01"),
])
def test_a_period_that_ends_on_or_after_its_start_passes(start_day, end_day):
    submitted = {k: v for k, v in (("periode_fra", start_day), ("periode_til", end_day)) if v}
    assert period_in_order(submitted, {}, {}) == {}


@pytest.mark.parametrize("start_day, end_day", [
    ("2027-03-15", "2027-03-14"),
    ("2027-01-01", "2026-12-31"),
    ("2027-10-01", "2027-09-30"),
])
def test_a_period_that_ends_before_it_begins_is_refused_on_its_end(start_day, end_day):
    assert period_in_order({"periode_fra": start_day, "periode_til": end_day}, {}, {}) == {
        "periode_til": [f"ends before the period begins ({start_day})"]}


# -- deadline_reminder() ----------------------------------------------------------------------


def _functions(store: dict) -> dict:
    return {name: factory(store) for name, factory in deadline_functions(CATALOGUE).items()}


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_reminder_of_an_hour_deadline_is_that_many_hours_before_it():
    store = {}
    fns = _functions(store)
    due = fns["start_deadline"]("underretning_24t", "2026-03-02T10:00:00+01:00")
    assert _local(due) == _local("2026-03-03T10:00:00+01:00")
    assert _local(fns["deadline_reminder"]("underretning_24t")) == _local(
        "2026-03-03T04:00:00+01:00")  # 6 hours ahead


def test_the_reminder_of_a_working_day_deadline_is_the_start_of_its_day():
    store = {}
    fns = _functions(store)
    # Started Monday 2 March 2026: 7 working days are due Wednesday 11 March; the reminder
    # 2 working days earlier is Monday 9 March at 00:00 Danish time.
    due = fns["start_deadline"]("aktindsigt_7hd", "2026-03-02T10:00:00+01:00")
    assert _local(due) == _local("2026-03-11T23:59:59+01:00")
    assert _local(fns["deadline_reminder"]("aktindsigt_7hd")) == _local(
        "2026-03-09T00:00:00+01:00")


def test_of_several_reminders_the_first_is_the_earliest():
    store = {}
    fns = _functions(store)
    # sel50_4m reminds 20 and 5 working days ahead; started 10 June 2026, due Saturday
    # 10 October 2026.
    due = fns["start_deadline"]("sel50_4m", "2026-06-10T09:00:00+02:00")
    assert _local(due) == _local("2026-10-10T23:59:59+02:00")
    reminder = _local(fns["deadline_reminder"]("sel50_4m"))
    assert reminder == _local("2026-09-14T00:00:00+02:00")
    both = CATALOGUE.reminders("sel50_4m", _local(due))
    assert both == [reminder, _local("2026-10-05T00:00:00+02:00")]


def test_a_deadline_without_reminders_reminds_at_its_due_moment():
    store = {}
    fns = _functions(store)
    assert not CATALOGUE.get("partshoering_svar").reminders
    due = fns["start_deadline"]("partshoering_svar", "2026-03-02T10:00:00+01:00")
    assert fns["deadline_reminder"]("partshoering_svar") == due
    assert _local(due) == _local("2026-03-16T23:59:59+01:00")


def test_the_reminder_follows_the_deadline_when_it_moves():
    store = {}
    fns = _functions(store)
    fns["start_deadline"]("aktindsigt_7hd", "2026-03-02T10:00:00+01:00")
    reason = CATALOGUE.get("aktindsigt_7hd").pause_reasons[0]
    entry = store["frister"]["aktindsigt_7hd"]
    paused = change_entry(CATALOGUE, "aktindsigt_7hd", entry, "pause", reason,
                          _local("2026-03-04T12:00:00+01:00"))
    resumed = change_entry(CATALOGUE, "aktindsigt_7hd", paused, "resume", None,
                           _local("2026-03-07T12:00:00+01:00"))
    store["frister"] = {"aktindsigt_7hd": resumed}
    # Three days paused: due Saturday 14 March; 2 working days before it is Thursday 12 March.
    assert _local(fns["deadline"]("aktindsigt_7hd")) == _local("2026-03-14T23:59:59+01:00")
    assert _local(fns["deadline_reminder"]("aktindsigt_7hd")) == _local(
        "2026-03-12T00:00:00+01:00")


def test_the_reminder_of_a_deadline_not_started_is_an_error():
    fns = _functions({})
    with pytest.raises(ValueError, match="'aktindsigt_7hd' has not been started"):
        fns["deadline_reminder"]("aktindsigt_7hd")


def test_deploy_checks_the_key_a_reminder_timer_names(forms):
    keys = set(CATALOGUE.keys())
    for expression, ok in [('deadline_reminder("aktindsigt_7hd")', True),
                           ('deadline_reminder("findes_ikke")', False)]:
        source = linear("paamind", ("start_frist", script_task(
            "start_frist", 'start_deadline("aktindsigt_7hd")')),
            ("vent", timer_event("vent", expression, "timeDate")))
        if ok:
            assert "paamind" in parse_sources({"p.bpmn": source}, forms, keys)
        else:
            with pytest.raises(ProcessDefinitionError, match="unknown deadline 'findes_ikke'"):
                parse_sources({"p.bpmn": source}, forms, keys)


def test_a_timer_on_the_reminder_puts_the_task_in_the_inbox_when_the_deadline_turns_yellow(
        app, session, build_casework):
    catalogue = app.extensions["deadlines"]
    casework = build_casework({"paamind.bpmn": linear(
        "paamind",
        ("start_frist", script_task("start_frist", 'start_deadline("aktindsigt_7hd")')),
        ("vent", timer_event("vent", 'deadline_reminder("aktindsigt_7hd")', "timeDate")),
        ("svar", user_task("svar", "Svar på anmodningen")),
    )}, deadlines=catalogue)
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "paamind", CITIZEN, now())
    row = session.scalar(select(CaseDeadline).where(CaseDeadline.case_id == case.id))
    [reminder] = catalogue.reminders("aktindsigt_7hd", row.due_at)
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.next_due_at == reminder == row.warn_at
    assert _ready(session, case) == []
    with time_machine.travel(reminder - timedelta(minutes=1), tick=False):
        with transaction(session):
            assert casework.fire_due_timers(session, instance.id) == []
    with time_machine.travel(reminder + timedelta(minutes=1), tick=False):
        with transaction(session):
            casework.fire_due_timers(session, instance.id)
    assert _ready(session, case) == ["svar"]


# -- ffb() in scripts ---------------------------------------------------------------------------


MOBILITY = "d1495b2c-1452-4e49-8dbe-8193af5d8823"


def test_a_script_names_ffb_codes_in_danish(session, build_casework):
    casework = build_casework({"navne.bpmn": linear(
        "navne",
        ("navngiv", script_task(
            "navngiv", f'kommentar = ffb("{MOBILITY}") + ": " + '
                       f'" / ".join(ffb(["{MOBILITY}", "ukendt-kode"]))')),
        ("se", user_task("se", "Se navnene")),
    )})
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "navne", CITIZEN, received_yesterday())
        task = _task(session, case, "se")
        _task_row, prefill = casework.get_task(session, user, task.id)
    # A code the code system lacks is shown as itself.
    assert prefill["kommentar"] == "Mobilitet: Mobilitet / ukendt-kode"


# -- luk_sag(): the process closes its case -------------------------------------------------


def _ready(session, case) -> list[str]:
    return sorted(session.scalars(select(Task.bpmn_id).where(
        Task.case_id == case.id, Task.state == "ready")))


def _task(session, case, bpmn_id) -> Task:
    return session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id,
                                             Task.state == "ready"))


def _events(session, case, kind) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.kind == kind).order_by(AuditEvent.id)))


def _rows(session, case) -> dict[str, CaseDeadline]:
    return {row.key: row for row in session.scalars(
        select(CaseDeadline).where(CaseDeadline.case_id == case.id))}


def _closing_process(close: bool = True) -> str:
    """start -> start two deadlines -> a task -> meet one (and close the case) -> end"""
    finish = 'meet_deadline("kvittering_6hd")' + ('\nluk_sag("Færdig")' if close else "")
    return linear(
        "lukker",
        ("start_frist", script_task(
            "start_frist",
            'start_deadline("aktindsigt_7hd")\nstart_deadline("kvittering_6hd")')),
        ("opgave", user_task("opgave", "Besvar")),
        ("afslut", script_task("afslut", finish)),
    )


@pytest.fixture
def closing(app, session, build_casework):
    def open_with(close: bool = True):
        casework = build_casework({"lukker.bpmn": _closing_process(close)},
                                  deadlines=app.extensions["deadlines"])
        user = get_user(session, "sagsbehandler")
        with transaction(session):
            case = casework.open_case(session, user, "lukker", CITIZEN, received_yesterday())
        return casework, user, case

    return open_with


def test_a_process_that_ends_with_luk_sag_closes_its_case(session, closing):
    casework, user, case = closing()
    assert case.status == "active"
    assert {k: r.state for k, r in _rows(session, case).items()} == {
        "aktindsigt_7hd": "open", "kvittering_6hd": "open"}
    task = _task(session, case, "opgave")
    with transaction(session):
        casework.complete_task(session, user, task.id, {"godkendt": True})
    session.expire_all()
    case = session.get(Case, case.id)
    assert case.status == "closed"
    assert case.closed_at is not None
    [changed] = _events(session, case, "status_changed")
    assert changed.data == {"old": "active", "new": "closed", "reason": "Færdig",
                            "by": "process"}
    assert changed.actor_id is None
    rows = _rows(session, case)
    # The open deadline is settled (no longer watched); the one the process met stays met.
    assert rows["aktindsigt_7hd"].closed_at == case.closed_at
    assert rows["aktindsigt_7hd"].state == "closed"
    assert rows["aktindsigt_7hd"].next_check_at is None
    assert rows["kvittering_6hd"].state == "met"
    assert rows["kvittering_6hd"].closed_at is None
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "completed"


def test_a_closed_case_is_not_reminded_or_breached_later(app, session, closing):
    from conftest import run_tick

    casework, user, case = closing()
    with transaction(session):
        casework.complete_task(session, user, _task(session, case, "opgave").id,
                               {"godkendt": True})
    with time_machine.travel(now() + timedelta(days=60), tick=False):
        run_tick(app)
    for kind in ("deadline_reminder", "deadline_breached", "deadline_escalated"):
        assert _events(session, case, kind) == [], kind


def test_a_process_that_ends_without_luk_sag_leaves_the_case_active(session, closing):
    casework, user, case = closing(close=False)
    with transaction(session):
        casework.complete_task(session, user, _task(session, case, "opgave").id,
                               {"godkendt": True})
    session.expire_all()
    case = session.get(Case, case.id)
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "completed"
    assert case.status == "active"
    assert case.closed_at is None
    assert _events(session, case, "status_changed") == []
    assert _rows(session, case)["aktindsigt_7hd"].state in ("open", "due_soon")


def test_luk_sag_before_a_later_step_closes_only_when_the_process_ends(session, build_casework):
    casework = build_casework({"sent.bpmn": linear(
        "sent",
        ("luk", script_task("luk", 'luk_sag("Afsluttes efter sidste opgave")')),
        ("sidste", user_task("sidste", "Sidste opgave")),
    )})
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "sent", CITIZEN, received_yesterday())
    assert case.status == "active"
    with transaction(session):
        casework.complete_task(session, user, _task(session, case, "sidste").id,
                               {"godkendt": True})
    session.expire_all()
    case = session.get(Case, case.id)
    assert case.status == "closed"
    [changed] = _events(session, case, "status_changed")
    assert changed.data["reason"] == "Afsluttes efter sidste opgave"


def test_a_timer_that_ends_the_process_closes_the_case(session, build_casework):
    casework = build_casework({"ventetid.bpmn": linear(
        "ventetid",
        ("vent", timer_event("vent", '"P3D"')),
        ("luk", script_task("luk", 'luk_sag("Ingen svar inden fristen")')),
    )})
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "ventetid", CITIZEN, received_yesterday())
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    with time_machine.travel(now() + timedelta(days=4), tick=False):
        with transaction(session):
            casework.fire_due_timers(session, instance.id)
    session.expire_all()
    case = session.get(Case, case.id)
    assert case.status == "closed"
    [changed] = _events(session, case, "status_changed")
    assert changed.data["reason"] == "Ingen svar inden fristen"
    assert changed.data["by"] == "process"


def _parallel(luk_in: str) -> str:
    """start -> fork: branch a (a task) and branch b (a task); `luk_in` calls luk_sag after its
    task; each branch ends at its own end event."""
    script = {"a": "luk_a", "b": "luk_b"}
    elements = [start(), '<bpmn:parallelGateway id="fork" />',
                user_task("opgave_a", "Opgave A"), user_task("opgave_b", "Opgave B"),
                script_task(script[luk_in], 'luk_sag("Begge grene er færdige")'),
                end("end_a"), end("end_b"), flow("start", "fork"),
                flow("fork", "opgave_a"), flow("fork", "opgave_b")]
    for branch in ("a", "b"):
        if branch == luk_in:
            elements += chain(f"opgave_{branch}", script[branch], f"end_{branch}")
        else:
            elements += chain(f"opgave_{branch}", f"end_{branch}")
    return definitions(process("parallel", *elements))


@pytest.mark.parametrize("order", [
    "the branch that called luk_sag ends last",
    "the branch that called luk_sag ends first",
])
def test_luk_sag_in_one_of_two_parallel_branches_closes_the_case(session, build_casework,
                                                                 order):
    casework = build_casework({"parallel.bpmn": _parallel("a")})
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "parallel", CITIZEN, received_yesterday())
    assert _ready(session, case) == ["opgave_a", "opgave_b"]
    first, last = (("opgave_b", "opgave_a") if order.endswith("last")
                   else ("opgave_a", "opgave_b"))
    for bpmn_id in (first, last):
        with transaction(session):
            casework.complete_task(session, user, _task(session, case, bpmn_id).id,
                                   {"godkendt": True})
    session.expire_all()
    instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
    assert instance.status == "completed"
    assert session.get(Case, case.id).status == "closed"


# -- DMN files travel with the process that uses them ------------------------------------------


def _dmn(decision_id: str, output: str) -> str:
    """A decision table: area "boern" gives `output`, anything else "12 måneder"."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_{decision_id}"
    name="{decision_id}" namespace="http://sagsflow.dk/dmn">
  <decision id="{decision_id}" name="{decision_id}">
    <decisionTable id="{decision_id}_tabel" hitPolicy="FIRST">
      <input id="{decision_id}_in" label="Område">
        <inputExpression id="{decision_id}_in_expr" typeRef="string">
          <text>omraade</text></inputExpression>
      </input>
      <output id="{decision_id}_ud" label="Interval" name="kommentar" typeRef="string"/>
      <rule id="{decision_id}_boern">
        <inputEntry id="{decision_id}_boern_in"><text>? == "boern"</text></inputEntry>
        <outputEntry id="{decision_id}_boern_ud"><text>{escape(output)}</text></outputEntry>
      </rule>
      <rule id="{decision_id}_andre">
        <inputEntry id="{decision_id}_andre_in"><text>-</text></inputEntry>
        <outputEntry id="{decision_id}_andre_ud"><text>"12 måneder"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def _rule_task(element_id: str, decision: str) -> str:
    return (f'<bpmn:businessRuleTask id="{element_id}" name="{element_id}" '
            f'camunda:decisionRef="{decision}" />')


def _interval_process(process_id: str = "interval", before: tuple = ()) -> str:
    """start -> [before] -> set omraade -> business rule task (decision interval) -> task."""
    return linear(
        process_id, *before,
        ("omraade", script_task("omraade", 'omraade = "boern"')),
        ("regel", _rule_task("regel", "interval")),
        ("se", user_task("se", "Se intervallet")),
    )


def test_a_version_keeps_the_dmn_files_its_rule_tasks_name_and_no_others(forms):
    sources = {"interval.bpmn": _interval_process(),
               "interval.dmn": _dmn("interval", '"6 måneder"'),
               "andet.dmn": _dmn("andet", '"3 måneder"')}
    definition = parse_sources(sources, forms)["interval"]
    assert set(definition.sources) == {"interval.bpmn", "interval.dmn"}
    assert definition.sources["interval.dmn"] == sources["interval.dmn"]
    # Parsed alone from what is stored, it still runs its decision.
    alone = parse_sources(definition.sources, None)["interval"]
    workflow = runtime.start(alone, {})
    assert runtime.run_engine(workflow) is None
    [ready] = runtime.ready_user_tasks(workflow)
    assert ready.data["kommentar"] == "6 måneder"


def test_without_its_dmn_file_a_process_with_a_rule_task_does_not_parse(forms):
    with pytest.raises(ProcessDefinitionError):
        parse_sources({"interval.bpmn": _interval_process()}, forms)


def test_the_content_hash_covers_the_dmn_it_uses_and_only_that(forms):
    def hashed(interval_output, other_output):
        return parse_sources({"interval.bpmn": _interval_process(),
                              "interval.dmn": _dmn("interval", interval_output),
                              "andet.dmn": _dmn("andet", other_output)},
                             forms)["interval"].content_hash

    base = hashed('"6 måneder"', '"3 måneder"')
    assert hashed('"6 måneder"', '"4 måneder"') == base
    assert hashed('"9 måneder"', '"3 måneder"') != base


def test_a_called_process_brings_its_dmn_file_along(forms):
    caller = definitions(process(
        "hoved", start(),
        '<bpmn:callActivity id="kald" calledElement="interval" />', end(),
        *chain("start", "kald", "end")))
    definition = parse_sources({"hoved.bpmn": caller, "interval.bpmn": _interval_process(),
                                "interval.dmn": _dmn("interval", '"6 måneder"'),
                                "andet.dmn": _dmn("andet", '"3 måneder"')}, forms)["hoved"]
    assert set(definition.sources) == {"hoved.bpmn", "interval.bpmn", "interval.dmn"}
    assert "hoved" in parse_sources(definition.sources, None)


def test_a_running_case_keeps_the_decision_table_of_its_version(session, build_casework):
    first_step = (("start_op", user_task("start_op", "Start")),)
    files = {"interval.bpmn": _interval_process(before=first_step),
             "interval.dmn": _dmn("interval", '"6 måneder"')}
    old = build_casework(files)
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        running = old.open_case(session, user, "interval", CITIZEN, received_yesterday())
    # The municipality changes its rule: a new version of the process is deployed.
    new = build_casework({**files, "interval.dmn": _dmn("interval", '"3 måneder"')})
    versions = session.scalars(select(ProcessVersion).where(
        ProcessVersion.process_id == "interval").order_by(ProcessVersion.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert set(versions[0].sources) == {"interval.bpmn", "interval.dmn"}
    with transaction(session):
        fresh = new.open_case(session, user, "interval", {**CITIZEN, "cpr": "0203041234"},
                              received_yesterday())
    for case, expected in ((running, "6 måneder"), (fresh, "3 måneder")):
        with transaction(session):
            new.complete_task(session, user, _task(session, case, "start_op").id,
                              {"godkendt": True})
            _row, prefill = new.get_task(session, user, _task(session, case, "se").id)
        assert prefill["kommentar"] == expected, case.id


def test_the_shipped_follow_up_decision_travels_with_the_processes_that_call_it(casework):
    current = casework.registry.current
    assert "opfoelgningsinterval.dmn" in current["opfoelgning"].sources
    assert "opfoelgningsinterval.dmn" in current["sel50"].sources
    assert not any(name.endswith(".dmn") for name in current["henvendelse"].sources)
    for pid in ("opfoelgning", "sel50"):
        assert pid in parse_sources(current[pid].sources, None)


def test_reminder_moments_are_danish_midnight():
    """deadline_reminder gives an ISO moment a timer's timeDate takes as it is."""
    store = {}
    fns = _functions(store)
    fns["start_deadline"]("kvittering_6hd", "2026-07-01T10:00:00+02:00")
    moment = _local(fns["deadline_reminder"]("kvittering_6hd"))
    assert moment.utcoffset() is not None
    local = moment.astimezone(LOCAL_TZ)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
