"""The deadline functions BPMN scripts and expressions call.

`start_deadline("sel50_4m", modtaget_tidspunkt)` starts a deadline of the catalogue for the case
(from the given moment, or now) and returns when it falls due; `deadline("sel50_4m")` returns
the due moment of a started deadline, e.g. in a timer's timeDate or a user task's
camunda:dueDate. Started deadlines are kept in the task data under `frister` (so later steps
see them) and become deadline rows of the case when the process is saved.
"""

from __future__ import annotations

from datetime import datetime

from ..clock import now
from ..errors import SagsflowError
from .catalogue import DeadlineCatalogue

DATA_KEY = "frister"


def deadline_functions(catalogue: DeadlineCatalogue) -> dict:
    """Factories for the sandbox's context functions (see RestrictedEnvironment)."""

    def start_factory(store: dict):
        def start_deadline(key, start=None, variant=None, amount=None):
            begun = datetime.fromisoformat(start) if isinstance(start, str) else (start or now())
            try:
                due = catalogue.due(key, begun, variant=variant, amount=amount)
            except SagsflowError as exc:
                raise ValueError(exc.message) from None
            started = dict(store.get(DATA_KEY) or {})
            started[key] = {"start": begun.isoformat(), "due": due.isoformat(),
                            "variant": variant, "amount": amount}
            store[DATA_KEY] = started
            return due.isoformat()

        return start_deadline

    def due_factory(store: dict):
        def deadline(key):
            started = store.get(DATA_KEY) or {}
            if key not in started:
                raise ValueError(f"deadline {key!r} has not been started in this case "
                                 "(call start_deadline first)")
            return started[key]["due"]

        return deadline

    return {"start_deadline": start_factory, "deadline": due_factory}


def started_deadlines(workflow) -> dict[str, dict]:
    """Every deadline started anywhere in the workflow: key -> {"start", "due"}."""
    found: dict[str, dict] = {}
    for task in workflow.get_tasks():
        found.update(task.data.get(DATA_KEY) or {})
    return found


def restart_deadlines(workflow, catalogue: DeadlineCatalogue, old_start: datetime,
                      new_start: datetime) -> None:
    """Deadlines that ran from `old_start` (the case's received date, now corrected) run from
    `new_start`, in the data of every task that carries them."""
    for task in workflow.get_tasks():
        started = task.data.get(DATA_KEY)
        if not started:
            continue
        updated = dict(started)
        for key, entry in started.items():
            if datetime.fromisoformat(entry["start"]) != old_start:
                continue
            due = catalogue.due(key, new_start, variant=entry.get("variant"),
                                amount=entry.get("amount"))
            updated[key] = {**entry, "start": new_start.isoformat(), "due": due.isoformat()}
        task.data[DATA_KEY] = updated
