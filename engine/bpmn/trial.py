"""Trying a process: a test run of BPMN/DMN files in a sandbox, and scenarios saved from it.

A test run is a list of steps over a set of BPMN/DMN sources ({file name: XML text}, e.g. a
designer's unsaved draft with the other deployed files):

    {"start":    {"process": "sel50", "at": "2026-11-02T09:00:00+01:00",
                  "received_at": "...", "citizen": {"cpr": ..., "name": ..., "address": ...}}}
    {"complete": {"task": "<BPMN id of a user task>", "data": {...form data...}}}
    {"advance":  {"days": 3, "hours": 2}}   or   {"advance": {"until": "2026-12-01"}}
    {"message":  {"name": "ny_underretning", "data": {...}}}

`replay` runs every step from scratch in a throwaway in-memory SQLite database made with the
real schema, with a sample organisation (the demo's users in one team), the processes parsed
from the given sources and the real use cases (engine.services.Casework), so that forms,
candidate groups, deadlines, letters and timers behave exactly as on a real case. Time is moved
with time-machine (SpiffWorkflow reads the wall clock), frozen between steps so that a replay
is repeatable. After each step the result holds what the case looks like: open tasks, the path
taken (every BPMN element completed, in order), deadlines, letters, whether the process ended.
A step that fails stops the run with an error naming the step.

Time travel is global to the Python process: a web server must not replay in its own process.
`replay_in_subprocess` runs the same replay in `python -m engine.bpmn.trial` (JSON in, JSON
out) with a timeout.

A test run saved as a scenario (`save_scenario`) is a JSON file in processes/scenarios/ with
the steps and what the run gave (path, open tasks, ended); tests/test_bpmn_scenarios.py replays
every scenario against the files in processes/ (`check_scenario`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from ..clock import LOCAL_TZ, now
from ..db import transaction, tune_engine
from ..deadlines import load_catalogue, watch
from ..deadlines.catalogue import DeadlineCatalogue
from ..errors import Conflict, Forbidden, ProcessDefinitionError, SagsflowError, ValidationFailed
from ..forms import FormCatalog
from ..models import (
    CASEWORKER,
    COMPLETED,
    ERROR,
    LEADER,
    ROLES,
    RUNNING,
    AuditEvent,
    Base,
    Case,
    CaseDeadline,
    Instance,
    Letter,
    Membership,
    Task,
    Team,
    User,
)
from ..permissions import require_can_work
from .registry import ProcessRegistry, parse_sources, read_folder
from .versions import is_file_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STEP_KINDS = ("start", "complete", "advance", "message")
# The citizen of a test run that names none: a child born in 2013.
SAMPLE_CITIZEN = {"cpr": "0105134321", "name": "Prøve Borger",
                  "address": "Prøvevej 1, 4000 Roskilde"}
# At most this many timers and deadline checks in one `advance` (a cycle timer every minute
# for a year would otherwise run for ever).
MAX_FIRINGS = 500
# The app's configuration keys a test run reads its catalogues from (api/config.py).
CONFIG_KEYS = ("FORMS_DIR", "PROCESSES_DIR", "LETTERS_DIR", "DEADLINE_OVERRIDES",
               "MUNICIPALITY_FILE")
SCENARIO_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class StepFailed(SagsflowError):
    """A step of a test run that cannot be taken; `fields` as ValidationFailed's."""

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.fields = fields or {}


# -- catalogues ---------------------------------------------------------------------------


@dataclass
class Catalogues:
    """What a test run needs besides the BPMN/DMN files: forms, deadlines and letters."""

    forms: FormCatalog
    deadlines: DeadlineCatalogue | None = None
    letters: object | None = None  # engine.letters.catalogue.LetterCatalogue

    @classmethod
    def load(cls, config: dict | None = None) -> Catalogues:
        """From the folders the app's configuration names (CONFIG_KEYS), else the project's
        own forms/, processes/deadlines.toml and letters/."""
        from ..letters.catalogue import load_letters

        config = config or {}
        forms = FormCatalog.load(Path(config.get("FORMS_DIR") or PROJECT_ROOT / "forms"))
        deadlines = load_catalogue(config.get("PROCESSES_DIR") or PROJECT_ROOT / "processes",
                                   config.get("DEADLINE_OVERRIDES"))
        letters = load_letters(config.get("LETTERS_DIR") or PROJECT_ROOT / "letters",
                               config.get("MUNICIPALITY_FILE"))
        return cls(forms, deadlines, letters)


