"""The process registry: parses every BPMN/DMN file in `processes/` once, validates it,
caches the specs, and records each deployment as a numbered version with a content hash.

Specs are immutable once parsed and may be shared between threads; workflow instances may not.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.user_task import UserTask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from ..clock import now
from ..errors import NotFound, ProcessDefinitionError
from ..forms import FormCatalog
from ..models import ORIGIN_FOLDER, ProcessVersion
from .specs import CaseParser, CaseUserTask, CaseUserTaskConverter
from .validation import (
    DECISION_REF,
    MAX_FILE_BYTES,
    MAX_ID,
    MAX_NAME,
    Problem,
    check_sources,
    problems_error,
    properties,
    validate_sources,
)

# Kept importable from here: CaseParser moved to specs.py and the rules to validation.py.
__all__ = ["CaseParser", "MAX_FILE_BYTES", "MAX_ID", "MAX_NAME", "Problem", "ProcessDefinition",
           "ProcessRegistry", "create_serializer", "parse_sources", "read_folder",
           "validate_sources"]


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
    # The process element's camunda:properties, e.g. `ny_sag`: what a caseworker who opens a
    # case of this process by hand has received (the new-case page lists those processes).
    properties: dict = field(default_factory=dict)


def _hash_sources(sources: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(sources[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()


def parse_sources(
    sources: dict[str, str], forms: FormCatalog | None, deadline_keys=None, letter_keys=None,
    *, design_rules: bool = True,
) -> dict[str, ProcessDefinition]:
    """Parse and validate a set of BPMN/DMN files given as {file name: XML text}.

    `forms` and `deadline_keys`, when given, are what user tasks and deadline functions may
    name. When `deadline_keys` maps each key to the breach actions its process must carry out
    (DeadlineCatalogue.process_actions), a process that starts such a deadline must also have a
    timer on `deadline(key)`. The rules are those of validation.validate_sources; with any
    problem, raises ProcessDefinitionError whose message names the file and element of each
    problem, one a line, and whose `.problems` lists them (validation.Problem).
    `design_rules=False` (loading a version deployed earlier) leaves out the rules that were
    added after versions may have been deployed: implicit splits and merges, hearing before
    decision.
    """
    checked = check_sources(sources, forms, deadline_keys, letter_keys,
                            design_rules=design_rules)
    if checked.problems:
        raise problems_error(checked.problems)
    parser = checked.parser
    called: set[str] = set()
    for _spec, subprocess_specs in checked.parsed.values():
        called.update(subprocess_specs)

    definitions = {}
    for pid, (spec, subprocess_specs) in checked.parsed.items():
        files = {parser.get_process_parser(pid).filename}
        files.update(parser.get_process_parser(name).filename for name in subprocess_specs)
        # The DMN files its business rule tasks name, so that a stored version parses alone.
        for filename in list(files):
            for ref in DECISION_REF.findall(sources[filename]):
                dmn = parser.dmn_parsers.get(ref)
                if dmn is not None and dmn.filename:
                    files.add(dmn.filename)
        own_sources = {f: sources[f] for f in files}
        definitions[pid] = ProcessDefinition(
            process_id=pid,
            name=spec.description or pid,
            spec=spec,
            subprocess_specs=subprocess_specs,
            sources=own_sources,
            content_hash=_hash_sources(own_sources),
            startable=pid not in called,
            user_tasks=checked.user_tasks[pid],
            properties=properties(parser.get_process_parser(pid).node),
        )
    return definitions


def read_folder(folder: Path) -> dict[str, str]:
    sources = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".bpmn", ".dmn") and path.is_file():
            try:
                sources[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise ProcessDefinitionError(f"{path.name}: not UTF-8 text: {exc}") from None
    return sources


_PROCESS_ID = re.compile(r"""<(?:\w+:)?process\b[^>]*\bid=["']([^"']+)["']""")


def process_files(sources: dict[str, str]) -> dict[str, str]:
    """process id -> the name of the BPMN file that defines it."""
    found = {}
    for name, text in sources.items():
        if name.endswith(".bpmn"):
            for process_id in _PROCESS_ID.findall(text):
                found.setdefault(process_id, name)
    return found


def latest_versions(session: Session, *, with_sources: bool = False) -> list[ProcessVersion]:
    """The latest version of every process, in the order they were deployed (one query)."""
    latest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_id).subquery())
    query = (select(ProcessVersion)
             .join(latest, (ProcessVersion.process_id == latest.c.process_id)
                   & (ProcessVersion.version == latest.c.v))
             .order_by(ProcessVersion.deployed_at, ProcessVersion.id))
    if with_sources:
        query = query.options(undefer(ProcessVersion.sources))
    return list(session.scalars(query))


def latest_sources(session: Session) -> dict[str, str]:
    """The files of the latest version of every process, together: what a change (from the
    designer or the folder) goes into, so that call activities and decision tables still
    resolve. Where two versions carry a file of the same name, the later deployment's copy
    counts."""
    sources: dict[str, str] = {}
    for version in latest_versions(session, with_sources=True):
        sources.update(version.sources or {})
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
        # What user tasks, deadline functions and letters may name: a designer's deployment
        # (engine.designer) is checked against the same.
        self.deadline_keys, self.letter_keys = deadline_keys, letter_keys
        self.current = parse_sources(read_folder(self.folder), forms, deadline_keys,
                                     letter_keys)
        # Parsed versions by (process id, content hash): a definition depends on nothing else.
        self._by_version: dict[tuple[str, str], ProcessDefinition] = {}
        self._lock = threading.Lock()
        # The Casework (engine.services) over this registry, when it sets itself here: moving
        # cases between versions (engine.bpmn.versions) loads and saves instances with it.
        self.casework = None

    def deploy(self, session: Session, deployed_by: str = "system") -> list[ProcessVersion]:
        """Deploy what changed in the folder since the folder was last deployed, file by file,
        and return the new versions.

        A file counts as changed when its text differs from the text the newest version
        deployed from the folder carries (or no such version carries it). The changed files
        replace their namesakes among the latest deployed files (`latest_sources`: a designer's
        deployment included), and every process whose content then differs from its latest
        version gets the next version. So a start never puts the folder back over what a
        designer deployed from the browser; an edit to one file of the folder is deployed on
        its own, over the designer's versions of the other files."""
        folder: dict[str, str] = {}
        for definition in self.current.values():
            folder.update(definition.sources)
        from_folder: dict[str, str] = {}
        for sources in session.scalars(
                select(ProcessVersion.sources).where(ProcessVersion.origin == ORIGIN_FOLDER)
                .order_by(ProcessVersion.deployed_at, ProcessVersion.id)):
            from_folder.update(sources or {})
        changed = {name: text for name, text in folder.items() if from_folder.get(name) != text}
        if not changed:
            return []
        deployed = latest_sources(session)
        definitions = self.current if not deployed else parse_sources(
            {**deployed, **changed}, self.forms, self.deadline_keys, self.letter_keys)
        created = self.record_versions(session, definitions, deployed_by, ORIGIN_FOLDER)
        session.flush()
        return created

    def record_versions(self, session: Session, definitions: dict[str, ProcessDefinition],
                        deployed_by: str, origin: str) -> list[ProcessVersion]:
        """The next version of every process whose content differs from its latest version
        (read in one query); returns them, not yet flushed."""
        latest = {v.process_id: v for v in latest_versions(session)}
        created = []
        for pid, definition in sorted(definitions.items()):
            before = latest.get(pid)
            if before is None or before.content_hash != definition.content_hash:
                created.append(self._add_version(session, definition, before, deployed_by,
                                                 origin))
        return created

    @staticmethod
    def _add_version(session: Session, definition: ProcessDefinition,
                     latest: ProcessVersion | None, deployed_by: str,
                     origin: str) -> ProcessVersion:
        """Record `definition` as the version after `latest`."""
        version = ProcessVersion(
            process_id=definition.process_id,
            version=(latest.version + 1) if latest else 1,
            name=definition.name,
            content_hash=definition.content_hash,
            sources=definition.sources,
            startable=definition.startable,
            deployed_at=now(),
            deployed_by=deployed_by,
            origin=origin,
        )
        session.add(version)
        return version

    @staticmethod
    def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
        """The latest version of a process."""
        return session.scalars(
            select(ProcessVersion).where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.version.desc()).limit(1)).first()

    def definition_for(self, version: ProcessVersion) -> ProcessDefinition:
        """The parsed definition of a deployed version."""
        current = self.current.get(version.process_id)
        if current is not None and current.content_hash == version.content_hash:
            return current
        with self._lock:
            key = (version.process_id, version.content_hash)
            cached = self._by_version.get(key)
            if cached is None:
                cached = parse_sources(version.sources, None, design_rules=False)[
                    version.process_id]
                self._by_version[key] = cached
            return cached

    def startable_version(self, session: Session, process_id: str) -> ProcessVersion:
        version = self.latest_version(session, process_id)
        if version is None or not version.startable:
            raise NotFound(f"no deployed process with id {process_id!r}")
        return version
