"""Running one workflow instance in memory: start, complete a user task, fire due timers,
retry after an error. No database here; the use cases in `engine.services` wrap these in a
unit of work."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from ..clock import LOCAL_TZ, now
from ..errors import Conflict, NotFound
from .registry import ProcessDefinition
from .sandbox import create_script_engine
from .specs import CaseUserTask, describe_element

SCRIPT_ENGINE = create_script_engine()


@dataclass
class EngineFailure:
    """An error raised while the engine ran: the instance goes to the error state."""

    message: str
    element: str | None


def start(definition: ProcessDefinition, data: dict, script_engine=SCRIPT_ENGINE) -> BpmnWorkflow:
    workflow = BpmnWorkflow(
        definition.spec, definition.subprocess_specs, script_engine=script_engine
    )
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    return workflow


def load(serializer, serialized: str, script_engine=SCRIPT_ENGINE) -> BpmnWorkflow:
    workflow = serializer.deserialize_json(serialized)
    # The script engine is not serialized: set it after every load.
    workflow.script_engine = script_engine
    return workflow


def dump(serializer, workflow: BpmnWorkflow) -> str:
    return serializer.serialize_json(workflow)


def run_engine(workflow: BpmnWorkflow) -> EngineFailure | None:
    """Advance everything that needs no human; report an error instead of raising it.

    A process that is not finished but has nothing left to do (no ready task, no timer or
    message to wait for) has stalled: that is reported as an error too, never left silent."""
    try:
        workflow.do_engine_steps()
    except Exception as exc:  # SpiffWorkflow raises bare exceptions too, e.g. for bad timers
        return _failure(exc)
    if not (workflow.is_completed() or ready_user_tasks(workflow) or workflow.waiting_events()
            or workflow.get_tasks(state=TaskState.ERROR)):
        return EngineFailure(
            message="the process has stopped: it is not finished, but no task is ready and "
                    "nothing is awaited", element=None)
    return None


def error_text(exc: Exception) -> str:
    """The message of an engine error with the error it wraps: SpiffWorkflow says "Error
    evaluating expression …" and keeps the reason only as the exception's context."""
    message = str(exc).strip()
    inner = exc.__cause__ or exc.__context__
    if inner is not None and str(inner) not in message:
        message = f"{message} ({inner.__class__.__name__}: {inner})"
    elif getattr(exc, "error_type", None) and exc.error_type not in message:
        message = f"{message} ({exc.error_type})"
    return message


def _failure(exc: Exception) -> EngineFailure:
    task = getattr(exc, "task", None)
    spec = getattr(exc, "task_spec", None) or getattr(task, "task_spec", None)
    element = describe_element(spec) if spec is not None else None
    return EngineFailure(message=error_text(exc), element=element)


def ready_user_tasks(workflow: BpmnWorkflow) -> list:
    return [
        t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        if isinstance(t.task_spec, CaseUserTask)
    ]


def update_data(workflow: BpmnWorkflow, data: dict) -> None:
    """Put values into the data of every task still to run, so later steps and forms see
    them."""
    for task in workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK):
        task.data.update(data)


def find_task(workflow: BpmnWorkflow, task_id: str):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:
        raise NotFound(f"task {task_id} is not part of this instance") from None


def complete_user_task(workflow: BpmnWorkflow, task_id: str, data: dict) -> EngineFailure | None:
    """Complete a ready user task with validated data, then run the engine on."""
    task = find_task(workflow, task_id)
    # Task.run() does not check state itself.
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise Conflict(f"task {task_id} is no longer ready (it was completed or cancelled)")
    task.data.update(data)
    task.run()
    return run_engine(workflow)


def accepted_messages(workflow: BpmnWorkflow) -> set[str]:
    """Names of the messages the instance can take now: those a waiting catch event waits for,
    and those that start one of its event sub-processes (taken as often as they come)."""
    names = {event.name for event in workflow.waiting_events()
             if event.event_type == "MessageEventDefinition"}
    if not workflow.is_completed():
        for name in workflow.spec.start.trigger_specs:
            spec = workflow.subprocess_specs.get(name)
            for start_event in getattr(spec, "bpmn_start_events", ()):
                if isinstance(start_event.event_definition, MessageEventDefinition):
                    names.add(start_event.event_definition.name)
    return names