@lru_cache(maxsize=1)
def default_catalogues() -> Catalogues:
    return Catalogues.load()


class SourceRegistry(ProcessRegistry):
    """A process registry over sources given as {file name: XML text}, not a folder."""

    def __init__(self, sources: dict[str, str], forms: FormCatalog, deadline_keys=None,
                 letter_keys=None):
        with tempfile.TemporaryDirectory(prefix="sagsflow-trial-") as empty:
            super().__init__(Path(empty), forms, deadline_keys, letter_keys)
        self.folder = None
        self.current = parse_sources(dict(sources), forms, deadline_keys, letter_keys)


# -- the result ---------------------------------------------------------------------------


@dataclass
class TrialResult:
    """What a test run gave: the state after each step that was taken, and the error of the
    step that failed (None when every step was taken).

    Each state (a dict, JSON as it is): index, kind (start/complete/advance/message), step
    (as given), now (the clock after it), open_tasks [{id, name, form, due_at,
    candidate_groups, assignee}], path [{id, name, type, process, at}] (every BPMN element
    completed so far, in order), deadlines [{key, title, due_at, state, met, breached,
    met_at, breached_at}], letters [{key, title, state, origin, recipient}], events
    [{at, kind, ...}] (what the case's history recorded in this step), ended (the process
    finished), case_status.

    The error: {step (index, or None for the sources), kind, message, fields}; an engine
    error (the process itself failed at an element) also carries the state it left."""

    steps: list[dict] = field(default_factory=list)
    error: dict | None = None
    started_at: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def final(self) -> dict | None:
        """The state after the last step taken (or the state an engine error left)."""
        if self.error is not None and self.error.get("state"):
            return self.error["state"]
        return self.steps[-1] if self.steps else None

    def to_dict(self) -> dict:
        return {"ok": self.ok, "started_at": self.started_at, "seconds": self.seconds,
                "steps": self.steps, "error": self.error}

    @classmethod
    def from_dict(cls, data: dict) -> TrialResult:
        return cls(steps=data.get("steps") or [], error=data.get("error"),
                   started_at=data.get("started_at"), seconds=data.get("seconds") or 0.0)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


def _moment(value, what: str) -> datetime:
    """A point in time from an ISO date (midnight, Danish time) or date-time (without an
    offset: Danish time)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, datetime.min.time())
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise StepFailed(f"{what}: {value!r} is not an ISO 8601 date or date and time",
                             {what: ["must be an ISO 8601 date or date and time"]}) from None
    else:
        raise StepFailed(f"{what}: must be an ISO 8601 date or date and time",
                         {what: ["must be an ISO 8601 date or date and time"]})
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(timezone.utc)


def _fields_text(fields: dict) -> str:
    return "; ".join(f"{name}: {', '.join(map(str, messages))}"
                     for name, messages in fields.items())


def _team_groups(registry: ProcessRegistry) -> set[str]:
    """The candidate groups of the registry's user tasks that are not roles: team keys."""
    return {group for definition in registry.current.values()
            for task in definition.user_tasks for group in task.candidate_groups
            if group not in ROLES}


# -- the sandbox --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _database():
    """This process's sandbox database: SQLite in memory with the real schema (the models),
    made once (its compiled statements are reused: a replay spends its time on the steps)."""
    engine = tune_engine(create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}))
    Base.metadata.create_all(engine)
    return engine


def _empty_database():
    """The sandbox database with every row of the last run deleted (ids start from 1)."""
    engine = _database()
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return engine


