"""The `sagsflow` console script as an operator runs it: a fresh SQLite database and instance
folder given by environment variables, one real process per command."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from bpmn_helpers import linear, user_task
from sqlalchemy import create_engine, inspect, text

from engine.bpmn.registry import parse_sources, read_folder
from engine.forms import FormCatalog
from engine.models import Base

ROOT = Path(__file__).resolve().parent.parent
SAGSFLOW = Path(sys.executable).parent / "sagsflow"


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SAGSFLOW_") and k not in ("DATABASE_URL", "SECRET_KEY")}
    env.update(DATABASE_URL=f"sqlite:///{tmp / 'x.db'}", SAGSFLOW_INSTANCE_DIR=str(tmp))
    return env


class Cli:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.env = _env(tmp)
        self.url = self.env["DATABASE_URL"]

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(SAGSFLOW), *args], env=self.env, cwd=self.tmp,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return self.wait(self.start(*args))

    @staticmethod
    def wait(proc: subprocess.Popen) -> subprocess.CompletedProcess:
        out, err = proc.communicate(timeout=120)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def run_together(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
        """Independent commands at the same time, to keep the suite fast."""
        return [self.wait(p) for p in [self.start(*c) for c in commands]]

    def query(self, sql: str, **params) -> list:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """A database made by `sagsflow db upgrade`, shared by the tests of this module."""
    cli = Cli(tmp_path_factory.mktemp("cli"))
    result = cli.run("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database at revision head" in result.stdout
    return cli


def test_console_script_is_installed():
    assert SAGSFLOW.exists()


def test_db_upgrade_creates_the_tables_in_the_database_of_database_url(cli):
    engine = create_engine(cli.url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) | {"alembic_version"} <= tables
    assert (cli.tmp / "x.db").exists()
    assert not (cli.tmp / "sagsflow.db").exists()  # DATABASE_URL wins over the default


def test_teams_and_users_are_created_and_duplicates_refused(cli):
    team = cli.run("teams", "create", "nord", "Børn og Unge Nord")
    assert team.returncode == 0, team.stderr
    assert "created team nord" in team.stdout
    user = cli.run("users", "create", "bo", "--role", "sagsbehandler", "--name", "Bo Berg",
                   "--team", "nord", "--email", "bo@kommune.example", "--password", "hemmeligt")
    assert user.returncode == 0, user.stderr
    assert "created sagsbehandler bo" in user.stdout

    [[password_hash, role, full_name, email]] = cli.query(
        "SELECT password_hash, role, full_name, email FROM users WHERE username = 'bo'")
    assert (role, full_name, email) == ("sagsbehandler", "Bo Berg", "bo@kommune.example")
    assert PasswordHasher().verify(password_hash, "hemmeligt")
    assert cli.query("SELECT t.key, m.leads FROM memberships m JOIN teams t ON t.id = m.team_id "
                     "JOIN users u ON u.id = m.user_id WHERE u.username = 'bo'") == [
        ("nord", False)]

    same_user, same_team, no_team = cli.run_together(
        ("users", "create", "bo", "--role", "leder", "--name", "Bo 2", "--password", "andet"),
        ("teams", "create", "nord", "Igen"),
        ("users", "create", "ib", "--role", "sagsbehandler", "--name", "Ib",
         "--team", "syd", "--password", "hemmeligt"),
    )
    assert same_user.returncode == 1
    assert "error: cannot create the user" in same_user.stderr
    assert "is already taken" in same_user.stderr
    assert same_team.returncode == 1
    assert "error: a team with key 'nord' exists" in same_team.stderr
    assert no_team.returncode == 1
    assert "error: no team with key syd" in no_team.stderr
    assert cli.query("SELECT username, role FROM users ORDER BY username") == [
        ("bo", "sagsbehandler")]
    assert cli.query("SELECT key, name FROM teams WHERE key = 'nord'") == [
        ("nord", "Børn og Unge Nord")]


def test_password_change_and_deactivation_end_the_users_tokens(cli):
    created = cli.run("users", "create", "ulla", "--role", "sagsbehandler", "--name", "Ulla",
                      "--password", "foerste")
    assert created.returncode == 0, created.stderr
    user_id = cli.query("SELECT id FROM users WHERE username = 'ulla'")[0][0]
    with create_engine(cli.url).begin() as conn:
        conn.execute(text("INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) "
                          "VALUES ('h1', :u, '2026-01-01', '2099-01-01')"), {"u": user_id})

    changed, unknown = cli.run_together(
        ("users", "set-password", "ulla", "--password", "andet-kodeord"),
        ("users", "set-password", "ingen", "--password", "andet-kodeord"))
    assert changed.returncode == 0, changed.stderr
    [[password_hash]] = cli.query("SELECT password_hash FROM users WHERE username = 'ulla'")
    assert PasswordHasher().verify(password_hash, "andet-kodeord")
    assert cli.query("SELECT count(*) FROM api_tokens WHERE user_id = :u", u=user_id) == [(0,)]
    assert unknown.returncode == 1
    assert "error: no user 'ingen'" in unknown.stderr

    deactivated = cli.run("users", "deactivate", "ulla")
    assert deactivated.returncode == 0, deactivated.stderr
    assert cli.query("SELECT active FROM users WHERE username = 'ulla'") in ([(False,)], [(0,)])


def test_instances_errors_lists_no_case_on_a_healthy_database(cli):
    listed = cli.run("instances", "errors")
    assert listed.returncode == 0, listed.stderr
    assert "0 case(s) in error" in listed.stdout


def test_check_accepts_the_shipped_processes_and_names_the_element_of_a_bad_file(tmp_path):
    cli = Cli(tmp_path)
    bad = tmp_path / "daarlig.bpmn"
    bad.write_text(linear("daarlig", ("opgave", user_task("opgave", "Opgave",
                                                          form="findes_ikke"))),
                   encoding="utf-8")
    good, refused = cli.run_together(("check",), ("check", str(bad)))

    assert good.returncode == 0, good.stderr
    definitions = parse_sources(read_folder(ROOT / "processes"),
                                FormCatalog.load(ROOT / "forms"))
    expected = {f"ok {pid}: {len(d.user_tasks)} user tasks" for pid, d in definitions.items()}
    assert set(good.stdout.splitlines()) == expected

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "error: daarlig.bpmn: element opgave (Opgave): form 'findes_ikke'" in refused.stderr


def test_demo_data_is_refused_outside_demo_mode(cli):
    refused = cli.run("demo")
    assert refused.returncode == 1
    assert "demo mode only: set SAGSFLOW_DEMO=1" in refused.stderr
    assert cli.query("SELECT count(*) FROM users WHERE username = 'admin'") == [(0,)]


def _moment(value) -> datetime:
    """A timestamp column read with plain SQL (a string on SQLite), as aware UTC."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=timezone.utc)


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _check_demo(cli):
    """What the demo data must show: every step of each process, and the scheduler's work
    (timers fired, deadlines breached and escalated) done."""
    assert cli.query("SELECT count(*) FROM instances WHERE status = 'error'")[0][0] == 0
    assert cli.query("SELECT count(*) FROM audit_events WHERE kind = 'error'")[0][0] == 0
    assert cli.query("SELECT username FROM users WHERE username = 'admin'") == [("admin",)]
    # the README's example: letter 1 is the draft refusal of case 2
    assert cli.query("SELECT case_id, key, state FROM letters WHERE id = 1") == [
        (2, "afgoerelse_afslag", "draft")]

    def open_steps(process):
        return {row[0] for row in cli.query(
            "SELECT t.bpmn_id FROM tasks t JOIN cases c ON c.id = t.case_id "
            "WHERE c.process_id = :p AND t.state = 'ready'", p=process)}

    # child welfare cases at every step of the investigation, and one in its follow-up
    sel50 = open_steps("sel50")
    assert {"vurder_underretning", "eskaler_24t", "screening", "samtykke", "boernesamtale",
            "registrer_svar", "undersoegelse", "partshoering", "afgoerelse", "barnets_plan",
            "bestilling", "registrer_status"} <= sel50, sel50
    # § 85 cases at every step from the enquiry to the follow-up
    sel85 = open_steps("sel85")
    assert {"registrer_henvendelse", "samtykke", "plan_indhentning", "registrer_svar",
            "udredning", "indstilling", "visitation", "partshoering", "bemaerkninger",
            "afgoerelse", "handleplan", "bestilling", "registrer_status"} <= sel85, sel85
    # the assessment half done, kept as a draft
    [(drafted, data)] = cli.query("SELECT t.bpmn_id, d.data FROM task_drafts d "
                                  "JOIN tasks t ON t.id = d.task_id")
    assert drafted == "udredning"
    assert set(_json(data)["tilstande"]) == {"praktiske_opgaver", "egenomsorg"}
    # refused: the decision letter drafted and the case closed by the process
    [(refused,)] = cli.query("SELECT id FROM cases WHERE process_id = 'sel85' "
                             "AND status = 'closed'")
    assert cli.query("SELECT key FROM letters WHERE case_id = :c ORDER BY id", c=refused) == [
        ("samtykke",), ("anmodning_oplysninger",), ("partshoering",), ("afgoerelse_afslag",)]

    def deadlines(key):
        return cli.query(
            "SELECT d.case_id, d.due_at, d.met_at, d.breached_at, d.closed_at FROM "
            "case_deadlines d JOIN cases c ON c.id = d.case_id "
            "WHERE c.process_id = 'sel85' AND d.key = :k ORDER BY d.case_id", k=key)

    def escalated(case_id, key):
        return [_json(d)["to"] for (d,) in cli.query(
            "SELECT data FROM audit_events WHERE case_id = :c AND kind = 'deadline_escalated'",
            c=case_id) if _json(d)["key"] == key]

    moment = datetime.now(timezone.utc)
    # a first follow-up under way and due soon; two overdue, escalated to the leader
    first = deadlines("foerste_opfoelgning")
    running = [row for row in first if row[2] is None]
    assert [bool(row[3]) for row in running] == [False, True, True], first
    for case_id, due, _met, breached, _closed in running:
        assert ("registrer_status",) in cli.query(
            "SELECT bpmn_id FROM tasks WHERE case_id = :c AND state = 'ready'", c=case_id)
        assert (_moment(due) < moment) == bool(breached)
    for overdue in running[1:]:
        assert escalated(overdue[0], "foerste_opfoelgning") == [["leder"]]
    # the provider's status report waits on the case for the follow-up
    assert cli.query("SELECT count(*) FROM audit_events WHERE case_id = :c "
                     "AND kind = 'message_received'", c=running[0][0]) == [(1,)]
    # held, continued: the next follow-up runs (a year ahead), nothing open meanwhile
    [(case_id, due, met, breached, _closed)] = deadlines("naeste_opfoelgning")
    assert met is None and breached is None and _moment(due) > moment + timedelta(days=300)
    assert cli.query("SELECT count(*) FROM tasks WHERE case_id = :c AND state = 'ready'",
                     c=case_id) == [(0,)]
    # the municipality's 8 weeks passed before the decision: letter drafted, escalated
    [late] = [row for row in deadlines("sel85_afgoerelse") if row[3] is not None]
    assert late[2] is None and _moment(late[1]) < moment
    assert escalated(late[0], "sel85_afgoerelse") == [["leder"]]
    assert cli.query("SELECT state, origin FROM letters WHERE case_id = :c "
                     "AND key = 'forventet_afgoerelsestidspunkt'", c=late[0]) == [
        ("draft", "deadline")]


