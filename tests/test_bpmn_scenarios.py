"""Scenarios a process designer saved from a test run (processes/scenarios/*.json): each is
replayed against the files in processes/ (in a sandbox, time moved by time-machine) and must
take the path, leave the open tasks and end as it did when it was saved."""

from pathlib import Path

import pytest

from engine.bpmn.trial import check_scenario, load_scenarios

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
SCENARIOS = load_scenarios(PROCESSES / "scenarios")


def test_there_are_scenarios():
    assert {s.get("process") for s in SCENARIOS} >= {"sel50", "sel85"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario(scenario):
    result, problems = check_scenario(scenario, PROCESSES)
    assert problems == [], f"{scenario['name']}: " + "; ".join(problems)
