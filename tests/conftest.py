"""Shared fixtures. Every database test runs twice: on SQLite and, when TEST_DATABASE_URL is
set (CI sets it), on PostgreSQL. The schema is made by the real Alembic migrations."""

from __future__ import annotations

import os
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest

# Keep tests away from the developer's instance/ folder and database.
os.environ["SAGSFLOW_INSTANCE_DIR"] = tempfile.mkdtemp(prefix="sagsflow-test-instance-")
os.environ.pop("DATABASE_URL", None)

from sqlalchemy import create_engine, select, text  # noqa: E402

from api import create_app  # noqa: E402
from api.cli import upgrade_database  # noqa: E402
from api.extensions import db  # noqa: E402
from engine.accounts import create_team, create_user, issue_token  # noqa: E402
from engine.bpmn.registry import ProcessRegistry  # noqa: E402
from engine.db import transaction  # noqa: E402
from engine.forms import FormCatalog  # noqa: E402
from engine.models import ADMIN, CASEWORKER, DESIGNER, LEADER, User  # noqa: E402
from engine.services import Casework  # noqa: E402

PASSWORD = "hemmeligt-kodeord"
FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"

# username, role, team keys (member), team keys (leads)
USERS = (
    ("sagsbehandler", CASEWORKER, ["nord"], []),
    ("sagsbehandler3", CASEWORKER, ["nord"], []),
    ("sagsbehandler2", CASEWORKER, ["vest"], []),
    ("leder", LEADER, ["nord"], ["nord"]),
    ("leder2", LEADER, ["vest"], ["vest"]),
    ("designer", DESIGNER, [], []),
    ("admin", ADMIN, [], []),
)

# Deleted before every test, children first; users and teams are made once per database.
CASE_TABLES = ("access_log", "audit_events", "outbox", "letters", "case_deadlines",
               "task_drafts", "saved_filters", "tasks",
               "instances", "cases", "citizens", "api_tokens", "calendar_feeds",
               "process_drafts", "process_versions")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            pytest.skip("PostgreSQL run skipped: TEST_DATABASE_URL is not set "
                        "(CI sets it to the local server; `make test-pg` does too)")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret",
                      "TESTING": True,
                      "OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox"))})
    with app.app_context():
        with transaction(db.session) as session:
            teams = {"nord": create_team(session, "nord", "Børn og Unge Nord"),
                     "vest": create_team(session, "vest", "Voksen Vest")}
            for username, role, member, leads in USERS:
                create_user(session, username, PASSWORD, role, username.title(),
                            teams=[teams[k] for k in member], leads=[teams[k] for k in leads])
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean(request):
    """Empty the case tables and deploy the shipped processes before each database test."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        with transaction(db.session) as session:
            for table in CASE_TABLES:
                session.execute(text(f"DELETE FROM {table}"))
            # failed log-ins of earlier tests do not lock anyone out of this one
            session.execute(text("UPDATE users SET failed_logins = 0, locked_until = NULL"))
            app.extensions["casework"].registry.deploy(session, "test")
        db.session.remove()
    yield


@pytest.fixture
def ctx(app):
    """An application context with the session; for tests that call use cases directly."""
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def session(ctx):
    return db.session


@pytest.fixture
def casework(app):
    return app.extensions["casework"]


@pytest.fixture(scope="session")
def forms():
    """The shipped forms."""
    return FormCatalog.load(FORMS_DIR)


@pytest.fixture
def build_casework(tmp_path, session, forms):
    """build_casework({file: xml}) deploys those processes and returns Casework over them."""
    folder = tmp_path / "processes"
    folder.mkdir()

    def build(files: dict[str, str], deadlines=None, letters=None) -> Casework:
        """`deadlines`: a deadline catalogue, for processes that use deadline functions;
        `letters`: the Letters use cases, for processes that prepare letters."""
        for name, source in files.items():
            (folder / name).write_text(source, encoding="utf-8")
        registry = ProcessRegistry(
            folder, forms, deadlines.process_actions() if deadlines is not None else None,
            set(letters.catalogue.keys()) if letters is not None else None)
        with transaction(session):
            registry.deploy(session, "test")
        casework = Casework(registry, forms, deadlines, letters)
        built.append(casework)
        return casework

    built: list[Casework] = []
    yield build
    for casework in built:  # the app's Letters outlive this test's Casework
        if casework.letters is not None:
            casework.letters.issued_hooks.remove(casework._letter_issued)


def run_tick(app) -> dict:
    """The scheduler's tick as its own process runs it: after the test's session has ended its
    transaction (on SQLite an open transaction holds the write lock), in an app context of its
    own; the test's session then reads afresh. Returns what moved, by queue."""
    from api import scheduler

    db.session.commit()
    moved = scheduler.tick(app)
    db.session.expire_all()
    return moved


def get_user(session, username: str) -> User:
    return session.scalar(select(User).where(User.username == username))


class ApiClient:
    """The Flask test client with a bearer token for one user."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self.headers, **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self.headers, **kw)

    def put(self, url, json=None, **kw):
        return self.client.put(url, json=json, headers=self.headers, **kw)


@pytest.fixture
def api(app):
    """api("sagsbehandler") gives a client logged in as that user."""
    tokens = {}

    def login(username: str | None) -> ApiClient:
        if username is not None and username not in tokens:
            with app.app_context():
                with transaction(db.session) as session:
                    # Long enough for scenarios that move time on by years (follow-ups; a
                    # tick then purges expired tokens).
                    raw, _ = issue_token(session, get_user(session, username),
                                         timedelta(days=5 * 366))
                db.session.remove()
            tokens[username] = raw
        return ApiClient(app.test_client(), tokens.get(username))

    return login


@pytest.fixture(scope="session")
def live_server(app):
    """The app served by waitress on a free loopback port, for tests with real concurrency."""
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=16)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()


def new_case_body(cpr="0102031234", name="Emil Hansen", received_at="2026-11-20T09:00:00+01:00",
                  **extra):
    return {"process": "henvendelse", "citizen": {"cpr": cpr, "name": name},
            "received_at": received_at, **extra}
