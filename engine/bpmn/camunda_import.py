"""Import of a BPMN file drawn in Camunda Modeler (Camunda 7 platform).

Camunda evaluates timers and conditions as JUEL; SpiffWorkflow evaluates them as Python
(ARCHITECTURE.md, "Facts about SpiffWorkflow 3.2", 1 and 8). `from_camunda_modeler` converts
what can be converted exactly and refuses the rest, naming the element:

- a bare ISO 8601 timer value (timeDuration `P5D`, timeCycle `R3/PT1H`, timeDate
  `2026-01-01T00:00:00`) becomes a quoted Python string (`"P5D"`);
- a `${…}` or `#{…}` condition on a sequence flow built from comparisons (`==`, `!=`, `<`, `>`,
  `<=`, `>=`, `eq`, `ne`, `lt`, `gt`, `le`, `ge`), `and`/`or`/`not` (`&&`, `||`, `!`),
  parentheses, string, number and boolean literals, `null`, variable names and dotted access
  becomes the Python expression (`a.b` reads key "b" of the dict a: `a["b"]`); anything else
  (method calls, `empty`, arithmetic, brackets, script conditions) is refused;
- a JUEL timer (`${…}`) is refused;
- `isExecutable="false"` (the modeler's default) is set to "true", with a note: a process is
  imported to be run, and the designer sees the note.

The text is parsed with the same safe parser as validation (no DTD, no entities, no network,
size limit). The result still goes through validation before it can be deployed.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from lxml import etree

from .sandbox import ScriptRefused, check_expression
from .validation import (
    BPMN_NS,
    CAMUNDA_NS,
    ISO_TIMER,
    JUEL,
    Problem,
    load_xml,
    problems_error,
)


class JuelRefused(ValueError):
    """A JUEL expression outside the subset that converts exactly."""


def from_camunda_modeler(xml_text: str, filename: str = "import.bpmn") -> tuple[str, list[str]]:
    """Convert a Camunda Modeler BPMN file for SpiffWorkflow. Returns (the converted XML text,
    notes on what was changed, one sentence each). Raises ProcessDefinitionError (with
    `.problems`) when the file is not safe XML or holds an expression that cannot be
    converted."""
    tree, problems = load_xml(filename, xml_text)
    if tree is None:
        raise problems_error(problems)
    notes: list[str] = []
    problems = []

    for process in tree.iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") == "false":
            process.set("isExecutable", "true")
            notes.append(f"process {_name(process)}: isExecutable was \"false\" (the modeler's "
                         "default); set to \"true\" so that it can run")

    for kind, pattern in ISO_TIMER.items():
        for timer in tree.iter(f"{{{BPMN_NS}}}{kind}"):
            event = _owner(timer)
            value = (timer.text or "").strip()
            if pattern.match(value):
                timer.text = f'"{value}"'
                notes.append(f"element {_name(event)}: timer {kind} {value} written as the "
                             f"Python string \"{value}\"")
            elif JUEL.match(value):
                problems.append(Problem(
                    filename, f"timer {kind} {value} is a JUEL expression: write it in Python, "
                              "e.g. \"P5D\" or deadline(\"key\")", *_ident(event),
                    rule="camunda-import"))

    for flow in tree.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        for condition in flow.iterfind(f"{{{BPMN_NS}}}conditionExpression"):
            language = condition.get("language")
            resource = condition.get(f"{{{CAMUNDA_NS}}}resource")
            text = (condition.text or "").strip()
            if language or resource:
                problems.append(Problem(
                    filename, f"the condition is a script ({language or resource}); only "
                              "expressions are imported: write it as a Python expression",
                    *_ident(flow), rule="camunda-import"))
                continue
            found = JUEL.match(text)
            if not found:
                continue  # already an expression SpiffWorkflow evaluates (Python)
            try:
                python = juel_to_python(found.group(1))
            except JuelRefused as exc:
                problems.append(Problem(
                    filename, f"condition {text} cannot be converted: {exc}; write it in "
                              "Python (e.g. udfald == \"afvis\")", *_ident(flow),
                    rule="camunda-import"))
                continue
            condition.text = python
            notes.append(f"element {_name(flow)}: condition {text} converted to {python}")

    for node in tree.iter():
        if not isinstance(node.tag, str):
            continue
        for attr, value in node.attrib.items():
            if attr.startswith(f"{{{CAMUNDA_NS}}}") and JUEL.match(value or ""):
                notes.append(f"element {_name(node)}: camunda:{etree.QName(attr).localname} "
                             f"{value} is JUEL and was not converted: the check will refuse it "
                             "until it is written in Python")

    if problems:
        raise problems_error(problems)
    text = etree.tostring(tree.getroottree(), xml_declaration=True, encoding="UTF-8")
    return text.decode("utf-8"), notes


def _owner(node):
    """The event a timer definition belongs to."""
    parent = node.getparent()
    while parent is not None and parent.get("id") is None:
        parent = parent.getparent()
    if parent is not None and etree.QName(parent).localname == "timerEventDefinition":
        parent = parent.getparent() if parent.getparent() is not None else parent
    return parent if parent is not None else node


def _ident(node) -> tuple[str | None, str | None]:
    return node.get("id"), node.get("name") or None


def _name(node) -> str:
    element_id, name = _ident(node)
    return f"{element_id} ({name})" if name else str(element_id)


# -- JUEL to Python ------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!().-])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<bad>\S)
    )""", re.X)

