"""The measurements. Each returns a plain dict that goes into the JSON results."""

from __future__ import annotations

import threading
import time
from collections import Counter

from sqlalchemy import func, select

from engine.bpmn import runtime
from engine.db import transaction
from engine.models import READY, AuditEvent, Task, User

from .client import Client, login
from .dataset import FIRST_TASK_DATA, PASSWORD, PROCESS
from .stats import summarize

COMPLETE_BODY = {"data": FIRST_TASK_DATA}
MAX_ERRORS_KEPT = 20


def _complete_path(task_id: str) -> str:
    return f"/api/v1/tasks/{task_id}/complete"


def _error(reply_or_exc, task_id=None) -> dict:
    if isinstance(reply_or_exc, Exception):
        return {"task": task_id, "status": None, "error": repr(reply_or_exc)}
    return {"task": task_id, "status": reply_or_exc.status,
            "body": reply_or_exc.body[:300].decode(errors="replace")}


class Profiling:
    """Switches the server's profiling middleware on and off (no-op when not asked for)."""

    def __init__(self, port: int, enabled: bool):
        self.port = port
        self.enabled = enabled
        self.files: dict[str, str] = {}

    def _control(self, path: str) -> dict:
        client = Client(self.port)
        try:
            return client.post(path).json()
        finally:
            client.close()

    def start(self, name: str) -> None:
        if self.enabled:
            self._control(f"/__bench/profile/{name}/start")

    def stop(self, name: str) -> None:
        if self.enabled:
            result = self._control(f"/__bench/profile/{name}/stop")
            if result.get("file"):
                self.files[name] = result["file"]


# -- 2. completing a task ------------------------------------------------------------------

def complete_over_http(port: int, username: str, task_ids: list[str], warmup: int,
                       profiling: Profiling, meter=None) -> dict:
    """Complete the first ready task of each real case, one after the other, on one kept-alive
    connection. The first `warmup` are not timed."""
    client = login(port, username, PASSWORD)
    errors: list[dict] = []
    samples: list[float] = []
    for i, task_id in enumerate(task_ids):
        if i == warmup:
            profiling.start("complete")
            if meter:
                meter.start()
        reply = client.post(_complete_path(task_id), COMPLETE_BODY)
        if reply.status != 200 or reply.json().get("state") != "completed":
            errors.append(_error(reply, task_id))
        elif i >= warmup:
            samples.append(reply.seconds)
    cpu = meter.stop(len(task_ids) - warmup) if meter and len(task_ids) > warmup else None
    profiling.stop("complete")
    client.close()
    return {"user": username, "warmup": min(warmup, len(task_ids)), **summarize(samples),
            "non_200": len(errors), "errors": errors[:MAX_ERRORS_KEPT],
            "reconnects": client.reconnects, "cpu": cpu}


def in_memory(casework, n: int, warmup: int) -> dict:
    """The same task on a SpiffWorkflow instance in memory: no database, no HTTP.

    * complete: runtime.complete_user_task on a freshly started workflow (start not timed);
    * load_complete_save: deserialize a freshly started instance, complete, serialize (what
      the use case does with the workflow besides the database work)."""
    definition = casework.registry.current[PROCESS]
    serializer = casework.registry.serializer
    case_data = {"sagsnummer": "2026-000001", "borger_navn": "Emil Hansen",
                 "modtaget_dato": "2026-11-20", "modtaget_tidspunkt": "2026-11-20T09:00:00+01:00"}

    def fresh():
        workflow = runtime.start(definition, dict(case_data), casework.script_engine)
        failure = runtime.run_engine(workflow)
        assert failure is None, failure
        return workflow, str(runtime.ready_user_tasks(workflow)[0].id)

    starts, completes = [], []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        workflow, task_id = fresh()
        t1 = time.perf_counter()
        failure = runtime.complete_user_task(workflow, task_id, dict(FIRST_TASK_DATA))
        t2 = time.perf_counter()
        assert failure is None, failure
        if i >= warmup:
            starts.append(t1 - t0)
            completes.append(t2 - t1)

    workflow, task_id = fresh()
    serialized = runtime.dump(serializer, workflow)
    loads, runs, dumps, totals = [], [], [], []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        workflow = runtime.load(serializer, serialized, casework.script_engine)
        t1 = time.perf_counter()
        failure = runtime.complete_user_task(workflow, task_id, dict(FIRST_TASK_DATA))
        t2 = time.perf_counter()
        out = runtime.dump(serializer, workflow)
        t3 = time.perf_counter()
        assert failure is None and out, failure
        if i >= warmup:
            loads.append(t1 - t0)
            runs.append(t2 - t1)
            dumps.append(t3 - t2)
            totals.append(t3 - t0)
    return {
        "complete": summarize(completes),
        "start_untimed": summarize(starts),
        "load_complete_save": summarize(totals),
        "load": summarize(loads),
        "complete_after_load": summarize(runs),
        "save": summarize(dumps),
        "serialized_bytes_before": len(serialized),
        "serialized_bytes_after": len(out),
    }


