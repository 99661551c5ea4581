"""Trying a process (engine/bpmn/trial.py): a test run replays steps over BPMN files in a
sandbox (its own database, a sample organisation, time moved by time-machine) and says what
each step did; a run can be saved as a scenario that the test suite replays."""

import io
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.bpmn import trial
from engine.bpmn.registry import read_folder
from engine.bpmn.trial import (
    TrialResult,
    check_scenario,
    compare,
    replay,
    replay_in_subprocess,
    save_scenario,
)
from engine.clock import now
from engine.errors import Conflict, ValidationFailed
from engine.models import AuditEvent, Case, ProcessVersion, Task

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
SOURCES = read_folder(PROCESSES)
AT = "2026-11-02T09:00:00+01:00"  # a Monday morning
CHILD = {"cpr": "0105134321", "name": "Ida Ærø", "address": "Havnegade 3, 8000 Aarhus C"}
PARENTS = [{"navn": "Sara Ærø", "adresse": "Havnegade 3, 8000 Aarhus C", "relation": "mor"},
           {"navn": "Jonas Ærø", "adresse": "Skovvej 9, 8210 Aarhus V", "relation": "far"}]
FROM_SCHOOL = {"kilde": "fagperson", "fagperson_rolle": "Klasselærer",
               "underretter_navn": "Mette Holm", "indhold": "Ida kommer ofte sulten i skole.",
               "vold_eller_overgreb": False, "akut_fare": False, "foraeldremyndighed": PARENTS}
START = {"start": {"process": "sel50", "at": AT, "citizen": CHILD}}


def complete(task, data):
    return {"complete": {"task": task, "data": data}}


def ids(entries):
    return [e["id"] for e in entries]


def test_a_short_walk_gives_the_open_tasks_and_the_path():
    result = replay(SOURCES, [START, complete("vurder_underretning", FROM_SCHOOL)])
    assert result.ok, result.error
    first, second = result.steps
    assert ids(first["open_tasks"]) == ["vurder_underretning"]
    assert first["open_tasks"][0]["form"] == "sel50_underretning"
    assert first["open_tasks"][0]["due_at"] == "2026-11-03T08:00:00+00:00"  # 24 hours
    assert ids(first["path"]) == ["start", "start_frist"]
    assert ids(second["open_tasks"]) == ["screening"]
    assert ids(second["path"]) == ["start", "start_frist", "vurder_underretning",
                                   "efter_vurdering"]
    assert second["path"][2]["name"] == "Vurdér underretningen (inden 24 timer)"
    assert second["path"][2]["type"] == "UserTask"
    deadlines = {d["key"]: d for d in second["deadlines"]}
    assert deadlines["underretning_24t"]["met"] and not deadlines["underretning_24t"]["breached"]
    assert deadlines["kvittering_6hd"]["state"] == "open"
    assert [(x["key"], x["recipient"], x["state"]) for x in second["letters"]] == \
        [("kvittering_underretning", "Mette Holm", "draft")]
    assert [e["kind"] for e in second["events"]][:2] == ["task_completed", "task_created"]
    assert second["events"][0]["by"] == "sagsbehandler"
    assert not second["ended"] and second["case_status"] == "active"
    assert result.started_at == "2026-11-02T08:00:00+00:00"
    assert second["now"] == result.started_at  # the clock stands still between steps


def test_screening_that_closes_the_case_ends_the_process():
    result = replay(SOURCES, [
        START, complete("vurder_underretning", FROM_SCHOOL),
        complete("screening", {"beslutning": "luk", "betingelser": []})])
    assert result.ok, result.error
    final = result.final
    assert final["ended"] and final["case_status"] == "closed"
    assert final["open_tasks"] == []
    assert ids(final["path"])[-3:] == ["gw_screening", "luk_sag_screening", "luk"]


