"""The Flask application: REST API (/api/v1), OpenAPI, health check, and the web pages."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from engine.bpmn.registry import ProcessRegistry
from engine.db import engine_options, tune_engine
from engine.deadlines import load_catalogue
from engine.forms import FormCatalog
from engine.letters.catalogue import load_letters
from engine.letters.delivery import make_delivery
from engine.letters.service import Letters, check_breach_letters
from engine.services import Casework

from .auth import authenticate_request
from .config import load_config
from .errors import register_error_handlers
from .extensions import api, db
from .guards import refuse_unstorable_input


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(load_config(config))
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    db.init_app(app)
    with app.app_context():
        tune_engine(db.engine)

    # A wrong deadline catalogue or overrides file stops the start, naming entry and field.
    app.extensions["deadlines"] = load_catalogue(
        Path(app.config["PROCESSES_DIR"]), app.config["DEADLINE_OVERRIDES"])
    forms = FormCatalog.load(Path(app.config["FORMS_DIR"]))
    # The letters, their letterhead and how they leave; a deadline whose breach sends a letter
    # must name one that exists, and so must a process step that prepares one.
    letters = Letters(load_letters(app.config["LETTERS_DIR"], app.config["MUNICIPALITY_FILE"]),
                      make_delivery(app.config))
    check_breach_letters(app.extensions["deadlines"], letters.catalogue)
    app.extensions["letters"] = letters
    registry = ProcessRegistry(Path(app.config["PROCESSES_DIR"]), forms,
                               app.extensions["deadlines"].process_actions(),
                               set(letters.catalogue.keys()))
    app.extensions["casework"] = Casework(registry, forms, app.extensions["deadlines"], letters)

    api.init_app(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "POST /api/v1/auth/token"}
    )
    from . import auth_routes, cases, docs, health, letters, oversight, processes, tasks

    api.register_blueprint(auth_routes.blp)
    api.register_blueprint(processes.blp)
    api.register_blueprint(cases.blp)
    api.register_blueprint(tasks.blp)
    api.register_blueprint(oversight.blp)
    api.register_blueprint(letters.blp)
    app.register_blueprint(oversight.feeds)
    app.register_blueprint(health.bp)
    app.register_blueprint(docs.bp)
    from .web import init_app as init_web

    init_web(app)
    from .designer import init_app as init_designer

    init_designer(app)
    app.before_request(authenticate_request)
    app.before_request(refuse_unstorable_input)
    register_error_handlers(app)
    return app