# -- 3. the inbox ----------------------------------------------------------------------------

def _timed_gets(client, path: str, n: int, warmup: int, profiling: Profiling, label: str,
                meter=None):
    """`warmup` untimed then `n` timed GETs of `path`: (samples, errors, the first page's
    JSON, the last reply, CPU figures or None)."""
    errors: list[dict] = []
    samples: list[float] = []
    page: dict = {}
    reply = None
    for i in range(warmup + n):
        if i == warmup:
            profiling.start(label)
            if meter:
                meter.start()
        reply = client.get(path)
        if reply.status != 200:
            errors.append(_error(reply))
            continue
        if i >= warmup:
            samples.append(reply.seconds)
        if not page:
            page = reply.json()
    cpu = meter.stop(n) if meter and n else None
    profiling.stop(label)
    return samples, errors, page, reply, cpu


def inbox_over_http(port: int, username: str, scope: str, n: int, warmup: int,
                    profiling: Profiling, meter=None) -> dict:
    client = login(port, username, PASSWORD)
    samples, errors, page, reply, cpu = _timed_gets(
        client, f"/api/v1/tasks?scope={scope}&per_page=50", n, warmup, profiling,
        f"inbox_{scope}", meter)
    client.close()
    items = page.get("items", [])
    return {"user": username, "scope": scope, **summarize(samples), "non_200": len(errors),
            "errors": errors[:MAX_ERRORS_KEPT], "total": page.get("total"),
            "items": len(items), "response_bytes": len(reply.body) if reply else None,
            "first_due": items[0]["due_at"] if items else None, "cpu": cpu,
            "sorted_by_due": [t["due_at"] for t in items if t["due_at"]]
            == sorted(t["due_at"] for t in items if t["due_at"])}


def inbox_bare(app, username: str, scope: str, n: int, warmup: int) -> dict:
    """Casework.list_tasks in a fresh session per call, as the API does, without HTTP,
    authentication or JSON. Loading the user is not timed."""
    casework = app.extensions["casework"]
    samples, page = _timed_calls(app, username, n, warmup, lambda session, user: (
        casework.list_tasks(session, user, scope, per_page=50)))
    return {"user": username, "scope": scope, **summarize(samples), "total": page.total}


def _timed_calls(app, username: str, n: int, warmup: int, call):
    """`call(session, user)` in a transaction of a fresh session each time, `warmup` untimed
    then `n` timed: (samples, the last result). Loading the user is not timed."""
    from api.extensions import db

    samples = []
    result = None
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        db.session.remove()
        for i in range(warmup + n):
            session = db.session
            user = session.get(User, user_id)
            t0 = time.perf_counter()
            with transaction(session):
                result = call(session, user)
            t1 = time.perf_counter()
            db.session.remove()
            if i >= warmup:
                samples.append(t1 - t0)
    return samples, result


# -- the leaders' deadline queue -------------------------------------------------------------

# The measured queries: name -> query string of GET /api/v1/queues/deadlines.
QUEUE_QUERIES = {
    "overdue": "state=overdue&page=1&per_page=50",
    "overdue_by_caseworker": "state=overdue&group_by=caseworker&page=1&per_page=50",
}


def deadline_queue_over_http(port: int, username: str, name: str, n: int, warmup: int,
                             profiling: Profiling, meter=None) -> dict:
    """GET /api/v1/queues/deadlines?<QUEUE_QUERIES[name]> as `username`, one kept-alive
    connection, `warmup` untimed then `n` timed requests."""
    client = login(port, username, PASSWORD)
    samples, errors, page, reply, cpu = _timed_gets(
        client, f"/api/v1/queues/deadlines?{QUEUE_QUERIES[name]}", n, warmup, profiling,
        f"queue_{name}", meter)
    client.close()
    items = page.get("items", [])
    lights = page.get("caseworkers", [])
    dues = [t["due_at"] for t in items]
    return {"user": username, "query": QUEUE_QUERIES[name], **summarize(samples),
            "non_200": len(errors), "errors": errors[:MAX_ERRORS_KEPT],
            "total": page.get("total"), "items": len(items),
            "groups": len(page.get("groups", [])),
            "caseworkers": len(lights),
            "red": sum(1 for light in lights if light.get("light") == "red"),
            "response_bytes": len(reply.body) if reply is not None else None,
            "all_overdue": all(t.get("state") == "overdue" for t in items),
            "sorted_by_due": dues == sorted(dues), "cpu": cpu}


