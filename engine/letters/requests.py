"""`prepare_letter("partshoering")` in a BPMN script: the step asks for a letter, which becomes a
draft on the case for the caseworker to review and issue. Requests are kept in the task data
under `breve` (key -> when asked), so a step asking again prepares a new draft."""

from __future__ import annotations

from ..clock import now

DATA_KEY = "breve"


def letter_request_factory(store: dict):
    def prepare_letter(key):
        if not isinstance(key, str) or not key:
            raise ValueError("prepare_letter needs the key of a letter in letters/letters.toml")
        requested = dict(store.get(DATA_KEY) or {})
        requested[key] = now().isoformat()
        store[DATA_KEY] = requested
        return key

    return prepare_letter


def requested_letters(workflow) -> dict[str, str]:
    """key -> the latest time a step of the workflow asked for it."""
    found: dict[str, str] = {}
    for task in workflow.get_tasks():
        for key, at in (task.data.get(DATA_KEY) or {}).items():
            if at > found.get(key, ""):
                found[key] = at
    return found
