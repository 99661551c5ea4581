"""`python -m bench.sel50`: one child welfare investigation (processes/sel50.bpmn) walked from
notification to the order, through the use cases, on SQLite in a fresh instance folder, N
times. Prints the median and p95 of each step (complete_task: validate, load the workflow, run
it, save it, project tasks, mirror deadlines, prepare letters, commit) and of the whole walk.
The demo's step data is used, so the walk is what `make run` shows."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import timedelta

from bench.stats import print_walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30, help="cases to walk (default 30)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="sagsflow-bench-sel50-")
    os.environ["SAGSFLOW_INSTANCE_DIR"] = folder
    from sqlalchemy import select

    from api import create_app
    from api.cli import upgrade_database
    from api.extensions import db
    from engine.accounts import create_team, create_user
    from engine.clock import now
    from engine.db import transaction
    from engine.demo import SEL50_STEPS
    from engine.models import CASEWORKER, Task

    app = create_app()
    with app.app_context():
        upgrade_database(app.config["SQLALCHEMY_DATABASE_URI"])
        casework = app.extensions["casework"]
        with transaction(db.session) as session:
            team = create_team(session, "nord", "Børn og Unge Nord")
            worker = create_user(session, "sb", "bench-kodeord-1", CASEWORKER, "Sagsbehandler",
                                 teams=[team])
            casework.registry.deploy(session, "bench")
        timings: dict[str, list[float]] = {}
        walks = []
        for i in range(args.n):
            started = time.perf_counter()
            with transaction(db.session) as session:
                case = casework.open_case(
                    session, worker, "sel50",
                    {"cpr": f"0105{13 + i % 4}4321", "name": f"Barn {i}"},
                    now() - timedelta(hours=2))
                case_id = case.id
            timings.setdefault("open_case", []).append(time.perf_counter() - started)
            for bpmn_id, data in SEL50_STEPS:
                with transaction(db.session) as session:
                    ids = list(session.scalars(select(Task.id).where(
                        Task.case_id == case_id, Task.bpmn_id == bpmn_id,
                        Task.state == "ready")))
                for task_id in ids:
                    begun = time.perf_counter()
                    with transaction(db.session) as session:
                        casework.complete_task(session, worker, task_id, data)
                    timings.setdefault(bpmn_id, []).append(time.perf_counter() - begun)
            walks.append(time.perf_counter() - started)
            db.session.remove()
    print_walk(f"sel50 walk on SQLite, {args.n} cases ({folder})", timings, walks, 22)

if __name__ == "__main__":
    main()
