"""`python -m bench`: build the synthetic municipality on SQLite and PostgreSQL, measure, print
a table and write bench-results/<timestamp>.json. See bench/README.md."""

from __future__ import annotations

import argparse
import io
import math
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def add_database_options(p: argparse.ArgumentParser, database: str) -> None:
    """The options every benchmark on the generated municipality shares: which databases,
    and how much of the municipality."""
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL),
                   help="a PostgreSQL server URL; the benchmark uses (and empties) the "
                        "database --pg-database on that server, never the one named here")
    p.add_argument("--pg-database", default=database)
    p.add_argument("--skip-pg", action="store_true", help="SQLite only")
    p.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    p.add_argument("--scale", type=float, default=1.0,
                   help="fraction of the full municipality (10,000 cases, 100,000 tasks)")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add_database_options(p, "sagsflow_bench")
    p.add_argument("--n", type=int, default=200, help="timed repeats per latency measure")
    p.add_argument("--warmup", type=int, default=20, help="untimed repeats before each")
    p.add_argument("--clients", type=int, default=16, help="throughput client threads")
    p.add_argument("--seconds", type=float, default=20.0, help="throughput duration")
    p.add_argument("--count", type=int, default=None,
                   help="throughput: a fixed number of completions per client instead")
    p.add_argument("--server-threads", type=int, default=4,
                   help="waitress threads (sagsflow serve's default is 4)")
    p.add_argument("--race-pairs", type=int, default=4)
    p.add_argument("--race-tasks", type=int, default=25, help="tasks per racing pair")
    p.add_argument("--no-throughput", action="store_true")
    p.add_argument("--sqlite-throughput", action="store_true",
                   help="run the throughput benchmark on SQLite too")
    p.add_argument("--no-scheduler-bench", action="store_true",
                   help="skip the scheduler throughput benchmark (PostgreSQL)")
    p.add_argument("--scheduler-only", action="store_true",
                   help="PostgreSQL: only the scheduler throughput benchmark")
    p.add_argument("--scheduler-instances", type=int, default=10_000,
                   help="due instances per scheduler run")
    p.add_argument("--scheduler-processes", default="1,4",
                   help="comma-separated numbers of `sagsflow scheduler` processes to measure")
    p.add_argument("--scheduler-timeout", type=float, default=600.0,
                   help="seconds each scheduler run may take")
    p.add_argument("--profile", action="store_true",
                   help="profile the server (cProfile) during the single-client phases and "
                        "print where the time goes")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file and server logs")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 160:
        p.error("--clients must be 1 to 160 (8 caseworkers of each of the 20 teams)")
    if not 0 <= args.race_pairs <= 20:
        p.error("--race-pairs must be 0 to 20 (one team each)")
    try:
        args.scheduler_processes = [int(n) for n in args.scheduler_processes.split(",")]
    except ValueError:
        p.error("--scheduler-processes must be numbers separated by commas, e.g. 1,4")
    if args.scheduler_only and args.no_scheduler_bench:
        p.error("--scheduler-only and --no-scheduler-bench exclude each other")
    if args.n < 1 or args.warmup < 0 or args.scale <= 0:
        p.error("--n must be at least 1, --warmup at least 0, --scale above 0")
    return args


