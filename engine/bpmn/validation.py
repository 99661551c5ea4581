"""Validation of BPMN/DMN files before anything is deployed.

One set of rules serves the registry (`parse_sources` refuses a file with any problem), the
process designer's page (which marks each problem on the diagram by element id) and
`sagsflow processes check`. A problem is a structured record (`Problem`): the file, the element
it is about (id and name, when there is one), the line (for XML syntax errors and SpiffWorkflow
schema errors) and a message.

The rules, in the order they run for each file:

1. XML safety: a file larger than MAX_FILE_BYTES is refused before it is parsed; a DOCTYPE
   (DTD, entity declarations: billion laughs, XXE) is refused before it is parsed; XML that is
   not well-formed is refused naming line and column. The parser never resolves entities,
   loads a DTD or touches the network.
2. SpiffWorkflow's schema validation (its messages are translated to name the element).
3. Structure (this module, on the XML): processes are executable; no implicit splits or merges
   (an activity or event with more than one outgoing, or more than one incoming, sequence
   flow; gateways split and merge, boundary events are not flows, and an end event may be
   reached by several flows because nothing runs after it); a decision (camunda:property
   `trin` = `afgoerelse`) is preceded on every path from the start by a hearing (`trin` =
   `partshoering`) or carries the exception `hoering_undtagelse` with its reason.
4. SpiffWorkflow builds the specs (its errors translated to name the element).
5. Casework rules on the specs: scripts, conditions and timers compile in the sandbox; timers
   written as constants are valid ISO 8601; every deadline and letter named exists; every user
   task has a form that exists and a candidate group or assignee; a deadline whose breach the
   process must handle has a timer waiting for it.

Rules 3 (implicit flows, hearing) are design rules: they apply to new files, not when loading
a version that was deployed before they existed (`design_rules=False`), so running cases keep
working.
"""

from __future__ import annotations

import ast
import html
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException

from ..errors import ProcessDefinitionError
from .sandbox import ScriptRefused, check_expression, check_script
from .specs import CaseParser, CaseUserTask

# The largest BPMN/DMN file accepted, in bytes (UTF-8). A municipality's largest process is
# well below 200 KB; anything near this limit is a mistake or an attack.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Column sizes of the task rows (engine/models.py) that element ids and names go into.
MAX_ID, MAX_NAME = 128, 200

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

# The camunda:property that marks a casework step, its values, and the hearing exception.
STEP_PROPERTY = "trin"
DECISION_STEP = "afgoerelse"
HEARING_STEP = "partshoering"
HEARING_EXCEPTION = "hoering_undtagelse"

XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)

IMPORT_HINT = ("importing the file from Camunda Modeler converts this "
               "(engine/bpmn/camunda_import.py)")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file. `element_id` is the BPMN id (of a task, event, gateway,
    sequence flow or process) a diagram can mark; None when the problem is about the whole
    file. `rule` is a short stable code (e.g. "xml", "implicit-split", "form")."""

    file: str
    message: str
    element_id: str | None = None
    element_name: str | None = None
    line: int | None = None
    rule: str = "bpmn"

    def __str__(self) -> str:
        if self.element_id:
            where = f"element {self.element_id}"
            if self.element_name:
                where += f" ({self.element_name})"
            return f"{self.file}: {where}: {self.message}"
        return f"{self.file}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def problems_error(problems: list[Problem]) -> ProcessDefinitionError:
    """The error `parse_sources` raises: its message is every problem, one a line (the first
    line is the first problem, as callers that show one line expect); `.problems` holds them."""
    error = ProcessDefinitionError("\n".join(str(p) for p in problems))
    error.problems = list(problems)
    return error


def validate_sources(sources: dict[str, str], forms=None, deadline_keys=None,
                     letter_keys=None, *, design_rules: bool = True) -> list[Problem]:
    """Every problem in a set of BPMN/DMN files given as {file name: XML text}; [] when they
    may be deployed. `forms`, `deadline_keys` and `letter_keys`, when given, are what the files
    may name (see registry.parse_sources). Files that call each other are checked together."""
    return check_sources(sources, forms, deadline_keys, letter_keys,
                         design_rules=design_rules).problems


@dataclass
class CheckedSources:
    """What `check_sources` found: the problems and, for the registry, the parser and the
    specs it built ({process id: (spec, subprocess specs)}) and each process's user tasks."""

    parser: CaseParser
    parsed: dict = field(default_factory=dict)
    user_tasks: dict = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


