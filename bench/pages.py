"""`python -m bench.pages`: server time of the web pages a caseworker and a leader open most,
the inbox (GET /indbakke, its three tabs and a citizen filter) and the leaders' deadline queue
(GET /frister), with 100,000 open tasks; target p95 <= 50 ms each. See bench/README.md.

The municipality is the one of `python -m bench` (bench/dataset.py), without the real cases of
the completion and race benchmarks. The pages are served by `python -m bench.server` (waitress
in its own process) and read over HTTP on one kept-alive connection per user, logged in through
the real log-in form (GET /login for the CSRF token and the session cookie, POST /login).
Afterwards each page is requested again in this process through Flask's test client, with the
SQL statements and the template rendering timed, to tell where a page's time goes."""

from __future__ import annotations

import argparse
import cProfile
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench.__main__ import add_database_options

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TARGET_P95_MS = 50.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    add_database_options(p, "sagsflow_bench_pages")
    p.add_argument("--n", type=int, default=200, help="timed requests per page")
    p.add_argument("--warmup", type=int, default=20, help="untimed requests before each page")
    p.add_argument("--server-threads", type=int, default=4,
                   help="waitress threads (sagsflow serve's default is 4)")
    p.add_argument("--inbox-user", default=None,
                   help="the caseworker whose inbox is read (default sb20_01, as `bench`)")
    p.add_argument("--diagnose", type=int, default=20,
                   help="in-process requests per page with SQL and template timing (0: none)")
    p.add_argument("--profile", action="store_true",
                   help="also cProfile the in-process requests and print the top functions")
    p.add_argument("--pages", default=None,
                   help="only these pages, comma-separated (e.g. 'inbox team,queue by key')")
    p.add_argument("--keep", action="store_true", help="keep the SQLite file and server log")
    args = p.parse_args(argv)
    if args.pages:
        names = {spec.name for spec in page_specs("", "", "")}
        unknown = {name.strip() for name in args.pages.split(",")} - names
        if unknown:
            p.error(f"unknown pages {sorted(unknown)}; the pages: {', '.join(sorted(names))}")
    if args.n < 1 or args.warmup < 0 or args.scale <= 0 or args.diagnose < 0:
        p.error("--n must be at least 1, --warmup and --diagnose at least 0, --scale above 0")
    return args


def log(message: str = "") -> None:
    print(message, flush=True)


# -- the pages -----------------------------------------------------------------------------

@dataclass
class PageSpec:
    name: str
    user: str
    path: str


def page_specs(inbox_user: str, queue_user: str, citizen: str) -> list[PageSpec]:
    return [
        PageSpec("inbox mine", inbox_user, "/indbakke?fane=mine"),
        PageSpec("inbox team", inbox_user, "/indbakke?fane=team"),
        PageSpec("inbox unassigned", inbox_user, "/indbakke?fane=unassigned"),
        PageSpec("inbox citizen", inbox_user, "/indbakke?" + urlencode({"borger": citizen})),
        PageSpec("queue", queue_user, "/frister"),
        PageSpec("queue by key", queue_user, "/frister?gruppe=key"),
    ]


def describe(body: str) -> dict:
    """What a page showed, read off its HTML: the tab counts and rows of the inbox, the total,
    rows and groups of the queue. Enough to see that the page is the full page."""
    out: dict = {"bytes": len(body.encode())}
    counts = re.findall(r'<span class="count"[^>]*>(\d+)</span>', body)
    if counts:
        out["tab_counts"] = dict(zip(("mine", "team", "unassigned"), map(int, counts),
                                     strict=False))
        out["rows"] = len(re.findall(r'<a href="/opgaver/', body))
    total = re.search(r"<h2>[^<(]*\((\d+)\)</h2>", body)
    if total:
        out["total"] = int(total.group(1))
        out["rows"] = len(re.findall(r'name="sag" value="', body))
        groups = re.search(r"<h2>Fordelt på[^<]*</h2>\s*<ul>(.*?)</ul>", body, re.S)
        out["groups"] = len(re.findall(r"<li>", groups.group(1))) if groups else 0
        out["red"] = body.count('class="lys lys-roed"')
    return out


# -- a browser-like client: cookies, forms, one kept-alive connection ----------------------

