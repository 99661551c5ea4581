"""Comparing two versions of a process and moving a running workflow from one to the other, in
memory (SpiffWorkflow.bpmn.util.diff). No database here: engine.designer wraps these in use
cases.

A workflow can move when every step it has taken, stands at or waits in still exists in the
new version, and none of the steps it stands at changed type:

* a removed step the workflow stands at (a ready user task, a waiting timer or message, a
  running call activity, a failed step) cannot move: there is nowhere to put the case;
* a removed step the workflow has completed cannot move either: the stored workflow would hold
  a step its process no longer defines (SpiffWorkflow could not load it again);
* a running subprocess (call activity, event sub-process) whose process the new version no
  longer has cannot move;
* a step it stands at whose type changed (a user task that became a script task) cannot move.

Everything else moves: the steps it stands at are reset on the new definitions (their data, and
the due time of a timer whose definition did not change, are kept; a changed duration timer
counts from when it started waiting), steps ahead are predicted again from the new version.
After moving, every task must have its definition in the new version and the workflow must
survive a round trip through the serializer; otherwise it does not move.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from .specs import describe_element

# The states of a step a workflow stands at (or is inside of).
CURRENT = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# Steps already taken (or cut short) that stay in the workflow's history.
TAKEN = TaskState.COMPLETED | TaskState.CANCELLED


class AlignedSpecDiff(SpecDiff):
    """SpecDiff that also aligns, by id, the specs it cannot reach from the start event
    (event sub-processes, which no flow leads to); SpiffWorkflow's WorkflowDiff fails on a
    task whose spec was never aligned."""

    def __init__(self, registry, original, new):
        super().__init__(registry, original, new)
        for name, spec in original.task_specs.items():
            if spec not in self.alignment:
                candidate = new.task_specs.get(name)
                self.alignment[spec] = candidate
                if candidate is not None:
                    self.comparisons[spec] = self._compare_task_specs(spec, candidate)


def _element(spec, process: str) -> dict:
    return {"process": process, "id": spec.bpmn_id, "name": getattr(spec, "bpmn_name", None),
            "type": type(spec).__name__}


def _process_specs(definition) -> dict:
    return {definition.spec.name: definition.spec, **definition.subprocess_specs}


def compare_definitions(serializer_registry, old, new) -> dict:
    """Element-level differences between two parsed definitions (the process and everything
    it calls): {"added": [...], "removed": [...], "changed": [...]}, each element with its
    process, id, name and type; a changed one also with the attributes that changed."""
    added, removed, changed = [], [], []
    old_specs, new_specs = _process_specs(old), _process_specs(new)
    for name in sorted(set(old_specs) | set(new_specs)):
        before, after = old_specs.get(name), new_specs.get(name)
        if before is None or after is None:
            specs = (after or before).task_specs.values()
            target = added if before is None else removed
            target.extend(_element(s, name) for s in specs if getattr(s, "bpmn_id", None))
            continue
        diff = AlignedSpecDiff(serializer_registry, before, after)
        added.extend(_element(s, name) for s in diff.added if getattr(s, "bpmn_id", None))
        removed.extend(_element(s, name) for s in diff.removed if getattr(s, "bpmn_id", None))
        for spec, attributes in diff.changed.items():
            if getattr(spec, "bpmn_id", None):
                new_spec = diff.alignment[spec]
                changed.append({**_element(new_spec, name), "changes": sorted(attributes),
                                **({"old_id": spec.bpmn_id}
                                   if spec.bpmn_id != new_spec.bpmn_id else {})})
    key = lambda e: (e["process"], e["id"] or "")  # noqa: E731
    return {"added": sorted(added, key=key), "removed": sorted(removed, key=key),
            "changed": sorted(changed, key=key)}


@dataclass
class _Part:
    """One (sub)workflow with its diff against the new version (None: the new version lacks
    its process)."""

    workflow: object
    spec_diff: AlignedSpecDiff | None
    diff: WorkflowDiff | None
    new_spec: object | None


def _diff(serializer_registry, workflow, definition) -> list[_Part]:
    new_deps = definition.subprocess_specs
    spec_diff = AlignedSpecDiff(serializer_registry, workflow.spec, definition.spec)
    parts = [_Part(workflow, spec_diff, WorkflowDiff(workflow, spec_diff), definition.spec)]
    for sp in workflow.subprocesses.values():
        new_spec = new_deps.get(sp.spec.name)
        if new_spec is None:
            parts.append(_Part(sp, None, None, None))
            continue
        sp_diff = AlignedSpecDiff(serializer_registry, sp.spec, new_spec)
        parts.append(_Part(sp, sp_diff, WorkflowDiff(sp, sp_diff), new_spec))
    return parts


def _state(task) -> str:
    return TaskState.get_name(task.state).lower()


def blockers(parts: list[_Part], target: str) -> list[str]:
    """Why the workflow cannot move (empty: it can), from the diff alone."""
    reasons = []
    for part in parts:
        if part.diff is None:
            reasons.append(f"the running subprocess {part.workflow.spec.name} is not in "
                           f"{target}")
            continue
        for task in part.diff.removed:
            where = describe_element(task.task_spec)
            if task.has_state(CURRENT):
                reasons.append(f"its current step {where} ({_state(task)}) is not in {target}")
            elif task.has_state(TAKEN):
                reasons.append(f"the {_state(task)} step {where} is not in {target} (the "
                               "case's history would refer to a step its process lacks)")
        for task in part.diff.changed:
            if task.has_state(CURRENT) and \
                    "typename" in part.spec_diff.changed.get(task.task_spec, ()):
                new_spec = part.diff.alignment[task]
                reasons.append(f"its current step {describe_element(task.task_spec)} changed "
                               f"type ({type(task.task_spec).__name__} to "
                               f"{type(new_spec).__name__}) in {target}")
    return list(dict.fromkeys(reasons))


@dataclass
class Outcome:
    """What moving a workflow gave: the reasons it cannot move (none: it moved, in place), and
    the steps it stands at afterwards whose definition changed."""

    reasons: list[str] = field(default_factory=list)
    changed_tasks: list = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


def migrate(serializer, workflow, definition, target: str) -> Outcome:
    """Move `workflow` (in place) onto `definition`. When it cannot move, the outcome names
    why and the workflow must be thrown away (it may be half moved): load it again."""
    try:
        parts = _diff(serializer.registry, workflow, definition)
    except Exception as exc:  # noqa: BLE001 - a diff SpiffWorkflow cannot make: say so
        return Outcome([f"cannot be compared with {target}: {exc}"])
    reasons = blockers(parts, target)
    if reasons:
        return Outcome(reasons)

    # What the steps it stands at hold: a reset gives them their parent's data (losing what
    # was put into the open steps since, e.g. moved deadlines) and recomputes their timers.
    kept = {}
    for part in parts:
        for task in part.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING,
                                            skip_subprocesses=True):
            spec_changes = part.spec_diff.changed.get(task.task_spec, [])
            kept[task.id] = (deepcopy(task.data), deepcopy(task.internal_data),
                             task.last_state_change, bool(spec_changes))
    try:
        for part in parts:
            migrate_workflow(part.diff, part.workflow, part.new_spec)
        workflow.subprocess_specs = dict(definition.subprocess_specs)
        changed_tasks = _restore(workflow, kept)
    except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises bare exceptions too
        return Outcome([f"cannot be moved to {target}: {exc}"])

    for part in [workflow, *workflow.subprocesses.values()]:
        for task in part.tasks.values():
            if part.spec.task_specs.get(task.task_spec.name) is not task.task_spec:
                reasons.append(f"the {_state(task)} step {describe_element(task.task_spec)} "
                               f"would have no definition in {target}")
    if not reasons:
        try:
            serializer.deserialize_json(serializer.serialize_json(workflow))
        except Exception as exc:  # noqa: BLE001
            reasons.append(f"the moved case could not be stored: {exc}")
    return Outcome(list(dict.fromkeys(reasons)), changed_tasks)


def _restore(workflow, kept: dict) -> list:
    """Give the reset steps back their data, and their timers' due times: unchanged timers
    keep theirs; a changed date timer is evaluated again; a changed duration timer counts from
    when it started waiting. Returns the steps whose definition changed."""
    changed_tasks = []
    for part in [workflow, *workflow.subprocesses.values()]:
        for task in part.tasks.values():
            if task.id not in kept:
                continue
            data, internal, since, spec_changed = kept[task.id]
            task.data = data
            definition = getattr(task.task_spec, "event_definition", None)
            if spec_changed:
                changed_tasks.append(task)
            if not spec_changed or not isinstance(definition, TimerEventDefinition):
                task.internal_data = internal
                continue
            if not task.has_state(TaskState.WAITING):
                continue
            if isinstance(definition, TimeDateEventDefinition):
                value = workflow.script_engine.evaluate(task, definition.expression)
                task._set_internal_data(event_value=value)  # noqa: SLF001 - no public setter
            elif isinstance(definition, DurationTimerEventDefinition):
                start = datetime.fromtimestamp(since, timezone.utc)
                duration = workflow.script_engine.evaluate(task, definition.expression)
                parsed = TimerEventDefinition.parse_iso_duration(duration)
                due = start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
                task._set_internal_data(event_value=due.isoformat())  # noqa: SLF001
            # a changed cycle timer starts its cycle again from now (as reset it)
    return changed_tasks
