"""Browsable API documentation rendered on the server from the OpenAPI document, so that it
works without fetching anything from the internet."""

from flask import Blueprint, render_template

from .extensions import api

bp = Blueprint("docs", __name__)


@bp.get("/api/docs")
def api_docs():
    spec = api.spec.to_dict()
    operations = []
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append((path, method.upper(), operation))
    return render_template("api_docs.html", spec=spec, operations=operations)

