"""Messages into running cases (Casework.send_message, POST /api/v1/cases/{id}/messages/{name}):
checked against the form of the same name, taken by a waiting catch event or an event
sub-process's message start event, refused when no process of the case takes it now."""

import pytest
from bpmn_helpers import definitions, end, process, start, user_task
from conftest import get_user
from sqlalchemy import select

from engine.clock import now
from engine.db import transaction
from engine.errors import Conflict, NotFound, ValidationFailed
from engine.models import AuditEvent, Task

CITIZEN = {"cpr": "0102031234", "name": "Emil Hansen"}
NEW = {"kilde": "borger", "indhold": "Naboen er bekymret.", "vold_eller_overgreb": False}
_NS = '<bpmn:message id="Msg_ny" name="ny_underretning" />'


def _waiting_process() -> str:
    """start -> wait for the message ny_underretning -> a task that reads it -> end"""
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{a}" targetRef="{b}" />'
        for i, (a, b) in enumerate([("start", "vent"), ("vent", "laes"), ("laes", "end")]))
    return definitions(_NS + process(
        "venter", start(),
        '<bpmn:intermediateCatchEvent id="vent"><bpmn:messageEventDefinition '
        'messageRef="Msg_ny" /></bpmn:intermediateCatchEvent>',
        user_task("laes", form="godkend"), end(), flows))


@pytest.fixture
def waiting(session, build_casework):
    casework = build_casework({"venter.bpmn": _waiting_process()})
    user = get_user(session, "sagsbehandler")
    with transaction(session):
        case = casework.open_case(session, user, "venter", CITIZEN, now())
    return casework, user, case


def _open_tasks(session, case):
    return [t.bpmn_id for t in session.scalars(
        select(Task).where(Task.case_id == case.id, Task.state == "ready"))]


def test_a_waiting_catch_event_takes_the_message_once(session, waiting):
    casework, user, case = waiting
    assert _open_tasks(session, case) == []
    with transaction(session):
        casework.send_message(session, user, case.id, "ny_underretning", NEW)
    assert _open_tasks(session, case) == ["laes"]
    [event] = session.scalars(select(AuditEvent).where(
        AuditEvent.case_id == case.id, AuditEvent.kind == "message_received")).all()
    assert event.data["data"] == NEW
    with pytest.raises(Conflict, match="takes the message 'ny_underretning' now"):
        with transaction(session):
            casework.send_message(session, user, case.id, "ny_underretning", NEW)


def test_bad_message_data_names_the_field_and_nothing_is_delivered(session, waiting):
    casework, user, case = waiting
    with pytest.raises(ValidationFailed) as refused:
        with transaction(session):
            casework.send_message(session, user, case.id, "ny_underretning",
                                  {**NEW, "kilde": "nabo"})
    assert "kilde" in refused.value.fields
    with pytest.raises(NotFound, match="no form of that name"):
        with transaction(session):
            casework.send_message(session, user, case.id, "findes_ikke", {})
    assert _open_tasks(session, case) == []


def test_a_closed_case_takes_no_message(session, waiting):
    casework, user, case = waiting
    with transaction(session):
        casework.send_message(session, user, case.id, "ny_underretning", NEW)
    [task] = session.scalars(select(Task).where(Task.case_id == case.id, Task.state == "ready"))
    with transaction(session):
        casework.complete_task(session, user, task.id, {"godkendt": True})
        casework.update_case(session, user, case.id, status="closed")
    with pytest.raises(Conflict, match="closed"):
        with transaction(session):
            casework.send_message(session, user, case.id, "ny_underretning", NEW)
