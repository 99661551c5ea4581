"""Due timers in bulk and `sagsflow scheduler` processes that fire them: the scheduler
throughput benchmark, and the exactly-once tests (tests/test_scheduler_processes.py) use it.

One real case is opened through the use cases and taken to the reply deadline (`svarfrist`),
so that its instance waits on that timer with the open task `registrer_svar`. Its serialized
workflow is then copied with core INSERTs: every UUID in the JSON is replaced by a fresh one
(one mapping per copy, so task ids never collide), the timer's `event_value` is set in the past,
and each copy gets a case row, an instance row (running, `next_due_at` in the past) and its
open task row."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

from engine.accounts import create_team, create_user
from engine.clock import now
from engine.db import transaction
from engine.models import CASEWORKER, READY, RUNNING, AuditEvent, Case, Instance, Task

SAGSFLOW = Path(sys.executable).parent / "sagsflow"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EVENT_VALUE_RE = re.compile(r'("event_value": ?)"[^"]*"')
USERNAME = "sb_timer"
PASSWORD = "scheduler-kodeord"


def build_due_instances(app, count: int, batch: int = 500) -> dict:
    """`count` instances whose reply deadline is due, in the (migrated, empty) database of
    `app`. Returns timings and the ids of the cases made."""
    from api.extensions import db

    casework = app.extensions["casework"]
    timings: dict = {}
    t0 = time.perf_counter()
    with app.app_context():
        session = db.session
        with transaction(session):
            casework.registry.deploy(session, "bench")
            team = create_team(session, "timers", "Timers")
            user = create_user(session, USERNAME, PASSWORD, CASEWORKER, "Timer", teams=[team])
        with transaction(session):
            case = casework.open_case(session, user, "henvendelse",
                                      {"cpr": "0101011234", "name": "Skabelon Sag"},
                                      now() - timedelta(days=2))
        for bpmn_id, data in (
                ("vurder_henvendelse", {"henvendelse": "x", "udfald": "oplys"}),
                ("anmod_oplysninger", {"modtager": "x", "spoergsmaal": "y",
                                       "svarfrist_dage": 1})):
            task = session.scalar(select(Task).where(Task.case_id == case.id,
                                                     Task.bpmn_id == bpmn_id,
                                                     Task.state == READY))
            with transaction(session):
                casework.complete_task(session, user, task.id, data)
        instance = session.scalar(select(Instance).where(Instance.case_id == case.id))
        open_task = session.scalar(select(Task).where(Task.instance_id == instance.id,
                                                      Task.state == READY))
        if open_task is None or open_task.bpmn_id != "registrer_svar" or not instance.next_due_at:
            raise RuntimeError("the template case does not wait on the reply deadline")
        template = instance.serialized
        if len(EVENT_VALUE_RE.findall(template)) != 1:
            raise RuntimeError("expected exactly one timer event_value in the template")
        case_row = {c: getattr(case, c) for c in ("process_id", "process_version_id",
                                                  "citizen_id", "team_id", "caseworker_id",
                                                  "status", "received_at", "created_by_id")}
        task_row = {c.name: getattr(open_task, c.name) for c in Task.__table__.columns
                    if c.name not in ("id", "instance_id", "case_id", "lock_version")}
        version_id = instance.process_version_id
        template_case_id = case.id
        db.session.remove()
        engine = db.engine
        timings["template_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        moment = now()
        due = moment - timedelta(hours=1)
        due_json = due.isoformat()
        template = EVENT_VALUE_RE.sub(lambda m: f'{m.group(1)}"{due_json}"', template)
        task_id = open_task.id
        case_ids = []
        with engine.begin() as conn:
            for start in range(0, count, batch):
                n = min(batch, count - start)
                ids = conn.execute(
                    insert(Case).returning(Case.id, sort_by_parameter_order=True),
                    [{**case_row, "number": f"T-{start + k + 1:07d}", "created_at": moment}
                     for k in range(n)]).scalars().all()
                copies = []
                for _ in ids:
                    mapping: dict[str, str] = {}
                    copies.append(UUID_RE.sub(
                        lambda m, mp=mapping: mp.setdefault(m.group(0), str(uuid.uuid4())),
                        template))
                    copies[-1] = (copies[-1], mapping[task_id])
                instance_ids = conn.execute(
                    insert(Instance).returning(Instance.id, sort_by_parameter_order=True),
                    [{"case_id": cid, "process_version_id": version_id, "status": RUNNING,
                      "serialized": serialized, "next_due_at": due, "error_message": None,
                      "error_element": None, "lock_version": 1, "updated_at": moment}
                     for cid, (serialized, _t) in zip(ids, copies, strict=True)]
                ).scalars().all()
                conn.execute(insert(Task), [
                    {**task_row, "id": new_task, "instance_id": iid, "case_id": cid}
                    for cid, iid, (_s, new_task) in zip(ids, instance_ids, copies, strict=True)])
                case_ids += ids
            # The template itself is not due; it stays out of the counts.
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE")
        timings["bulk_s"] = time.perf_counter() - t0
    return {"timings": timings, "case_ids": case_ids, "template_case_id": template_case_id,
            "serialized_bytes": len(template)}


def scheduler_env(url: str, instance_dir: Path, tick_seconds: float = 1.0) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SAGSFLOW_") and k not in ("DATABASE_URL", "SECRET_KEY")}
    instance_dir.mkdir(parents=True, exist_ok=True)
    # Made once beforehand, as in a deployment: processes that start together would each
    # try to create it.
    key = instance_dir / "secret_key"
    if not key.exists():
        key.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    env.update(DATABASE_URL=url, SAGSFLOW_INSTANCE_DIR=str(instance_dir),
               SAGSFLOW_TICK_SECONDS=str(tick_seconds))
    return env


def start_schedulers(n: int, env: dict, log_dir: Path) -> list[subprocess.Popen]:
    procs = []
    first = len(list(log_dir.glob("scheduler-*.log")))
    for i in range(n):
        out = open(log_dir / f"scheduler-{first + i}.log", "w")
        procs.append(subprocess.Popen([str(SAGSFLOW), "scheduler"], env=env, cwd=log_dir,
                                      stdout=out, stderr=subprocess.STDOUT))
        out.close()
    return procs


def stop(procs: list[subprocess.Popen], hard: bool = False) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def due_count(conn) -> int:
    return conn.scalar(select(func.count()).select_from(Instance).where(
        Instance.status == RUNNING, Instance.next_due_at <= now()))


def fired_count(conn) -> int:
    return conn.scalar(select(func.count()).select_from(AuditEvent)
                       .where(AuditEvent.kind == "timer_fired"))


def wait_until(url: str, procs: list[subprocess.Popen], *, timeout: float,
               fired_at_least: int | None = None, poll: float = 0.25) -> float:
    """Poll until no instance is due (or `fired_at_least` timers have fired); returns the
    seconds waited. Raises when the time is up or every scheduler has exited."""
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        while True:
            with engine.connect() as conn:
                done = (fired_count(conn) >= fired_at_least if fired_at_least is not None
                        else due_count(conn) == 0)
            if done:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"not done after {timeout:.0f} s")
            if all(p.poll() is not None for p in procs):
                raise RuntimeError("every scheduler process has exited")
            time.sleep(poll)
    finally:
        engine.dispose()


def check_exactly_once(url: str, case_ids: list[int]) -> dict:
    """Per case: timer_fired events, ready ryk_for_svar rows, ready registrer_svar rows, and
    instances in error; the anomalies listed by case."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            fired = dict(conn.execute(text(
                "SELECT case_id, count(*) FROM audit_events WHERE kind = 'timer_fired' "
                "GROUP BY case_id")).all())
            reminders = dict(conn.execute(text(
                "SELECT case_id, count(*) FROM tasks WHERE state = 'ready' "
                "AND bpmn_id = 'ryk_for_svar' GROUP BY case_id")).all())
            waiting = dict(conn.execute(text(
                "SELECT case_id, count(*) FROM tasks WHERE state = 'ready' "
                "AND bpmn_id = 'registrer_svar' GROUP BY case_id")).all())
            errors = dict(conn.execute(text(
                "SELECT case_id, error_message FROM instances WHERE status = 'error'")).all())
            first, last = conn.execute(text(
                "SELECT min(at), max(at) FROM audit_events WHERE kind = 'timer_fired'")).one()
    finally:
        engine.dispose()
    bad = {cid: {"timer_fired": fired.get(cid, 0), "ryk_for_svar": reminders.get(cid, 0),
                 "registrer_svar": waiting.get(cid, 0), "error": errors.get(cid)}
           for cid in case_ids
           if fired.get(cid, 0) != 1 or reminders.get(cid, 0) != 1 or cid in errors}
    return {"cases": len(case_ids), "fired_once": sum(fired.get(c, 0) == 1 for c in case_ids),
            "fired_twice_or_more": sum(fired.get(c, 0) > 1 for c in case_ids),
            "not_fired": sum(fired.get(c, 0) == 0 for c in case_ids),
            "one_ryk_for_svar": sum(reminders.get(c, 0) == 1 for c in case_ids),
            "in_error": len(errors), "first_fired": first, "last_fired": last,
            "anomalies": dict(list(bad.items())[:20]), "anomaly_count": len(bad)}


