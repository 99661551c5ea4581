"""`prepare_letter("partshoering")` in a BPMN script: the step asks for a letter, which becomes a
draft on the case for the caseworker to review and issue.

`prepare_letter(key, modtager={"navn": ..., "adresse": ...}, data={...})`: `modtager` addresses
it (e.g. to each custody holder in turn), `data` gives values the letter reads as `data.*` before
the case's own (e.g. the one request for information it is for, in a multi-instance step).

Each call is one request, kept in the task data under `breve` (request id -> what was asked), so
a step asking again, or several parallel steps asking for the same letter, each get a draft."""

from __future__ import annotations

from uuid import uuid4

from ..clock import now

DATA_KEY = "breve"
RECIPIENT_FIELDS = ("navn", "adresse", "email", "rolle")


def letter_request_factory(store: dict):
    def prepare_letter(key, modtager=None, data=None):
        if not isinstance(key, str) or not key:
            raise ValueError("prepare_letter needs the key of a letter in letters/letters.toml")
        if modtager is not None:
            if not isinstance(modtager, dict) or not isinstance(modtager.get("navn"), str) \
                    or not modtager["navn"].strip():
                raise ValueError(f"prepare_letter({key!r}): modtager must be a dict with a "
                                 "name (navn)")
            modtager = {k: modtager.get(k) for k in RECIPIENT_FIELDS if modtager.get(k)}
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"prepare_letter({key!r}): data must be a dict")
        requested = dict(store.get(DATA_KEY) or {})
        requested[f"{key}:{uuid4().hex[:16]}"] = {
            "brev": key, "tid": now().isoformat(), "modtager": modtager,
            "data": dict(data) if data else None,
            # The order asked within a step (several requests may share a moment).
            "nr": len(requested)}
        store[DATA_KEY] = requested
        return key

    return prepare_letter


def requested_letters(workflow) -> dict[str, dict]:
    """Every letter request of the workflow: request id -> {brev, tid, modtager, data}."""
    found: dict[str, dict] = {}
    for task in workflow.get_tasks():
        for request_id, entry in (task.data.get(DATA_KEY) or {}).items():
            if isinstance(entry, str):  # stored before requests had ids: key -> when
                request_id, entry = f"{request_id}@{entry}", {"brev": request_id, "tid": entry}
            found.setdefault(request_id, entry)
    return found