@dataclass
class PageReply:
    status: int
    body: bytes
    seconds: float
    location: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class PageClient:
    port: int
    cookies: dict = field(default_factory=dict)
    reconnects: int = 0

    def __post_init__(self):
        from .client import _Connection

        self._connection_class = _Connection
        self.conn = _Connection("127.0.0.1", self.port, timeout=120)

    def request(self, method: str, path: str, form: dict | None = None) -> PageReply:
        headers = {"Accept": "text/html", "User-Agent": "sagsflow-bench-pages"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for key, morsel in jar.items():
                if morsel["max-age"] == "0" or "1970" in (morsel["expires"] or ""):
                    self.cookies.pop(key, None)
                else:
                    self.cookies[key] = morsel.value
        if response.will_close:
            self.reconnects += 1
            self.conn.close()
            self.conn = self._connection_class("127.0.0.1", self.port, timeout=120)
        return PageReply(response.status, data, elapsed, response.getheader("Location"))

    def get(self, path: str) -> PageReply:
        return self.request("GET", path)

    def close(self) -> None:
        self.conn.close()


def _csrf_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not found:
        raise RuntimeError("no csrf_token on the log-in page")
    return found.group(1)


def web_login(port: int, username: str) -> PageClient:
    """Log in as a browser does: GET /login (session cookie, CSRF token), POST the form."""
    from .dataset import PASSWORD

    client = PageClient(port)
    page = client.get("/login")
    if page.status != 200:
        raise RuntimeError(f"GET /login: {page.status}")
    reply = client.request("POST", "/login", {
        "csrf_token": _csrf_token(page.text), "next": "", "username": username,
        "password": PASSWORD})
    if reply.status != 302 or (reply.location or "").endswith("/login"):
        raise RuntimeError(f"log-in as {username} failed: {reply.status} {reply.text[:300]!r}")
    return client


def measure_over_http(client: PageClient, spec: PageSpec, n: int, warmup: int,
                      meter=None) -> dict:
    """`warmup` untimed, then `n` timed GETs on the logged-in client's connection: time from
    sending the request to having read the whole response."""
    from .stats import summarize

    samples, errors, shown = [], [], {}
    for i in range(warmup + n):
        if i == warmup and meter:
            meter.start()
        reply = client.get(spec.path)
        if reply.status != 200:
            errors.append({"status": reply.status, "location": reply.location,
                           "body": reply.text[:200]})
            continue
        if not shown:
            shown = describe(reply.text)
        if i >= warmup:
            samples.append(reply.seconds)
    cpu = meter.stop(n) if meter else None
    return {"user": spec.user, "path": spec.path, **summarize(samples), "non_200": len(errors),
            "errors": errors[:10], "page": shown, "cpu": cpu}


# -- where the time goes: in process, SQL and template timed --------------------------------

class Tracer:
    """SQL statements (count, time, text) and template rendering time of each request, through
    SQLAlchemy's cursor events and Flask's template signals."""

    def __init__(self, engine, app):
        from flask import before_render_template, template_rendered
        from sqlalchemy import event

        self.engine, self.app = engine, app
        self.statements: list[tuple[str, float, bool]] = []  # (sql, seconds, during render)
        self.rendering = False
        self.render_s = 0.0
        self._render_start = 0.0
        self._event = event
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        # The commit (the pages write access-log rows, so it is a real one) is no cursor
        # execute; time the dialect's do_commit too.
        self.commits: list[float] = []
        self._do_commit = engine.dialect.do_commit

        def timed_commit(dbapi_connection):
            started = time.perf_counter()
            try:
                return self._do_commit(dbapi_connection)
            finally:
                self.commits.append(time.perf_counter() - started)

        engine.dialect.do_commit = timed_commit
        before_render_template.connect(self._render_begins, app)
        template_rendered.connect(self._render_ends, app)
        self._signals = (before_render_template, template_rendered)

    def reset(self) -> None:
        self.statements, self.render_s, self.commits = [], 0.0, []

    def _before(self, conn, _cursor, _statement, _params, _context, _many):
        conn.info.setdefault("_bench_t0", []).append(time.perf_counter())

    def _after(self, conn, _cursor, statement, _params, _context, _many):
        started = conn.info["_bench_t0"].pop()
        self.statements.append((statement, time.perf_counter() - started, self.rendering))

    def _render_begins(self, _sender, **_kw):
        self.rendering = True
        self._render_start = time.perf_counter()

    def _render_ends(self, _sender, **_kw):
        self.rendering = False
        self.render_s += time.perf_counter() - self._render_start

    def close(self) -> None:
        self._event.remove(self.engine, "before_cursor_execute", self._before)
        self._event.remove(self.engine, "after_cursor_execute", self._after)
        self.engine.dialect.do_commit = self._do_commit
        self._signals[0].disconnect(self._render_begins, self.app)
        self._signals[1].disconnect(self._render_ends, self.app)


def _short_sql(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip()[:150]


def diagnose(app, specs: list[PageSpec], n: int, profile_dir: Path | None) -> dict:
    """Each page `n` times (after 3 untimed) through Flask's test client in this process:
    total, SQL and template time, statements per request (and how many ran while the template
    rendered: lazy loads), and the statements of the last request with their times."""
    from api.extensions import db

    from .dataset import PASSWORD
    from .stats import summarize

    out: dict = {}
    clients: dict = {}
    with app.app_context():
        engine = db.engine
    tracer = Tracer(engine, app)
    try:
        for spec in specs:
            client = clients.get(spec.user)
            if client is None:
                client = clients[spec.user] = app.test_client()
                page = client.get("/login")
                reply = client.post("/login", data={
                    "csrf_token": _csrf_token(page.get_data(as_text=True)), "next": "",
                    "username": spec.user, "password": PASSWORD})
                if reply.status_code != 302:
                    raise RuntimeError(f"in-process log-in as {spec.user}: {reply.status_code}")
            totals, sql_times, renders, counts, in_render, commits = [], [], [], [], [], []
            last: list = []
            for i in range(3 + n):
                tracer.reset()
                t0 = time.perf_counter()
                reply = client.get(spec.path)
                elapsed = time.perf_counter() - t0
                if reply.status_code != 200:
                    raise RuntimeError(f"{spec.path}: {reply.status_code}")
                if i < 3:
                    continue
                totals.append(elapsed)
                sql_times.append(sum(s for _q, s, _r in tracer.statements)
                                 + sum(tracer.commits))
                commits.append(sum(tracer.commits))
                renders.append(tracer.render_s)
                counts.append(len(tracer.statements))
                in_render.append(sum(1 for _q, _s, r in tracer.statements if r))
                last = tracer.statements
            result = {
                "total": summarize(totals), "sql": summarize(sql_times),
                "template": summarize(renders), "commit": summarize(commits),
                # The rest: Flask, log-in, session, the ORM turning rows into objects, ...
                "other": summarize([t - q - r for t, q, r in
                                    zip(totals, sql_times, renders, strict=True)]),
                "statements": max(counts) if counts else None,
                "statements_while_rendering": max(in_render) if in_render else None,
                "last_request_statements": [
                    {"ms": round(s * 1000, 3), "while_rendering": r, "sql": _short_sql(q)}
                    for q, s, r in last],
            }
            if profile_dir is not None:  # a separate pass: the profiler slows it down
                profiler = cProfile.Profile()
                for _ in range(n):
                    profiler.enable()
                    client.get(spec.path)
                    profiler.disable()
                target = profile_dir / f"{spec.name.replace(' ', '_')}.prof"
                profiler.dump_stats(str(target))
                result["profile"] = str(target)
            out[spec.name] = result
    finally:
        tracer.close()
        with app.app_context():
            db.session.remove()
    return out


# -- a database ----------------------------------------------------------------------------

def _citizen_name(app, inbox_user: str) -> str:
    """The name of the citizen on the inbox user's first own task: the citizen filter then
    finds that citizen and everybody else with the same name."""
    from sqlalchemy import select

    from api.extensions import db
    from engine.models import READY, Case, Citizen, Task, User

    with app.app_context():
        name = db.session.scalar(
            select(Citizen.name).join(Case, Case.citizen_id == Citizen.id)
            .join(Task, Task.case_id == Case.id).join(User, User.id == Task.assignee_id)
            .where(User.username == inbox_user, Task.state == READY)
            .order_by(Task.due_at, Task.id).limit(1))
        db.session.remove()
    return name or "Hansen"


def run_database(name: str, url: str, args, workdir: Path) -> dict:
    from api import create_app
    from api.cli import upgrade_database
    from api.extensions import db

    from . import dataset
    from .cpu import CpuMeter, loadavg, other_load
    from .server import ServerProcess

    res: dict = {"url": _safe(url)}
    log(f"== {name}: {_safe(url)}")
    started = time.perf_counter()
    upgrade_database(url)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-secret"})
    log(f"  building the municipality (scale {args.scale:g})")
    # One real case (opened through the use case) gives the bulk instances their serialized
    # workflow. With none, build() opens it inside its own transaction, which on SQLite waits
    # for its own write lock ("database is locked" after the 30 s busy timeout).
    town = dataset.build(app, url, scale=args.scale, latency_cases=1, race_pairs=0,
                         race_tasks_per_pair=0, log=log)
    res["setup"] = {"total_s": round(time.perf_counter() - started, 2), "counts": town.counts}
    log(f"  setup done in {res['setup']['total_s']:.1f} s: {town.counts}")

    inbox_user = args.inbox_user or dataset.worker_name(dataset.TEAMS, 1)
    queue_user = dataset.leader_name(dataset.QUEUE_TEAM)
    citizen = _citizen_name(app, inbox_user)
    specs = page_specs(inbox_user, queue_user, citizen)
    if args.pages:
        wanted = {name.strip() for name in args.pages.split(",")}
        specs = [spec for spec in specs if spec.name in wanted]
    res["citizen_filter"] = citizen

    conninfo = dbname = None
    if town.dialect == "postgresql":
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        dbname = parsed.database

    res["pages"] = {}
    with ServerProcess(url, args.server_threads, workdir) as server:
        res["loadavg_before"] = loadavg()
        res["other_load_before"] = other_load(1.0, (server.process.pid,))
        busy = (res["other_load_before"] or {}).get("busy_cores", 0)
        if busy > 0.25:
            log(f"  warning: other processes keep {busy} of {os.cpu_count()} cores busy "
                f"({', '.join(res['other_load_before']['top'])}); the figures will be noisy")
        log(f"  server on port {server.port} ({args.server_threads} waitress threads)")
        clients: dict[str, PageClient] = {}
        try:
            for spec in specs:
                if spec.user not in clients:
                    clients[spec.user] = web_login(server.port, spec.user)
                measured = measure_over_http(clients[spec.user], spec, args.n, args.warmup,
                                             CpuMeter(server.process.pid, conninfo, dbname))
                res["pages"][spec.name] = {"http": measured}
                log(f"  {spec.name:<17} {spec.path} as {spec.user}: median "
                    f"{measured['median_ms']} ms, p95 {measured['p95_ms']} ms, "
                    f"non-200 {measured['non_200']}; page {measured['page']}")
                cpu = measured["cpu"] or {}
                log(f"    CPU per request: server {cpu.get('server_cpu_ms_per_op')} ms, "
                    f"PostgreSQL {cpu.get('postgres_cpu_ms_per_op')} ms; meanwhile other "
                    f"processes {cpu.get('other_cpu_percent')}% of a core")
                for error in measured["errors"][:3]:
                    log(f"    error: {error}")
        finally:
            for client in clients.values():
                client.close()
        res["loadavg_after"] = loadavg()
        res["server_errors_logged"] = server.count_in_log(" ERROR ")
        if res["server_errors_logged"]:
            log(f"  the server logged errors; last lines of {server.log_path}:")
            log(server.log_tail())

    if args.diagnose:
        log(f"  in process (Flask test client, {args.diagnose} requests per page): "
            "where the time goes")
        profile_dir = None
        if args.profile:
            profile_dir = PROJECT_ROOT / "bench-results" / f"pages-profiles-{args.stamp}" / name
            profile_dir.mkdir(parents=True, exist_ok=True)
        found = diagnose(app, specs, args.diagnose, profile_dir)
        for spec in specs:
            d = found[spec.name]
            res["pages"][spec.name]["in_process"] = d
            log(f"  {spec.name:<17} total median {d['total']['median_ms']} ms "
                f"(p95 {d['total']['p95_ms']}); SQL {d['sql']['median_ms']} ms in "
                f"{d['statements']} statements and the commit ({d['commit']['median_ms']} "
                f"ms; {d['statements_while_rendering']} statements while the "
                f"template rendered); template {d['template']['median_ms']} ms; the rest "
                f"{d['other']['median_ms']} ms")
            slow = sorted(d["last_request_statements"], key=lambda s: -s["ms"])[:3]
            for s in slow:
                log(f"      {s['ms']:8.2f} ms  {s['sql'][:110]}")
            if d.get("profile"):
                from .__main__ import _profile_summary

                log(f"    profile of {args.diagnose} more requests ({d['profile']}):")
                log(_profile_summary(d["profile"], limit=20))
    with app.app_context():
        db.engine.dispose()
    return res


# -- the table -----------------------------------------------------------------------------

def rows_for(name: str, res: dict) -> list[list[str]]:
    if "error" in res:
        return [[name, f"failed: {res['error'][:70]}", "-", "-", "", "ERROR"]]
    counts = res.get("setup", {}).get("counts", {})
    rows = [[name, f"setup: {counts.get('open_tasks')} open tasks, "
                   f"{counts.get('running_deadlines')} running deadlines (s)",
             f"{res['setup']['total_s']:.1f}", "", "", ""]]
    for page, measured in res.get("pages", {}).items():
        http = measured["http"]
        ok = http["p95_ms"] is not None and http["p95_ms"] <= TARGET_P95_MS \
            and http["non_200"] == 0
        rows.append([name, f"{page}, HTTP (ms, n={http['n']}, non-200={http['non_200']})",
                     _fmt(http["median_ms"]), _fmt(http["p95_ms"]),
                     f"p95 <= {TARGET_P95_MS:g}", "PASS" if ok else "MISS"])
        d = measured.get("in_process")
        if d:
            rows.append([name, f"  in process: SQL ms, {d['statements']} statements + commit",
                         _fmt(d["sql"]["median_ms"]), _fmt(d["sql"]["p95_ms"]), "", ""])
            rows.append([name, "  in process: template ms", _fmt(d["template"]["median_ms"]),
                         _fmt(d["template"]["p95_ms"]), "", ""])
            rows.append([name, "  in process: the rest (Flask, ORM, ...) ms",
                         _fmt(d["other"]["median_ms"]), _fmt(d["other"]["p95_ms"]), "", ""])
    return rows


def table(results: dict) -> str:
    header = ["database", "measure", "median", "p95", "target", "result"]
    rows = [r for name, res in results["databases"].items() for r in rows_for(name, res)]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = ["<", "<", ">", ">", "<", "<"]

    def line(r):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in
                         zip(r, align, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _uncommitted() -> list[str] | None:
    """Files of the application that differ from the commit measured (bench/ aside)."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain", "--", "api", "engine",
                              "migrations", "processes", "forms"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, check=False).stdout
    except OSError:
        return None
    return [line[3:] for line in out.splitlines() if line.strip()]


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = args.stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix="sagsflow-bench-pages-"))
    os.environ["SAGSFLOW_INSTANCE_DIR"] = str(workdir / "instance")
    os.environ.pop("DATABASE_URL", None)

    from .__main__ import _meta
    from .report import write_json

    results = {"meta": _meta(args, stamp) | {"benchmark": "bench.pages",
                                             "measured": "HTTP against bench.server",
                                             "uncommitted": _uncommitted()},
               "databases": {}}
    if results["meta"]["uncommitted"]:
        log(f"note: measuring {results['meta']['commit']} with uncommitted changes to "
            + ", ".join(results["meta"]["uncommitted"]))
    targets = []
    if not args.skip_sqlite:
        targets.append(("sqlite", lambda: f"sqlite:///{workdir / 'bench.db'}"))
    if not args.skip_pg:
        from .dataset import prepare_postgres

        targets.append(("postgresql", lambda: prepare_postgres(args.pg_url, args.pg_database)))
    try:
        for name, make_url in targets:
            try:
                results["databases"][name] = run_database(name, make_url(), args, workdir)
            except Exception as exc:  # noqa: BLE001 - report it, go on with the next database
                traceback.print_exc()
                results["databases"][name] = {"error": f"{exc.__class__.__name__}: {exc}"}
    finally:
        if args.keep:
            log(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    log()
    log(table(results))
    path = write_json(results, PROJECT_ROOT / "bench-results", f"pages-{stamp}")
    log()
    log(f"results: {path.relative_to(PROJECT_ROOT)}")
    misses = [r for name, res in results["databases"].items()
              for r in rows_for(name, res) if r[-1] in ("MISS", "ERROR")]
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
