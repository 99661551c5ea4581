"""The deadline functions BPMN scripts and expressions call, and the one way to change a
started deadline.

In a script task:
- `start_deadline("sel50_4m", modtaget_tidspunkt)` starts a deadline of the catalogue for the
  case (from the given moment or day, or now) and returns when it falls due;
- `meet_deadline("sel50_4m")` records that it was met (now);
- `pause_deadline("sel85_afgoerelse", "Afventer borgerens oplysninger")` stops its clock, for a
  reason the catalogue allows, and `resume_deadline("sel85_afgoerelse")` starts it again: the
  due date moves on by the paused time.
In an expression (a timer's timeDate, a user task's camunda:dueDate): `deadline("sel50_4m")` is
the due moment of a started deadline, and `deadline_reminder("naeste_opfoelgning")` its first
reminder in the catalogue (its due moment if it has none): a timer on it puts a task in the
inbox when the deadline turns yellow, e.g. a follow-up ahead of its date.

Started deadlines live in the task data under `frister` (so later steps see them), one entry a
key: {"start", "due", "variant", "amount", "met", "paused", "pause_reason", "extra_days",
"extra_seconds", "changed"}. When the process is saved they become the case's deadline rows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from ..clock import LOCAL_TZ, now
from ..errors import Conflict, SagsflowError, ValidationFailed
from .calendar import end_of_day
from .catalogue import DeadlineCatalogue

DATA_KEY = "frister"


def compute_due(catalogue: DeadlineCatalogue, key: str, entry: dict) -> datetime:
    """The due moment of a started deadline: the rule from its start, moved on by the time it
    was paused."""
    due = catalogue.due(key, datetime.fromisoformat(entry["start"]),
                        variant=entry.get("variant"), amount=entry.get("amount"))
    if entry.get("extra_seconds"):
        due = due + timedelta(seconds=entry["extra_seconds"])
    if entry.get("extra_days"):
        due = end_of_day(due.astimezone(LOCAL_TZ).date() + timedelta(days=entry["extra_days"]))
    return due


def _paused_extension(catalogue: DeadlineCatalogue, key: str, entry: dict,
                      resumed: datetime) -> dict:
    """What a pause from entry["paused"] to `resumed` adds: real seconds for an hour deadline,
    whole calendar days (the days the clock stood still) for the others."""
    paused = datetime.fromisoformat(entry["paused"])
    if catalogue.get(key).counts_hours:
        seconds = max(0, int((resumed - paused).total_seconds()))
        return {"extra_seconds": (entry.get("extra_seconds") or 0) + seconds}
    days = (resumed.astimezone(LOCAL_TZ).date() - paused.astimezone(LOCAL_TZ).date()).days
    return {"extra_days": (entry.get("extra_days") or 0) + max(0, days)}


def _start_moment(start) -> datetime:
    """When a deadline starts: now, a moment, or a day (a date alone is that day's start,
    Danish time; e.g. the day an intervention begins)."""
    if start is None:
        return now()
    if isinstance(start, str):
        start = datetime.fromisoformat(start) if "T" in start else date.fromisoformat(start)
    if isinstance(start, datetime):
        return start
    if isinstance(start, date):
        return datetime.combine(start, time.min, tzinfo=LOCAL_TZ)
    raise ValueError(f"a deadline cannot start at {start!r}: give a date or a moment")


def _stamp(previous: dict | None, moment: datetime) -> str:
    """When an entry changed: now, but always after its previous change, so that the latest
    version of a deadline wins even when two changes share a moment (started_deadlines)."""
    if previous and previous.get("changed"):
        moment = max(moment, datetime.fromisoformat(previous["changed"])
                     + timedelta(microseconds=1))
    return moment.isoformat()


def change_entry(catalogue: DeadlineCatalogue, key: str, entry: dict | None, action: str,
                 reason: str | None = None, moment: datetime | None = None) -> dict:
    """The entry after `action` (meet, pause or resume). Raises Conflict when the deadline is
    not in a state that allows it, ValidationFailed for a reason the catalogue does not allow.
    """
    moment = moment or now()
    if entry is None:
        raise Conflict(f"deadline {key!r} has not been started in this case")
    if entry.get("met"):
        raise Conflict(f"deadline {key!r} was already met")
    changed = {**entry, "changed": _stamp(entry, moment)}
    if action == "meet":
        return {**changed, "met": moment.isoformat(), "paused": None, "pause_reason": None}
    if action == "pause":
        allowed = catalogue.get(key).pause_reasons
        if not allowed:
            raise Conflict(f"deadline {key!r} cannot be paused: the law lets nothing stop it")
        if entry.get("paused"):
            raise Conflict(f"deadline {key!r} is already paused ({entry.get('pause_reason')})")
        if reason not in allowed:
            raise ValidationFailed(f"deadline {key!r} cannot be paused for {reason!r}", {
                "reason": ["must be one of: " + "; ".join(allowed)]})
        return {**changed, "paused": moment.isoformat(), "pause_reason": reason}
    if action == "resume":
        if not entry.get("paused"):
            raise Conflict(f"deadline {key!r} is not paused")
        resumed = {**changed, **_paused_extension(catalogue, key, entry, moment),
                   "paused": None, "pause_reason": None}
        resumed["due"] = compute_due(catalogue, key, resumed).isoformat()
        return resumed
    raise ValidationFailed(f"unknown action {action!r}",
                           {"action": ["must be one of meet, pause, resume"]})


def deadline_functions(catalogue: DeadlineCatalogue) -> dict:
    """Factories for the sandbox's context functions (see RestrictedEnvironment)."""

    def _entries(store: dict) -> dict:
        return dict(store.get(DATA_KEY) or {})

    def start_factory(store: dict):
        def start_deadline(key, start=None, variant=None, amount=None):
            begun = _start_moment(start)
            entry = {"start": begun.isoformat(), "variant": variant, "amount": amount,
                     "met": None, "paused": None, "pause_reason": None,
                     "changed": _stamp((store.get(DATA_KEY) or {}).get(key), now())}
            try:
                entry["due"] = compute_due(catalogue, key, entry).isoformat()
            except SagsflowError as exc:
                raise ValueError(exc.message) from None
            started = _entries(store)
            started[key] = entry
            store[DATA_KEY] = started
            return entry["due"]

        return start_deadline

    def due_factory(store: dict):
        def deadline(key):
            started = store.get(DATA_KEY) or {}
            if key not in started:
                raise ValueError(f"deadline {key!r} has not been started in this case "
                                 "(call start_deadline first)")
            return started[key]["due"]

        return deadline

    def reminder_factory(store: dict):
        deadline = due_factory(store)

        def deadline_reminder(key):
            due = deadline(key)
            moments = catalogue.reminders(key, datetime.fromisoformat(due))
            return moments[0].isoformat() if moments else due

        return deadline_reminder

    def change_factory(action: str):
        def factory(store: dict):
            def change(key, reason=None):
                started = _entries(store)
                try:
                    started[key] = change_entry(catalogue, key, started.get(key), action,
                                                reason)
                except SagsflowError as exc:
                    raise ValueError(exc.message) from None
                store[DATA_KEY] = started
                return started[key]["due"]

            return change

        return factory

    return {"start_deadline": start_factory, "deadline": due_factory,
            "deadline_reminder": reminder_factory,
            "meet_deadline": change_factory("meet"),
            "pause_deadline": change_factory("pause"),
            "resume_deadline": change_factory("resume")}