class _Sandbox:
    """One test run's world: an in-memory database with the real schema, a sample
    organisation, the processes of the run deployed, and the use cases over them."""

    def __init__(self, registry: ProcessRegistry, catalogues: Catalogues,
                 completions: _Completions):
        from ..letters.service import Letters
        from ..services import Casework

        self.session = Session(_empty_database(), expire_on_commit=True)
        letters = Letters(catalogues.letters) if catalogues.letters is not None else None
        self.casework = Casework(registry, catalogues.forms, catalogues.deadlines, letters)
        self.case_id: int | None = None
        self.seen_tasks: set[tuple[int, str]] = set()
        self.path: list[dict] = []
        self.last_event_id = 0
        self.completions = completions
        with transaction(self.session) as session:
            self.users = self._organisation(session, _team_groups(registry))
            registry.deploy(session, "trial")

    def close(self) -> None:
        self.session.close()

    @staticmethod
    def _organisation(session: Session, team_keys=()) -> list[User]:
        """The demo's caseworkers and leader (engine/demo.py) in the demo's first team, which
        the leader leads, and in a team of each key the processes name as a candidate group
        (`camunda:candidateGroups="nord"`), so that a task given to a team can be tried too.
        No passwords: nobody logs in to a sandbox."""
        from ..demo import DEMO_USERS

        team = Team(key="boern_unge_nord", name="Børn og Unge Nord")
        session.add(team)
        extra = [Team(key=key, name=key) for key in sorted(set(team_keys) - {team.key})]
        session.add_all(extra)
        session.flush()
        users = []
        for username, full_name, role in DEMO_USERS:
            if role not in (CASEWORKER, LEADER):
                continue
            user = User(username=username, full_name=full_name, role=role,
                        email=f"{username}@kommune.example", password_hash="!", active=True)
            session.add(user)
            session.flush()
            for member_of in [team, *extra]:
                session.add(Membership(user_id=user.id, team_id=member_of.id,
                                       leads=role == LEADER))
            users.append(user)
        session.flush()
        for user in users:
            session.refresh(user)
        return users

    @property
    def opener(self) -> User:
        return next(u for u in self.users if u.role == CASEWORKER)

    # -- steps ----------------------------------------------------------------------------

    def take(self, step: dict, traveller) -> None:
        kind, args = _parse_step(step)
        if kind == "start":
            if self.case_id is not None:
                raise StepFailed("the case is already started: a test run has one start step, "
                                 "the first")
            self._start(args)
            return
        if self.case_id is None:
            raise StepFailed("the first step must be a start step ({\"start\": {\"process\": "
                             "...}})")
        if kind == "complete":
            self._complete(args)
        elif kind == "advance":
            self._advance(args, traveller)
        else:
            self._message(args)

    def _start(self, args: dict) -> None:
        process_id = args.get("process")
        if not isinstance(process_id, str) or not process_id:
            raise StepFailed("start: name the process to start", {"process": ["required"]})
        definition = self.casework.registry.current.get(process_id)
        if definition is None:
            known = ", ".join(sorted(p for p, d in self.casework.registry.current.items()
                                     if d.startable))
            raise StepFailed(f"start: no process {process_id!r} in the files (startable: "
                             f"{known or 'none'})", {"process": ["unknown process"]})
        if not definition.startable:
            raise StepFailed(f"start: process {process_id!r} is only called by another "
                             "process; start that one", {"process": ["not startable"]})
        citizen = args.get("citizen") or SAMPLE_CITIZEN
        if not isinstance(citizen, dict):
            raise StepFailed("start: citizen must be an object with cpr, name and address",
                             {"citizen": ["must be an object"]})
        received = _moment(args["received_at"], "received_at") if args.get("received_at") \
            else now()
        with transaction(self.session) as session:
            team_id = session.scalar(select(Team.id).where(Team.key == "boern_unge_nord"))
            case = self.casework.open_case(session, self.opener, process_id, citizen, received,
                                           team_id=team_id,
                                           status=args.get("status") or "active")
            self.case_id = case.id

    def _open_rows(self, session: Session) -> list[Task]:
        return list(session.scalars(
            select(Task).where(Task.case_id == self.case_id, Task.state == "ready")
            .order_by(Task.created_at, Task.due_at.asc().nulls_last(), Task.id)))

    def _complete(self, args: dict) -> None:
        bpmn_id, data = args.get("task"), args.get("data") or {}
        if not isinstance(bpmn_id, str) or not bpmn_id:
            raise StepFailed("complete: name the task by its BPMN id", {"task": ["required"]})
        if not isinstance(data, dict):
            raise StepFailed("complete: data must be an object (the form's fields)",
                             {"data": ["must be an object"]})
        with transaction(self.session) as session:
            rows = self._open_rows(session)
            row = next((r for r in rows if r.bpmn_id == bpmn_id), None)
            if row is None:
                open_ids = ", ".join(r.bpmn_id for r in rows) or "none"
                known = self._user_task_ids()
                if bpmn_id not in known:
                    raise StepFailed(
                        f"complete: the processes have no user task {bpmn_id!r} (open tasks: "
                        f"{open_ids})", {"task": ["unknown user task"]})
                raise StepFailed(f"complete: task {bpmn_id!r} ({known[bpmn_id]}) is not open "
                                 f"now (open tasks: {open_ids})", {"task": ["not open now"]})
            refused = None
            for user in self._candidates(row):
                try:
                    self.casework.complete_task(session, user, row.id, data)
                    return
                except Forbidden as exc:  # e.g. someone not involved in the case must do it
                    refused = refused or exc
            reason = f": {refused.message}" if refused else ""
            raise StepFailed(f"complete: nobody of the sample organisation may do task "
                             f"{bpmn_id!r} (candidate groups: {', '.join(row.groups) or '-'})"
                             f"{reason}", {"task": ["no candidate"]})

    def _user_task_ids(self) -> dict[str, str]:
        found = {}
        for definition in self.casework.registry.current.values():
            for spec in definition.user_tasks:
                found.setdefault(spec.bpmn_id, spec.bpmn_name or spec.bpmn_id)
        return found

    def _candidates(self, row: Task) -> list[User]:
        """Who of the sample organisation may work on the task: its assignee first, then the
        case's caseworker, then the others."""
        ordered = sorted(self.users, key=lambda u: (u.id != row.assignee_id,
                                                    u.role != CASEWORKER, u.id))
        found = []
        for user in ordered:
            try:
                require_can_work(user, row)
            except Forbidden:
                continue
            found.append(user)
        return found

    def _message(self, args: dict) -> None:
        name, data = args.get("name"), args.get("data") or {}
        if not isinstance(name, str) or not name:
            raise StepFailed("message: name the message", {"name": ["required"]})
        if not isinstance(data, dict):
            raise StepFailed("message: data must be an object", {"data": ["must be an object"]})
        received = _moment(args["received_at"], "received_at") if args.get("received_at") \
            else None
        with transaction(self.session) as session:
            self.casework.send_message(session, self.opener, self.case_id, name, data, received)

    def _advance(self, args: dict, traveller) -> None:
        current = now()
        if "until" in args:
            target = _moment(args["until"], "until")
        else:
            units = {k: args.get(k, 0) for k in ("weeks", "days", "hours", "minutes")}
            bad = [k for k, v in units.items()
                   if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
            if bad:
                raise StepFailed(f"advance: {', '.join(bad)} must be a number of at least 0",
                                 {k: ["must be a number of at least 0"] for k in bad})
            target = current + timedelta(**units)
        if target <= current:
            raise StepFailed(f"advance: {_iso(target)} is not after the clock of the run "
                             f"({_iso(current)}); time only moves forward",
                             {"until": ["must be later than the run's clock"]})
        if target - current > timedelta(days=366 * 10):
            raise StepFailed("advance: at most 10 years at a time", {"until": ["too far"]})
        for _ in range(MAX_FIRINGS):
            due = self._next_due()
            # A timer fires once its moment has passed (SpiffWorkflow compares strictly):
            # the clock goes one second past it, as a scheduler's tick would.
            moment = due + timedelta(seconds=1) if due is not None else None
            if moment is None or moment > target:
                break
            if moment <= now():
                break  # still waiting after the last catch-up: it will not move (an error)
            traveller.move_to(moment)
            self._catch_up()
        else:
            raise StepFailed(f"advance: more than {MAX_FIRINGS} timers and deadline checks "
                             f"before {_iso(target)}: does a timer repeat too often?")
        traveller.move_to(target)
        self._catch_up()

    def _next_due(self) -> datetime | None:
        with transaction(self.session) as session:
            timer = session.scalar(select(func.min(Instance.next_due_at)).where(
                Instance.status == RUNNING, Instance.next_due_at.is_not(None)))
            check = session.scalar(select(func.min(CaseDeadline.next_check_at)).where(
                CaseDeadline.next_check_at.is_not(None)))
        moments = [m.replace(tzinfo=m.tzinfo or timezone.utc) for m in (timer, check) if m]
        return min(moments) if moments else None

    def _catch_up(self) -> None:
        """What the scheduler's tick does (api.scheduler.tick): fire the due timers, then
        remind of and breach the deadlines whose moment has come; one transaction each."""
        casework = self.casework
        queues = [(casework.fire_next_due, casework.mark_error)]
        if casework.deadlines is not None:
            queues.append((lambda s, skip, claimed: watch.watch_next(
                s, casework.deadlines, skip, claimed, casework.letters), watch.mark_failed))
        for work_next, on_failure in queues:
            skip: set[int] = set()
            for _ in range(MAX_FIRINGS):
                claimed: list[int] = []
                try:
                    with transaction(self.session) as session:
                        if not work_next(session, skip, claimed):
                            break
                except Exception as exc:  # as the tick: the item shows the error
                    if not claimed:
                        raise
                    with transaction(self.session) as session:
                        on_failure(session, claimed[0], f"{exc.__class__.__name__}: {exc}")
                skip.add(claimed[0])  # each item once per catch-up: the clock stands still

    # -- the state after a step -----------------------------------------------------------

    def state(self, index: int, step: dict) -> dict:
        kind, _args = _parse_step(step)
        session = self.session
        with transaction(session):
            case = session.get(Case, self.case_id)
            instances = list(session.scalars(
                select(Instance).where(Instance.case_id == case.id).order_by(Instance.id)))
            self._extend_path(instances)
            open_tasks = [{
                "id": t.bpmn_id, "name": t.name, "form": t.form_key, "due_at": _iso(t.due_at),
                "candidate_groups": t.groups,
                "assignee": t.assignee.username if t.assignee_id else None,
            } for t in self._open_rows(session)]
            deadlines = [{
                "key": d.key, "title": d.title, "due_at": _iso(d.due_at), "state": d.state,
                "met": d.met_at is not None, "breached": d.breached_at is not None,
                "met_at": _iso(d.met_at), "breached_at": _iso(d.breached_at),
            } for d in self.casework.case_deadlines(session, case)]
            letters = [{
                "key": x.key, "title": x.title, "state": x.state, "origin": x.origin,
                "recipient": (x.recipient or {}).get("navn"),
            } for x in session.scalars(select(Letter).where(Letter.case_id == case.id)
                                       .order_by(Letter.id))]
            usernames = {u.id: u.username for u in self.users}
            events = [_event(e, usernames) for e in session.scalars(
                select(AuditEvent).where(AuditEvent.case_id == case.id,
                                         AuditEvent.id > self.last_event_id)
                .order_by(AuditEvent.id))]
            self.last_event_id = session.scalar(select(func.max(AuditEvent.id)).where(
                AuditEvent.case_id == case.id)) or 0
            errors = [i for i in instances if i.status == ERROR]
            return {
                "index": index, "kind": kind, "step": step, "now": _iso(now()),
                "open_tasks": open_tasks, "path": list(self.path), "deadlines": deadlines,
                "letters": letters, "events": events,
                "ended": bool(instances) and all(i.status == COMPLETED for i in instances),
                "case_status": case.status,
                "engine_error": {"message": errors[0].error_message,
                                 "element": errors[0].error_element} if errors else None,
            }

    def _extend_path(self, instances: list[Instance]) -> None:
        """Append the BPMN elements completed since the last step, in the order they
        completed (SpiffWorkflow's log of state changes says it; the clock stands still)."""
        from SpiffWorkflow.util.task import TaskState

        new = []
        for instance in instances:
            workflow = self.casework._load(instance)
            for order, task in enumerate(workflow.get_tasks(state=TaskState.COMPLETED)):
                spec = task.task_spec
                bpmn_id = getattr(spec, "bpmn_id", None)
                key = (instance.id, str(task.id))
                if not bpmn_id or key in self.seen_tasks:
                    continue
                self.seen_tasks.add(key)
                ran = self.completions.order.get(task.id, float("inf"))
                new.append(((ran, task.last_state_change, order), {
                    "id": bpmn_id, "name": getattr(spec, "bpmn_name", None) or None,
                    "type": _element_type(spec), "process": task.workflow.spec.name,
                    "at": _iso(datetime.fromtimestamp(task.last_state_change, timezone.utc)),
                }))
        self.path.extend(entry for _key, entry in sorted(new, key=lambda item: item[0]))


class _Completions(logging.Handler):
    """The order in which SpiffWorkflow completes tasks, from its log of state changes (the
    `spiff.task` logger at INFO): with the clock frozen, their timestamps are all equal."""

    LOGGER = "spiff.task"

    def __init__(self):
        super().__init__(logging.INFO)
        self.order: dict = {}

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "state", None) == "COMPLETED" and hasattr(record, "task_id"):
            self.order.setdefault(record.task_id, len(self.order))

    def __enter__(self) -> _Completions:
        logger = logging.getLogger(self.LOGGER)
        self._saved = (logger.level, logger.propagate)
        # Only this handler hears the INFO records (the app's own logs stay as they were).
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]


