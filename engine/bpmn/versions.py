"""Process versions, for the process designer: deploy changed BPMN/DMN files from the browser
as new versions, list and compare versions, and move running cases to a newer version (a dry
run first, then all movable cases in one action; engine.bpmn.migration decides which can move).
Designers and administrators only (permissions.require_designer).

Moving cases loads and saves instances as every other use case does, so those functions take
the Casework (engine.services) the registry serves; a ProcessRegistry whose `casework` is set
will do too."""

from __future__ import annotations

import difflib
import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .. import audit
from ..db import CONFLICT_MESSAGE
from ..errors import Conflict, NotFound, ValidationFailed
from ..models import (
    ERROR,
    ORIGIN_DESIGNER,
    READY,
    RUNNING,
    Case,
    Instance,
    ProcessVersion,
    Task,
    User,
)
from ..permissions import may_work_on, require_designer
from . import migration, runtime
from .registry import ProcessRegistry, latest_sources, parse_sources

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.(bpmn|dmn)$")


def is_file_name(name) -> bool:
    """A BPMN or DMN file's name as versions store it: no folders, no `..`, nothing odd."""
    return isinstance(name, str) and bool(FILE_NAME.match(name)) and ".." not in name
MAX_FILES = 50


# -- deploying ---------------------------------------------------------------------------------

def _check_files(changed) -> None:
    if not isinstance(changed, dict) or not changed:
        raise ValidationFailed("nothing to deploy", {"files": [
            "give at least one file: {file name: BPMN or DMN XML}"]})
    if len(changed) > MAX_FILES:
        raise ValidationFailed("too many files", {"files": [f"at most {MAX_FILES} at a time"]})
    fields = {}
    for name, text in changed.items():
        if not is_file_name(name):
            fields[f"files.{name}"] = [
                "a file name is letters, digits, '_', '-' or '.' and ends in .bpmn or .dmn "
                "(no folders)"]
        elif not isinstance(text, str) or not text.strip():
            fields[f"files.{name}"] = ["the file is empty"]
    if fields:
        raise ValidationFailed("cannot deploy these files", fields)


def deploy_sources(session: Session, registry: ProcessRegistry, user: User,
                   changed: dict[str, str]) -> list[ProcessVersion]:
    """Deploy files a designer changed (or added): they replace their namesakes among the
    latest deployed files, everything is validated as at a start, and every process whose
    content changed gets its next version (deployed by the designer, origin "designer").
    Running cases stay on their versions; new cases start on the new ones. Returns the new
    versions (none when nothing changed)."""
    require_designer(user)
    _check_files(changed)
    sources = {**latest_sources(session), **changed}
    definitions = parse_sources(sources, registry.forms, registry.deadline_keys,
                                registry.letter_keys)
    # A process that has versions must still be defined: running cases name it, and new
    # cases would go on starting its old version unnoticed.
    gone = sorted(set(session.scalars(select(ProcessVersion.process_id).distinct()))
                  - set(definitions))
    if gone:
        raise ValidationFailed("a deployed process would disappear", {"files": [
            f"process {pid!r} is no longer defined; processes are neither renamed nor removed "
            "here: keep its id (a new process goes in a file of its own)" for pid in gone]})
    # Every file deployed must belong to a version, or it would be lost (a decision table or
    # a called process no process uses yet goes with the process that uses it).
    used = {name for definition in definitions.values() for name in definition.sources}
    unused = sorted(set(changed) - used)
    if unused:
        raise ValidationFailed("a file no process uses", {f"files.{name}": [
            "no process uses this file yet: deploy it together with the process that calls "
            "it (the designer takes a new file's draft along with the file that names it)"]
            for name in unused})
    created = registry.record_versions(session, definitions, user.username, ORIGIN_DESIGNER)
    for version in created:
        audit.record(session, None, "process_deployed", user, process=version.process_id,
                     version=version.version, content_hash=version.content_hash,
                     files=sorted(changed), origin=ORIGIN_DESIGNER)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("someone deployed the same process at the same moment; reload its "
                       "versions and deploy again") from None
    return created


# -- versions and their differences ------------------------------------------------------------

def list_versions(session: Session, user: User, process_id: str) -> list[ProcessVersion]:
    """Every version of a process, newest first."""
    require_designer(user)
    versions = list(session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.version.desc())))
    if not versions:
        raise NotFound(f"no deployed process with id {process_id!r}")
    return versions


