"""The `sagsflow` command: what operators need to run the product."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.db import transaction
from engine.errors import SagsflowError

from .config import PROJECT_ROOT


def _app():
    from . import create_app

    try:
        return create_app()
    except SagsflowError as exc:  # a bad process, form or deadline file: say which, briefly
        _fail(exc.message)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
def main():
    """Sagsflow: casework orchestration for social services."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@main.group()
def db():
    """Database schema."""


def upgrade_database(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, revision)


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision):
    """Apply the Alembic migrations to DATABASE_URL."""
    from .config import load_config

    url = load_config()["SQLALCHEMY_DATABASE_URI"]
    upgrade_database(url, revision)
    click.echo(f"database at revision {revision}")


def deploy_processes(app, deployed_by: str = "system") -> list:
    from .extensions import db as database

    casework = app.extensions["casework"]
    with app.app_context():
        for attempt in range(2):
            try:
                with transaction(database.session) as session:
                    created = casework.registry.deploy(session, deployed_by)
                    return [(v.process_id, v.version) for v in created]
            except IntegrityError:  # another process deployed the same version just now
                if attempt:
                    raise
    return []


@main.group()
def processes():
    """Process definitions in processes/."""


@processes.command("deploy")
@click.option("--by", "deployed_by", default=lambda: getpass.getuser(), show_default="you")
def processes_deploy(deployed_by):
    """Record a new version of every process whose files changed."""
    app = _app()
    created = deploy_processes(app, deployed_by)
    for pid, version in created:
        click.echo(f"deployed {pid} version {version}")
    if not created:
        click.echo("nothing changed")


@processes.command("check")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--alone", is_flag=True,
              help="Check only FILES; by default the other files of the processes folder are "
                   "read with them, so that the processes FILES call (and that call them) are "
                   "there.")
def processes_check(files, alone):
    """Validate BPMN/DMN FILES before they are deployed: XML safety, SpiffWorkflow's parse, and
    the casework rules (forms, candidate groups, timers, conditions, deadlines, letters, no
    implicit splits or merges, a hearing before every decision, scripts in the sandbox).
    Prints FILE: element ID (NAME): MESSAGE for each problem; exit 0 only when there is none.
    Files are checked as they are: a Camunda Modeler file's bare ISO timers and ${…}
    conditions are reported (the designer's import converts them)."""
    import re

    from engine.bpmn.validation import MAX_FILE_BYTES, Problem, validate_sources
    from engine.deadlines import load_catalogue
    from engine.forms import FormCatalog
    from engine.letters.catalogue import load_letters

    from .config import load_config

    config = load_config()
    try:
        forms = FormCatalog.load(Path(config["FORMS_DIR"]))
        deadlines = load_catalogue(Path(config["PROCESSES_DIR"]), config["DEADLINE_OVERRIDES"])
        letters = load_letters(config["LETTERS_DIR"], config["MUNICIPALITY_FILE"])
    except SagsflowError as exc:
        _fail(exc.message)

    problems: list[Problem] = []
    sources: dict[str, str] = {}
    for path in files:
        if path.name in sources:
            problems.append(Problem(path.name, f"{path}: another file given has the same name"))
        elif path.stat().st_size > MAX_FILE_BYTES:
            problems.append(Problem(path.name, f"the file is {path.stat().st_size:,} bytes; at "
                                               f"most {MAX_FILE_BYTES:,} bytes are accepted",
                                    rule="size"))
        else:
            try:
                sources[path.name] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(path.name, f"not UTF-8 text: {exc}", rule="xml"))
    checked = set(sources) | {p.file for p in problems}
    if not alone:
        process_id = re.compile(r"<(?:\w+:)?process\b[^>]*?\bid\s*=\s*[\"']([^\"']+)")
        given_ids = {pid for text in sources.values() for pid in process_id.findall(text)}
        folder = Path(config["PROCESSES_DIR"])
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.suffix not in (".bpmn", ".dmn") or path.name in checked:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not given_ids & set(process_id.findall(text)):  # a new version replaces it
                sources[path.name] = text
    problems.extend(validate_sources(sources, forms, deadlines.process_actions(),
                                     set(letters.keys())))
    for problem in problems:
        click.echo(str(problem))
    bad = {p.file for p in problems}
    for name in sorted(checked - bad):
        click.echo(f"ok {name}")
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(bad)} file(s)", err=True)
        raise SystemExit(1)