def _element_type(spec) -> str:
    name = spec.__class__.__name__
    return name[4:] if name.startswith("Case") else name


_EVENT_FIELDS = ("task", "bpmn_id", "timer", "name", "key", "due_at", "letter", "origin",
                 "message", "element", "to", "old", "new", "reason", "late")


def _event(event: AuditEvent, usernames: dict[int, str]) -> dict:
    data = event.data or {}
    return {"at": _iso(event.at), "kind": event.kind, "by": usernames.get(event.actor_id),
            **{k: data[k] for k in _EVENT_FIELDS if k in data and data[k] is not None}}


def _parse_step(step) -> tuple[str, dict]:
    if not isinstance(step, dict) or len(step) != 1:
        raise StepFailed("a step is an object with one key: " + ", ".join(STEP_KINDS))
    [(kind, args)] = step.items()
    if kind not in STEP_KINDS:
        raise StepFailed(f"unknown step {kind!r}: a step is one of {', '.join(STEP_KINDS)}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise StepFailed(f"{kind}: its value must be an object")
    return kind, args


# -- replay -------------------------------------------------------------------------------


def replay(sources: dict[str, str], steps: list[dict], *, catalogues: Catalogues | None = None,
           forms: FormCatalog | None = None, deadlines: DeadlineCatalogue | None = None,
           letters=None) -> TrialResult:
    """Run a test run's steps from scratch over `sources` ({file name: BPMN/DMN text}) in a
    sandbox, and say what each step did. Catalogues not given are the project's own (forms/,
    processes/deadlines.toml, letters/). Moves the clock of this whole Python process while
    it runs (time-machine): a web server calls replay_in_subprocess instead."""
    import time_machine

    started = time.perf_counter()
    base = catalogues or default_catalogues()
    catalogues = Catalogues(forms or base.forms, deadlines or base.deadlines,
                            letters or base.letters)
    result = TrialResult()
    if not isinstance(steps, list) or not steps:
        result.error = {"step": None, "kind": "steps", "fields": {},
                        "message": "a test run needs steps, the first a start step"}
        return _timed(result, started)
    try:
        start_at = _start_moment(steps[0])
    except StepFailed as exc:
        result.error = _step_error(0, steps[0], exc)
        return _timed(result, started)
    result.started_at = _iso(start_at)
    try:
        registry = _registry(_checked_sources(sources), catalogues)
    except (ProcessDefinitionError, StepFailed) as exc:
        result.error = {"step": None, "kind": "sources", "message": exc.message,
                        "fields": getattr(exc, "fields", {})}
        return _timed(result, started)
    with _RUNNING, time_machine.travel(start_at, tick=False) as traveller, \
            _Completions() as completions:
        sandbox = _Sandbox(registry, catalogues, completions)
        try:
            _run_steps(sandbox, steps, traveller, result)
        finally:
            sandbox.close()
    return _timed(result, started)


# One replay at a time in a process: they share the sandbox database and the clock.
_RUNNING = threading.RLock()
_REGISTRIES: OrderedDict = OrderedDict()


def _registry(sources: dict[str, str], catalogues: Catalogues) -> SourceRegistry:
    """The processes of `sources`, parsed and checked; the last few are kept (parsed specs
    are immutable and may be shared), so that replaying the same files again is quick."""
    digest = hashlib.sha256(json.dumps(sorted(sources.items())).encode()).hexdigest()
    key = (digest, id(catalogues.forms), id(catalogues.deadlines), id(catalogues.letters))
    with _RUNNING:
        found = _REGISTRIES.get(key)
        if found is not None:
            _REGISTRIES.move_to_end(key)
            return found[1]
    registry = SourceRegistry(
        sources, catalogues.forms,
        catalogues.deadlines.process_actions() if catalogues.deadlines else None,
        set(catalogues.letters.keys()) if catalogues.letters is not None else None)
    with _RUNNING:
        # the catalogues are held too, so that their ids in the key stay theirs
        _REGISTRIES[key] = (catalogues, registry)
        while len(_REGISTRIES) > 4:
            _REGISTRIES.popitem(last=False)
    return registry


def _run_steps(sandbox: _Sandbox, steps: list, traveller, result: TrialResult) -> None:
    for index, step in enumerate(steps):
        try:
            sandbox.take(step, traveller)
        except Exception as exc:  # noqa: BLE001 - every failure ends the run, said
            sandbox.session.rollback()
            result.error = _step_error(index, step, exc)
            return
        state = sandbox.state(index, step)
        if state["engine_error"]:
            failure = state["engine_error"]
            where = f" at {failure['element']}" if failure["element"] else ""
            result.error = {
                "step": index, "kind": _kind(step), "fields": {}, "state": state,
                "message": f"step {index + 1} ({_kind(step)}): the process failed{where}: "
                           f"{failure['message']}"}
            return
        result.steps.append(state)


def _timed(result: TrialResult, started: float) -> TrialResult:
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _kind(step) -> str:
    return next(iter(step)) if isinstance(step, dict) and len(step) == 1 else "?"


def _start_moment(step) -> datetime:
    kind, args = _parse_step(step)
    if kind != "start":
        raise StepFailed("the first step must be a start step ({\"start\": {\"process\": ...}})")
    if args.get("at"):
        return _moment(args["at"], "at")
    return now().replace(microsecond=0)


def _checked_sources(sources) -> dict[str, str]:
    if not isinstance(sources, dict) or not sources:
        raise StepFailed("no BPMN or DMN files to try")
    for name, text in sources.items():
        if not is_file_name(name):
            raise StepFailed(f"{name!r}: a file name ends in .bpmn or .dmn and names no folder")
        if not isinstance(text, str):
            raise StepFailed(f"{name}: the file's content must be text")
    return sources


def _step_error(index: int, step, exc: Exception) -> dict:
    kind = _kind(step)
    fields = dict(getattr(exc, "fields", None) or {})
    if isinstance(exc, ValidationFailed):
        what = ""
        if kind == "complete" and isinstance(step.get("complete"), dict):
            what = f" task {step['complete'].get('task')!r}"
        message = f"{exc.message}{what}: {_fields_text(fields)}" if fields else exc.message
    elif isinstance(exc, SagsflowError):
        message = exc.message
    else:
        message = f"unexpected error: {exc.__class__.__name__}: {exc}"
    return {"step": index, "kind": kind, "fields": fields,
            "message": f"step {index + 1} ({kind}): {message}"}


# -- in a subprocess ----------------------------------------------------------------------


_CHILD_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT",
                      "VIRTUAL_ENV")


