"""Input the database cannot hold is refused before any view runs, with a 4xx instead of a
crash deep in the driver: NUL characters (PostgreSQL text cannot contain them), unpaired
surrogates (they cannot be encoded as UTF-8) and JSON nested too deeply to parse."""

from __future__ import annotations

import math

from flask import request

from engine.errors import SagsflowError, ValidationFailed


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_bad_text(body) -> str | None:
    """The dotted path of the first unstorable string (key or value) in a JSON document."""
    stack = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _bad_text(value):
                return path or "body"
        elif isinstance(value, float):
            if not math.isfinite(value):  # NaN and Infinity are not JSON; databases refuse them
                return path or "body"
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if _bad_text(key):
                    return path or "body"
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), item)
                         for i, item in enumerate(value))
    return None


def refuse_unstorable_input() -> None:
    message = ("must not contain NUL characters or unpaired surrogates, "
               "and numbers must be finite")
    if "\x00" in request.path:
        raise ValidationFailed("invalid request: the path " + message, {"path": [message]})
    for key, value in request.args.items(multi=True):
        if _bad_text(key) or _bad_text(value):
            raise ValidationFailed(f"invalid request: {key}: {message}", {key: [message]})
    if not request.path.startswith("/api/v1/"):
        # The pages' forms: the same for every field posted.
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in request.form.items(multi=True):
                if _bad_text(key) or _bad_text(value):
                    raise ValidationFailed(f"invalid request: {key}: {message}",
                                           {key: [message]})
        return
    if not request.is_json:
        return
    try:
        body = request.get_json(silent=True)  # invalid JSON: the view's parser says so
    except RecursionError:
        raise SagsflowError("invalid request: the JSON body is nested too deeply") from None
    bad = _first_bad_text(body)
    if bad is not None:
        raise ValidationFailed(f"invalid request: {bad}: {message}", {bad: [message]})