def get_version(session: Session, process_id: str, number, what: str = "version"
                ) -> ProcessVersion:
    if number is None:
        raise ValidationFailed(f"{what} is missing", {what: ["give a version number"]})
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ValidationFailed(f"invalid {what}", {what: ["must be a version number (1, 2, …)"]})
    version = session.scalar(select(ProcessVersion).where(
        ProcessVersion.process_id == process_id, ProcessVersion.version == number))
    if version is None:
        if session.scalar(select(ProcessVersion.id).where(
                ProcessVersion.process_id == process_id).limit(1)) is None:
            raise NotFound(f"no deployed process with id {process_id!r}")
        raise NotFound(f"process {process_id!r} has no version {number} ({what})")
    return version


def diff_versions(session: Session, registry: ProcessRegistry, user: User, process_id: str,
                  a: int, b: int) -> dict:
    """What changed from version `a` to version `b`: added, removed and changed elements (by
    id, with name, type and process, a changed one with the attributes that changed), and a
    unified diff of the source files."""
    require_designer(user)
    old = get_version(session, process_id, a, "from")
    new = get_version(session, process_id, b, "to")
    elements = migration.compare_definitions(
        registry.serializer.registry, registry.definition_for(old), registry.definition_for(new))
    old_sources, new_sources = old.sources or {}, new.sources or {}
    text = []
    for name in sorted(set(old_sources) | set(new_sources)):
        text.extend(difflib.unified_diff(
            (old_sources.get(name) or "").splitlines(keepends=True),
            (new_sources.get(name) or "").splitlines(keepends=True),
            fromfile=f"v{a}/{name}" if name in old_sources else "/dev/null",
            tofile=f"v{b}/{name}" if name in new_sources else "/dev/null"))
    return {"process_id": process_id, "from": a, "to": b, **elements,
            "text": "".join(line if line.endswith("\n") else line + "\n" for line in text)}


# -- moving running cases ----------------------------------------------------------------------

def _casework(runner):
    """The Casework that loads and saves instances: given, or the one a registry serves."""
    if isinstance(runner, ProcessRegistry):
        if runner.casework is None:
            raise TypeError("moving cases needs the Casework (engine.services) over this "
                            "registry: pass it, or set registry.casework")
        return runner.casework
    return runner


def running_per_version(session: Session, process_id: str) -> dict[int, int]:
    """How many running (or failed) cases each version of the process has."""
    return dict(session.execute(
        select(ProcessVersion.version, func.count(Instance.id))
        .join(Instance, Instance.process_version_id == ProcessVersion.id)
        .where(ProcessVersion.process_id == process_id, Instance.status.in_((RUNNING, ERROR)))
        .group_by(ProcessVersion.version)).all())


def _target(session: Session, process_id: str, to_version) -> ProcessVersion:
    """The version cases move to: an existing one after the first (cases only move forward)."""
    target = get_version(session, process_id, to_version, "to")
    if target.version == 1:
        raise ValidationFailed("cases only move to a newer version", {"to": [
            "version 1 is the first version: cases move only to a newer one"]})
    return target


def _older_instances(session: Session, target: ProcessVersion, lock: bool = False):
    """(instance, case, version) of the running or failed instances of the target's process on
    an older version, by case."""
    query = (select(Instance, Case, ProcessVersion)
             .join(Case, Case.id == Instance.case_id)
             .join(ProcessVersion, ProcessVersion.id == Instance.process_version_id)
             .where(ProcessVersion.process_id == target.process_id,
                    ProcessVersion.version < target.version,
                    Instance.status.in_((RUNNING, ERROR)))
             .order_by(Case.id, Instance.id))
    if lock:
        # Nobody completes a task of these cases while they move; whoever read one before
        # gets a conflict from its version counter, never a lost update.
        query = query.with_for_update(of=Instance)
    return session.execute(query).all()


def _entry(instance: Instance, case: Case, version: ProcessVersion, target: ProcessVersion,
           outcome: migration.Outcome | None, current: list[str]) -> dict:
    return {"case_id": case.id, "case_number": case.number, "instance_id": instance.id,
            "status": instance.status, "from_version": version.version,
            "to_version": target.version, "current": current,
            "movable": outcome is not None and outcome.movable,
            "reasons": outcome.reasons if outcome is not None else [],
            "reason": "; ".join(outcome.reasons) if outcome is not None else ""}


def _current(workflow) -> list[str]:
    return sorted({t.task_spec.bpmn_id for t in runtime.current_elements(workflow)})


