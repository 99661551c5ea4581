"""The process registry: parses every BPMN/DMN file in `processes/` once, validates it,
caches the specs, and records each deployment as a numbered version with a content hash.

Specs are immutable once parsed and may be shared between threads; workflow instances may not.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import now
from ..errors import NotFound, ProcessDefinitionError
from ..forms import FormCatalog
from ..models import ProcessVersion
from .sandbox import ScriptRefused, check_expression, check_script
from .specs import CaseUserTask, CaseUserTaskConverter, CaseUserTaskParser, describe_element

# Column sizes of the task rows (engine/models.py) that element ids and names go into.
MAX_ID, MAX_NAME = 128, 200

_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                              huge_tree=False)


class CaseParser(CamundaParser):
    """CamundaParser that keeps assignment and due-date attributes on user tasks."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (CaseUserTaskParser, CaseUserTask),
    }


class SpecCachingWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflowConverter that restores the process specs of a workflow once per process,
    not on every load.

    Every serialized instance carries its process's specs (over half of its JSON), and
    rebuilding them is most of a load. Specs are immutable once made (the registry shares
    them between workflows and threads already), so one restored spec object may serve every
    workflow serialized with exactly the same spec JSON; the cache key is that JSON."""

    MAX_CACHED = 64

    def __init__(self, target_class, registry):
        super().__init__(target_class, registry)
        self._restored: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def from_dict(self, dct):
        spec_dct, subprocess_dct = dct.pop('spec'), dct.pop('subprocess_specs', {})
        key = json.dumps([spec_dct, subprocess_dct])
        cached = self._restored.get(key)
        if cached is None:
            cached = (self.registry.restore(spec_dct), self.mapping_from_dict(subprocess_dct))
            with self._lock:
                if len(self._restored) >= self.MAX_CACHED:
                    self._restored.clear()
                self._restored[key] = cached
        spec, subprocess_specs = cached
        workflow = self.target_class(spec, dict(subprocess_specs), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct['tasks'], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct['root']))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct['subprocesses'], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop('bpmn_events', []))
        return workflow


def create_serializer() -> BpmnWorkflowSerializer:
    config = dict(CAMUNDA_CONFIG)
    config.pop(UserTask, None)
    config[CaseUserTask] = CaseUserTaskConverter
    config[BpmnWorkflow] = SpecCachingWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    # Task data may hold dates and decimals (datetime and timedelta are registered already).
    registry.register(date, lambda v: {"value": v.isoformat()},
                      lambda v: date.fromisoformat(v["value"]))
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return BpmnWorkflowSerializer(registry)


@dataclass
class ProcessDefinition:
    """A parsed process with the specs of every process it calls."""

    process_id: str
    name: str
    spec: object
    subprocess_specs: dict
    sources: dict[str, str]
    content_hash: str
    startable: bool
    user_tasks: list = field(default_factory=list)


def _hash_sources(sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(sources[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()


def parse_sources(
    sources: dict[str, str], forms: FormCatalog | None, deadline_keys=None, letter_keys=None
) -> dict[str, ProcessDefinition]:
    """Parse and validate a set of BPMN/DMN files given as {file name: XML text}.

    `forms` and `deadline_keys`, when given, are what user tasks and deadline functions may
    name. When `deadline_keys` maps each key to the breach actions its process must carry out
    (DeadlineCatalogue.process_actions), a process that starts such a deadline must also have a
    timer on `deadline(key)`. Raises ProcessDefinitionError naming the file and element of the
    first problem.
    """
    parser = CaseParser(validator=BpmnValidator())
    for filename in sorted(sources):
        text = sources[filename]
        try:
            tree = etree.fromstring(text.encode("utf-8"), parser=_XML_PARSER)
        except etree.XMLSyntaxError as exc:
            raise ProcessDefinitionError(f"{filename}: not well-formed XML: {exc}") from None
        docinfo = tree.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None:
            # lxml still expands internal entities in attribute values: refuse any DTD.
            raise ProcessDefinitionError(
                f"{filename}: a DOCTYPE (DTD or entity declarations) is not allowed")
        try:
            if filename.endswith(".dmn"):
                parser.add_dmn_xml(tree, filename=filename)
            else:
                parser.add_bpmn_xml(tree, filename=filename)
        except ValidationException as exc:
            raise ProcessDefinitionError(_describe(filename, exc)) from None
        if not filename.endswith(".dmn"):
            # SpiffWorkflow silently skips processes with isExecutable="false".
            in_file = [p for p in parser.process_parsers.values() if p.filename == filename]
            if not any(p.process_executable for p in in_file):
                ids = ", ".join(p.bpmn_id for p in in_file)
                raise ProcessDefinitionError(
                    f"{filename}: no executable process"
                    + (f" (element {ids} has isExecutable=\"false\")" if ids else ""))

    definitions = {}
    process_ids = parser.get_process_ids()
    called: set[str] = set()
    parsed = {}
    for pid in process_ids:
        try:
            spec = parser.get_spec(pid)
            subprocess_specs = parser.get_subprocess_specs(pid)
        except (ValidationException, SpiffWorkflowException) as exc:
            filename = parser.get_process_parser(pid).filename
            raise ProcessDefinitionError(_describe(filename, exc)) from None
        except Exception as exc:  # SpiffWorkflow raises bare exceptions for bad timers
            filename = parser.get_process_parser(pid).filename
            raise ProcessDefinitionError(f"{filename}: process {pid}: {exc}") from None
        called.update(subprocess_specs)
        parsed[pid] = (spec, subprocess_specs)

    for pid, (spec, subprocess_specs) in parsed.items():
        files = {parser.get_process_parser(pid).filename}
        files.update(parser.get_process_parser(name).filename for name in subprocess_specs)
        # The DMN files its business rule tasks name, so that a stored version parses alone.
        for filename in list(files):
            for ref in _DECISION_REF.findall(sources[filename]):
                dmn = parser.dmn_parsers.get(ref)
                if dmn is not None and dmn.filename:
                    files.add(dmn.filename)
        own_sources = {f: sources[f] for f in files}
        user_tasks = []
        for process_spec in [spec, *subprocess_specs.values()]:
            filename = parser.get_process_parser(process_spec.name).filename
            user_tasks.extend(_check_process(filename, process_spec, forms, deadline_keys,
                                             letter_keys))
        if isinstance(deadline_keys, Mapping):
            _check_breach_timers(parser, [spec, *subprocess_specs.values()], deadline_keys)
        definitions[pid] = ProcessDefinition(
            process_id=pid,
            name=spec.description or pid,
            spec=spec,
            subprocess_specs=subprocess_specs,
            sources=own_sources,
            content_hash=_hash_sources(own_sources),
            startable=pid not in called,
            user_tasks=user_tasks,
        )
    return definitions


def _describe(filename: str, exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    where = []
    if getattr(exc, "id", None):
        where.append(f"element {exc.id}")
    if getattr(exc, "name", None):
        where.append(f"({exc.name})")
    if getattr(exc, "line_number", None):
        where.append(f"line {exc.line_number}")
    location = " ".join(where)
    return f"{filename}: {location + ': ' if location else ''}{message}"


_DECISION_REF = re.compile(r"""decisionRef\s*=\s*["']([^"']+)["']""")
_DEADLINE_CALL = re.compile(
    r"""\b(?:start_|meet_|pause_|resume_)?deadline(?:_reminder)?\(\s*["']([^"']*)["']""")
_LETTER_CALL = re.compile(r"""\bprepare_letter\(\s*["']([^"']*)["']""")
_START_CALL = re.compile(r"""\bstart_deadline\(\s*["']([^"']*)["']""")
_DUE_CALL = re.compile(r"""(?<![\w.])deadline\(\s*["']([^"']*)["']""")


def _check_breach_timers(parser, process_specs, process_actions: Mapping) -> None:
    """A deadline whose breach the process carries out (a task, moving on, forwarding) must
    have a timer on it in the process that starts it, or the breach would pass unnoticed."""
    timed, started = set(), {}
    for process_spec in process_specs:
        filename = parser.get_process_parser(process_spec.name).filename
        for task_spec in process_spec.task_specs.values():
            event_definition = getattr(task_spec, "event_definition", None)
            if isinstance(event_definition, TimerEventDefinition):
                timed.update(_DUE_CALL.findall(event_definition.expression or ""))
            for key in _START_CALL.findall(getattr(task_spec, "script", None) or ""):
                started.setdefault(key, f"{filename}: element {describe_element(task_spec)}")
    for key, where in started.items():
        actions = process_actions.get(key) or ()
        if actions and key not in timed:
            raise ProcessDefinitionError(
                f"{where}: starts deadline {key!r}, whose breach the process must handle "
                f"({', '.join(actions)} in processes/deadlines.toml), but no timer waits for "
                f"it: add a boundary or intermediate timer with timeDate "
                f"deadline(\"{key}\")")


def _check_deadline_keys(where: str, texts, deadline_keys) -> None:
    if deadline_keys is None:
        return
    for text in texts:
        for key in _DEADLINE_CALL.findall(text or ""):
            if key not in deadline_keys:
                raise ProcessDefinitionError(
                    f"{where}: unknown deadline {key!r} (not in processes/deadlines.toml)")


def _check_process(filename: str, process_spec, forms: FormCatalog | None,
                   deadline_keys=None, letter_keys=None) -> list:
    """Casework rules SpiffWorkflow does not check: scripts and expressions compile in the
    sandbox, every deadline they name exists, every user task names a form that exists and
    who may do it."""
    user_tasks = []
    if len(process_spec.name) > MAX_ID or len(process_spec.description or "") > MAX_NAME:
        raise ProcessDefinitionError(
            f"{filename}: process {process_spec.name[:40]}: the id may have at most {MAX_ID} "
            f"and the name at most {MAX_NAME} characters")
    for task_spec in process_spec.task_specs.values():
        where = f"{filename}: element {describe_element(task_spec)}"
        if len(getattr(task_spec, "bpmn_id", None) or "") > MAX_ID or \
                len(getattr(task_spec, "bpmn_name", None) or "") > MAX_NAME:
            raise ProcessDefinitionError(
                f"{where}: the id may have at most {MAX_ID} and the name at most {MAX_NAME} "
                "characters (they are stored with every task)")
        try:
            script = getattr(task_spec, "script", None)
            if script:
                check_script(script)
            for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
                source = getattr(condition, "args", [condition])[0] if condition else None
                if source:
                    check_expression(source)
            event_definition = getattr(task_spec, "event_definition", None)
            expression = getattr(event_definition, "expression", None)
            if isinstance(event_definition, TimerEventDefinition) and expression:
                bare = expression.strip()
                if _BARE_ISO.match(bare):
                    # Camunda Modeler writes P5D; SpiffWorkflow evaluates timers as Python.
                    raise ProcessDefinitionError(
                        f"{where}: invalid timer: write the ISO 8601 value as a Python string: "
                        f"\"{bare}\" (with quotes)")
            if expression:
                check_expression(expression)
            _check_decision_table(getattr(task_spec, "dmnEngine", None))
            conditions = [getattr(c, "args", [c])[0] for c, _t in
                          getattr(task_spec, "cond_task_specs", []) or [] if c]
            _check_deadline_keys(where, [script, expression, *conditions,
                                         getattr(task_spec, "due_date", None),
                                         getattr(task_spec, "follow_up_date", None)],
                                 deadline_keys)
            if letter_keys is not None:
                for key in _LETTER_CALL.findall(script or ""):
                    if key not in letter_keys:
                        raise ProcessDefinitionError(
                            f"{where}: unknown letter {key!r} (not in letters/letters.toml)")
        except ScriptRefused as exc:
            raise ProcessDefinitionError(f"{where}: script refused by the sandbox: {exc}") from None
        except SyntaxError as exc:
            raise ProcessDefinitionError(f"{where}: invalid expression: {exc}") from None
        if isinstance(event_definition, TimerEventDefinition) and expression:
            problem = _constant_timer_problem(event_definition)
            if problem:
                raise ProcessDefinitionError(f"{where}: invalid timer: {problem}")
        if isinstance(task_spec, CaseUserTask):
            user_tasks.append(task_spec)
            form_key = task_spec.form.key if task_spec.form else None
            if not form_key:
                raise ProcessDefinitionError(f"{where}: user task has no camunda:formKey")
            if forms is not None and form_key not in forms:
                raise ProcessDefinitionError(f"{where}: form {form_key!r} does not exist in forms/")
            if task_spec.candidate_users:
                raise ProcessDefinitionError(
                    f"{where}: camunda:candidateUsers is not supported; use candidateGroups "
                    "(a role or a team key) or assignee")
            if not (task_spec.candidate_groups or task_spec.assignee):
                raise ProcessDefinitionError(
                    f"{where}: user task has neither camunda:candidateGroups nor camunda:assignee"
                )
            if len(",".join(task_spec.candidate_groups)) > 480:
                raise ProcessDefinitionError(f"{where}: camunda:candidateGroups is too long")
            for attr in ("due_date", "follow_up_date"):
                value = getattr(task_spec, attr)
                if value and not value.startswith("P"):
                    try:
                        check_expression(value)
                    except (ScriptRefused, SyntaxError) as exc:
                        raise ProcessDefinitionError(f"{where}: invalid {attr}: {exc}") from None
    return user_tasks


def _check_decision_table(engine) -> None:
    """Every cell of a DMN table a business rule task calls compiles in the sandbox (cells are
    Python; `?` stands for the input, `-` matches anything)."""
    table = getattr(engine, "decision_table", None)
    if table is None:
        return
    for column in table.inputs:
        if column.expression:
            check_expression(column.expression)
    for rule in table.rules:
        for entry in [*rule.inputEntries, *rule.outputEntries]:
            text = (entry.text or "").strip()
            if text and text != "-":
                try:
                    check_expression(text.replace("?", "dmninputexpr"))
                except (ScriptRefused, SyntaxError) as exc:
                    raise type(exc)(f"decision {table.name or table.id}, rule "
                                    f"{rule.row_number} ({entry.id}): {exc}") from None


_BARE_ISO = re.compile(r"^(R\d*/)?P[0-9YMWDTHS.]+$|^\d{4}-\d{2}-\d{2}")


def _constant_timer_problem(event_definition: TimerEventDefinition) -> str | None:
    """A timer written as a constant must be valid ISO 8601 at deploy time already."""
    try:
        value = ast.literal_eval(event_definition.expression.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # computed from the task data at run time
    if isinstance(event_definition, DurationTimerEventDefinition):
        kind, check = "duration", TimerEventDefinition.parse_iso_duration
    elif isinstance(event_definition, CycleTimerEventDefinition):
        kind, check = "cycle", TimerEventDefinition.parse_iso_recurring_interval
    else:
        kind, check = "date and time", TimerEventDefinition.get_datetime
    try:
        check(value)
    except Exception:
        return f"{value!r} is not an ISO 8601 {kind}"
    return None


def read_folder(folder: Path) -> dict[str, str]:
    sources = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".bpmn", ".dmn") and path.is_file():
            try:
                sources[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ProcessDefinitionError(f"{path.name}: not UTF-8 text: {exc}") from None
    return sources


class ProcessRegistry:
    """Deployed process definitions, by process id and version.

    The latest definitions come from the folder; older versions are parsed on demand from
    the sources stored with their deployment, so every deployed version stays loadable.
    """

    def __init__(self, folder: Path, forms: FormCatalog, deadline_keys=None, letter_keys=None):
        self.folder = Path(folder)
        self.forms = forms
        self.serializer = create_serializer()
        self.current = parse_sources(read_folder(self.folder), forms, deadline_keys,
                                     letter_keys)
        self._by_version: dict[int, ProcessDefinition] = {}
        self._lock = threading.Lock()

    def deploy(self, session: Session, deployed_by: str = "system") -> list[ProcessVersion]:
        """Record a new version of every process whose content changed. Returns them."""
        created = []
        for pid, definition in sorted(self.current.items()):
            latest = self.latest_version(session, pid)
            if latest is not None and latest.content_hash == definition.content_hash:
                continue
            version = ProcessVersion(
                process_id=pid,
                version=(latest.version + 1) if latest else 1,
                name=definition.name,
                content_hash=definition.content_hash,
                sources=definition.sources,
                startable=definition.startable,
                deployed_at=now(),
                deployed_by=deployed_by,
            )
            session.add(version)
            created.append(version)
        session.flush()
        return created

    @staticmethod
    def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
        return session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.version.desc())
            .limit(1)
        ).first()

    def definition_for(self, version: ProcessVersion) -> ProcessDefinition:
        """The parsed definition of a deployed version."""
        current = self.current.get(version.process_id)
        if current is not None and current.content_hash == version.content_hash:
            return current
        with self._lock:
            cached = self._by_version.get(version.id)
            if cached is None:
                cached = parse_sources(version.sources, None)[version.process_id]
                self._by_version[version.id] = cached
            return cached

    def startable_version(self, session: Session, process_id: str) -> ProcessVersion:
        version = self.latest_version(session, process_id)
        if version is None or not version.startable:
            raise NotFound(f"no deployed process with id {process_id!r}")
        return version