@processes.command("list")
def processes_list():
    """Deployed processes and versions."""
    from engine.models import ProcessVersion

    from .extensions import db as database

    app = _app()
    with app.app_context():
        for v in database.session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)
        ):
            click.echo(f"{v.process_id}\tv{v.version}\t{v.content_hash[:12]}\t"
                       f"{v.deployed_at:%Y-%m-%d %H:%M}\t{v.deployed_by}\t{v.name}")


@main.command()
def demo():
    """Load demo teams, users and cases (once)."""
    from engine.demo import DEMO_PASSWORD, DEMO_USERS, load_demo

    from .extensions import db as database

    app = _app()
    if not app.config["DEMO"]:
        _fail("demo data (users with the password 'demo') is for demo mode only: "
              "set SAGSFLOW_DEMO=1")
    with app.app_context():
        with transaction(database.session) as session:
            loaded = load_demo(session, app.extensions["casework"])
    click.echo("demo data loaded" if loaded else "demo data already present")
    click.echo(f"demo users (password '{DEMO_PASSWORD}'): "
               + ", ".join(u for u, _n, _r in DEMO_USERS))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int,
              help="More threads mean more GIL contention per request (see bench/README.md).")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Run the timer tick in this process.")
def serve(host, port, threads, scheduler):
    """Serve the web application with waitress, plus the timer scheduler."""
    from waitress import serve as waitress_serve

    from .scheduler import start_scheduler

    app = _app()
    for pid, version in deploy_processes(app):
        click.echo(f"deployed {pid} version {version}")
    if scheduler:
        start_scheduler(app)
    click.echo(f"Sagsflow on http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs)")
    if app.config["DEMO"]:
        click.echo("Demo mode. Log in with sagsbehandler, leder, sagsbehandler2, designer or "
                   f"admin, password 'demo': in a browser at http://{host}:{port}/login, or\n"
                   f"  curl -s -X POST http://{host}:{port}/api/v1/auth/token "
                   "-H 'Content-Type: application/json' "
                   "-d '{\"username\": \"sagsbehandler\", \"password\": \"demo\"}'")
    waitress_serve(app, host=host, port=port, threads=threads, ident="sagsflow")


@main.command()
def scheduler():
    """Run only the timer scheduler, in the foreground (any number may run at once)."""
    from .scheduler import start_scheduler, tick

    app = _app()
    click.echo(f"scheduler: firing due timers and watching deadlines every "
               f"{app.config['SCHEDULER_INTERVAL_SECONDS']} s")
    moved = tick(app)  # catch up at once after a stop
    click.echo(f"caught up: {moved['timers']} instance(s) moved, "
               f"{moved['deadlines']} deadline(s) reminded or breached")
    start_scheduler(app, blocking=True)