def test_advance_fires_the_timer_and_the_path_shows_it():
    """Nobody assesses the notification within 24 hours: the boundary timer fires and the
    leader gets the escalation; the deadline is breached. The leader completes it."""
    result = replay(SOURCES, [
        START, {"advance": {"days": 1, "hours": 2}},
        complete("eskaler_24t", {"handling": "vurderet_selv"})])
    assert result.ok, result.error
    advanced = result.steps[1]
    assert advanced["now"] == "2026-11-03T10:00:00+00:00"
    assert sorted(ids(advanced["open_tasks"])) == ["eskaler_24t", "vurder_underretning"]
    escalation = next(t for t in advanced["open_tasks"] if t["id"] == "eskaler_24t")
    assert escalation["candidate_groups"] == ["leder"]
    assert ids(advanced["path"])[-1] == "b_24t"
    fired = next(e for e in advanced["events"] if e["kind"] == "timer_fired")
    assert fired["timer"] == "b_24t"
    # at its moment, not at the end of the advance
    assert fired["at"] == "2026-11-03T08:00:01+00:00"
    deadlines = {d["key"]: d for d in advanced["deadlines"]}
    assert deadlines["underretning_24t"]["breached"]
    done = result.steps[2]
    assert ids(done["open_tasks"]) == ["vurder_underretning"]
    assert ids(done["path"])[-2:] == ["eskaler_24t", "slut_eskal"]
    completed = next(e for e in done["events"] if e["kind"] == "task_completed")
    assert completed["by"] == "leder"  # a candidate of the task's group


def test_advance_until_a_date():
    result = replay(SOURCES, [START, {"advance": {"until": "2026-11-05"}}])
    assert result.ok, result.error
    assert result.final["now"] == "2026-11-04T23:00:00+00:00"  # midnight, Danish time


def test_a_message_and_a_task_for_someone_not_involved():
    """A second notification about violence arrives: it must be assessed by someone who has not
    worked on the case (Barnets lov § 137): the other caseworker of the team does it."""
    result = replay(SOURCES, [
        START, complete("vurder_underretning", FROM_SCHOOL),
        {"message": {"name": "ny_underretning", "data": {
            "kilde": "borger", "indhold": "Naboen hører råb og slag.",
            "vold_eller_overgreb": True}}},
        complete("genvurder", {"akut_fare": False, "vurdering": "Indgår i screeningen.",
                               "konsekvens": "indgaar_i_undersoegelsen"})])
    assert result.ok, result.error
    message, assessed = result.steps[2], result.steps[3]
    assert sorted(ids(message["open_tasks"])) == ["genvurder", "screening"]
    assert "message_received" in [e["kind"] for e in message["events"]]
    completed = next(e for e in assessed["events"] if e["kind"] == "task_completed")
    assert completed["by"] == "sagsbehandler2"
    assert ids(assessed["open_tasks"]) == ["screening"]


def test_a_draft_of_the_files_is_what_runs():
    draft = dict(SOURCES)
    draft["sel50.bpmn"] = draft["sel50.bpmn"].replace(
        'name="Screening: hvad skal der ske?"', 'name="Screening (kladde)"')
    result = replay(draft, [START, complete("vurder_underretning", FROM_SCHOOL)])
    assert result.final["open_tasks"][0]["name"] == "Screening (kladde)"


def test_a_task_given_to_a_team_can_be_tried():
    """A designer who gives a task to a team (a candidate group that is no role) can try it:
    the sample organisation has a team of each key the processes name."""
    draft = dict(SOURCES)
    draft["sel50.bpmn"] = draft["sel50.bpmn"].replace(
        'camunda:candidateGroups="sagsbehandler"', 'camunda:candidateGroups="nord"', 1)
    assert draft["sel50.bpmn"] != SOURCES["sel50.bpmn"]
    result = replay(draft, [START, complete("vurder_underretning", FROM_SCHOOL)])
    assert result.ok, result.error
    assert result.steps[0]["open_tasks"][0]["candidate_groups"] == ["nord"]


