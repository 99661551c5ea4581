"""The script sandbox: BPMN scripts and expressions run under RestrictedPython.

SpiffWorkflow's default environment `exec`s scripts with full builtins, so a process file
could reach `os`. Here every script and expression is compiled by RestrictedPython, which
refuses names and attributes starting with an underscore (no `__import__`, no
`().__class__.__base__.__subclasses__()`) and offers only safe builtins (no `open`).
"""

from __future__ import annotations

import ast
import builtins
import datetime as _dt
import math
import sys
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace

from RestrictedPython import (
    compile_restricted_eval,
    compile_restricted_exec,
    limited_builtins,
    safe_builtins,
    utility_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment


class ScriptRefused(Exception):
    """A script or expression that the sandbox will not compile."""


_INPLACE_OPS = {
    "+=": lambda a, b: a + b,
    "-=": lambda a, b: a - b,
    "*=": lambda a, b: a * b,
    "/=": lambda a, b: a / b,
    "//=": lambda a, b: a // b,
    "%=": lambda a, b: a % b,
}


def _inplacevar(op, x, y):
    try:
        return _INPLACE_OPS[op](x, y)
    except KeyError:
        raise ScriptRefused(f"operator {op} is not allowed in scripts") from None


_BUILTINS = {**safe_builtins, **limited_builtins, **utility_builtins}
for _name in ("sum", "min", "max", "any", "all", "sorted", "enumerate", "dict", "list", "map",
              "filter", "reversed"):
    _BUILTINS[_name] = __builtins__[_name] if isinstance(__builtins__, dict) else getattr(
        __builtins__, _name
    )

def _guarded_getattr(obj, name, *default):
    """RestrictedPython's safer_getattr, but a missing attribute raises AttributeError as in
    Python instead of quietly giving None."""
    marker = object()
    value = safer_getattr(obj, name, marker)
    if value is marker:
        if default:
            return default[0]
        raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")
    return value


_GUARDS = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}

# What every expression may use besides the task data. `datetime` is not the module itself:
# the module holds `sys` (datetime.sys.modules["os"] would reach the operating system).
_DATETIME = SimpleNamespace(**{name: getattr(_dt, name) for name in (
    "date", "datetime", "time", "timedelta", "timezone", "tzinfo", "MINYEAR", "MAXYEAR")})
DEFAULT_GLOBALS = {"datetime": _DATETIME, "math": math}


# Python's builtins a script cannot reach in the sandbox (open, getattr, eval, __import__ …):
# calling one is refused when the script is compiled, at deploy, not when a case runs it.
_MISSING_BUILTINS = frozenset(name for name in dir(builtins) if name not in _BUILTINS)


def _refuse_unavailable(source: str, mode: str) -> None:
    """What RestrictedPython compiles but the sandbox can never run: imports, and calls of
    builtins it does not offer. Refused by name, so a designer learns it before deploying."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return  # RestrictedPython names the syntax error
    assigned = {node.id for node in ast.walk(tree)
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    assigned.update(node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))
    assigned.update(node.arg for node in ast.walk(tree) if isinstance(node, ast.arg))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRefused(f"line {node.lineno}: import is not allowed in scripts (they "
                                "have datetime and math, and the process functions)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in _MISSING_BUILTINS and node.func.id not in assigned:
            raise ScriptRefused(f"line {node.lineno}: {node.func.id}() is not available in "
                                "scripts")


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
    _refuse_unavailable(source, mode)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(source, filename="<bpmn>")
    if result.errors:
        raise ScriptRefused("; ".join(result.errors))
    return result.code


def check_script(source: str) -> None:
    """Raise ScriptRefused if a script would not compile in the sandbox."""
    _compile(source, "exec")


def check_expression(source: str) -> None:
    """Raise ScriptRefused if an expression would not compile in the sandbox."""
    _compile(source.strip(), "eval")


# Values a script may leave in task data: what the serializer can store and JSON can carry.
STORABLE_TYPES = (type(None), bool, int, float, str, _dt.date, _dt.datetime, _dt.timedelta,
                  Decimal)


def unstorable(value, path: str) -> str | None:
    """The dotted path and type of the first value that could not be stored, or None."""
    if isinstance(value, STORABLE_TYPES):
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} (a key of type {type(key).__name__})"
            found = unstorable(item, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = unstorable(item, f"{path}[{i}]")
            if found:
                return found
        return None
    return f"{path} ({type(value).__name__})"


# How many lines a script or expression may run. BPMN scripts are small; a loop that never ends
# must not hold a server thread (and on SQLite the write lock) for ever.
LINE_BUDGET = 200_000


def _run_limited(run):
    """Run sandboxed code with a line budget, counted by a trace function on its own frames."""
    remaining = [LINE_BUDGET]

    def count_lines(frame, event, _arg):
        if event == "line":
            remaining[0] -= 1
            if remaining[0] < 0:
                raise ScriptRefused(f"the script ran more than {LINE_BUDGET} steps and was "
                                    "stopped (an endless loop?)")
        return count_lines

    def on_call(frame, _event, _arg):
        return count_lines if frame.f_code.co_filename == "<bpmn>" else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return run()
    finally:
        sys.settrace(previous)


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates expressions and executes scripts with RestrictedPython.

    `context_functions` maps a name to a factory that, given the dict the code reads and
    writes its task data in, returns the function scripts call by that name (e.g. deadline
    functions that record what they start in the task data). The guards come last in the
    namespace, so that no task data can replace them."""

    def __init__(self, environment_globals=None, context_functions=None):
        super().__init__(environment_globals)
        self.context_functions = dict(context_functions or {})

    def _functions(self, store: dict) -> dict:
        return {name: factory(store) for name, factory in self.context_functions.items()}

    def evaluate(self, expression, context, external_context=None):
        code = _compile(expression.strip(), "eval")
        namespace = {**self.globals, **(external_context or {}), **context,
                     **self._functions(context), **_GUARDS}
        return _run_limited(lambda: eval(code, namespace))  # noqa: S307 - RestrictedPython

    def execute(self, script, context, external_context=None):
        code = _compile(script, "exec")
        provided = {**self.globals, **(external_context or {}), **_GUARDS}
        namespace = {**self.globals, **(external_context or {}), **context, **_GUARDS}
        namespace.update(self._functions(namespace))
        _run_limited(lambda: exec(code, namespace))  # noqa: S102 - RestrictedPython
        results = {}
        for key, value in namespace.items():
            if key in provided and value is provided[key]:
                continue
            if callable(value) or key.startswith("_"):
                continue
            bad = unstorable(value, key)
            if bad:
                raise ScriptRefused(
                    f"the script leaves {bad}, which cannot be stored in the case "
                    "(use numbers, text, dates, lists and dicts)")
            results[key] = value
        for key in list(context):
            if key not in results:
                del context[key]
        context.update(results)
        return True


def create_script_engine(extra_globals: dict | None = None,
                         context_functions: dict | None = None) -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment(
        {**DEFAULT_GLOBALS, **(extra_globals or {})}, context_functions))