def send_message(workflow: BpmnWorkflow, name: str, payload: dict,
                 result_var: str) -> EngineFailure | None:
    """Deliver message `name` to the instance; the step that takes it finds `payload` in its
    data under `result_var`. The caller routes it (one case, one instance): SpiffWorkflow does
    not check correlation on a first message."""
    if name not in accepted_messages(workflow):
        raise Conflict(f"the process is not waiting for the message {name!r} now")
    workflow.catch(BpmnEvent(MessageEventDefinition(name),
                             {"payload": payload, "result_var": result_var}))
    return run_engine(workflow)


def waiting_timers(workflow: BpmnWorkflow) -> list[tuple[object, datetime]]:
    """(task spec, due time) of every timer the instance waits for, in subprocesses too.

    SpiffWorkflow stores a timer's due time in the task's `event_value` when it starts waiting.
    """
    timers = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        value = task.internal_data.get("event_value")
        if not isinstance(definition, TimerEventDefinition) or not value:
            continue
        if isinstance(value, dict):  # a cycle timer: {"cycles": n, "next": ..., "duration": s}
            value = value.get("next")
        try:
            due = TimerEventDefinition.get_datetime(value)
        except (TypeError, ValueError):
            continue
        timers.append((task.task_spec, due))
    return timers


def move_timers(workflow: BpmnWorkflow) -> list[tuple[object, str, str]]:
    """Waiting date timers whose expression names a deadline are evaluated again (the deadline
    moved). Returns (task, old, new) for each timer that moved."""
    moved = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if not isinstance(definition, TimeDateEventDefinition) \
                or not _NAMES_DEADLINE.search(definition.expression):
            continue
        old = task.internal_data.get("event_value")
        new = workflow.script_engine.evaluate(task, definition.expression)
        if old is not None and new != old:
            task._set_internal_data(event_value=new)  # noqa: SLF001 - no public setter
            moved.append((task, old, new))
    return moved


_NAMES_DEADLINE = re.compile(r"\bdeadline(?:_reminder)?\(")


def next_timer_due(workflow: BpmnWorkflow) -> datetime | None:
    dues = [due for _spec, due in waiting_timers(workflow)]
    return min(dues) if dues else None


def fire_due_timers(workflow: BpmnWorkflow) -> tuple[list, EngineFailure | None]:
    """Fire every timer that is due now. Returns the task specs of the fired timers."""
    moment = now()
    due = [spec for spec, at in waiting_timers(workflow) if at <= moment]
    workflow.refresh_timers()
    return due, run_engine(workflow)


def retry(workflow: BpmnWorkflow, data: dict | None) -> EngineFailure | None:
    """Run the failed tasks again, optionally with corrected data."""
    failed = workflow.get_tasks(state=TaskState.ERROR)
    for task in failed:
        if data:
            task.data.update(data)
        task._set_state(TaskState.READY)  # noqa: SLF001 - SpiffWorkflow has no public reset
    return run_engine(workflow)


def resolve_date(task, expression: str | None, created: datetime) -> datetime | None:
    """A task's due or follow-up date from its Camunda attribute.

    A bare ISO 8601 duration (``P5D``) counts from the task's creation; anything else is a
    Python expression evaluated on the task data that gives a date, a datetime, an ISO string
    or a duration string.
    """
    if not expression:
        return None
    value = expression.strip()
    if not value.startswith("P"):
        value = task.workflow.script_engine.evaluate(task, value)
    if isinstance(value, str) and not value.startswith("P"):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        # A time without a zone is Danish time, as caseworkers read it.
        return (value if value.tzinfo else value.replace(tzinfo=LOCAL_TZ)).astimezone(
            timezone.utc)
    if isinstance(value, date):
        # A task due on a day may be done any time that day (Danish time).
        end_of_day = datetime.combine(value, time(23, 59, 59), tzinfo=LOCAL_TZ)
        return end_of_day.astimezone(timezone.utc)
    if isinstance(value, timedelta):
        return created + value
    if isinstance(value, str) and value.startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return created + TimerEventDefinition.get_timedelta_from_start(parsed, created)
    raise ValueError(f"cannot use {value!r} as a date")


def current_elements(workflow: BpmnWorkflow) -> list:
    """The tasks a workflow stands at: ready user tasks and waiting events (timers,
    messages), in its subprocesses too."""
    return [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
            if getattr(t.task_spec, "bpmn_id", None)
            and (isinstance(t.task_spec, CaseUserTask)
                 or getattr(t.task_spec, "event_definition", None) is not None)]
