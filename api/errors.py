"""Every error becomes a JSON body with a message (and, for validation, the fields)."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.errors import SagsflowError

from .translations import N_

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


# The Danish heading of an error page, by status.
PAGE_TITLES = {400: N_("Forkert forespørgsel"), 401: N_("Log ind"), 403: N_("Ingen adgang"),
               404: N_("Siden findes ikke"), 405: N_("Ikke tilladt"), 409: N_("Konflikt"),
               413: N_("For stor"), 422: N_("Ugyldige oplysninger"), 429: N_("For mange forsøg"),
               500: N_("Der skete en fejl")}


def _wants_page() -> bool:
    """Pages get an error page; the REST API, feeds and health checks get JSON."""
    if request.blueprint == "web":
        return True
    if request.blueprint == "designer":  # its pages, not the JSON its editor script asks for
        return not (request.is_json or request.accept_mimetypes.best == "application/json")
    return request.blueprint is None and not request.path.startswith("/api") and \
        request.accept_mimetypes.accept_html


def _page(status: int, message: str):
    title = PAGE_TITLES.get(status, PAGE_TITLES[500])
    return render_template("web/error.html.j2", title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(SagsflowError)
    def _domain_error(exc: SagsflowError):
        if _wants_page():
            return _page(exc.status, exc.message)
        body = {"message": exc.message}
        if getattr(exc, "fields", None):
            body["fields"] = exc.fields
        return jsonify(body), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if isinstance(exc, CSRFError):
            message = ("Formularen mangler sin sikkerhedsnøgle eller er udløbet: genindlæs "
                       "siden, og prøv igen.")
            return _page(400, message) if _wants_page() else (jsonify({"message": message}), 400)
        if _wants_page():  # Werkzeug's descriptions are English: the page says it by status
            from .web import _http_message

            return _page(exc.code or 500, _http_message(exc.code))
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
        if _wants_page():
            from flask_babel import gettext

            return _page(500, gettext("Fejlen er skrevet i loggen. Prøv igen, eller kontakt "
                                      "support."))
        return jsonify({"message": "internal error; it has been logged"}), 500
