"""The deadline catalogue: statutory deadlines as data, from `processes/deadlines.toml`, with a
municipality's overrides from its own file (`SAGSFLOW_DEADLINE_OVERRIDES`).

`DeadlineCatalogue.due(key, start)` is the one function that computes a due date; everything
else in the product asks it. The counting rules (start day, time of day, months, hours) are
the business calendar's, see `engine.deadlines.calendar`.

A catalogue or overrides file that is wrong raises ProcessDefinitionError naming the file, the
deadline and the field, at start-up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from dateutil.relativedelta import relativedelta

from ..clock import LOCAL_TZ
from ..errors import NotFound, ProcessDefinitionError, ValidationFailed
from .calendar import DEFAULT_CLOSING_DAYS, BusinessCalendar, elapsed, end_of_day, start_of_day

CATALOGUE_FILE = "deadlines.toml"

HOURS = "hours"
CALENDAR_DAYS = "calendar_days"
WORKING_DAYS = "working_days"
WEEKS = "weeks"
CALENDAR_MONTHS = "calendar_months"
RULE_KINDS = (HOURS, CALENDAR_DAYS, WORKING_DAYS, WEEKS, CALENDAR_MONTHS)
DAY_KINDS = (CALENDAR_DAYS, WORKING_DAYS, WEEKS, CALENDAR_MONTHS)

_UNITS = {  # kind: (singular, plural)
    HOURS: ("hour", "hours"),
    CALENDAR_DAYS: ("calendar day", "calendar days"),
    WORKING_DAYS: ("working day", "working days"),
    WEEKS: ("week", "weeks"),
    CALENDAR_MONTHS: ("calendar month", "calendar months"),
}

KEEP = "keep"
NEXT_WORKING_DAY = "next_working_day"

# action: (required fields, allowed values of `to` or None for any non-empty text)
BREACH_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "escalate": (("to",), ("team_leader",)),
    "task": (("task", "title", "to"), ("caseworker", "team_leader")),
    "letter": (("letter", "to"), ("citizen", "parties", "notifier")),
    "continue": (("step",), None),
    "forward": (("to",), ("ankestyrelsen",)),
}

# Breach actions the process carries out itself, with a timer on the deadline; the watcher
# does the others (escalate, letter).
PROCESS_ACTIONS = ("task", "continue", "forward")

_ENTRY_FIELDS = {"key", "title", "description", "start_event", "start_title", "rule",
                 "if_due_on_closed_day", "or_earlier_event", "override", "reminders",
                 "on_breach", "legal_basis", "pause_reasons"}
_REQUIRED_TEXT = ("key", "title", "start_event", "start_title")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def describe_amount(kind: str, amount: int) -> str:
    """'8 weeks', '1 calendar month', '24 hours'."""
    singular, plural = _UNITS[kind]
    return f"{amount} {singular if amount == 1 else plural}"


@dataclass(frozen=True)
class LegalReference:
    law: str
    paragraph: str
    subsection: str | None = None
    verify: bool = False
    note: str | None = None

    def __str__(self) -> str:
        text = f"{self.law} § {self.paragraph}"
        if self.subsection:
            text += f", stk. {self.subsection}"
        if self.verify:
            text += " (verificeres)"
        return text


@dataclass(frozen=True)
class Rule:
    kind: str
    amount: int
    variants: Mapping[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        text = describe_amount(self.kind, self.amount)
        if self.variants:
            text += " (" + ", ".join(f"{name}: {amount}"
                                     for name, amount in self.variants.items()) + ")"
        return text


@dataclass(frozen=True)
class Reminder:
    kind: str
    amount: int


@dataclass(frozen=True)
class OverridePolicy:
    """Who may set another amount, and within which bounds (in the rule's unit)."""

    municipality: bool = False
    per_case: bool = False
    min: int | None = None
    max: int | None = None

    def allows(self, amount: int) -> bool:
        return self.min is not None and self.max is not None and self.min <= amount <= self.max


@dataclass(frozen=True)
class BreachAction:
    action: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Deadline:
    key: str
    title: str
    start_event: str
    start_title: str
    rule: Rule
    legal_basis: tuple[LegalReference, ...]
    override: OverridePolicy
    reminders: tuple[Reminder, ...]
    on_breach: tuple[BreachAction, ...]
    description: str | None = None
    if_due_on_closed_day: str = KEEP
    or_earlier_event: str | None = None
    shipped_rule: Rule | None = None  # the catalogue's rule when an override changed it
    # Reasons the deadline may be paused for (the clock stops while the municipality waits
    # for the citizen, where the law allows it); empty = it may not be paused.
    pause_reasons: tuple[str, ...] = ()

    @property
    def overridden(self) -> bool:
        return self.shipped_rule is not None and self.shipped_rule != self.rule

    @property
    def counts_hours(self) -> bool:
        return self.rule.kind == HOURS

    def amount_for(self, variant: str | None = None, amount: int | None = None) -> int:
        """The amount in force: a per-case amount, else the variant's, else the rule's.

        Raises ValidationFailed for an unknown variant or a per-case amount the entry does not
        allow."""
        if amount is not None:
            if not self.override.per_case:
                raise ValidationFailed(
                    f"deadline {self.key!r}: the amount is fixed and cannot be set per case",
                    {"amount": ["cannot be set per case"]})
            if isinstance(amount, bool) or not isinstance(amount, int) \
                    or not self.override.allows(amount):
                bounds = _bounds_text(self)
                raise ValidationFailed(
                    f"deadline {self.key!r}: amount {amount!r} is outside {bounds}",
                    {"amount": [f"must be within {bounds}"]})
            return amount
        if variant is not None:
            if variant not in self.rule.variants:
                known = ", ".join(self.rule.variants) or "none"
                raise ValidationFailed(
                    f"deadline {self.key!r} has no variant {variant!r} (variants: {known})",
                    {"variant": [f"unknown variant (variants: {known})"]})
            return self.rule.variants[variant]
        return self.rule.amount


def _bounds_text(entry: Deadline) -> str:
    policy = entry.override
    return f"{policy.min}–{describe_amount(entry.rule.kind, policy.max)}"


class DeadlineCatalogue:
    """The effective catalogue: the shipped entries with the municipality's overrides, and the
    business calendar with the municipality's closing days. Immutable; share it freely."""

    def __init__(self, entries: Mapping[str, Deadline], calendar: BusinessCalendar,
                 sources: tuple[str, ...] = ()):
        self._entries = MappingProxyType(dict(entries))
        self.calendar = calendar
        self.sources = sources

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Deadline]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[str]:
        return list(self._entries)

    def process_actions(self) -> dict[str, tuple[str, ...]]:
        """Every key with the breach actions its process must carry out itself (with a timer
        on `deadline(key)`): what deploy checks (see engine.bpmn.registry)."""
        return {entry.key: tuple(a.action for a in entry.on_breach
                                 if a.action in PROCESS_ACTIONS)
                for entry in self._entries.values()}

    def get(self, key: str) -> Deadline:
        try:
            return self._entries[key]
        except (KeyError, TypeError):
            raise NotFound(f"no deadline with key {key!r} in the catalogue "
                           f"(known: {', '.join(self._entries)})") from None

    def __getitem__(self, key: str) -> Deadline:
        return self.get(key)

    def due(self, key: str, start: datetime | date, *, variant: str | None = None,
            amount: int | None = None, or_earlier: datetime | date | None = None) -> datetime:
        """When deadline `key`, started at `start`, falls due: an aware datetime in Danish time.

        `start` is an aware datetime (a date means 00:00 Danish time that day). Deadlines in
        days, weeks and months fall due at the end (23:59:59) of their due day; hour deadlines
        at the exact moment. `variant` picks a named amount (e.g. "voksne"), `amount` sets one
        for this case where the entry allows it, within its bounds. `or_earlier` is the moment
        of the entry's `or_earlier_event`, if it happened: the deadline then falls due at it
        (at the end of its day for day-based deadlines) when that is earlier.

        Raises NotFound for an unknown key, ValidationFailed for a variant, amount or
        `or_earlier` the entry does not allow, ValueError for a naive datetime.
        """
        entry = self.get(key)
        count = entry.amount_for(variant, amount)
        start = _as_moment(start)
        calendar = self.calendar
        kind = entry.rule.kind
        if kind == HOURS:
            due = calendar.add_hours(start, count)
        elif kind == WORKING_DAYS:
            due = calendar.add_working_days(start, count)
        elif kind == CALENDAR_DAYS:
            due = calendar.add_calendar_days(start, count)
        elif kind == WEEKS:
            due = calendar.add_weeks(start, count)
        else:
            due = calendar.add_calendar_months(start, count)
        if entry.if_due_on_closed_day == NEXT_WORKING_DAY and not calendar.is_working_day(due):
            due = end_of_day(calendar.next_working_day(due.date()))
        if or_earlier is not None:
            if not entry.or_earlier_event:
                raise ValidationFailed(
                    f"deadline {key!r} is not cut short by another event",
                    {"or_earlier": ["not allowed for this deadline"]})
            cut = _as_moment(or_earlier)
            if kind != HOURS:
                cut = end_of_day(cut.astimezone(LOCAL_TZ).date())
            due = min(due, cut.astimezone(LOCAL_TZ))
        return due

    def reminders(self, key: str, due: datetime) -> list[datetime]:
        """The moments to remind of deadline `key` falling due at `due`, earliest first.

        A reminder counted in hours is that many real hours before `due`; one counted in days,
        weeks or months is given at 00:00 Danish time of the day that many (working) days,
        weeks or months before the due day. A reminder may lie before the deadline's start when
        the deadline is short: the caller then reminds at once."""
        entry = self.get(key)
        due = _as_moment(due)
        due_day = due.astimezone(LOCAL_TZ).date()
        moments = []
        for reminder in entry.reminders:
            n = reminder.amount
            if reminder.kind == HOURS:
                moments.append(elapsed(due, -timedelta(hours=n)))
                continue
            if reminder.kind == WORKING_DAYS:
                day = self.calendar.working_days_before(due_day, n)
            elif reminder.kind == CALENDAR_DAYS:
                day = due_day - timedelta(days=n)
            elif reminder.kind == WEEKS:
                day = due_day - timedelta(weeks=n)
            else:
                day = due_day - relativedelta(months=n)
            moments.append(start_of_day(day))
        return sorted(set(moments))