def deadline_queue_bare(app, username: str, name: str, n: int, warmup: int) -> dict:
    """engine.oversight.deadline_queue in a fresh session per call, as the API does, without
    HTTP, authentication or JSON (serializing the items is not included either). Loading the
    user is not timed."""
    from urllib.parse import parse_qsl

    from engine import oversight

    params = dict(parse_qsl(QUEUE_QUERIES[name]))
    wanted = oversight.QueueFilter(state=params.get("state", "overdue"))
    samples, result = _timed_calls(app, username, n, warmup, lambda session, user: (
        oversight.deadline_queue(
            session, user, wanted, group_by=params.get("group_by"),
            page=int(params.get("page", 1)), per_page=int(params.get("per_page", 50)))))
    return {"user": username, "query": QUEUE_QUERIES[name], **summarize(samples),
            "total": result.get("total")}


# -- 4. throughput and contention ------------------------------------------------------------

def throughput(port: int, users: list[str], pools: list[list[str]], seconds: float | None,
               count: int | None, warmup_each: int, meter=None) -> dict:
    """Each client (its own user, connection and thread) completes the tasks of its own pool
    of real cases as fast as it can, for `seconds` (or `count` completions each)."""
    clients = [login(port, user, PASSWORD) for user in users]
    barrier = threading.Barrier(len(users), action=meter.start if meter else None)
    lock = threading.Lock()
    statuses: Counter = Counter()
    warmup_statuses: Counter = Counter()
    latencies: list[float] = []
    errors: list[dict] = []
    spans: list[tuple[float, float, int, bool]] = []

    def work(i: int) -> None:
        client, pool = clients[i], pools[i]
        for task_id in pool[:warmup_each]:
            reply = client.post(_complete_path(task_id), COMPLETE_BODY)
            with lock:
                warmup_statuses[reply.status] += 1
        barrier.wait()
        start = time.perf_counter()
        deadline = start + seconds if seconds else None
        done, mine, exhausted = 0, [], True
        for task_id in pool[warmup_each:]:
            if (deadline and time.perf_counter() >= deadline) or (count and done >= count):
                exhausted = False
                break
            try:
                reply = client.post(_complete_path(task_id), COMPLETE_BODY)
            except Exception as exc:  # noqa: BLE001 - a benchmark reports, not raises
                with lock:
                    statuses["exception"] += 1
                    errors.append(_error(exc, task_id))
                continue
            with lock:
                statuses[reply.status] += 1
                if reply.status != 200:
                    errors.append(_error(reply, task_id))
            if reply.status == 200:
                done += 1
                mine.append(reply.seconds)
        end = time.perf_counter()
        if count and done >= count:
            exhausted = False
        with lock:
            latencies.extend(mine)
            spans.append((start, end, done, exhausted))

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(users))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    begin = min(s for s, _e, _d, _x in spans)
    finish = max(e for _s, e, _d, _x in spans)
    completed = sum(d for _s, _e, d, _x in spans)
    elapsed = finish - begin
    cpu = meter.stop(completed) if meter else None
    other = {str(k): v for k, v in statuses.items() if k not in (200, 409)}
    return {
        "clients": len(users), "users": users, "seconds": round(elapsed, 3),
        "mode": f"{seconds:g} s" if seconds else f"{count} each",
        "completed": completed,
        "completions_per_s": round(completed / elapsed, 2) if elapsed else None,
        "status_409": statuses.get(409, 0),
        "other_non_200": sum(other.values()),
        "other_statuses": other,
        "errors": errors[:MAX_ERRORS_KEPT],
        "pool_exhausted_clients": sum(1 for *_r, x in spans if x and seconds),
        "warmup_statuses": {str(k): v for k, v in warmup_statuses.items()},
        "latency_under_load": summarize(latencies),
        "cpu": cpu,
    }