def test_demo_loads_once_and_says_already_present_the_second_time(cli):
    cli.env["SAGSFLOW_DEMO"] = "1"
    started = time.monotonic()
    first = cli.run("demo")
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert "demo data loaded" in first.stdout
    assert took < 60, f"the demo took {took:.1f} s to load"
    cases = cli.query("SELECT count(*) FROM cases")[0][0]
    assert cases > 0
    _check_demo(cli)

    second = cli.run("demo")
    assert second.returncode == 0, second.stderr
    assert "demo data already present" in second.stdout
    assert cli.query("SELECT count(*) FROM cases")[0][0] == cases
    del cli.env["SAGSFLOW_DEMO"]


@pytest.mark.postgres
def test_demo_loads_on_postgresql(tmp_path):
    """The same demo on PostgreSQL (TEST_DATABASE_URL), in a schema of its own so that the
    suite's database is left alone."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("PostgreSQL run skipped: TEST_DATABASE_URL is not set")
    schema = "cli_demo"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        cli = Cli(tmp_path)
        cli.url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        cli.env.update(DATABASE_URL=cli.url, SAGSFLOW_DEMO="1")
        upgraded = cli.run("db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        loaded = cli.run("demo")
        assert loaded.returncode == 0, loaded.stderr
        assert "demo data loaded" in loaded.stdout
        assert cli.query("SELECT count(*) FROM information_schema.tables WHERE "
                         "table_schema = :s AND table_name = 'cases'", s=schema) == [(1,)]
        _check_demo(cli)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()