def _seconds(first: datetime | None, last: datetime | None) -> float | None:
    if first is None or last is None:
        return None
    if first.tzinfo is None:
        first, last = first.replace(tzinfo=timezone.utc), last.replace(tzinfo=timezone.utc)
    return (last - first).total_seconds()


def throughput(make_app, count: int, processes: int, workdir: Path, timeout: float,
               log=print) -> dict:
    """Build `count` due instances in a fresh database (make_app() prepares it and returns
    an app bound to it), run `processes` schedulers until none is due, check exactly-once."""
    app = make_app()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    built = build_due_instances(app, count)
    log(f"    {count} due instances built in "
        f"{built['timings']['template_s'] + built['timings']['bulk_s']:.1f} s")
    folder = workdir / f"schedulers-{processes}"
    folder.mkdir(parents=True, exist_ok=True)
    env = scheduler_env(url, folder / "instance")
    started = time.perf_counter()
    procs = start_schedulers(processes, env, folder)
    try:
        waited = wait_until(url, procs, timeout=timeout)
    finally:
        stop(procs)
    wall = time.perf_counter() - started
    check = check_exactly_once(url, built["case_ids"])
    firing = _seconds(check["first_fired"], check["last_fired"])
    from api.extensions import db

    with app.app_context():
        db.engine.dispose()
    return {
        "processes": processes, "instances": count,
        "instances_per_s": round(count / firing, 1) if firing else None,
        "firing_s": round(firing, 2) if firing else None,
        "wall_s": round(wall, 2), "waited_s": round(waited, 2),
        "wall_instances_per_s": round(count / wall, 1),
        "build_s": {k: round(v, 2) for k, v in built["timings"].items()},
        "serialized_bytes": built["serialized_bytes"],
        "exactly_once": {k: v for k, v in check.items() if k not in ("first_fired",
                                                                     "last_fired")},
        "logs": str(folder),
    }