def _try_move(casework, instance: Instance, target: ProcessVersion, definition):
    """Load the instance and move it onto `definition` in memory: (workflow, outcome, where
    it stood)."""
    workflow = casework._load(instance)
    current = _current(workflow)
    outcome = migration.migrate(casework.registry.serializer, workflow, definition,
                                f"version {target.version}")
    if outcome.movable and instance.status == RUNNING:
        failure = runtime.run_engine(workflow)
        if failure is not None:
            outcome.reasons.append(
                f"on version {target.version} the process would fail"
                + (f" at {failure.element}" if failure.element else "") + f": {failure.message}")
    return workflow, outcome, current


def migration_plan(session: Session, casework, user: User, process_id: str,
                   to_version: int) -> list[dict]:
    """Dry run: every running (or failed) case on an older version of the process, whether it
    can move to `to_version` and, if not, why (`reasons`; `reason` joins them). Each entry:
    case_id, case_number, instance_id, status, from_version, to_version, current (the
    elements it stands at), movable. Nothing changes."""
    require_designer(user)
    casework = _casework(casework)
    target = _target(session, process_id, to_version)
    definition = casework.registry.definition_for(target)
    plan = []
    for instance, case, version in _older_instances(session, target):
        _workflow, outcome, current = _try_move(casework, instance, target, definition)
        plan.append(_entry(instance, case, version, target, outcome, current))
    return plan


def migrate_cases(session: Session, casework, user: User, process_id: str,
                  to_version: int) -> dict:
    """Move every movable case on an older version of the process to `to_version`, in one
    action: its instance (workflow and version), its case's version, its open task rows
    (names, groups, forms and dates as the new version defines them). Each moved case gets an
    audit event (who, from which version, to which). Cases that cannot move stay as they are;
    the answer lists them with the reasons, as the dry run does: {"moved": [...], "stayed":
    [...]}, entries as in migration_plan."""
    require_designer(user)
    casework = _casework(casework)
    target = _target(session, process_id, to_version)
    definition = casework.registry.definition_for(target)
    moved, stayed = [], []
    for instance, case, version in _older_instances(session, target, lock=True):
        workflow, outcome, current = _try_move(casework, instance, target, definition)
        entry = _entry(instance, case, version, target, outcome, current)
        if not outcome.movable:
            stayed.append(entry)
            continue
        try:
            with session.begin_nested():
                _move(session, casework, user, case, instance, version, target, workflow,
                      outcome)
        except StaleDataError:
            entry.update(movable=False, reasons=[CONFLICT_MESSAGE], reason=CONFLICT_MESSAGE)
            stayed.append(entry)
            continue
        moved.append(entry)
    return {"process_id": process_id, "to_version": target.version, "moved": moved,
            "stayed": stayed}


def _move(session: Session, casework, user: User, case: Case, instance: Instance,
          version: ProcessVersion, target: ProcessVersion, workflow,
          outcome: migration.Outcome) -> None:
    instance.process_version_id = target.id
    if case.process_version_id == version.id:
        case.process_version_id = target.id
        case.process_version = target
    changed = _update_task_rows(session, casework, case, instance, outcome.changed_tasks)
    audit.record(session, case.id, "process_migrated", user, process=target.process_id,
                 from_version=version.version, to_version=target.version,
                 changed_tasks=changed)
    # A failed case stays failed (and is retried on the new version); a running one goes on.
    casework._save(session, case, instance, workflow, None, actor=user,
                   ran=instance.status == RUNNING)


def _update_task_rows(session: Session, casework, case: Case, instance: Instance,
                      changed_tasks: list) -> list[str]:
    """Open task rows whose step the new version defines differently take its name, lane,
    groups, form and dates (counted from when the task was created); an assignee who may no
    longer work on it is taken off."""
    by_id = {str(t.id): t for t in changed_tasks}
    if not by_id:
        return []
    updated = []
    rows = session.scalars(select(Task).where(Task.instance_id == instance.id,
                                              Task.state == READY, Task.id.in_(list(by_id))))
    for row in rows:
        spiff_task = by_id[row.id]
        spec = spiff_task.task_spec
        if not hasattr(spec, "candidate_groups"):
            continue
        casework.fill_task_row(session, case, row, spiff_task)
        if row.assignee is not None and not may_work_on(row.assignee, row):
            audit.record(session, case.id, "task_unclaimed", None, row.id, task=row.name,
                         previous=row.assignee.username, reason="process_migrated")
            row.assignee_id, row.assignee = None, None
        updated.append(row.bpmn_id)
    return sorted(updated)
