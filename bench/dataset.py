"""The synthetic municipality: a fresh database with the real schema, teams, users, a sample of
real cases opened through the use case, and the bulk of cases and task rows bulk-inserted.

Who is who (usernames):

* ``leder01`` .. ``leder20``: one leader per team (role ``leder``), made with the real
  ``engine.accounts.create_user`` (argon2 hash each).
* ``sb01_01`` .. ``sb20_10``: ten caseworkers per team (role ``sagsbehandler``), inserted as
  rows with one argon2 hash computed once and reused, so setup does not spend 200 x argon2.
  All users have the password ``PASSWORD`` and log in through the real token endpoint.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import make_url

from engine.accounts import create_team, create_user, hash_password
from engine.clock import now
from engine.db import transaction
from engine.models import (
    CASEWORKER,
    LEADER,
    READY,
    RUNNING,
    Case,
    CaseDeadline,
    Citizen,
    Instance,
    Membership,
    ProcessVersion,
    Task,
    User,
)

PASSWORD = "bench-kodeord"
TEAMS = 20
WORKERS_PER_TEAM = 10
FULL_CASES = 10_000
FULL_TASKS = 100_000
PROCESS = "henvendelse"
FIRST_TASK_DATA = {"henvendelse": "Skolen er bekymret for fravær.", "udfald": "oplys"}

# The leaders' deadline queue: one team (its leader is QUEUE_LEADER) carries a big load of open
# deadlines, the other teams a modest one. Full-scale figures; `scale` shrinks them too.
QUEUE_TEAM = 1
QUEUE_TEAM_DEADLINES = 100_000
QUEUE_TEAM_OVERDUE = 0.2  # fraction of the big team's deadlines that are overdue
OTHER_TEAM_DEADLINES = 1_000  # per other team, of which some met, paused or overdue
WARN_DAYS = 14  # warn_at = due_at - 14 days: from then on the deadline is due soon
# How often each catalogue deadline appears among the bulk deadline rows.
DEADLINE_WEIGHTS = {
    "sel85_afgoerelse": 4.0,
    "aktindsigt_7hd": 2.0,
    "kvittering_6hd": 2.0,
    "partshoering_svar": 2.0,
    "klage_genvurdering": 1.0,
    "naeste_opfoelgning": 1.0,
    "foerste_opfoelgning": 0.5,
    "barnets_plan_3m": 0.5,
    "sel50_4m": 0.5,
    "underretning_24t": 0.5,
}
# How many deadlines a case has (1 to 4), weighted.
DEADLINES_PER_CASE = {1: 3.0, 2: 3.0, 3: 2.0, 4: 2.0}

# How often each user task appears among the bulk task rows.
TASK_WEIGHTS = {
    "vurder_henvendelse": 3.0,
    "anmod_oplysninger": 2.0,
    "registrer_svar": 2.0,
    "ryk_for_svar": 1.0,
    "traef_afgoerelse": 2.0,
    "godkend_afgoerelse": 1.0,
    "godkend_afvisning": 0.5,
}

FIRST_NAMES = ("Emil", "Fatima", "Jonas", "Maja", "Oliver", "Sofie", "Noah", "Ida", "Ali", "Freja")
LAST_NAMES = ("Hansen", "Ali", "Nielsen", "Jensen", "Berg", "Larsen", "Pedersen", "Møller")


def team_key(t: int) -> str:
    return f"team{t:02d}"


def leader_name(t: int) -> str:
    return f"leder{t:02d}"


def worker_name(t: int, w: int) -> str:
    return f"sb{t:02d}_{w:02d}"


class CprSequence:
    """Unique, valid CPR numbers (DDMMYY + serial starting 0-3, so 1900s dates)."""

    def __init__(self):
        self.i = 0
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            i = self.i
            self.i += 1
        day = 1 + i % 28
        month = 1 + (i // 28) % 12
        year = (i // 336) % 100
        serial = (i // 33_600) % 4000
        return f"{day:02d}{month:02d}{year:02d}{serial:04d}"


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


# -- databases -----------------------------------------------------------------------------

def prepare_postgres(pg_url: str, database: str) -> str:
    """Create `database` on the server if missing, empty its public schema, return its URL.

    Never touches the database named in pg_url (the test suite's), only `database`."""
    import psycopg

    base = make_url(pg_url)
    if base.database == database:
        raise SystemExit(f"refusing: --pg-url already names {database!r}; give the server URL")
    admin = base.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    target = base.set(database=database)
    with psycopg.connect(target.set(drivername="postgresql").render_as_string(
            hide_password=False), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return target.render_as_string(hide_password=False)


# -- the municipality ----------------------------------------------------------------------

@dataclass
class Municipality:
    url: str
    dialect: str
    team_ids: dict[int, int] = field(default_factory=dict)  # team number -> id
    user_ids: dict[str, int] = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    real_sets: dict[str, list] = field(default_factory=dict)  # name -> task ids or pairs
    cprs: CprSequence = field(default_factory=CprSequence)
    sample_serialized: str = ""
    # The bulk cases: (case id, team id, caseworker id), for the bulk deadlines.
    bulk_cases: list[tuple[int, int, int]] = field(default_factory=list)


def build(app, url: str, *, scale: float, latency_cases: int, race_pairs: int,
          race_tasks_per_pair: int, log=print, seed: int = 42) -> Municipality:
    """Teams, users, the real sample cases and the bulk. `app` is a Sagsflow app bound to `url`,
    whose schema the real migrations made."""
    from api.extensions import db

    rng = random.Random(seed)
    casework = app.extensions["casework"]
    town = Municipality(url=url, dialect=make_url(url).get_backend_name())
    with app.app_context():
        engine = db.engine

        # Teams and leaders through the real use cases, caseworkers with one reused hash.
        t0 = time.perf_counter()
        with transaction(db.session) as session:
            teams = {t: create_team(session, team_key(t), f"Team {t:02d}")
                     for t in range(1, TEAMS + 1)}
            for t, team in teams.items():
                user = create_user(session, leader_name(t), PASSWORD, LEADER,
                                   f"Leder {t:02d}", teams=[team], leads=[team])
                town.user_ids[user.username] = user.id
            town.team_ids = {t: team.id for t, team in teams.items()}
        town.timings["leaders_create_user_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        shared_hash = hash_password(PASSWORD)
        rows = [{"username": worker_name(t, w), "full_name": f"Sagsbehandler {t:02d}-{w:02d}",
                 "email": f"{worker_name(t, w)}@kommune.example", "role": CASEWORKER,
                 "password_hash": shared_hash, "active": True}
                for t in range(1, TEAMS + 1) for w in range(1, WORKERS_PER_TEAM + 1)]
        with engine.begin() as conn:
            ids = conn.execute(insert(User).returning(User.id, sort_by_parameter_order=True),
                               rows).scalars().all()
            for row, user_id in zip(rows, ids, strict=True):
                town.user_ids[row["username"]] = user_id
            conn.execute(insert(Membership), [
                {"user_id": town.user_ids[worker_name(t, w)], "team_id": town.team_ids[t],
                 "leads": False}
                for t in range(1, TEAMS + 1) for w in range(1, WORKERS_PER_TEAM + 1)])
        town.timings["caseworkers_bulk_s"] = time.perf_counter() - t0

        with transaction(db.session) as session:
            casework.registry.deploy(session, "bench")
        db.session.remove()

        # The real sample: cases the completion and race benchmarks work on.
        t0 = time.perf_counter()
        town.real_sets["latency"] = open_real_cases(app, town, worker_name(1, 1),
                                                    latency_cases, rng)
        pairs = []
        for p in range(race_pairs):
            t = (TEAMS - 1 - p) % TEAMS or TEAMS  # teams 19, 18, ... (team 20 is the inbox's)
            tasks = open_real_cases(app, town, leader_name(t), race_tasks_per_pair, rng)
            pairs.append({"team": t, "users": [worker_name(t, 4), worker_name(t, 5)],
                          "tasks": tasks})
        town.real_sets["race"] = pairs
        real_cases = latency_cases + race_pairs * race_tasks_per_pair
        town.timings["real_cases_open_case_s"] = time.perf_counter() - t0
        town.timings["open_case_ms_each"] = (
            town.timings["real_cases_open_case_s"] * 1000 / real_cases if real_cases else None)

        # A real serialized workflow from a real started instance, for the bulk instances.
        with transaction(db.session) as session:
            town.sample_serialized = session.scalar(
                select(Instance.serialized).order_by(Instance.id).limit(1))
            if town.sample_serialized is None:  # no real cases asked for: start one
                town.real_sets["sample"] = open_real_cases(app, town, worker_name(1, 1), 1, rng)
                real_cases += 1
                town.sample_serialized = session.scalar(
                    select(Instance.serialized).order_by(Instance.id).limit(1))
            versions = {v.process_id: v.id for v in session.scalars(select(ProcessVersion))}
        db.session.remove()

        total_cases = round(FULL_CASES * scale)
        total_tasks = round(FULL_TASKS * scale)
        t0 = time.perf_counter()
        bulk = _bulk_insert(engine, casework, town, versions[PROCESS],
                            max(0, total_cases - real_cases), max(0, total_tasks - real_cases),
                            rng, log)
        town.timings["bulk_insert_s"] = time.perf_counter() - t0
        town.timings.update(bulk)

        t0 = time.perf_counter()
        town.timings.update(_bulk_deadlines(engine, casework, town, versions[PROCESS], scale,
                                            random.Random(seed + 1), log))
        town.timings["bulk_deadlines_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if town.dialect == "postgresql":
            # What autovacuum would have done by the time a real database got this big.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM ANALYZE")
        town.timings["analyze_s"] = time.perf_counter() - t0

        with engine.connect() as conn:
            town.counts = {
                "teams": conn.scalar(text("SELECT count(*) FROM teams")),
                "users": conn.scalar(text("SELECT count(*) FROM users")),
                "cases": conn.scalar(text("SELECT count(*) FROM cases")),
                "instances": conn.scalar(text("SELECT count(*) FROM instances")),
                "open_tasks": conn.scalar(text("SELECT count(*) FROM tasks WHERE state = 'ready'")),
                "overdue_open_tasks": conn.scalar(
                    select(func.count()).select_from(Task)
                    .where(Task.state == READY, Task.due_at < now())),
                "real_cases": real_cases,
                "serialized_bytes": len(town.sample_serialized),
                "running_deadlines": conn.scalar(
                    select(func.count()).select_from(CaseDeadline)
                    .where(*_running_deadline())),
                "queue_team_running_deadlines": conn.scalar(
                    select(func.count()).select_from(CaseDeadline)
                    .where(*_running_deadline(),
                           CaseDeadline.team_id == town.team_ids[QUEUE_TEAM])),
                "queue_team_overdue_deadlines": conn.scalar(
                    select(func.count()).select_from(CaseDeadline)
                    .where(*_running_deadline(), CaseDeadline.due_at < now(),
                           CaseDeadline.team_id == town.team_ids[QUEUE_TEAM])),
            }
            conn.rollback()
    return town


def open_real_cases(app, town: Municipality, username: str, count: int,
                    rng: random.Random, batch: int = 50) -> list[str]:
    """Open `count` cases as `username` through `Casework.open_case`, 50 per transaction.
    Returns the id of each case's first ready task (vurder_henvendelse), in order."""
    from api.extensions import db

    casework = app.extensions["casework"]
    case_ids: list[int] = []
    with app.app_context():
        session = db.session
        user = session.scalar(select(User).where(User.username == username))
        moment = now()
        done = 0
        while done < count:
            with transaction(session):
                for _ in range(min(batch, count - done)):
                    case = casework.open_case(
                        session, user, PROCESS,
                        {"cpr": town.cprs.next(), "name": _name(rng),
                         "address": f"Vejen {rng.randint(1, 200)}, 4000 Roskilde"},
                        moment - timedelta(days=rng.randint(0, 20), hours=rng.randint(1, 23)))
                    case_ids.append(case.id)
                    done += 1
        with transaction(session):
            tasks = {}
            for start in range(0, len(case_ids), 500):
                chunk = case_ids[start:start + 500]
                for case_id, task_id in session.execute(
                        select(Task.case_id, Task.id).where(Task.case_id.in_(chunk),
                                                            Task.state == READY,
                                                            Task.bpmn_id == "vurder_henvendelse")):
                    tasks[case_id] = task_id
        db.session.remove()
    missing = [c for c in case_ids if c not in tasks]
    if missing:
        raise RuntimeError(f"real cases without a ready first task: {missing[:5]}")
    return [tasks[c] for c in case_ids]


def open_real_cases_for(app, town: Municipality, usernames: list[str], count: int,
                        seed: int, workers: int = 3) -> list[list[str]]:
    """`count` real cases for each user, opened by `workers` threads (the database round
    trips of one overlap the Python work of another). Returns the task ids per user."""
    def one(index: int) -> list[str]:
        return open_real_cases(app, town, usernames[index], count,
                               random.Random(seed + index))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(len(usernames))))


def _bulk_insert(engine, casework, town: Municipality, version_id: int, n_cases: int,
                 n_tasks: int, rng: random.Random, log) -> dict:
    """Citizens, cases, instances (the sample serialized workflow) and task rows, with core
    inserts in batches."""
    timings = {}
    if n_cases == 0:
        return timings
    moment = now()
    definition = casework.registry.current[PROCESS]
    specs = {s.bpmn_id: s for s in definition.user_tasks}
    bpmn_ids = [b for b in TASK_WEIGHTS if b in specs]
    weights = [TASK_WEIGHTS[b] for b in bpmn_ids]
    workers = {t: [town.user_ids[worker_name(t, w)] for w in range(1, WORKERS_PER_TEAM + 1)]
               for t in range(1, TEAMS + 1)}

    def batches(items, size):
        for i in range(0, len(items), size):
            yield items[i:i + size]

    # Citizens and cases.
    t0 = time.perf_counter()
    case_rows = []
    citizen_rows = []
    for j in range(n_cases):
        t = j % TEAMS + 1
        received = moment - timedelta(days=rng.uniform(1, 120))
        citizen_rows.append({"cpr": town.cprs.next(), "name": _name(rng),
                             "address": f"Vejen {rng.randint(1, 200)}, 4000 Roskilde"})
        case_rows.append({"process_id": PROCESS, "process_version_id": version_id,
                          "team_id": town.team_ids[t], "caseworker_id": rng.choice(workers[t]),
                          "status": "active", "received_at": received,
                          "created_at": received + timedelta(hours=2),
                          "created_by_id": None, "closed_at": None, "number": None})
    case_ids: list[int] = []
    with engine.begin() as conn:
        citizen_ids = []
        for chunk in batches(citizen_rows, 2000):
            citizen_ids += conn.execute(
                insert(Citizen).returning(Citizen.id, sort_by_parameter_order=True),
                chunk).scalars().all()
        for row, citizen_id in zip(case_rows, citizen_ids, strict=True):
            row["citizen_id"] = citizen_id
            row["created_by_id"] = row["caseworker_id"]
        for chunk in batches(case_rows, 2000):
            case_ids += conn.execute(
                insert(Case).returning(Case.id, sort_by_parameter_order=True),
                chunk).scalars().all()
        conn.execute(
            update(Case).where(Case.id == bindparam("b_id"))
            .values(number=bindparam("b_number")),
            [{"b_id": cid, "b_number": f"{row['created_at'].year}-{cid:06d}"}
             for cid, row in zip(case_ids, case_rows, strict=True)])
    town.bulk_cases = [(cid, row["team_id"], row["caseworker_id"])
                       for cid, row in zip(case_ids, case_rows, strict=True)]
    timings["bulk_cases_s"] = time.perf_counter() - t0
    log(f"    {n_cases} cases and citizens in {timings['bulk_cases_s']:.1f} s")

    # Instances: every bulk case runs a copy of the real serialized workflow.
    t0 = time.perf_counter()
    instance_ids: list[int] = []
    with engine.begin() as conn:
        for chunk in batches(case_ids, 500):
            instance_ids += conn.execute(
                insert(Instance).returning(Instance.id, sort_by_parameter_order=True),
                [{"case_id": cid, "process_version_id": version_id, "status": RUNNING,
                  "serialized": town.sample_serialized, "next_due_at": None,
                  "error_message": None, "error_element": None, "lock_version": 1,
                  "updated_at": moment} for cid in chunk]).scalars().all()
    timings["bulk_instances_s"] = time.perf_counter() - t0
    log(f"    {len(instance_ids)} instances in {timings['bulk_instances_s']:.1f} s")

    # Task rows: n_tasks spread over the bulk cases (10 per case at full scale), assigned
    # across the team's caseworkers, due dates from 14 days overdue to 30 days ahead.
    t0 = time.perf_counter()
    per_case, extra = divmod(n_tasks, n_cases)
    team_of_case = {cid: row["team_id"] for cid, row in zip(case_ids, case_rows, strict=True)}
    team_number = {v: k for k, v in town.team_ids.items()}
    inserted = 0
    with engine.begin() as conn:
        rows = []
        for j, (cid, iid) in enumerate(zip(case_ids, instance_ids, strict=True)):
            t = team_number[team_of_case[cid]]
            for _ in range(per_case + (1 if j < extra else 0)):
                spec = specs[rng.choices(bpmn_ids, weights)[0]]
                created = moment - timedelta(days=rng.uniform(0, 60))
                leader_task = "leder" in spec.candidate_groups
                if leader_task:
                    assignee = town.user_ids[leader_name(t)] if rng.random() < 0.5 else None
                else:
                    assignee = rng.choice(workers[t]) if rng.random() < 0.9 else None
                due = (moment + timedelta(days=rng.uniform(-14, 30))
                       if spec.due_date else None)
                rows.append({
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "instance_id": iid, "case_id": cid, "team_id": team_of_case[cid],
                    "process_id": spec._wf_spec.name, "bpmn_id": spec.bpmn_id,
                    "name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane,
                    "candidate_groups": "," + ",".join(spec.candidate_groups) + ",",
                    "assignee_id": assignee, "state": READY, "form_key": spec.form.key,
                    "created_at": created, "due_at": due, "follow_up_at": None,
                    "completed_by_id": None, "completed_at": None,
                })
                if len(rows) >= 5000:
                    conn.execute(insert(Task), rows)
                    inserted += len(rows)
                    rows = []
        if rows:
            conn.execute(insert(Task), rows)
            inserted += len(rows)
    timings["bulk_tasks_s"] = time.perf_counter() - t0
    log(f"    {inserted} task rows in {timings['bulk_tasks_s']:.1f} s")
    return timings


def _running_deadline() -> list:
    """Deadlines that still run (as the queue counts them): not met, closed or paused."""
    return [CaseDeadline.met_at.is_(None), CaseDeadline.closed_at.is_(None),
            CaseDeadline.paused_at.is_(None)]


_RULE_DAYS = {"hours": 1 / 24, "calendar_days": 1.0, "working_days": 7 / 5, "weeks": 7.0,
              "calendar_months": 30.4}


def _bulk_deadlines(engine, casework, town: Municipality, version_id: int, scale: float,
                    rng: random.Random, log) -> dict:
    """Deadline rows for the leaders' queue, with core inserts in batches.

    Team QUEUE_TEAM gets QUEUE_TEAM_DEADLINES running deadlines (QUEUE_TEAM_OVERDUE of them
    overdue, the rest due within 120 days), on its bulk cases and, as there are far too few of
    those, on extra cases (with citizens, without instances or tasks) made here. The other
    teams get OTHER_TEAM_DEADLINES each on their bulk cases: 25% met, 5% paused, of the rest
    15% overdue. 1 to 4 deadlines per case, keys weighted by DEADLINE_WEIGHTS; responsible is
    the case's caseworker, process henvendelse, warn_at WARN_DAYS before the due date."""
    timings = {}
    catalogue = casework.deadlines
    if catalogue is None:
        log("    no deadline catalogue: no deadline rows")
        return timings
    keys = [k for k in DEADLINE_WEIGHTS if k in catalogue]
    key_weights = [DEADLINE_WEIGHTS[k] for k in keys]
    entries = {k: catalogue.get(k) for k in keys}
    titles = {k: e.title for k, e in entries.items()}
    bases = {k: "; ".join(str(ref) for ref in e.legal_basis) for k, e in entries.items()}
    spans = {k: timedelta(days=e.rule.amount * _RULE_DAYS.get(e.rule.kind, 1.0))
             for k, e in entries.items()}
    sizes, size_weights = list(DEADLINES_PER_CASE), list(DEADLINES_PER_CASE.values())
    moment = now()
    team_number = {v: k for k, v in town.team_ids.items()}

    def case_keys(limit: int) -> list[str]:
        wanted = min(limit, rng.choices(sizes, size_weights)[0])
        chosen: list[str] = []
        while len(chosen) < wanted:
            key = rng.choices(keys, key_weights)[0]
            if key not in chosen:
                chosen.append(key)
        return chosen

    def plan(total: int) -> list[list[str]]:
        out, left = [], total
        while left > 0:
            out.append(case_keys(left))
            left -= len(out[-1])
        return out

    by_team: dict[int, list[tuple[int, int]]] = {t: [] for t in town.team_ids}
    for case_id, team_id, worker_id in town.bulk_cases:
        by_team[team_number[team_id]].append((case_id, worker_id))

    # The big team: how many cases its deadlines need, and the extra ones.
    t0 = time.perf_counter()
    big_plan = plan(round(QUEUE_TEAM_DEADLINES * scale))
    big_cases = by_team[QUEUE_TEAM][:len(big_plan)]
    extra = len(big_plan) - len(big_cases)
    if extra > 0:
        big_cases += _extra_cases(engine, town, version_id, QUEUE_TEAM, extra, rng, moment)
    timings["deadline_extra_cases"] = max(0, extra)
    timings["deadline_extra_cases_s"] = time.perf_counter() - t0
    log(f"    {max(0, extra)} extra cases and citizens for team {QUEUE_TEAM}'s deadlines in "
        f"{timings['deadline_extra_cases_s']:.1f} s")

    def row(case_id, team_id, worker_id, key, overdue, met=False, paused=False) -> dict:
        if overdue:
            due = moment - timedelta(days=rng.uniform(0.05, 60))
        else:
            due = moment + timedelta(days=rng.uniform(0.05, 120))
        if met:  # met some time before the due date, or late
            due = moment - timedelta(days=rng.uniform(0, 90))
        start = due - spans[key]
        warn = due - timedelta(days=WARN_DAYS)
        reminded = warn <= moment and not met
        breached = due < moment and not met and not paused
        next_check = None
        if not (met or paused or breached):
            next_check = warn if warn > moment else due
        return {
            "case_id": case_id, "team_id": team_id, "process_id": PROCESS,
            "responsible_id": worker_id, "key": key, "title": titles[key],
            "legal_basis": bases[key], "start_at": start, "due_at": due, "warn_at": warn,
            "met_at": due - timedelta(days=rng.uniform(-3, 10)) if met else None,
            "paused_at": moment - timedelta(days=rng.uniform(0, 20)) if paused else None,
            "pause_reason": "Afventer oplysninger fra borgeren" if paused else None,
            "reminders_sent": 1 if reminded else 0,
            "reminded_at": warn if reminded else None,
            "breached_at": due if breached else None,
            "closed_at": None, "next_check_at": next_check, "created_at": start,
        }

    t0 = time.perf_counter()
    inserted = 0
    with engine.begin() as conn:
        rows: list[dict] = []

        def flush(force=False):
            nonlocal rows, inserted
            if rows and (force or len(rows) >= 5000):
                conn.execute(insert(CaseDeadline), rows)
                inserted += len(rows)
                rows = []

        team_id = town.team_ids[QUEUE_TEAM]
        for (case_id, worker_id), case_keys_ in zip(big_cases, big_plan, strict=True):
            for key in case_keys_:
                rows.append(row(case_id, team_id, worker_id, key,
                                rng.random() < QUEUE_TEAM_OVERDUE))
                flush()
        for t in sorted(town.team_ids):
            if t == QUEUE_TEAM:
                continue
            cases = by_team[t]
            for (case_id, worker_id), case_keys_ in zip(
                    cases, plan(round(OTHER_TEAM_DEADLINES * scale)), strict=False):
                for key in case_keys_:
                    fate = rng.random()
                    rows.append(row(case_id, town.team_ids[t], worker_id, key,
                                    overdue=rng.random() < 0.15, met=fate < 0.25,
                                    paused=0.25 <= fate < 0.30))
                    flush()
        flush(force=True)
    timings["bulk_deadline_rows"] = inserted
    timings["bulk_deadline_rows_s"] = time.perf_counter() - t0
    log(f"    {inserted} deadline rows in {timings['bulk_deadline_rows_s']:.1f} s")
    return timings


def _reserve_ids(conn, table: str, count: int) -> list[int]:
    """`count` ids for rows of `table` inserted with explicit ids: from its sequence on
    PostgreSQL (so later inserts by the application do not collide), after the highest id on
    SQLite."""
    if conn.dialect.name == "postgresql":
        return list(conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"),
            {"table": table, "count": count}).scalars())
    start = (conn.scalar(text(f"SELECT max(id) FROM {table}")) or 0) + 1
    return list(range(start, start + count))


def _extra_cases(engine, town: Municipality, version_id: int, t: int, count: int,
                 rng: random.Random, moment) -> list[tuple[int, int]]:
    """`count` cases (and citizens) of team `t` that carry deadlines only: no instance, no
    task rows. Their ids are reserved first, so that each case is inserted with its number
    (no RETURNING, no UPDATE). Returns (case id, caseworker id) of each."""
    team_id = town.team_ids[t]
    workers = [town.user_ids[worker_name(t, w)] for w in range(1, WORKERS_PER_TEAM + 1)]
    out: list[tuple[int, int]] = []
    with engine.begin() as conn:
        citizen_ids = _reserve_ids(conn, "citizens", count)
        case_ids = _reserve_ids(conn, "cases", count)
        for start in range(0, count, 5000):
            chunk = range(start, min(count, start + 5000))
            conn.execute(insert(Citizen), [
                {"id": citizen_ids[j], "cpr": town.cprs.next(), "name": _name(rng),
                 "address": f"Vejen {rng.randint(1, 200)}, 4000 Roskilde"} for j in chunk])
            case_rows = []
            for j in chunk:
                received = moment - timedelta(days=rng.uniform(1, 120))
                created = received + timedelta(hours=2)
                worker = rng.choice(workers)
                case_rows.append({"id": case_ids[j], "number": f"{created.year}-{case_ids[j]:06d}",
                                  "process_id": PROCESS, "process_version_id": version_id,
                                  "team_id": team_id, "caseworker_id": worker,
                                  "citizen_id": citizen_ids[j], "status": "active",
                                  "received_at": received, "created_at": created,
                                  "created_by_id": worker, "closed_at": None})
                out.append((case_ids[j], worker))
            conn.execute(insert(Case), case_rows)
    return out