def race(port: int, pairs: list[dict]) -> dict:
    """Pairs of clients (two caseworkers of the case's team, the task unassigned) send the
    same completion at the same moment, task after task. Each task must end with exactly one
    200 and one 409."""
    outcomes: list[list] = [[[None, None] for _ in pair["tasks"]] for pair in pairs]
    latencies: list[float] = []
    lock = threading.Lock()
    clients = [[login(port, user, PASSWORD) for user in pair["users"]] for pair in pairs]
    barriers = [threading.Barrier(2) for _ in pairs]

    def work(p: int, k: int) -> None:
        client = clients[p][k]
        for j, task_id in enumerate(pairs[p]["tasks"]):
            barriers[p].wait()
            try:
                reply = client.post(_complete_path(task_id), COMPLETE_BODY)
                outcomes[p][j][k] = (reply.status, reply.body[:300].decode(errors="replace"))
                with lock:
                    latencies.append(reply.seconds)
            except Exception as exc:  # noqa: BLE001
                outcomes[p][j][k] = (None, repr(exc))

    threads = [threading.Thread(target=work, args=(p, k), daemon=True)
               for p in range(len(pairs)) for k in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    tally: Counter = Counter()
    anomalies = []
    for p, pair in enumerate(pairs):
        for j, task_id in enumerate(pair["tasks"]):
            codes = sorted(o[0] or 0 for o in outcomes[p][j])
            key = "+".join(str(c) for c in codes)
            tally[key] += 1
            if codes != [200, 409]:
                anomalies.append({"task": task_id, "users": pair["users"],
                                  "outcomes": outcomes[p][j]})
    tasks = sum(len(pair["tasks"]) for pair in pairs)
    return {"pairs": len(pairs), "tasks": tasks, "seconds": round(elapsed, 3),
            "exactly_one_200_one_409": tally.get("200+409", 0), "outcomes": dict(tally),
            "anomalies": anomalies[:MAX_ERRORS_KEPT], "latency": summarize(latencies)}


def verify_race(app, pairs: list[dict]) -> dict:
    """After the race, in the database: every raced task completed once (one task_completed
    event), and its case moved on exactly one step (one new ready task)."""
    from api.extensions import db

    task_ids = [t for pair in pairs for t in pair["tasks"]]
    with app.app_context():
        session = db.session
        events = dict(session.execute(
            select(AuditEvent.task_id, func.count()).where(
                AuditEvent.kind == "task_completed", AuditEvent.task_id.in_(task_ids))
            .group_by(AuditEvent.task_id)).all())
        cases = dict(session.execute(select(Task.id, Task.case_id)
                                     .where(Task.id.in_(task_ids))).all())
        ready = dict(session.execute(
            select(Task.case_id, func.count()).where(Task.case_id.in_(set(cases.values())),
                                                     Task.state == READY)
            .group_by(Task.case_id)).all())
        session.rollback()
        db.session.remove()
    wrong_events = [t for t in task_ids if events.get(t, 0) != 1]
    wrong_cases = [c for c in set(cases.values()) if ready.get(c, 0) != 1]
    return {"tasks_completed_once": len(task_ids) - len(wrong_events),
            "cases_one_step_on": len(set(cases.values())) - len(wrong_cases),
            "wrong_tasks": wrong_events[:MAX_ERRORS_KEPT],
            "wrong_cases": wrong_cases[:MAX_ERRORS_KEPT]}


# -- letters -----------------------------------------------------------------------------------

LETTER_REASONS = (
    "Kommunen har vurderet din ansøgning efter servicelovens § 85 og de oplysninger, vi har "
    "modtaget fra dig, din læge og bostedet. ") * 12


def letter_pdf(app, n: int, warmup: int) -> dict:
    """A refusal (a decision with legal basis, reasons and complaint guidance), about two pages,
    from the shipped template to PDF: the work of issuing a letter, without the database."""
    import io
    from datetime import date

    from pypdf import PdfReader

    from engine.letters.render import render_html, render_pdf

    letters = app.extensions["letters"]
    letter = letters.catalogue.get("afgoerelse_afslag")
    citizen = {"navn": "Søren Ærø Åberg", "cpr": "010203-1234",
               "adresse": "Algade 1, 4000 Roskilde"}
    context = {
        "kommune": dict(letters.catalogue.municipality),
        "sag": {"nummer": "2026-000001", "modtaget": date(2026, 10, 1), "proces": "henvendelse",
                "team": "Voksen Vest"},
        "borger": citizen, "modtager": {**citizen, "rolle": "citizen"},
        "sagsbehandler": {"navn": "Sara Sagsbehandler", "email": "sara@kommune.example",
                          "telefon": None},
        "dato": date(2026, 11, 26),
        "data": {"begrundelse": LETTER_REASONS, "henvendelse": "Ansøgning om bostøtte",
                 "afgoerelse": "afslag", "ydelse": "Socialpædagogisk støtte"},
        "frister": {}, "tekst": {t.name: LETTER_REASONS for t in letter.texts},
        "brev": {"titel": letter.title, "noegle": letter.key, "hjemmel": letter.legal_basis,
                 "version": 1, "retter": None},
    }
    html_samples, samples, pdf = [], [], b""
    for i in range(warmup + n):
        t0 = time.perf_counter()
        html = render_html(letters.env, letter, context)
        t1 = time.perf_counter()
        pdf = render_pdf(html)
        t2 = time.perf_counter()
        if i >= warmup:
            html_samples.append(t1 - t0)
            samples.append(t2 - t0)
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    return {**summarize(samples), "pages": pages, "pdf_bytes": len(pdf),
            "html": summarize(html_samples)}