def _as_moment(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a timezone-aware datetime is needed, got {value.isoformat()}")
        return value
    if isinstance(value, date):
        return start_of_day(value)
    raise TypeError(f"a datetime or date is needed, not {type(value).__name__}")


# Loading and validation ---------------------------------------------------------------------


class _Problem(Exception):
    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


def _text(table: Mapping, name: str, *, required: bool = True, where: str = "") -> str | None:
    value = table.get(name)
    label = f"{where}{name}"
    if value is None:
        if required:
            raise _Problem(label, "missing")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Problem(label, f"must be non-empty text, got {value!r}")
    return value.strip()


def _count(value, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Problem(label, f"must be a whole number, got {value!r}")
    if value < 1:
        raise _Problem(label, f"must be at least 1, got {value}")
    return value


def _kind(value, label: str) -> str:
    if value is None:
        raise _Problem(label, "missing")
    if value not in RULE_KINDS:
        raise _Problem(label, f"unknown kind {value!r} (allowed: {', '.join(RULE_KINDS)})")
    return value


def _only(table: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise _Problem(f"{where}{unknown[0]}",
                       f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _table(value, label: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _Problem(label, f"must be a table, got {value!r}")
    return value


def _list(value, label: str) -> list:
    if not isinstance(value, list):
        raise _Problem(label, f"must be a list, got {value!r}")
    return value


def _parse_rule(raw) -> Rule:
    if raw is None:
        raise _Problem("rule", "missing")
    raw = _table(raw, "rule")
    _only(raw, {"kind", "amount", "variants"}, "rule.")
    kind = _kind(raw.get("kind"), "rule.kind")
    if "amount" not in raw:
        raise _Problem("rule.amount", "missing")
    amount = _count(raw["amount"], "rule.amount")
    variants = {}
    for name, value in _table(raw.get("variants", {}), "rule.variants").items():
        variants[name] = _count(value, f"rule.variants.{name}")
    return Rule(kind, amount, MappingProxyType(variants))


def _parse_override(raw, rule: Rule) -> OverridePolicy:
    if raw is None:
        raise _Problem("override", "missing (write { municipality = false, per_case = false } "
                                   "for a deadline fixed by law)")
    raw = _table(raw, "override")
    _only(raw, {"municipality", "per_case", "min", "max"}, "override.")
    flags = {}
    for name in ("municipality", "per_case"):
        value = raw.get(name, False)
        if not isinstance(value, bool):
            raise _Problem(f"override.{name}", f"must be true or false, got {value!r}")
        flags[name] = value
    if not (flags["municipality"] or flags["per_case"]):
        for name in ("min", "max"):
            if name in raw:
                raise _Problem(f"override.{name}",
                               "bounds are only for a deadline that may be changed")
        return OverridePolicy(**flags)
    for name in ("min", "max"):
        if name not in raw:
            raise _Problem(f"override.{name}", "missing: a deadline that may be changed needs "
                                               "bounds")
    low, high = _count(raw["min"], "override.min"), _count(raw["max"], "override.max")
    if low > high:
        raise _Problem("override.min", f"min {low} is above max {high}")
    policy = OverridePolicy(flags["municipality"], flags["per_case"], low, high)
    for label, amount in [("rule.amount", rule.amount),
                          *((f"rule.variants.{n}", a) for n, a in rule.variants.items())]:
        if not policy.allows(amount):
            raise _Problem(label, f"{amount} is outside the override bounds {low}–{high}")
    return policy


def _parse_reminders(raw) -> tuple[Reminder, ...]:
    reminders = []
    for i, item in enumerate(_list(raw if raw is not None else [], "reminders")):
        where = f"reminders[{i}]."
        item = _table(item, f"reminders[{i}]")
        _only(item, {"kind", "amount"}, where)
        if "amount" not in item:
            raise _Problem(f"{where}amount", "missing")
        reminders.append(Reminder(_kind(item.get("kind"), f"{where}kind"),
                                  _count(item["amount"], f"{where}amount")))
    return tuple(reminders)


def _parse_actions(raw) -> tuple[BreachAction, ...]:
    if raw is None:
        raise _Problem("on_breach", "missing (write [] if nothing happens)")
    actions = []
    for i, item in enumerate(_list(raw, "on_breach")):
        where = f"on_breach[{i}]."
        item = _table(item, f"on_breach[{i}]")
        action = item.get("action")
        if action not in BREACH_ACTIONS:
            raise _Problem(f"{where}action", f"unknown action {action!r} "
                                             f"(allowed: {', '.join(BREACH_ACTIONS)})")
        required, recipients = BREACH_ACTIONS[action]
        _only(item, {"action", "note", *required}, where)
        params = {name: _text(item, name, where=where) for name in required}
        if recipients is not None and params["to"] not in recipients:
            raise _Problem(f"{where}to", f"unknown recipient {params['to']!r} for {action} "
                                         f"(allowed: {', '.join(recipients)})")
        note = _text(item, "note", required=False, where=where)
        if note:
            params["note"] = note
        actions.append(BreachAction(action, MappingProxyType(params)))
    return tuple(actions)


def _parse_legal_basis(raw) -> tuple[LegalReference, ...]:
    if raw is None or raw == []:
        raise _Problem("legal_basis", "missing: every deadline needs at least one "
                                      "[[deadline.legal_basis]] with law and paragraph")
    references = []
    for i, item in enumerate(_list(raw, "legal_basis")):
        where = f"legal_basis[{i}]."
        item = _table(item, f"legal_basis[{i}]")
        _only(item, {"law", "paragraph", "subsection", "verify", "note"}, where)
        subsection = item.get("subsection")
        if isinstance(subsection, int) and not isinstance(subsection, bool):
            subsection = str(subsection)
        paragraph = item.get("paragraph")
        if isinstance(paragraph, int) and not isinstance(paragraph, bool):
            paragraph = str(paragraph)
        verify = item.get("verify", False)
        if not isinstance(verify, bool):
            raise _Problem(f"{where}verify", f"must be true or false, got {verify!r}")
        references.append(LegalReference(
            law=_text(item, "law", where=where),
            paragraph=_text({"paragraph": paragraph}, "paragraph", where=where),
            subsection=_text({"subsection": subsection}, "subsection", required=False,
                             where=where),
            verify=verify,
            note=_text(item, "note", required=False, where=where),
        ))
    return tuple(references)


def _parse_entry(raw: Mapping) -> Deadline:
    _only(raw, _ENTRY_FIELDS, "")
    texts = {name: _text(raw, name) for name in _REQUIRED_TEXT}
    if not _KEY.match(texts["key"]):
        raise _Problem("key", "use lower-case letters, digits and _ only, starting with a letter")
    rule = _parse_rule(raw.get("rule"))
    legal_basis = _parse_legal_basis(raw.get("legal_basis"))
    closed = raw.get("if_due_on_closed_day", KEEP)
    if closed not in (KEEP, NEXT_WORKING_DAY):
        raise _Problem("if_due_on_closed_day",
                       f"must be {KEEP!r} or {NEXT_WORKING_DAY!r}, got {closed!r}")
    if closed != KEEP and rule.kind in (HOURS, WORKING_DAYS):
        raise _Problem("if_due_on_closed_day",
                       f"only for days, weeks and months, not {rule.kind}")
    return Deadline(
        **texts,
        rule=rule,
        legal_basis=legal_basis,
        override=_parse_override(raw.get("override"), rule),
        reminders=_parse_reminders(raw.get("reminders")),
        on_breach=_parse_actions(raw.get("on_breach")),
        description=_text(raw, "description", required=False),
        if_due_on_closed_day=closed,
        or_earlier_event=_text(raw, "or_earlier_event", required=False),
        pause_reasons=_parse_pause_reasons(raw.get("pause_reasons")),
    )


def _parse_pause_reasons(raw) -> tuple[str, ...]:
    reasons = []
    for i, item in enumerate(_list(raw if raw is not None else [], "pause_reasons")):
        text = _text({"reason": item}, "reason", where=f"pause_reasons[{i}].")
        if len(text) > 200:
            raise _Problem(f"pause_reasons[{i}]", "longer than 200 characters")
        reasons.append(text)
    return tuple(reasons)


def _closing_days(raw, source: str) -> tuple[str, ...]:
    try:
        calendar = _table(raw, "calendar")
        _only(calendar, {"closing_days"}, "calendar.")
        days = _list(calendar.get("closing_days", list(DEFAULT_CLOSING_DAYS)),
                     "calendar.closing_days")
        BusinessCalendar(days)
    except _Problem as problem:
        raise ProcessDefinitionError(f"{source}: {problem.field}: {problem.message}") from None
    except ValueError as exc:
        raise ProcessDefinitionError(f"{source}: calendar.closing_days: {exc}") from None
    return tuple(days)


def _read_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProcessDefinitionError(f"{source}: not valid TOML: {exc}") from None


def parse_catalogue(text: str, source: str = CATALOGUE_FILE) -> DeadlineCatalogue:
    """The shipped catalogue from TOML text, validated. Raises ProcessDefinitionError naming
    the source, the deadline and the field of the first problem."""
    data = _read_toml(text, source)
    unknown = sorted(set(data) - {"calendar", "deadline"})
    if unknown:
        raise ProcessDefinitionError(
            f"{source}: unknown top-level entry {unknown[0]!r} (allowed: [calendar], [[deadline]])")
    closing_days = _closing_days(data.get("calendar", {}), source)
    raw_entries = data.get("deadline", [])
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ProcessDefinitionError(f"{source}: no [[deadline]] entries")
    entries: dict[str, Deadline] = {}
    for number, raw in enumerate(raw_entries, start=1):
        key = raw.get("key") if isinstance(raw, Mapping) else None
        name = (f"deadline {key!r}" if isinstance(key, str) and key.strip()
                else f"deadline #{number} (no key)")
        try:
            entry = _parse_entry(raw)
        except _Problem as problem:
            raise ProcessDefinitionError(f"{source}: {name}: {problem.field}: {problem.message}",
                                         deadline=key, field=problem.field) from None
        if entry.key in entries:
            raise ProcessDefinitionError(
                f"{source}: {name}: key: duplicate key (deadline #{number} repeats it)",
                deadline=key, field="key")
        entries[entry.key] = entry
    return DeadlineCatalogue(entries, BusinessCalendar(closing_days), (source,))


def apply_overrides(catalogue: DeadlineCatalogue, text: str,
                    source: str = "deadlines.local.toml") -> DeadlineCatalogue:
    """A new catalogue with a municipality's overrides (TOML text) applied.

    The file may have [calendar] closing_days (replacing the list) and, per deadline,
    [deadlines.KEY] with `amount` and/or `variants`, each within the entry's bounds and only
    for entries the municipality may override."""
    data = _read_toml(text, source)
    unknown = sorted(set(data) - {"calendar", "deadlines"})
    if unknown:
        raise ProcessDefinitionError(
            f"{source}: unknown top-level entry {unknown[0]!r} "
            "(allowed: [calendar], [deadlines.KEY])")
    calendar = catalogue.calendar
    if "calendar" in data:
        calendar = BusinessCalendar(_closing_days(data["calendar"], source))
    entries = {entry.key: entry for entry in catalogue}
    overrides = data.get("deadlines", {})
    if not isinstance(overrides, Mapping):
        raise ProcessDefinitionError(f"{source}: deadlines: must be tables [deadlines.KEY]")
    for key, raw in overrides.items():
        name = f"deadline {key!r}"
        if key not in entries:
            raise ProcessDefinitionError(
                f"{source}: {name}: no such deadline in the catalogue "
                f"(known: {', '.join(entries)})", deadline=key, field="key")
        try:
            entries[key] = _override_entry(entries[key], raw)
        except _Problem as problem:
            raise ProcessDefinitionError(f"{source}: {name}: {problem.field}: {problem.message}",
                                         deadline=key, field=problem.field) from None
    return DeadlineCatalogue(entries, calendar, (*catalogue.sources, source))


def _override_entry(entry: Deadline, raw) -> Deadline:
    raw = _table(raw, "override")
    _only(raw, {"amount", "variants"}, "")
    if not raw:
        return entry
    if not entry.override.municipality:
        field_name = sorted(raw)[0]
        raise _Problem(field_name, f"{entry.rule.describe()} is fixed: the municipality may "
                                   "not change this deadline")
    policy = entry.override
    bounds = _bounds_text(entry)
    amount = entry.rule.amount
    if "amount" in raw:
        amount = _count(raw["amount"], "amount")
        if not policy.allows(amount):
            raise _Problem("amount", f"{amount} is outside the allowed {bounds}")
    variants = dict(entry.rule.variants)
    for name, value in _table(raw.get("variants", {}), "variants").items():
        if name not in variants:
            known = ", ".join(variants) or "none"
            raise _Problem(f"variants.{name}", f"no such variant (variants: {known})")
        value = _count(value, f"variants.{name}")
        if not policy.allows(value):
            raise _Problem(f"variants.{name}", f"{value} is outside the allowed {bounds}")
        variants[name] = value
    rule = Rule(entry.rule.kind, amount, MappingProxyType(variants))
    return replace(entry, rule=rule, shipped_rule=entry.shipped_rule or entry.rule)


def load_catalogue(processes_dir: Path | str,
                   overrides_path: Path | str | None = None) -> DeadlineCatalogue:
    """`processes_dir/deadlines.toml` with the overrides file, if one is given, applied.

    A missing catalogue or a named overrides file that does not exist is an error: statutory
    deadlines must never silently disappear."""
    path = Path(processes_dir) / CATALOGUE_FILE
    catalogue = parse_catalogue(_read(path, "the deadline catalogue"), str(path))
    if overrides_path:
        overrides = Path(overrides_path)
        catalogue = apply_overrides(catalogue, _read(overrides, "the deadline overrides file"),
                                    str(overrides))
    return catalogue


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProcessDefinitionError(f"{path}: {what} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcessDefinitionError(f"{path}: cannot read {what}: {exc}") from None