def replay_in_subprocess(sources: dict[str, str], steps: list[dict], *, timeout: float = 60.0,
                         config: dict | None = None) -> TrialResult:
    """`replay` in a Python process of its own (`python -m engine.bpmn.trial`), so that its
    time travel does not move the clock of the caller (a web server's threads). `config`: the
    app's configuration (its CONFIG_KEYS name the catalogues' folders). A run that takes
    longer than `timeout` seconds is stopped; it and a crash come back as the result's
    error (step None, kind "timeout" or "crash")."""
    folders = {k: str(config[k]) for k in CONFIG_KEYS if config and config.get(k)}
    payload = json.dumps({"sources": sources, "steps": steps, "config": folders},
                         ensure_ascii=False)
    # Only what Python needs: the run has no business with the app's secrets or database.
    env = {k: v for k, v in os.environ.items() if k in _CHILD_ENVIRONMENT}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                      os.environ.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "engine.bpmn.trial"], input=payload,
                              capture_output=True, text=True, encoding="utf-8",
                              timeout=timeout, cwd=PROJECT_ROOT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return TrialResult(error={"step": None, "kind": "timeout", "fields": {},
                                  "message": f"the test run took more than {timeout:g} "
                                             "seconds and was stopped"},
                           seconds=round(time.perf_counter() - started, 3))
    try:
        answer = json.loads(done.stdout) if done.returncode == 0 else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-5:]
        return TrialResult(error={"step": None, "kind": "crash", "fields": {},
                                  "message": f"the test run failed (exit code "
                                             f"{done.returncode}): " + " | ".join(tail)},
                           seconds=round(time.perf_counter() - started, 3))
    return TrialResult.from_dict(answer)