def log(message: str = "") -> None:
    print(message, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="sagsflow-bench-"))
    # Keep the product's instance/ folder (secret key, default database) out of it.
    os.environ["SAGSFLOW_INSTANCE_DIR"] = str(workdir / "instance")
    os.environ.pop("DATABASE_URL", None)

    from . import report

    results = {"meta": _meta(args, stamp), "databases": {}}
    targets = []
    if not args.skip_sqlite:
        targets.append(("sqlite", lambda: f"sqlite:///{workdir / 'bench.db'}"))
    if not args.skip_pg:
        from .dataset import prepare_postgres

        targets.append(("postgresql", lambda: prepare_postgres(args.pg_url, args.pg_database)))
    profiles_dir = PROJECT_ROOT / "bench-results" / f"profiles-{stamp}" if args.profile else None
    try:
        for name, make_url in targets:
            try:
                if args.scheduler_only and name != "postgresql":
                    continue
                res = ({} if args.scheduler_only else
                       run_database(name, make_url(), args, workdir, profiles_dir))
                if name == "postgresql" and not args.no_scheduler_bench:
                    res["scheduler"] = run_scheduler_bench(args, workdir)
                results["databases"][name] = res
            except Exception as exc:  # noqa: BLE001 - report it, go on with the next database
                traceback.print_exc()
                results["databases"][name] = {"error": f"{exc.__class__.__name__}: {exc}"}
    finally:
        if args.keep:
            log(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    log()
    if args.profile:
        log("NOTE: --profile was on; the HTTP figures of the profiled phases include the "
            "profiler's overhead and are not comparable with the targets.")
    log(report.table(results))
    path = report.write_json(results, PROJECT_ROOT / "bench-results", stamp)
    log()
    log(f"results: {path.relative_to(PROJECT_ROOT)}")
    misses = [r for name, res in results["databases"].items()
              for r in report.rows_for(name, res) if r[-1] in ("MISS", "ERROR")]
    return 1 if misses else 0


def run_database(name: str, url: str, args, workdir: Path, profiles_dir: Path | None) -> dict:
    from api import create_app
    from api.cli import upgrade_database
    from api.extensions import db

    from . import dataset, scenarios
    from .cpu import CpuMeter, loadavg, other_load
    from .server import ServerProcess

    res: dict = {"url": _safe(url)}
    log(f"== {name}: {_safe(url)}")
    started = time.perf_counter()
    t0 = time.perf_counter()
    upgrade_database(url)
    migrations_s = time.perf_counter() - t0
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})
    casework = app.extensions["casework"]
    latency_cases = args.warmup + args.n
    log(f"  building the municipality (scale {args.scale:g})")
    town = dataset.build(app, url, scale=args.scale, latency_cases=latency_cases,
                         race_pairs=args.race_pairs, race_tasks_per_pair=args.race_tasks,
                         log=log)
    res["setup"] = {"total_s": round(time.perf_counter() - started, 2),
                    "migrations_s": round(migrations_s, 2),
                    **{k: round(v, 3) if isinstance(v, float) else v
                       for k, v in town.timings.items()},
                    "counts": town.counts,
                    "users": "20 leaders with engine.accounts.create_user; 200 caseworkers "
                             "inserted with one argon2 hash computed once and reused"}
    log(f"  setup done in {res['setup']['total_s']:.1f} s: {town.counts}")

    conninfo = dbname = None
    if town.dialect == "postgresql":
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        dbname = parsed.database

    profile_dir = None
    if profiles_dir is not None:
        profile_dir = profiles_dir / name
        profile_dir.mkdir(parents=True, exist_ok=True)
    inbox_user = dataset.worker_name(dataset.TEAMS, 1)
    with ServerProcess(url, args.server_threads, workdir, profile_dir) as server:
        profiling = scenarios.Profiling(server.port, profile_dir is not None)

        def meter():
            return CpuMeter(server.process.pid, conninfo, dbname)

        res["loadavg_before"] = loadavg()
        res["other_load_before"] = other_load(1.0, (server.process.pid,))
        if res["other_load_before"] and res["other_load_before"]["busy_cores"] > 0.25:
            log(f"  warning: other processes keep {res['other_load_before']['busy_cores']} of "
                f"{os.cpu_count()} cores busy ({', '.join(res['other_load_before']['top'])}); "
                "the figures will be noisy")
        log(f"  server on port {server.port} ({args.server_threads} waitress threads)")

        res["letter_pdf"] = scenarios.letter_pdf(app, max(10, args.n // 10), args.warmup)
        lp = res["letter_pdf"]
        log(f"  decision letter ({lp['pages']} pages) to PDF: median {lp['median_ms']} ms, "
            f"p95 {lp['p95_ms']} ms; HTML alone median {lp['html']['median_ms']} ms")

        res["inbox"] = {}
        for scope in ("team", "mine"):
            http = scenarios.inbox_over_http(server.port, inbox_user, scope, args.n,
                                             args.warmup, profiling, meter())
            bare = scenarios.inbox_bare(app, inbox_user, scope, args.n, args.warmup)
            res["inbox"][scope] = {"http": http, "bare": bare}
            log(f"  inbox scope={scope} as {inbox_user}: HTTP median {http['median_ms']} ms, "
                f"p95 {http['p95_ms']} ms (total {http['total']}); list_tasks median "
                f"{bare['median_ms']} ms, p95 {bare['p95_ms']} ms")
            log(f"    CPU per request: {_cpu_text(http['cpu'])}")

        res["deadline_queue"] = {}
        queue_user = dataset.leader_name(dataset.QUEUE_TEAM)
        for query in scenarios.QUEUE_QUERIES:
            http = scenarios.deadline_queue_over_http(server.port, queue_user, query, args.n,
                                                      args.warmup, profiling, meter())
            bare = scenarios.deadline_queue_bare(app, queue_user, query, args.n, args.warmup)
            res["deadline_queue"][query] = {"http": http, "bare": bare}
            log(f"  deadline queue {query} as {queue_user}: HTTP median {http['median_ms']} ms, "
                f"p95 {http['p95_ms']} ms (total {http['total']}, {http['groups']} groups, "
                f"{http['red']} of {http['caseworkers']} red); deadline_queue median "
                f"{bare['median_ms']} ms, p95 {bare['p95_ms']} ms")
            log(f"    CPU per request: {_cpu_text(http['cpu'])}")
            _print_errors(f"queue {query}", http["errors"])

        res["complete"] = scenarios.complete_over_http(
            server.port, dataset.worker_name(1, 1), town.real_sets["latency"], args.warmup,
            profiling, meter())
        _print_errors("complete", res["complete"]["errors"])
        res["in_memory"] = scenarios.in_memory(casework, args.n, args.warmup)
        comp, mem = res["complete"], res["in_memory"]
        if comp["median_ms"]:
            res["ratio_http_in_memory"] = round(comp["median_ms"] / mem["complete"]["median_ms"], 1)
            res["ratio_http_load_complete_save"] = round(
                comp["median_ms"] / mem["load_complete_save"]["median_ms"], 1)
        log(f"  complete over HTTP: median {comp['median_ms']} ms, p95 {comp['p95_ms']} ms; "
            f"in memory: complete {mem['complete']['median_ms']} ms, load+complete+save "
            f"{mem['load_complete_save']['median_ms']} ms")
        log(f"    CPU per completion: {_cpu_text(comp['cpu'])}")

        if args.race_pairs and args.race_tasks:
            res["race"] = scenarios.race(server.port, town.real_sets["race"])
            res["race"]["database_check"] = scenarios.verify_race(app, town.real_sets["race"])
            check = res["race"]["database_check"]
            log(f"  race: {res['race']['outcomes']}; in the database: "
                f"{check['tasks_completed_once']} tasks completed exactly once, "
                f"{check['cases_one_step_on']} cases exactly one step on")
            _print_errors("race", res["race"]["anomalies"])

        if not args.no_throughput and (name == "postgresql" or args.sqlite_throughput):
            res["throughput"] = run_throughput(app, town, server, args, comp["median_ms"],
                                               meter())

        res["loadavg_after"] = loadavg()
        res["other_load_after"] = other_load(1.0, (server.process.pid,))
        res["server_log"] = {
            "queue_depth_warnings": server.count_in_log("Task queue depth"),
            "errors_logged": server.count_in_log(" ERROR "),
        }
        if res["server_log"]["errors_logged"]:
            log(f"  the server logged errors; last lines of {server.log_path}:")
            log(server.log_tail())
    res["profiles"] = profiling.files
    for label, path in profiling.files.items():
        log(f"\n  profile of the server, {name} {label} ({path}), top by cumulative time:")
        log(_profile_summary(path))
    with app.app_context():
        db.engine.dispose()
    return res


def run_throughput(app, town, server, args, single_median_ms, meter) -> dict:
    from . import dataset, scenarios

    warmup_each = 2
    users = [dataset.worker_name(i % dataset.TEAMS + 1, 3 + i // dataset.TEAMS)
             for i in range(args.clients)]
    if args.count:
        per_client = args.count
    else:
        # Enough real cases for twice the single-client rate over the whole run, at least 20
        # per client. Clients that run out stop early, and the table says so.
        rate = 2.0 * 1000.0 / (single_median_ms or 10.0)
        per_client = max(20, math.ceil(args.seconds * rate / args.clients))
    t0 = time.perf_counter()
    pools = dataset.open_real_cases_for(app, town, users, per_client + warmup_each, seed=7,
                                        workers=2)
    opened_s = time.perf_counter() - t0
    log(f"  throughput: opened {sum(map(len, pools))} real cases for {len(users)} clients "
        f"in {opened_s:.1f} s; running {args.count or args.seconds} "
        f"{'completions each' if args.count else 's'}")
    result = scenarios.throughput(server.port, users, pools,
                                  None if args.count else args.seconds, args.count, warmup_each,
                                  meter)
    result["pool_per_client"] = per_client
    result["pool_open_s"] = round(opened_s, 2)
    log(f"  throughput: {result['completions_per_s']} completions/s, "
        f"{result['completed']} in {result['seconds']} s, 409s {result['status_409']}, "
        f"other non-200 {result['other_non_200']} {result['other_statuses'] or ''}")
    log(f"    CPU per completion: {_cpu_text(result['cpu'])}")
    if result["pool_exhausted_clients"]:
        log(f"  note: {result['pool_exhausted_clients']} clients ran out of tasks before the "
            "time was up; use --count for a fixed amount of work")
    _print_errors("throughput", result["errors"])
    return result


def run_scheduler_bench(args, workdir: Path) -> dict:
    """Due reply deadlines fired by 1 and by 4 `sagsflow scheduler` processes (PostgreSQL);
    each run in a freshly emptied --pg-database."""
    from api import create_app
    from api.cli import upgrade_database

    from . import scheduler
    from .dataset import prepare_postgres

    def make_app():
        url = prepare_postgres(args.pg_url, args.pg_database)
        upgrade_database(url)
        return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})

    runs = {}
    for processes in args.scheduler_processes:
        log(f"== scheduler throughput: {args.scheduler_instances} due timers, "
            f"{processes} `sagsflow scheduler` process(es), tick 1 s")
        run = scheduler.throughput(make_app, args.scheduler_instances, processes, workdir,
                                   args.scheduler_timeout, log)
        check = run["exactly_once"]
        log(f"  {run['instances_per_s']} instances/s ({run['firing_s']} s from the first to "
            f"the last firing; {run['wall_instances_per_s']}/s counting start-up, "
            f"{run['wall_s']} s); fired exactly once: {check['fired_once']}, anomalies "
            f"{check['anomaly_count']}, in error {check['in_error']}")
        runs[str(processes)] = run
    return {"runs": runs, "note": "instances/s from the first to the last timer_fired audit "
                                  "event; wall figures include process start-up"}


def _cpu_text(cpu: dict | None) -> str:
    if not cpu:
        return "-"
    parts = [f"server {cpu['server_cpu_ms_per_op']} ms ({cpu['server_cpu_percent']}% of a core)"]
    if cpu.get("postgres_cpu_ms_per_op") is not None:
        parts.append(f"PostgreSQL {cpu['postgres_cpu_ms_per_op']} ms "
                     f"({cpu['postgres_cpu_percent']}%)")
    parts.append(f"benchmark client {cpu['bench_cpu_ms_per_op']} ms "
                 f"({cpu['bench_cpu_percent']}%)")
    if cpu.get("other_cpu_percent") is not None:
        parts.append(f"meanwhile other processes {cpu['other_cpu_percent']}%, "
                     f"steal {cpu['steal_percent']}%")
    return ", ".join(parts)


def _print_errors(label: str, errors: list) -> None:
    for error in errors[:10]:
        log(f"  {label} error: {error}")


def _package_of(filename: str, function: str) -> str:
    """Which library a profiled function belongs to, for the time-by-package summary."""
    if filename == "~":
        if "sqlite3" in function:
            return "sqlite3 (C)"
        return "built-ins (C)"
    path = filename.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    root = str(PROJECT_ROOT) + "/"
    if path.startswith(root):
        return "sagsflow " + path[len(root):].split("/", 1)[0] + "/"
    return "stdlib " + Path(path).stem


def _profile_summary(path: str, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    requests = max((nc for (f, _l, fn), (_cc, nc, _tt, _ct, _c) in stats.stats.items()
                    if fn == "wsgi_app"), default=1)
    by_package: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        package = _package_of(filename, function)
        by_package[package] = by_package.get(package, 0.0) + tottime
    total = sum(by_package.values()) or 1.0
    lines = [f"    own time by package, ms per request ({requests} requests, profiler "
             "overhead included):"]
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"      {package:<28} {1000 * seconds / requests:7.2f}  "
                     f"{100 * seconds / total:5.1f}%")
    stats.sort_stats("cumulative").print_stats(limit)
    printed = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(printed) if "ncalls" in line), 0)
    lines.append("    top functions by cumulative time:")
    lines += ["    " + line[:160] for line in printed[start:] if line.strip()]
    return "\n".join(lines)


def _loadavg():
    from .cpu import loadavg

    return loadavg()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _meta(args, stamp: str) -> dict:
    from importlib.metadata import version

    def pkg(name):
        try:
            return version(name)
        except Exception:  # noqa: BLE001
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = None
    return {
        "timestamp": stamp,
        "commit": commit,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": _loadavg(),
        "packages": {p: pkg(p) for p in ("SpiffWorkflow", "SQLAlchemy", "Flask", "waitress",
                                         "psycopg")},
        "args": {k: v for k, v in vars(args).items() if k != "pg_url"}
        | {"pg_url": _safe(args.pg_url)},
    }


if __name__ == "__main__":
    sys.exit(main())