def started_deadlines(workflow) -> dict[str, dict]:
    """Every deadline started anywhere in the workflow: key -> its entry. Where tasks hold
    different versions of an entry, the one changed last wins."""
    found: dict[str, dict] = {}
    for task in workflow.get_tasks():
        for key, entry in (task.data.get(DATA_KEY) or {}).items():
            known = found.get(key)
            if known is None or (entry.get("changed") or "") >= (known.get("changed") or ""):
                found[key] = entry
    return found


def edit_deadlines(workflow, edit) -> None:
    """Apply `edit(key, entry) -> entry | None` (None: unchanged) to the deadlines in the data of
    every task that carries them, so that every later step sees the same."""
    for task in workflow.get_tasks():
        started = task.data.get(DATA_KEY)
        if not started:
            continue
        updated = dict(started)
        for key, entry in started.items():
            changed = edit(key, entry)
            if changed is not None:
                updated[key] = changed
        task.data[DATA_KEY] = updated


def restart_deadlines(workflow, catalogue: DeadlineCatalogue, old_start: datetime,
                      new_start: datetime) -> None:
    """Deadlines that ran from `old_start` (the case's received date, now corrected) run from
    `new_start`."""
    stamp = now().isoformat()

    def edit(key, entry):
        if datetime.fromisoformat(entry["start"]) != old_start:
            return None
        moved = {**entry, "start": new_start.isoformat(), "changed": stamp}
        moved["due"] = compute_due(catalogue, key, moved).isoformat()
        return moved

    edit_deadlines(workflow, edit)