def main(stdin=None, stdout=None) -> int:
    """`python -m engine.bpmn.trial`: {"sources", "steps", "config"?} as JSON on stdin, the
    result (TrialResult.to_dict) as JSON on stdout."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    try:
        request = json.load(stdin)
        sources, steps = request["sources"], request["steps"]
        config = request.get("config") or {}
    except (ValueError, KeyError, TypeError) as exc:
        print(f"expected JSON {{\"sources\": ..., \"steps\": ...}} on stdin: {exc}",
              file=sys.stderr)
        return 2
    catalogues = Catalogues.load(config) if config else None
    result = replay(sources, steps, catalogues=catalogues)
    json.dump(result.to_dict(), stdout, ensure_ascii=False)
    stdout.flush()
    return 0


# -- scenarios ----------------------------------------------------------------------------


def expectations(result: TrialResult) -> dict:
    """What a scenario records of a run: the path (element ids), the open tasks (ids) and
    whether the process ended, after the last step."""
    final = result.final or {}
    return {"path": [p["id"] for p in final.get("path", [])],
            "open_tasks": sorted(t["id"] for t in final.get("open_tasks", [])),
            "ended": bool(final.get("ended"))}


def compare(expect: dict, result: TrialResult) -> list[str]:
    """How a run differs from a scenario's expectations: one sentence per difference (none:
    the scenario passes)."""
    problems = []
    if not result.ok:
        problems.append(f"the run failed: {result.error['message']}")
        if not result.error.get("state"):
            return problems
    got = expectations(result)
    if "path" in expect and list(expect["path"]) != got["path"]:
        want, have = list(expect["path"]), got["path"]
        at = next((i for i, (a, b) in enumerate(zip(want, have, strict=False)) if a != b),
                  min(len(want), len(have)))
        problems.append(
            f"path differs from element {at + 1}: expected "
            f"{want[at:at + 5] or 'the end'}, got {have[at:at + 5] or 'the end'}")
    if "open_tasks" in expect and sorted(expect["open_tasks"]) != got["open_tasks"]:
        problems.append(f"open tasks: expected {sorted(expect['open_tasks'])}, "
                        f"got {got['open_tasks']}")
    if "ended" in expect and bool(expect["ended"]) != got["ended"]:
        problems.append(f"ended: expected {bool(expect['ended'])}, got {got['ended']}")
    return problems


def check_scenario_name(name) -> str:
    if not isinstance(name, str) or not SCENARIO_NAME.match(name):
        raise ValidationFailed("cannot save the scenario", {"name": [
            "1 to 64 characters: lowercase letters a-z, digits, - and _, starting with a "
            "letter or digit"]})
    return name


def save_scenario(folder: Path | str, name: str, steps: list[dict], result: TrialResult, *,
                  description: str = "", overwrite: bool = False) -> Path:
    """Save a test run as scenario `name` (folder/<name>.json) with what it gave as the
    expectations. The run must have succeeded. The start step gets the run's start moment
    (`at`), so that the scenario replays at the same time. Refuses a name that is not
    [a-z0-9_-] and an existing scenario unless `overwrite`."""
    check_scenario_name(name)
    if not result.ok:
        raise ValidationFailed("cannot save a test run that failed as a scenario",
                               {"steps": [result.error["message"]]})
    folder = Path(folder)
    path = (folder / f"{name}.json")
    if path.resolve().parent != folder.resolve():
        raise ValidationFailed("cannot save the scenario", {"name": ["not a plain name"]})
    steps = json.loads(json.dumps(steps))  # a copy, JSON as it will be stored
    kind, start = _parse_step(steps[0])
    if kind != "start":
        raise ValidationFailed("cannot save the scenario",
                               {"steps": ["the first step must be a start step"]})
    if not start.get("at"):
        start["at"] = result.started_at
    scenario = {"name": name, "process": start.get("process"),
                "description": description or "", "steps": steps,
                "expect": expectations(result)}
    text = json.dumps(scenario, ensure_ascii=False, indent=2) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "w" if overwrite else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise Conflict(f"a scenario named {name!r} exists already") from None
    return path


def load_scenarios(folder: Path | str) -> list[dict]:
    """The scenarios in a folder, by file name. A file that cannot be read as a scenario is
    one entry {"name", "broken": why}: shown by the designer, failed by the tests, never
    skipped."""
    found = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            scenario = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(scenario, dict) or not isinstance(scenario.get("steps"), list):
                raise ValueError("not a scenario: an object with a list of steps")
        except (OSError, ValueError) as exc:
            found.append({"name": path.stem, "broken": str(exc)})
            continue
        found.append({**scenario, "name": scenario.get("name") or path.stem})
    return found


def check_scenario(scenario: dict, processes: Path | str | None = None,
                   catalogues: Catalogues | None = None) -> tuple[TrialResult, list[str]]:
    """Replay a scenario against the files of `processes` (default: the project's
    processes/) and compare it with its expectations."""
    if "broken" in scenario:
        return TrialResult(), [f"the scenario file cannot be read: {scenario['broken']}"]
    sources = read_folder(Path(processes or PROJECT_ROOT / "processes"))
    result = replay(sources, scenario["steps"], catalogues=catalogues)
    return result, compare(scenario.get("expect") or {}, result)


if __name__ == "__main__":
    sys.exit(main())
