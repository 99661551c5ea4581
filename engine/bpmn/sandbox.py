"""The script sandbox: BPMN scripts and expressions run under RestrictedPython.

SpiffWorkflow's default environment `exec`s scripts with full builtins, so a process file
could reach `os`. Here every script and expression is compiled by RestrictedPython, which
refuses names and attributes starting with an underscore (no `__import__`, no
`().__class__.__base__.__subclasses__()`) and offers only safe builtins (no `open`).
"""

from __future__ import annotations

import datetime as _dt
import math
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


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str):
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


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates expressions and executes scripts with RestrictedPython."""

    def evaluate(self, expression, context, external_context=None):
        code = _compile(expression.strip(), "eval")
        namespace = {**_GUARDS, **self.globals, **(external_context or {}), **context}
        return eval(code, namespace)  # noqa: S307 - compiled by RestrictedPython

    def execute(self, script, context, external_context=None):
        code = _compile(script, "exec")
        provided = {**_GUARDS, **self.globals, **(external_context or {})}
        namespace = {**provided, **context}
        exec(code, namespace)  # noqa: S102 - compiled by RestrictedPython
        for key in list(context):
            if key not in namespace:
                del context[key]
        for key, value in namespace.items():
            if key in provided and value is provided[key]:
                continue
            if callable(value) or key.startswith("_"):
                continue
            context[key] = value
        return True


def create_script_engine(extra_globals: dict | None = None) -> PythonScriptEngine:
    return PythonScriptEngine(
        environment=RestrictedEnvironment({**DEFAULT_GLOBALS, **(extra_globals or {})})
    )