@main.group()
def users():
    """User accounts."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["sagsbehandler", "leder", "procesdesigner", "administrator"]))
@click.option("--name", "full_name", required=True)
@click.option("--team", "teams", multiple=True, help="Team key; repeat for several.")
@click.option("--leads", multiple=True, help="Team key the user leads; repeat for several.")
@click.option("--email")
@click.password_option()
def users_create(username, role, full_name, teams, leads, email, password):
    """Create a user (the password is asked for)."""
    from engine.accounts import create_user
    from engine.models import Team

    from .extensions import db as database

    app = _app()
    with app.app_context():
        try:
            with transaction(database.session) as session:
                found = {t.key: t for t in session.scalars(
                    select(Team).where(Team.key.in_(set(teams) | set(leads))))}
                missing = (set(teams) | set(leads)) - set(found)
                if missing:
                    _fail(f"no team with key {', '.join(sorted(missing))}")
                members = [found[k] for k in sorted(set(teams) | set(leads))]
                create_user(session, username, password, role, full_name, teams=members,
                            leads=[found[k] for k in leads], email=email)
        except SagsflowError as exc:
            _fail(f"{exc.message}: {getattr(exc, 'fields', '')}")
    click.echo(f"created {role} {username}")


def _user_named(session, username):
    from engine.models import User

    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        _fail(f"no user {username!r}")
    return user


@users.command("set-password")
@click.argument("username")
@click.password_option()
def users_set_password(username, password):
    """Set a user's password (asked for); their API tokens stop working."""
    from engine.accounts import set_password

    from .extensions import db as database

    app = _app()
    with app.app_context():
        try:
            with transaction(database.session) as session:
                set_password(session, _user_named(session, username), password)
        except SagsflowError as exc:
            _fail(f"{exc.message}: {getattr(exc, 'fields', '')}")
    click.echo(f"password of {username} changed")


@users.command("deactivate")
@click.argument("username")
def users_deactivate(username):
    """Stop a user from logging in (their cases and history stay); tokens stop working."""
    from engine.accounts import deactivate

    from .extensions import db as database

    app = _app()
    with app.app_context():
        with transaction(database.session) as session:
            deactivate(session, _user_named(session, username))
    click.echo(f"{username} deactivated")


@main.group()
def instances():
    """Process instances."""


@instances.command("errors")
def instances_errors():
    """Cases whose process is in error: case number, element and message."""
    from engine.models import ERROR, Case, Instance

    from .extensions import db as database

    app = _app()
    with app.app_context():
        rows = database.session.execute(
            select(Case.id, Case.number, Instance.error_element, Instance.error_message)
            .join(Instance, Instance.case_id == Case.id).where(Instance.status == ERROR)
            .order_by(Case.id)).all()
    for case_id, number, element, message in rows:
        click.echo(f"{number}\tcase {case_id}\t{element or '-'}\t{message}")
    click.echo(f"{len(rows)} case(s) in error; retry with POST /api/v1/cases/<id>/retry")


@main.group()
def teams():
    """Teams."""


@teams.command("create")
@click.argument("key")
@click.argument("name")
def teams_create(key, name):
    """Create a team."""
    from engine.accounts import create_team

    from .extensions import db as database

    app = _app()
    with app.app_context():
        try:
            with transaction(database.session) as session:
                create_team(session, key, name)
        except IntegrityError:
            _fail(f"a team with key {key!r} exists")
    click.echo(f"created team {key}")


@main.group()
def timers():
    """Process timers."""


@timers.command("tick")
def timers_tick():
    """Fire every due timer once (the server does this every few seconds)."""
    from .scheduler import tick

    moved = tick(_app())
    click.echo(f"{moved['timers']} instance(s) moved, "
               f"{moved['deadlines']} deadline(s) reminded or breached")


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def check(files):
    """Parse and validate BPMN/DMN files (default: everything in processes/)."""
    from engine.bpmn.registry import parse_sources
    from engine.deadlines import load_catalogue
    from engine.forms import FormCatalog
    from engine.letters.catalogue import load_letters

    from .config import load_config

    config = load_config()
    paths = [Path(f) for f in files] or sorted(
        p for p in Path(config["PROCESSES_DIR"]).iterdir() if p.suffix in (".bpmn", ".dmn"))
    try:
        forms = FormCatalog.load(Path(config["FORMS_DIR"]))
        deadlines = load_catalogue(Path(config["PROCESSES_DIR"]), config["DEADLINE_OVERRIDES"])
        letters = load_letters(config["LETTERS_DIR"], config["MUNICIPALITY_FILE"])
        definitions = parse_sources({p.name: p.read_text(encoding="utf-8") for p in paths},
                                    forms, deadlines.process_actions(), set(letters.keys()))
    except SagsflowError as exc:
        _fail(exc.message)
    except UnicodeDecodeError as exc:
        _fail(f"a file is not UTF-8 text: {exc}")
    for pid, definition in definitions.items():
        click.echo(f"ok {pid}: {len(definition.user_tasks)} user tasks")


