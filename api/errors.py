"""Every error becomes a JSON body with a message (and, for validation, the fields)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from engine.errors import SagsflowError

log = logging.getLogger(__name__)


def _flatten(messages, prefix="") -> dict[str, list[str]]:
    """webargs nests messages by location and field; the API reports them by field."""
    fields: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key in ("json", "query", "form", "headers", "path") and not prefix:
                name = ""
            fields.update(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        fields[prefix or "body"] = messages
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            fields.update(_flatten(value, f"{prefix}.{i}" if prefix else str(i)))
    else:
        fields[prefix or "body"] = [str(messages)]
    return fields


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SagsflowError)
    def _domain_error(exc: SagsflowError):
        body = {"message": exc.message}
        if getattr(exc, "fields", None):
            body["fields"] = exc.fields
        return jsonify(body), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body = {"message": exc.description or exc.name}
        data = getattr(exc, "data", None) or {}
        if "messages" in data:
            body["fields"] = _flatten(data["messages"])
            body["message"] = "invalid request: " + "; ".join(
                f"{k}: {', '.join(v)}" for k, v in body["fields"].items()
            )
        response = jsonify(body)
        response.status_code = exc.code or 500
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return jsonify({"message": "internal error; it has been logged"}), 500