def check_sources(sources: dict[str, str], forms=None, deadline_keys=None, letter_keys=None,
                  *, design_rules: bool = True) -> CheckedSources:
    result = CheckedSources(parser=CaseParser(validator=BpmnValidator()))
    parser = result.parser
    flows: dict[str, dict] = {}
    for filename in sorted(sources):
        tree, file_problems = load_xml(filename, sources[filename])
        if tree is None:
            for problem in file_problems:
                result.add(problem)
            continue
        try:
            if filename.endswith(".dmn"):
                parser.add_dmn_xml(tree, filename=filename)
            else:
                parser.add_bpmn_xml(tree, filename=filename)
        except (ValidationException, SpiffWorkflowException) as exc:
            result.add(translate_spiff_error(filename, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises bare exceptions
            result.add(Problem(filename, f"SpiffWorkflow could not read the file: {exc}",
                               rule="spiff"))
            continue
        if not filename.endswith(".dmn"):
            flows[filename] = _flow_index(tree)
            for problem in check_structure(filename, tree, design_rules=design_rules):
                result.add(problem)

    flagged = {(p.file, p.element_id) for p in result.problems if p.element_id}
    for pid in parser.get_process_ids():
        filename = parser.get_process_parser(pid).filename
        try:
            spec = parser.get_spec(pid)
            subprocess_specs = parser.get_subprocess_specs(pid)
        except (ValidationException, SpiffWorkflowException) as exc:
            problem = translate_spiff_error(getattr(exc, "file_name", "") or filename, exc)
            problem = _name_the_call(problem, sources.get(problem.file, ""))
            if (problem.file, problem.element_id) not in flagged:
                result.add(problem)
            continue
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises bare exceptions
            name = parser.get_process_parser(pid).get_name()
            result.add(Problem(filename, f"SpiffWorkflow could not build the process: {exc}",
                               pid, name if name != pid else None, rule="spiff"))
            continue
        result.parsed[pid] = (spec, subprocess_specs)

    checked: dict[str, list] = {}
    for pid, (spec, subprocess_specs) in result.parsed.items():
        user_tasks = []
        process_specs = [spec, *subprocess_specs.values()]
        for process_spec in process_specs:
            name = process_spec.name
            if name not in checked:
                filename = parser.get_process_parser(name).filename
                found: list[Problem] = []
                checked[name] = check_process_spec(filename, process_spec, forms, deadline_keys,
                                                   letter_keys, found, flows.get(filename, {}))
                for problem in found:
                    result.add(problem)
            user_tasks.extend(checked[name])
        if isinstance(deadline_keys, Mapping):
            for problem in check_breach_timers(parser, process_specs, deadline_keys):
                result.add(problem)
        result.user_tasks[pid] = user_tasks
    return result


# -- 1. XML safety -----------------------------------------------------------------------------

_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)")


def load_xml(filename: str, text: str):
    """(the parsed root element, []) or (None, [the problem]): size, DTD and syntax checks."""
    if not isinstance(text, str):
        return None, [Problem(filename, "not text", rule="xml")]
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_FILE_BYTES:
        return None, [Problem(
            filename, f"the file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} bytes "
                      f"({MAX_FILE_BYTES // (1024 * 1024)} MB) are accepted", rule="size")]
    found = _DOCTYPE.search(text)
    if found:
        # Refused before parsing: entity declarations are how billion laughs and XXE work.
        line = text.count("\n", 0, found.start()) + 1
        return None, [Problem(
            filename, f"line {line}: a DOCTYPE (DTD or entity declarations) is not allowed",
            line=line, rule="xml")]
    try:
        tree = etree.fromstring(data, parser=XML_PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        message = (exc.msg or str(exc)).split(", line ")[0]
        return None, [Problem(filename, f"not well-formed XML: line {line}, column {column}: "
                                        f"{message}", line=line, rule="xml")]
    except ValueError as exc:  # e.g. an encoding declaration lxml will not take from text
        return None, [Problem(filename, f"not well-formed XML: {exc}", rule="xml")]
    docinfo = tree.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        return None, [Problem(filename, "a DOCTYPE (DTD or entity declarations) is not allowed",
                              rule="xml")]
    return tree, []


# -- 2./4. SpiffWorkflow's errors ----------------------------------------------------------------

def translate_spiff_error(filename: str, exc: Exception) -> Problem:
    """A SpiffWorkflow parse error as a Problem naming the element (id and name) or line."""
    message = (getattr(exc, "message", None) or (exc.args[0] if exc.args else "")
               or str(exc)).strip()
    notes = [n for n in getattr(exc, "notes", []) or [] if n]
    if notes:
        message = f"{message.rstrip('. ')}. {'. '.join(notes)}"
    line = getattr(exc, "line_number", None) or None
    element_id = getattr(exc, "id", None) or None
    name = getattr(exc, "name", None) or None
    task_spec = getattr(exc, "task_spec", None)
    if element_id is None and task_spec is not None:
        element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
        name = getattr(task_spec, "bpmn_name", None)
    if "Multiple outgoing flows are not supported" in message:
        message = ("more than one sequence flow leaves this activity: put a gateway after it "
                   "(an exclusive gateway to choose one path, a parallel one to take all)")
    if not element_id and line:
        message = f"line {line}: {message}"
    return Problem(filename, message.rstrip(". ") or type(exc).__name__, element_id, name,
                   int(line) if isinstance(line, int) or str(line).isdigit() else None,
                   rule="spiff")


_NOT_FOUND = re.compile(r"The process '([^']+)' was not found")


def _name_the_call(problem: Problem, text: str) -> Problem:
    """A process SpiffWorkflow cannot find is named by the call activity that calls it, so the
    diagram can mark it."""
    missing = _NOT_FOUND.search(problem.message)
    if problem.element_id or not missing:
        return problem
    for match in re.finditer(r"<(?:\w+:)?callActivity\b[^>]*>", text):
        tag = match.group(0)
        called = re.search(r'calledElement="([^"]*)"', tag)
        if called and called.group(1) == missing.group(1):
            element = re.search(r'\bid="([^"]*)"', tag)
            name = re.search(r'\bname="([^"]*)"', tag)
            return replace(
                problem, element_id=element.group(1) if element else None,
                element_name=html.unescape(name.group(1)) if name else None,
                message=f"calls process {missing.group(1)!r}, which no deployed or given "
                        f"file defines ({problem.message})")
    return problem


# -- 3. Structure, on the XML ------------------------------------------------------------------

def _local(node) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _is_bpmn(node, *names: str) -> bool:
    return isinstance(node.tag, str) and etree.QName(node).namespace == BPMN_NS and \
        (not names or _local(node) in names)


_SUBPROCESSES = ("subProcess", "transaction", "adHocSubProcess")
_EVENTS = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
           "boundaryEvent")


def _is_flow_node(node) -> bool:
    if not _is_bpmn(node):
        return False
    name = _local(node)
    return (name.endswith("Task") or name in ("task", "callActivity", *_SUBPROCESSES, *_EVENTS)
            or name.endswith("Gateway"))


def _kind(node) -> str:
    name = _local(node)
    words = re.sub(r"([A-Z])", r" \1", name).lower().strip()
    return words


def properties(node) -> dict[str, str]:
    """The camunda:properties of an element, {name: value}."""
    found = {}
    for ext in node:
        if not _is_bpmn(ext, "extensionElements"):
            continue
        for props in ext.iterfind(f"{{{CAMUNDA_NS}}}properties"):
            for prop in props.iterfind(f"{{{CAMUNDA_NS}}}property"):
                if prop.get("name"):
                    found[prop.get("name")] = prop.get("value") or ""
    return found


def _flow_index(tree) -> dict:
    """{(source id, target id): sequence flow element}, to name the flow of a condition."""
    index = {}
    for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        index.setdefault((flow.get("sourceRef"), flow.get("targetRef")), flow)
    return index


def check_structure(filename: str, tree, *, design_rules: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    processes = [p for p in tree if _is_bpmn(p, "process")]
    if not processes and _is_bpmn(tree, "definitions"):
        problems.append(Problem(filename, "the file has no process (bpmn:process)",
                                rule="executable"))
    for process in processes:
        has_nodes = any(_is_flow_node(n) for n in process)
        if process.get("isExecutable", "true") != "true" and has_nodes:
            problems.append(Problem(
                filename, 'the process is not executable (isExecutable="false"), so '
                          'SpiffWorkflow would skip it: tick "Executable" in the modeler or set '
                          'isExecutable="true"',
                process.get("id"), process.get("name"), rule="executable"))
        if design_rules:
            problems.extend(_implicit_flows(filename, process))
            problems.extend(_hearing_rule(filename, process))
    return problems


def _containers(process) -> Iterable:
    yield process
    for node in process.iter():
        if _is_bpmn(node, *_SUBPROCESSES):
            yield node


def _implicit_flows(filename: str, process) -> list[Problem]:
    problems = []
    for container in _containers(process):
        nodes = {n.get("id"): n for n in container if _is_flow_node(n)}
        outgoing: dict[str, list[str]] = {}
        incoming: dict[str, list[str]] = {}
        for flow in container:
            if _is_bpmn(flow, "sequenceFlow"):
                outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("id"))
                incoming.setdefault(flow.get("targetRef"), []).append(flow.get("id"))
        for node_id, node in nodes.items():
            kind = _kind(node)
            if kind.endswith("gateway"):
                continue
            leaving = outgoing.get(node_id, [])
            if len(leaving) > 1:
                problems.append(Problem(
                    filename, f"implicit split: {len(leaving)} sequence flows leave this "
                              f"{kind} ({', '.join(leaving)}); SpiffWorkflow cannot run that: "
                              "put a gateway after it (exclusive to choose one path, parallel "
                              "to take all)", node_id, node.get("name"), rule="implicit-split"))
            entering = incoming.get(node_id, [])
            if len(entering) > 1 and _local(node) != "endEvent":
                problems.append(Problem(
                    filename, f"implicit merge: {len(entering)} sequence flows enter this "
                              f"{kind} ({', '.join(entering)}); each arriving path would run it "
                              "and everything after it again: merge the flows in a gateway "
                              "before it", node_id, node.get("name"), rule="implicit-merge"))
    return problems


def _hearing_rule(filename: str, process) -> list[Problem]:
    """A decision must be preceded by a hearing on every path from a start event: search the
    flow graph from the start events, not going past hearings; a decision reached is one that
    can be made without a hearing. Sub-processes are entered and left through their own start
    and end events, a boundary event follows its activity, and an event sub-process's start
    event counts as a start (it may be triggered at any time)."""
    problems: list[Problem] = []
    successors: dict[str, list[str]] = {}
    nodes: dict[str, object] = {}
    roots: list[str] = []

    def exit_of(node_id: str) -> str:
        node = nodes.get(node_id)
        return f"{node_id}#exit" if node is not None and _is_bpmn(node, *_SUBPROCESSES) \
            and node.get("triggeredByEvent") != "true" else node_id

    def walk(container, event_subprocess: bool):
        children = [n for n in container if _is_flow_node(n)]
        for node in children:
            nodes[node.get("id")] = node
        starts = [n.get("id") for n in children if _is_bpmn(n, "startEvent")]
        if event_subprocess or container is process:
            roots.extend(starts)
        for node in children:
            node_id = node.get("id")
            if _is_bpmn(node, "boundaryEvent") and node.get("attachedToRef"):
                successors.setdefault(node.get("attachedToRef"), []).append(node_id)
            if _is_bpmn(node, *_SUBPROCESSES):
                triggered = node.get("triggeredByEvent") == "true"
                inner = walk(node, triggered)
                if not triggered:
                    successors.setdefault(node_id, []).extend(inner["starts"])
                    for last in inner["ends"]:
                        successors.setdefault(last, []).append(f"{node_id}#exit")
        has_out = set()
        for flow in container:
            if _is_bpmn(flow, "sequenceFlow"):
                source = exit_of(flow.get("sourceRef"))
                successors.setdefault(source, []).append(flow.get("targetRef"))
                has_out.add(flow.get("sourceRef"))
        ends = [n.get("id") for n in children
                if n.get("id") not in has_out and not _is_bpmn(n, "boundaryEvent")
                and not (_is_bpmn(n, *_SUBPROCESSES) and n.get("triggeredByEvent") == "true")]
        return {"starts": starts, "ends": [exit_of(e) for e in ends]}

    walk(process, False)

    decisions = {}
    hearings = set()
    for node_id, node in nodes.items():
        props = properties(node)
        step = props.get(STEP_PROPERTY)
        name = node.get("name")
        if step is not None and step not in (DECISION_STEP, HEARING_STEP):
            problems.append(Problem(
                filename, f"unknown {STEP_PROPERTY} {step!r} in camunda:properties: use "
                          f"{DECISION_STEP!r} (a decision) or {HEARING_STEP!r} (a hearing)",
                node_id, name, rule="hearing"))
        exception = props.get(HEARING_EXCEPTION)
        if exception is not None and step != DECISION_STEP:
            problems.append(Problem(
                filename, f"{HEARING_EXCEPTION} is only for a decision ({STEP_PROPERTY} = "
                          f"{DECISION_STEP})", node_id, name, rule="hearing"))
        if step == HEARING_STEP:
            hearings.add(node_id)
        elif step == DECISION_STEP:
            if exception is not None and not exception.strip():
                problems.append(Problem(
                    filename, f"{HEARING_EXCEPTION} is empty: give the reason the decision is "
                              "made without a hearing (e.g. forvaltningsloven § 19, stk. 2)",
                    node_id, name, rule="hearing"))
            elif exception is None:
                decisions[node_id] = node

    if not decisions:
        return problems
    parent: dict[str, str | None] = {root: None for root in roots}
    queue = deque(roots)
    while queue:
        current = queue.popleft()
        if current in hearings:
            continue
        for following in successors.get(current, []):
            if following not in parent:
                parent[following] = current
                queue.append(following)
    for node_id, node in decisions.items():
        if node_id not in parent:
            continue
        path, at = [], node_id
        while at is not None:
            if not at.endswith("#exit"):
                path.append(at)
            at = parent[at]
        path.reverse()
        shown = path if len(path) <= 8 else [*path[:3], "…", *path[-4:]]
        problems.append(Problem(
            filename, f"a decision ({STEP_PROPERTY} = {DECISION_STEP}) can be reached without "
                      f"a hearing: the path {' → '.join(shown)} has no step with "
                      f"{STEP_PROPERTY} = {HEARING_STEP}; add a hearing before it, or give the "
                      f"legal reason for deciding without one as camunda:property "
                      f"{HEARING_EXCEPTION}", node_id, node.get("name"), rule="hearing"))
    return problems


# -- 5. Casework rules on the specs --------------------------------------------------------------

DECISION_REF = re.compile(r"""decisionRef\s*=\s*["']([^"']+)["']""")
DEADLINE_CALL = re.compile(
    r"""\b(?:start_|meet_|pause_|resume_)?deadline(?:_reminder)?\(\s*["']([^"']*)["']""")
LETTER_CALL = re.compile(r"""\bprepare_letter\(\s*["']([^"']*)["']""")
START_CALL = re.compile(r"""\bstart_deadline\(\s*["']([^"']*)["']""")
DUE_CALL = re.compile(r"""(?<![\w.])deadline\(\s*["']([^"']*)["']""")
# What Camunda Modeler writes and SpiffWorkflow does not take: a bare ISO 8601 timer value
# (by the timer's kind) and a JUEL expression. The Camunda import converts exactly these.
_DURATION = r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?"
_DATE = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
ISO_TIMER = {
    "timeDuration": re.compile(f"^{_DURATION}$"),
    "timeDate": re.compile(f"^{_DATE}$"),
    "timeCycle": re.compile(f"^R\\d*/(({_DATE})/)?{_DURATION}(/({_DATE}))?$"
                            f"|^R\\d*/{_DATE}/{_DATE}$"),
}
JUEL = re.compile(r"^\s*[$#]\{(.*)\}\s*$", re.S)


def bare_iso(value: str) -> bool:
    """A timer value that is a bare ISO 8601 duration, date or cycle (not Python)."""
    return any(pattern.match(value) for pattern in ISO_TIMER.values())


def _element(task_spec) -> tuple[str, str | None]:
    return (getattr(task_spec, "bpmn_id", None) or task_spec.name,
            getattr(task_spec, "bpmn_name", None) or None)


def check_process_spec(filename: str, process_spec, forms, deadline_keys, letter_keys,
                       problems: list[Problem], flows: dict | None = None) -> list:
    """Casework rules SpiffWorkflow does not check, on every element of one process spec.
    Appends to `problems`; returns the user task specs."""
    user_tasks = []
    if len(process_spec.name) > MAX_ID or len(process_spec.description or "") > MAX_NAME:
        problems.append(Problem(
            filename, f"the process id may have at most {MAX_ID} and the name at most "
                      f"{MAX_NAME} characters", process_spec.name[:40], rule="length"))
    for task_spec in process_spec.task_specs.values():
        element_id, name = _element(task_spec)

        def problem(message: str, rule: str, element_id=element_id, name=name) -> None:
            problems.append(Problem(filename, message, element_id, name, rule=rule))

        if len(getattr(task_spec, "bpmn_id", None) or "") > MAX_ID or \
                len(getattr(task_spec, "bpmn_name", None) or "") > MAX_NAME:
            problem(f"the id may have at most {MAX_ID} and the name at most {MAX_NAME} "
                    "characters (they are stored with every task)", "length")
        script = getattr(task_spec, "script", None)
        if script:
            _sandboxed(problem, check_script, script, "script")
        conditions = []
        for condition, target in getattr(task_spec, "cond_task_specs", []) or []:
            source = getattr(condition, "args", [condition])[0] if condition else None
            if not source:
                continue
            conditions.append(source)
            flow = (flows or {}).get((element_id, str(target).split(".")[0]))
            what = "condition"
            if flow is not None:
                what = f"condition of sequence flow {flow.get('id')}" + (
                    f" ({flow.get('name')})" if flow.get("name") else "")
            if JUEL.match(source):
                problem(f"invalid {what}: {source.strip()} is a JUEL expression (Camunda); "
                        f"conditions are Python, e.g. udfald == \"afvis\"; {IMPORT_HINT}",
                        "condition")
            else:
                _sandboxed(problem, check_expression, source, what)
        event_definition = getattr(task_spec, "event_definition", None)
        expression = getattr(event_definition, "expression", None)
        is_timer = isinstance(event_definition, TimerEventDefinition)
        if is_timer and expression and bare_iso(expression.strip()):
            # Camunda Modeler writes P5D; SpiffWorkflow evaluates timers as Python.
            problem(f"invalid timer: write the ISO 8601 value as a Python string: "
                    f"\"{expression.strip()}\" (with quotes); {IMPORT_HINT}", "timer")
        elif expression and is_timer and JUEL.match(expression):
            problem(f"invalid timer: {expression.strip()} is a JUEL expression (Camunda); "
                    f"timers are Python", "timer")
        elif expression:
            if _sandboxed(problem, check_expression, expression,
                          "timer" if is_timer else "expression") and is_timer:
                found = constant_timer_problem(event_definition)
                if found:
                    problem(f"invalid timer: {found}", "timer")
        try:
            _check_decision_table(getattr(task_spec, "dmnEngine", None))
        except ScriptRefused as exc:
            problem(f"script refused by the sandbox: {exc}", "sandbox")
        except SyntaxError as exc:
            problem(f"invalid expression: {exc}", "sandbox")
        if deadline_keys is not None:
            for text in [script, expression, *conditions, getattr(task_spec, "due_date", None),
                         getattr(task_spec, "follow_up_date", None)]:
                for key in DEADLINE_CALL.findall(text or ""):
                    if key not in deadline_keys:
                        problem(f"unknown deadline {key!r} (not in processes/deadlines.toml)",
                                "deadline")
        if letter_keys is not None:
            for key in LETTER_CALL.findall(script or ""):
                if key not in letter_keys:
                    problem(f"unknown letter {key!r} (not in letters/letters.toml)", "letter")
        if isinstance(task_spec, CaseUserTask):
            user_tasks.append(task_spec)
            _check_user_task(task_spec, forms, problem)
    return user_tasks


def _sandboxed(problem, check, source: str, what: str) -> bool:
    try:
        check(source)
    except ScriptRefused as exc:
        if what in ("script", "expression", "timer"):
            problem(f"script refused by the sandbox: {exc}", "sandbox")
        else:
            problem(f"{what} refused by the sandbox: {exc}", "condition")
        return False
    except SyntaxError as exc:
        problem(f"invalid {what}: {exc}", "sandbox")
        return False
    return True


def _check_user_task(task_spec, forms, problem) -> None:
    form_key = task_spec.form.key if task_spec.form else None
    if not form_key:
        problem("user task has no camunda:formKey", "form")
    elif forms is not None and form_key not in forms:
        problem(f"form {form_key!r} does not exist in forms/", "form")
    if task_spec.candidate_users:
        problem("camunda:candidateUsers is not supported; use candidateGroups (a role or a "
                "team key) or assignee", "assignment")
    if not (task_spec.candidate_groups or task_spec.assignee):
        problem("user task has neither camunda:candidateGroups nor camunda:assignee",
                "assignment")
    if len(",".join(task_spec.candidate_groups)) > 480:
        problem("camunda:candidateGroups is too long", "assignment")
    for attr in ("due_date", "follow_up_date"):
        value = getattr(task_spec, attr)
        if value and not value.startswith("P"):
            try:
                check_expression(value)
            except (ScriptRefused, SyntaxError) as exc:
                problem(f"invalid {attr}: {exc}", "date")


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


def constant_timer_problem(event_definition: TimerEventDefinition) -> str | None:
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
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception
        return f"{value!r} is not an ISO 8601 {kind}"
    return None


def check_breach_timers(parser, process_specs, process_actions: Mapping) -> list[Problem]:
    """A deadline whose breach the process carries out (a task, moving on, forwarding) must
    have a timer on it in the process that starts it, or the breach would pass unnoticed."""
    timed, started = set(), {}
    for process_spec in process_specs:
        filename = parser.get_process_parser(process_spec.name).filename
        for task_spec in process_spec.task_specs.values():
            event_definition = getattr(task_spec, "event_definition", None)
            if isinstance(event_definition, TimerEventDefinition):
                timed.update(DUE_CALL.findall(event_definition.expression or ""))
            for key in START_CALL.findall(getattr(task_spec, "script", None) or ""):
                started.setdefault(key, (filename, *_element(task_spec)))
    problems = []
    for key, (filename, element_id, name) in started.items():
        actions = process_actions.get(key) or ()
        if actions and key not in timed:
            problems.append(Problem(
                filename, f"starts deadline {key!r}, whose breach the process must handle "
                          f"({', '.join(actions)} in processes/deadlines.toml), but no timer "
                          f"waits for it: add a boundary or intermediate timer with timeDate "
                          f"deadline(\"{key}\")", element_id, name, rule="deadline"))
    return problems