@main.group()
def deadlines():
    """The deadline catalogue (processes/deadlines.toml with the municipality's overrides)."""


def _deadline_catalogue():
    from engine.deadlines import load_catalogue

    from .config import load_config

    config = load_config()
    try:
        return load_catalogue(Path(config["PROCESSES_DIR"]), config["DEADLINE_OVERRIDES"])
    except SagsflowError as exc:
        _fail(exc.message)


@deadlines.command("list")
def deadlines_list():
    """The effective catalogue, tab-separated: key, title, rule, legal basis, overridden or
    not, reminders, what a breach does, and the reasons it may be paused for."""
    from engine.deadlines.catalogue import describe_amount

    catalogue = _deadline_catalogue()
    for entry in catalogue:
        status = (f"overridden (catalogue: {entry.shipped_rule.describe()})"
                  if entry.overridden else "catalogue")
        reminders = ", ".join(describe_amount(r.kind, r.amount) for r in entry.reminders)
        breach = "; ".join(
            " ".join([a.action, *(v for k, v in a.params.items() if k != "note")])
            for a in entry.on_breach)
        click.echo(f"{entry.key}\t{entry.title}\t{entry.rule.describe()}\t"
                   f"{'; '.join(str(ref) for ref in entry.legal_basis)}\t{status}\t"
                   f"reminders: {reminders + ' before' if reminders else 'none'}\t"
                   f"on breach: {breach or 'nothing'}\t"
                   f"pause: {'; '.join(entry.pause_reasons) or 'not allowed'}")
    click.echo("closing days: " + ", ".join(catalogue.calendar.closing_days_text))


def _parse_start(value: str):
    from datetime import date, datetime

    from engine.clock import LOCAL_TZ

    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"START must be a date (2025-01-31) or an ISO date and time "
              f"(2025-01-31T09:30 or 2025-01-31T09:30+01:00), got {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TZ)


@deadlines.command("due")
@click.argument("key")
@click.argument("start")
@click.option("--variant", help="A named amount of the deadline, e.g. voksne.")
@click.option("--amount", type=int, help="The amount set for one case, where the deadline "
                                         "allows it.")
def deadlines_due(key, start, variant, amount):
    """When deadline KEY started at START falls due.

    START is a date (00:00 Danish time) or an ISO date and time (Danish time unless it has an
    offset). Prints the Danish date for deadlines in days, weeks and months (met if done that
    day), the Danish date and time for deadlines in hours.
    """
    catalogue = _deadline_catalogue()
    moment = _parse_start(start)
    try:
        entry = catalogue.get(key)
        due = catalogue.due(key, moment, variant=variant, amount=amount)
    except SagsflowError as exc:
        _fail(exc.message)
    click.echo(due.isoformat(timespec="seconds") if entry.counts_hours else due.date().isoformat())


@main.group()
def letters():
    """The letter templates in letters/."""


@letters.command("lint")
@click.argument("folder", required=False)
def letters_lint(folder):
    """Check the letter templates: Jinja syntax; every letter shows recipient, date, case number
    and the caseworker's contact; every decision has legal basis, reasons and complaint
    guidance. Prints FILE:LINE: RULE: MESSAGE for each problem; exit 0 only when there is none.
    FOLDER defaults to the configured letters folder (letters/)."""
    from engine.letters.lint import lint

    from .config import load_config

    target = Path(folder or load_config()["LETTERS_DIR"])
    if not target.is_dir():
        _fail(f"{target}: no such folder")
    problems = lint(target)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {len(list(target.glob('*.j2')))} templates in {target}")
