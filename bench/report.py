"""The final table and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

TARGET_COMPLETE_MEDIAN_MS = 20.0
TARGET_INBOX_P95_MS = 25.0
TARGET_QUEUE_P95_MS = 50.0  # the leaders' overdue-deadline queue
TARGET_SCHEDULER_PER_S = 150.0  # with 4 scheduler processes


def _fmt(value, digits=2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def rows_for(name: str, res: dict) -> list[list[str]]:
    """[database, measure, median, p95, target, result] rows of one database's results."""
    rows = []

    def add(measure, median=None, p95=None, target="", ok=None):
        rows.append([name, measure, _fmt(median), _fmt(p95), target, _verdict(ok)])

    if "error" in res:
        rows.append([name, f"failed: {res['error'][:70]}", "-", "-", "", "ERROR"])
        return rows
    setup = res.get("setup", {})
    counts = setup.get("counts", {})
    if setup:
        add(f"setup: {counts.get('cases')} cases, {counts.get('open_tasks')} open tasks (s)",
            setup.get("total_s"))
    comp = res.get("complete")
    mem = res.get("in_memory")
    if comp:
        add(f"complete task, HTTP (ms, n={comp['n']}, non-200={comp['non_200']})",
            comp["median_ms"], comp["p95_ms"], f"median <= {TARGET_COMPLETE_MEDIAN_MS:g}",
            comp["median_ms"] is not None and comp["median_ms"] <= TARGET_COMPLETE_MEDIAN_MS
            and comp["non_200"] == 0)
    if mem:
        add("complete task, in memory (ms)", mem["complete"]["median_ms"],
            mem["complete"]["p95_ms"])
        add("load + complete + save, in memory (ms)", mem["load_complete_save"]["median_ms"],
            mem["load_complete_save"]["p95_ms"])
    if comp and mem and comp["median_ms"]:
        add("ratio HTTP / in-memory complete (x)", res["ratio_http_in_memory"])
        add("ratio HTTP / in-memory load+complete+save (x)", res["ratio_http_load_complete_save"])
    letter = res.get("letter_pdf")
    if letter:
        add(f"decision letter, {letter['pages']} pages: HTML + PDF, in memory (ms)",
            letter["median_ms"], letter["p95_ms"])
        add("  of which HTML from the template (ms)", letter["html"]["median_ms"],
            letter["html"]["p95_ms"])
    for scope in ("team", "mine"):
        http = res.get("inbox", {}).get(scope, {}).get("http")
        bare = res.get("inbox", {}).get(scope, {}).get("bare")
        if http:
            add(f"inbox scope={scope}, HTTP (ms, total={http['total']}, "
                f"non-200={http['non_200']})",
                http["median_ms"], http["p95_ms"], f"p95 <= {TARGET_INBOX_P95_MS:g}",
                http["p95_ms"] is not None and http["p95_ms"] <= TARGET_INBOX_P95_MS
                and http["non_200"] == 0)
        if bare:
            add(f"inbox scope={scope}, Casework.list_tasks (ms)", bare["median_ms"],
                bare["p95_ms"])
    for query, measured in (res.get("deadline_queue") or {}).items():
        http, bare = measured.get("http"), measured.get("bare")
        label = query.replace("_", " ")
        if http:
            add(f"queue {label}, HTTP (ms, total={http['total']}, non-200={http['non_200']})",
                http["median_ms"], http["p95_ms"], f"p95 <= {TARGET_QUEUE_P95_MS:g}",
                http["p95_ms"] is not None and http["p95_ms"] <= TARGET_QUEUE_P95_MS
                and http["non_200"] == 0)
        if bare:
            add(f"queue {label}, oversight.deadline_queue (ms)", bare["median_ms"],
                bare["p95_ms"])
    tp = res.get("throughput")
    if tp:
        add(f"throughput, {tp['clients']} clients, {tp['mode']} (completions/s)",
            tp["completions_per_s"])
        lat = tp["latency_under_load"]
        add("  latency under load (ms)", lat["median_ms"], lat["p95_ms"])
        cpu = tp.get("cpu") or {}
        if cpu.get("server_cpu_percent") is not None:
            add("  server CPU, % of one core / ms per completion",
                cpu["server_cpu_percent"], cpu["server_cpu_ms_per_op"])
        if cpu.get("postgres_cpu_percent") is not None:
            add("  PostgreSQL CPU, % of one core / ms per completion",
                cpu["postgres_cpu_percent"], cpu["postgres_cpu_ms_per_op"])
        add("  409 responses", tp["status_409"], None, "= 0", tp["status_409"] == 0)
        add("  other non-200 responses", tp["other_non_200"], None, "= 0",
            tp["other_non_200"] == 0)
        if tp["pool_exhausted_clients"]:
            add("  clients that ran out of tasks", tp["pool_exhausted_clients"])
    rc = res.get("race")
    if rc:
        add(f"race, {rc['pairs']} pairs: tasks with one 200 + one 409",
            rc["exactly_one_200_one_409"], None, f"= {rc['tasks']}",
            rc["exactly_one_200_one_409"] == rc["tasks"])
        check = rc.get("database_check")
        if check:
            add("  raced tasks completed exactly once (database)",
                check["tasks_completed_once"], None, f"= {rc['tasks']}",
                check["tasks_completed_once"] == rc["tasks"]
                and check["cases_one_step_on"] == rc["tasks"])
    for processes, run in (res.get("scheduler") or {}).get("runs", {}).items():
        check = run["exactly_once"]
        four = processes == "4"
        add(f"scheduler, {processes} process(es), {run['instances']} due timers (instances/s)",
            run["instances_per_s"], None, f">= {TARGET_SCHEDULER_PER_S:g}" if four else "",
            (run["instances_per_s"] or 0) >= TARGET_SCHEDULER_PER_S if four else None)
        add("  timers fired exactly once", check["fired_once"], None,
            f"= {run['instances']}", check["anomaly_count"] == 0
            and check["fired_once"] == run["instances"] and check["in_error"] == 0)
    return rows


def table(results: dict) -> str:
    header = ["database", "measure", "median", "p95", "target", "result"]
    rows = []
    for name, res in results["databases"].items():
        rows += rows_for(name, res)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = ["<", "<", ">", ">", "<", "<"]

    def line(r):
        cells = zip(r, align, widths, strict=True)
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in cells).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for r in rows:
        if previous is not None and r[0] != previous:
            out.append("")
        out.append(line(r))
        previous = r[0]
    return "\n".join(out)


def write_json(results: dict, folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    return path