@pytest.mark.parametrize(("steps", "index", "field", "words"), [
    ([START, complete("nope", {})], 1, "task", "no user task 'nope'"),
    ([START, complete("samtykke", {})], 1, "task", "'samtykke' (Indhent samtykke) is not open"),
    ([START, complete("vurder_underretning", {**FROM_SCHOOL, "kilde": "brevdue"})], 1,
     "kilde", "kilde"),
    ([START, complete("vurder_underretning", FROM_SCHOOL),
      complete("screening", {"betingelser": ["saerlig_stoette"]})], 2, "beslutning",
     "beslutning"),
    ([START, {"advance": {"until": "2026-01-01"}}], 1, "until", "time only moves forward"),
    ([START, {"advance": {"days": -1}}], 1, "days", "days must be a number"),
    ([START, {"message": {"name": "ny_underretning", "data": {}}}], 1, "kilde", "kilde"),
    ([START, {"jump": {}}], 1, None, "unknown step 'jump'"),
    ([START, START], 1, None, "already started"),
    ([complete("vurder_underretning", FROM_SCHOOL)], 0, None, "first step must be a start"),
    ([{"start": {"process": "sel99", "at": AT}}], 0, "process", "no process 'sel99'"),
    ([{"start": {"process": "oplysningsanmodning", "at": AT}}], 0, "process",
     "only called by another process"),
])
def test_a_bad_step_stops_the_run_with_a_clear_error(steps, index, field, words):
    after = complete("screening", {"beslutning": "luk"})
    result = replay(SOURCES, [*steps, after])
    assert not result.ok
    error = result.error
    assert error["step"] == index
    assert error["message"].startswith(f"step {index + 1} (")
    assert words in error["message"]
    if field:
        assert any(field in name for name in error["fields"]), error
    assert len(result.steps) == index  # the steps before it, none after


def test_a_form_error_names_the_field_and_the_task():
    result = replay(SOURCES, [START, complete("vurder_underretning",
                                              {**FROM_SCHOOL, "kilde": "brevdue"})])
    assert result.error["kind"] == "complete"
    assert "'vurder_underretning'" in result.error["message"]
    assert "kilde:" in result.error["message"]


def test_files_that_do_not_parse_are_an_error_before_any_step():
    broken = {**SOURCES, "sel50.bpmn": SOURCES["sel50.bpmn"][:500]}
    result = replay(broken, [START])
    assert result.error["step"] is None and result.error["kind"] == "sources"
    assert "sel50.bpmn" in result.error["message"]
    result = replay({"../x.bpmn": SOURCES["sel50.bpmn"]}, [START])
    assert result.error["kind"] == "sources"


def test_an_error_in_the_process_itself_stops_the_run_at_its_step():
    draft = dict(SOURCES)
    draft["sel50.bpmn"] = draft["sel50.bpmn"].replace(
        'meet_deadline("underretning_24t")', 'meet_deadline("underretning_24t")\nx = 1 / 0', 1)
    result = replay(draft, [START, complete("vurder_underretning", FROM_SCHOOL),
                            complete("screening", {"beslutning": "luk"})])
    assert result.error["step"] == 1
    assert "the process failed at" in result.error["message"]
    assert "division by zero" in result.error["message"]
    assert result.error["state"]["ended"] is False  # where it stopped
    assert len(result.steps) == 1


def test_the_sandbox_does_not_touch_the_real_database(session):
    counts = [select(func.count()).select_from(table)
              for table in (Case, Task, AuditEvent, ProcessVersion)]
    before = [session.scalar(c) for c in counts]
    result = replay(SOURCES, [START, complete("vurder_underretning", FROM_SCHOOL),
                              {"advance": {"days": 30}}])
    assert result.ok, result.error
    session.expire_all()
    assert [session.scalar(c) for c in counts] == before
    assert before[0] == 0


def test_the_clock_is_back_after_a_replay():
    before = now()
    result = replay(SOURCES, [START, {"advance": {"days": 400}}])
    assert result.final["now"] == "2027-12-07T08:00:00+00:00"
    assert timedelta(0) <= now() - before < timedelta(minutes=1)


def test_replay_in_a_subprocess_gives_the_same_result():
    steps = [START, complete("vurder_underretning", FROM_SCHOOL), {"advance": {"days": 2}},
             complete("screening", {"beslutning": "undersoegelse",
                                    "betingelser": ["saerlig_stoette"]})]
    here = replay(SOURCES, steps).to_dict()
    there = replay_in_subprocess(SOURCES, steps, timeout=120).to_dict()
    assert there["ok"], there["error"]
    here.pop("seconds"), there.pop("seconds")
    assert there == here


def test_a_subprocess_that_takes_too_long_or_crashes_is_an_error(monkeypatch):
    slow = replay_in_subprocess(SOURCES, [START], timeout=0.01)
    assert slow.error["kind"] == "timeout"
    assert "took more than 0.01 seconds" in slow.error["message"]
    monkeypatch.setattr(sys, "executable", "/bin/false")
    crashed = replay_in_subprocess(SOURCES, [START], timeout=30)
    assert crashed.error["kind"] == "crash" and "exit code 1" in crashed.error["message"]