_COMPARISONS = {"==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">=",
                "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_RESERVED = {"and", "or", "not", "empty", "div", "mod", "instanceof", *_COMPARISONS,
             *_LITERALS}


@dataclass
class _Tok:
    kind: str
    text: str


def _tokens(source: str) -> list[_Tok]:
    tokens, pos = [], 0
    source = source.rstrip()
    while pos < len(source):
        found = _TOKEN.match(source, pos)
        if not found or found.end() == pos:
            break
        pos = found.end()
        kind = found.lastgroup
        if kind == "bad":
            raise JuelRefused(f"{found.group(kind)!r} is not supported")
        tokens.append(_Tok(kind, found.group(kind)))
    return tokens


def juel_to_python(source: str) -> str:
    """The Python expression for a JUEL expression (the text inside `${…}`) of the supported
    subset; raises JuelRefused naming what is not supported."""
    parser = _JuelParser(_tokens(source))
    if not parser.tokens:
        raise JuelRefused("the expression is empty")
    python = parser.parse()
    try:
        check_expression(python)
    except (ScriptRefused, SyntaxError) as exc:  # e.g. a name the sandbox refuses
        raise JuelRefused(f"the Python expression {python} is refused: {exc}") from None
    return python


class _JuelParser:
    def __init__(self, tokens: list[_Tok]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise JuelRefused("the expression ends too early")
        self.pos += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("op", "name") and token.text in texts

    def parse(self) -> str:
        python = self.or_()
        if self.peek() is not None:
            raise JuelRefused(f"{self.peek().text!r} is not supported here")
        return python

    # Each level returns Python text that is safe to use as an operand of the level above.
    def or_(self) -> str:
        parts = [self.and_()]
        while self.at("||", "or"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def and_(self) -> str:
        parts = [self.not_()]
        while self.at("&&", "and"):
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else "(" + " and ".join(parts) + ")"

    def not_(self) -> str:
        if self.at("!", "not"):
            self.take()
            return f"(not {self.not_()})"
        return self.comparison()

    def comparison(self) -> str:
        left = self.operand()
        if self.at(*_COMPARISONS):
            op = _COMPARISONS[self.take().text]
            right = self.operand()
            if self.at(*_COMPARISONS):
                raise JuelRefused("a chain of comparisons is not supported")
            if "None" in (left, right) and op in ("==", "!="):
                op = "is" if op == "==" else "is not"
            return f"({left} {op} {right})"
        return left

    def operand(self) -> str:
        token = self.take()
        if token.kind == "op" and token.text == "(":
            inner = self.or_()
            if not self.at(")"):
                raise JuelRefused("a parenthesis is not closed")
            self.take()
            return inner
        if token.kind == "op" and token.text in ("!",):
            self.pos -= 1
            return self.not_()
        if token.kind == "op" and token.text == "-":
            number = self.take()
            if number.kind != "number":
                raise JuelRefused("arithmetic is not supported")
            return f"(-{number.text})"
        if token.kind == "string":
            return repr(_unescape(token.text))
        if token.kind == "number":
            return token.text
        if token.kind == "name":
            if token.text in _LITERALS:
                return _LITERALS[token.text]
            if token.text == "not":
                self.pos -= 1
                return self.not_()
            if token.text in _RESERVED:
                raise JuelRefused(f"the operator {token.text!r} is not supported")
            return self.variable(token.text)
        raise JuelRefused(f"{token.text!r} is not supported here")

    def variable(self, name: str) -> str:
        if keyword.iskeyword(name) or name.startswith("_"):
            raise JuelRefused(f"the variable name {name!r} cannot be used in Python")
        python = name
        while self.at("."):
            self.take()
            key = self.take()
            if key.kind != "name":
                raise JuelRefused(f"{key.text!r} after '.' is not a property name")
            python += f"[{key.text!r}]"
        following = self.peek()
        if following is not None and following.kind == "op" and following.text == "(":
            raise JuelRefused(f"calling {python}(…) is not supported")
        return python


def _unescape(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", body)