def test_the_command_reads_and_writes_json():
    out = io.StringIO()
    request = {"sources": SOURCES, "steps": [START]}
    assert trial.main(io.StringIO(json.dumps(request)), out) == 0
    answer = json.loads(out.getvalue())
    assert answer["ok"] and ids(answer["steps"][0]["open_tasks"]) == ["vurder_underretning"]
    assert trial.main(io.StringIO("{"), io.StringIO()) == 2


# -- scenarios ----------------------------------------------------------------------------

STEPS = [START, complete("vurder_underretning", FROM_SCHOOL)]


@pytest.mark.parametrize("name", [
    "../evil", "a/b", "Store", "", ".hidden", "x.json", "-x", "æøå", "a" * 65, "..",
    "sub/../x", None])
def test_save_scenario_refuses_bad_names(tmp_path, name):
    result = replay(SOURCES, STEPS)
    with pytest.raises(ValidationFailed) as refused:
        save_scenario(tmp_path / "scenarios", name, STEPS, result)
    assert "name" in refused.value.fields
    assert not (tmp_path / "scenarios").exists() or not any((tmp_path / "scenarios").iterdir())
    assert not (tmp_path / "evil.json").exists()


def test_save_scenario_refuses_to_overwrite_unless_asked_and_a_failed_run(tmp_path):
    result = replay(SOURCES, STEPS)
    save_scenario(tmp_path, "paa_vej", STEPS, result, description="Til screening")
    with pytest.raises(Conflict):
        save_scenario(tmp_path, "paa_vej", STEPS, result)
    save_scenario(tmp_path, "paa_vej", STEPS, result, overwrite=True)
    failed = replay(SOURCES, [START, complete("nope", {})])
    with pytest.raises(ValidationFailed):
        save_scenario(tmp_path, "fejl", [START, complete("nope", {})], failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paa_vej.json"]


def test_a_saved_scenario_replays_green(tmp_path):
    steps = [{"start": {"process": "sel50", "citizen": CHILD}}, *STEPS[1:]]  # no "at"
    result = replay(SOURCES, steps)
    path = save_scenario(tmp_path, "til_screening", steps, result, description="Til screening")
    scenario = json.loads(path.read_text(encoding="utf-8"))
    assert scenario["name"] == "til_screening" and scenario["process"] == "sel50"
    assert scenario["description"] == "Til screening"
    # the clock of the run is pinned, so that the scenario replays at the same moment
    assert scenario["steps"][0]["start"]["at"] == result.started_at
    assert scenario["expect"] == {"path": ids(result.final["path"]),
                                  "open_tasks": ["screening"], "ended": False}
    replayed, problems = check_scenario(scenario, PROCESSES)
    assert problems == [], problems
    assert replayed.started_at == result.started_at


def test_a_scenario_whose_expectation_is_wrong_fails():
    result = replay(SOURCES, STEPS)
    right = {"path": ids(result.final["path"]), "open_tasks": ["screening"], "ended": False}
    assert compare(right, result) == []
    wrong_path = {**right, "path": [*right["path"][:2], "screening", *right["path"][3:]]}
    [problem] = compare(wrong_path, result)
    assert problem.startswith("path differs from element 3: expected ['screening'")
    [problem] = compare({**right, "path": right["path"][:-1]}, result)
    assert "expected the end" in problem
    [problem] = compare({**right, "open_tasks": ["samtykke"]}, result)
    assert problem == "open tasks: expected ['samtykke'], got ['screening']"
    [problem] = compare({**right, "ended": True}, result)
    assert problem == "ended: expected True, got False"
    failed = TrialResult(error={"step": 1, "kind": "complete", "message": "step 2: no"})
    assert compare(right, failed) == ["the run failed: step 2: no"]


def test_an_unreadable_scenario_file_fails_instead_of_vanishing(tmp_path):
    from engine.bpmn.trial import check_scenario, load_scenarios

    (tmp_path / "halv.json").write_text('{"steps": ', encoding="utf-8")
    (tmp_path / "liste.json").write_text("[]", encoding="utf-8")
    scenarios = load_scenarios(tmp_path)
    assert [s["name"] for s in scenarios] == ["halv", "liste"]
    assert all("broken" in s for s in scenarios)
    _result, problems = check_scenario(scenarios[0])
    assert problems and "cannot be read" in problems[0]
