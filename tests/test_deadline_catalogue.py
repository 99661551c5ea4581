"""The deadline catalogue in processes/deadlines.toml: shipped entries, due dates for every rule
kind, a municipality's overrides, and bad catalogues refused with the entry named."""

import copy
import json
import tomllib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from api import create_app
from api.config import load_config
from engine.clock import LOCAL_TZ
from engine.deadlines.catalogue import (
    RULE_KINDS,
    apply_overrides,
    load_catalogue,
    parse_catalogue,
)
from engine.errors import NotFound, ProcessDefinitionError, ValidationFailed

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_TEXT = (ROOT / "processes" / "deadlines.toml").read_text(encoding="utf-8")
SHIPPED = tomllib.loads(SHIPPED_TEXT)
CATALOGUE = load_catalogue(ROOT / "processes")

SHIPPED_KEYS = ["underretning_24t", "kvittering_6hd", "sel50_4m", "barnets_plan_3m",
                "foerste_opfoelgning", "naeste_opfoelgning", "sel85_afgoerelse",
                "partshoering_svar", "klage_genvurdering", "aktindsigt_7hd"]


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=LOCAL_TZ)


# A small TOML writer for the subset the catalogue uses (tomllib only reads).
def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def dumps(data: dict) -> str:
    lines = []
    for name, table in data.items():
        if isinstance(table, list):
            for item in table:
                lines.append(f"[[{name}]]")
                lines.extend(f"{k} = {_value(v)}" for k, v in item.items())
        else:
            for key, sub in table.items():
                if isinstance(sub, dict) and name == "deadlines":
                    lines.append(f"[{name}.{key}]")
                    lines.extend(f"{k} = {_value(v)}" for k, v in sub.items())
                else:
                    lines.append(f"[{name}]")
                    lines.append(f"{key} = {_value(sub)}")
    return "\n".join(lines) + "\n"


def shipped_with(change) -> str:
    """The shipped catalogue as TOML after `change(data)`."""
    data = copy.deepcopy(SHIPPED)
    change(data)
    return dumps(data)


def entry(data: dict, key: str) -> dict:
    return next(e for e in data["deadline"] if e["key"] == key)


def overridden(text: str):
    return apply_overrides(CATALOGUE, text, "deadlines.local.toml")


# The shipped catalogue -----------------------------------------------------------------------


def test_the_writer_reproduces_the_shipped_catalogue():
    assert tomllib.loads(dumps(SHIPPED)) == SHIPPED


def test_every_shipped_key_is_present_with_title_start_event_and_legal_basis():
    assert CATALOGUE.keys() == SHIPPED_KEYS
    for deadline in CATALOGUE:
        assert deadline.title.strip() and deadline.start_event and deadline.start_title
        assert deadline.legal_basis, deadline.key
        for reference in deadline.legal_basis:
            assert reference.law and reference.paragraph, deadline.key
        assert deadline.on_breach, deadline.key
        assert not deadline.overridden


def test_legal_references_the_brief_marks_verify_carry_the_verify_flag():
    verify = {d.key for d in CATALOGUE if d.legal_basis[0].verify}
    assert {"underretning_24t", "kvittering_6hd", "klage_genvurdering"} <= verify
    assert "sel50_4m" not in verify
    assert str(CATALOGUE["sel50_4m"].legal_basis[0]) == "Barnets lov § 20, stk. 3"
    assert str(CATALOGUE["klage_genvurdering"].legal_basis[0]) == \
        "Retssikkerhedsloven § 66 (verificeres)"
    assert str(CATALOGUE["sel85_afgoerelse"].legal_basis[0]) == "Retssikkerhedsloven § 3, stk. 2"


def test_shipped_rules_are_those_of_the_brief():
    rules = {d.key: (d.rule.kind, d.rule.amount) for d in CATALOGUE}
    assert rules == {
        "underretning_24t": ("hours", 24),
        "kvittering_6hd": ("working_days", 6),
        "sel50_4m": ("calendar_months", 4),
        "barnets_plan_3m": ("calendar_months", 3),
        "foerste_opfoelgning": ("calendar_months", 3),
        "naeste_opfoelgning": ("calendar_months", 6),
        "sel85_afgoerelse": ("weeks", 8),
        "partshoering_svar": ("calendar_days", 14),
        "klage_genvurdering": ("weeks", 4),
        "aktindsigt_7hd": ("working_days", 7),
    }
    assert dict(CATALOGUE["naeste_opfoelgning"].rule.variants) == {"boern": 6, "voksne": 12}


def test_only_the_municipal_and_per_case_deadlines_may_be_changed():
    municipal = {d.key for d in CATALOGUE if d.override.municipality}
    per_case = {d.key for d in CATALOGUE if d.override.per_case}
    assert municipal == {"sel85_afgoerelse", "naeste_opfoelgning", "partshoering_svar"}
    assert per_case == {"naeste_opfoelgning", "partshoering_svar"}


def test_breach_actions_are_data():
    sel50 = [(a.action, dict(a.params)) for a in CATALOGUE["sel50_4m"].on_breach]
    assert sel50 == [
        ("task", {"task": "foreloebig_vurdering", "title": "Udarbejd foreløbig vurdering",
                  "to": "caseworker"}),
        ("letter", {"letter": "undersoegelse_forsinket", "to": "parties"}),
    ]
    assert [a.action for a in CATALOGUE["klage_genvurdering"].on_breach] == ["forward"]
    assert [a.action for a in CATALOGUE["sel85_afgoerelse"].on_breach] == ["letter", "escalate"]


def test_the_app_loads_the_catalogue_at_start(app):
    catalogue = app.extensions["deadlines"]
    assert catalogue.keys() == SHIPPED_KEYS


# Due dates, one rule kind at a time -----------------------------------------------------------


def test_due_in_hours_is_real_elapsed_time_over_the_spring_change():
    due = CATALOGUE.due("underretning_24t", local(2025, 3, 29, 12))
    assert due.isoformat() == "2025-03-30T13:00:00+02:00"


def test_due_in_working_days_confirms_receipt_on_the_sixth_working_day_after_receipt():
    assert CATALOGUE.due("kvittering_6hd", local(2025, 1, 10, 15)) == end_of(date(2025, 1, 20))
    assert CATALOGUE.due("kvittering_6hd", date(2025, 1, 11)) == end_of(date(2025, 1, 20))
    assert CATALOGUE.due("kvittering_6hd", date(2025, 1, 13)) == end_of(date(2025, 1, 21))
    # Access to documents from Wednesday 16 April 2025: Maundy Thursday to Easter Monday are
    # skipped, Tue 22 April is working day 1 and Wed 30 April day 7.
    assert CATALOGUE.due("aktindsigt_7hd", date(2025, 4, 16)) == end_of(date(2025, 4, 30))


def test_due_in_calendar_months_from_31_january_is_31_may():
    assert CATALOGUE.due("sel50_4m", date(2025, 1, 31)) == end_of(date(2025, 5, 31))
    assert CATALOGUE.due("sel50_4m", local(2025, 1, 31, 16, 45)) == end_of(date(2025, 5, 31))
    assert CATALOGUE.due("barnets_plan_3m", date(2025, 11, 30)) == end_of(date(2026, 2, 28))
    assert CATALOGUE.due("barnets_plan_3m", date(2027, 11, 30)) == end_of(date(2028, 2, 29))


def test_due_in_weeks():
    assert CATALOGUE.due("sel85_afgoerelse", date(2025, 1, 6)) == end_of(date(2025, 3, 3))
    assert CATALOGUE.due("klage_genvurdering", date(2025, 12, 1)) == end_of(date(2025, 12, 29))


def test_due_in_calendar_days_moves_to_the_next_working_day_when_the_entry_says_so():
    # Hearing letter sent Monday 3 March 2025: 14 days end on Monday 17 March.
    assert CATALOGUE.due("partshoering_svar", date(2025, 3, 3)) == end_of(date(2025, 3, 17))
    # Sent Saturday 1 March: day 14 is Saturday 15 March, moved to Monday 17.
    assert CATALOGUE.due("partshoering_svar", date(2025, 3, 1)) == end_of(date(2025, 3, 17))
    # Sent 10 December 2025: day 14 is 24 December, a closing day, then Christmas: Mon 29.
    assert CATALOGUE.due("partshoering_svar", date(2025, 12, 10)) == end_of(date(2025, 12, 29))


def test_a_deadline_without_the_rule_keeps_a_due_day_on_a_closed_day():
    # 4 months from 31 August 2025 is Wednesday 31 December, a closing day: the § 20 deadline
    # stays there. 8 weeks from Saturday 4 January 2025 end on Saturday 1 March.
    assert CATALOGUE.due("sel50_4m", date(2025, 8, 31)) == end_of(date(2025, 12, 31))
    assert CATALOGUE.due("sel85_afgoerelse", date(2025, 1, 4)) == end_of(date(2025, 3, 1))


def test_a_variant_and_a_per_case_amount_are_used_when_given():
    start = date(2025, 1, 31)
    assert CATALOGUE.due("naeste_opfoelgning", start) == end_of(date(2025, 7, 31))
    assert CATALOGUE.due("naeste_opfoelgning", start, variant="boern") == end_of(date(2025, 7, 31))
    assert CATALOGUE.due("naeste_opfoelgning", start, variant="voksne") == end_of(date(2026, 1, 31))
    assert CATALOGUE.due("naeste_opfoelgning", start, amount=3) == end_of(date(2025, 4, 30))
    assert CATALOGUE.due("partshoering_svar", date(2025, 3, 3), amount=8) == \
        end_of(date(2025, 3, 11))


def test_a_per_case_amount_is_refused_where_the_law_fixes_it_or_out_of_bounds():
    with pytest.raises(ValidationFailed, match="cannot be set per case"):
        CATALOGUE.due("sel50_4m", date(2025, 1, 31), amount=6)
    with pytest.raises(ValidationFailed, match="outside 1–24 calendar months"):
        CATALOGUE.due("naeste_opfoelgning", date(2025, 1, 31), amount=36)
    with pytest.raises(ValidationFailed, match="no variant 'unge'"):
        CATALOGUE.due("naeste_opfoelgning", date(2025, 1, 31), variant="unge")


def test_the_first_follow_up_falls_due_when_the_investigation_ends_if_that_is_earlier():
    measure_started = date(2025, 2, 10)
    assert CATALOGUE.due("foerste_opfoelgning", measure_started) == end_of(date(2025, 5, 10))
    assert CATALOGUE.due("foerste_opfoelgning", measure_started,
                         or_earlier=local(2025, 3, 20, 11)) == end_of(date(2025, 3, 20))
    assert CATALOGUE.due("foerste_opfoelgning", measure_started,
                         or_earlier=date(2025, 6, 1)) == end_of(date(2025, 5, 10))
    with pytest.raises(ValidationFailed, match="not cut short"):
        CATALOGUE.due("sel50_4m", date(2025, 1, 31), or_earlier=date(2025, 2, 1))


def test_due_refuses_an_unknown_key_and_a_naive_start():
    with pytest.raises(NotFound, match="no deadline with key 'sel50_5m'"):
        CATALOGUE.due("sel50_5m", date(2025, 1, 31))
    with pytest.raises(ValueError, match="timezone-aware"):
        CATALOGUE.due("sel50_4m", datetime(2025, 1, 31, 9))


def test_due_dates_are_stored_as_the_same_moment_in_utc():
    due = CATALOGUE.due("sel50_4m", date(2025, 1, 31))
    assert due.astimezone(timezone.utc) == datetime(2025, 5, 31, 21, 59, 59, tzinfo=timezone.utc)


def test_reminders_come_before_the_due_date():
    due = CATALOGUE.due("sel85_afgoerelse", date(2025, 1, 6))  # Monday 3 March 2025
    # 10 working days before Monday 3 March 2025 is Monday 17 February, from 00:00.
    assert CATALOGUE.reminders("sel85_afgoerelse", due) == [local(2025, 2, 17)]
    due = CATALOGUE.due("underretning_24t", local(2025, 3, 29, 12))
    assert CATALOGUE.reminders("underretning_24t", due) == [due - timedelta(hours=6)]
    due = CATALOGUE.due("sel50_4m", date(2025, 1, 31))  # Saturday 31 May 2025
    # 5 working days before: Fri 30 (1), Ascension Day 29 skipped, 28 (2), 27 (3), 26 (4),
    # Fri 23 May (5).
    assert CATALOGUE.reminders("sel50_4m", due) == [local(2025, 5, 2), local(2025, 5, 23)]
    assert CATALOGUE.reminders("partshoering_svar", due) == []


# A municipality's overrides -------------------------------------------------------------------


def test_a_municipality_sets_its_own_case_processing_deadline():
    catalogue = overridden("[deadlines.sel85_afgoerelse]\namount = 12\n")
    sel85 = catalogue["sel85_afgoerelse"]
    assert sel85.overridden
    assert sel85.rule.describe() == "12 weeks"
    assert sel85.shipped_rule.describe() == "8 weeks"
    assert catalogue.due("sel85_afgoerelse", date(2025, 1, 6)) == end_of(date(2025, 3, 31))
    assert not catalogue["sel50_4m"].overridden
    assert catalogue.sources == (CATALOGUE.sources[0], "deadlines.local.toml")
    # The shipped catalogue is untouched.
    assert CATALOGUE.due("sel85_afgoerelse", date(2025, 1, 6)) == end_of(date(2025, 3, 3))


def test_a_municipality_changes_a_variant_and_the_closing_days():
    catalogue = overridden('[calendar]\nclosing_days = ["12-24"]\n\n'
                           "[deadlines.naeste_opfoelgning]\nvariants = { voksne = 6 }\n")
    assert catalogue.due("naeste_opfoelgning", date(2025, 1, 31), variant="voksne") == \
        end_of(date(2025, 7, 31))
    assert catalogue["naeste_opfoelgning"].overridden
    # 6 working days from Tuesday 3 June 2025 (Whit Monday 9 June is a holiday): with 5 June
    # open, Thu 12 June; with 5 June closed (shipped), Fri 13 June.
    assert catalogue.due("kvittering_6hd", date(2025, 6, 3)) == end_of(date(2025, 6, 12))
    assert CATALOGUE.due("kvittering_6hd", date(2025, 6, 3)) == end_of(date(2025, 6, 13))


@pytest.mark.parametrize("text, expected", [
    ("[deadlines.sel85_afgoerelse]\namount = 60\n",
     "deadline 'sel85_afgoerelse': amount: 60 is outside the allowed 1–52 weeks"),
    ("[deadlines.sel85_afgoerelse]\namount = 0\n",
     "deadline 'sel85_afgoerelse': amount: must be at least 1"),
    ("[deadlines.partshoering_svar]\namount = -3\n",
     "deadline 'partshoering_svar': amount: must be at least 1"),
    ("[deadlines.sel50_4m]\namount = 6\n",
     "deadline 'sel50_4m': amount: 4 calendar months is fixed: the municipality may not"),
    ("[deadlines.kvittering_6hd]\namount = 10\n",
     "deadline 'kvittering_6hd': amount: 6 working days is fixed"),
    ("[deadlines.naeste_opfoelgning]\nvariants = { voksne = 30 }\n",
     "deadline 'naeste_opfoelgning': variants.voksne: 30 is outside the allowed 1–24"),
    ("[deadlines.naeste_opfoelgning]\nvariants = { unge = 3 }\n",
     "deadline 'naeste_opfoelgning': variants.unge: no such variant"),
    ("[deadlines.sel85_afgoerelse]\namout = 12\n",
     "deadline 'sel85_afgoerelse': amout: unknown field"),
    ("[deadlines.sel85]\namount = 12\n",
     "deadline 'sel85': no such deadline in the catalogue"),
    ('[calendar]\nclosing_days = ["24-12"]\n',
     "calendar.closing_days: '24-12' is not a day"),
    ("[deadlines.sel85_afgoerelse\namount = 12\n", "not valid TOML"),
])
def test_an_override_out_of_bounds_or_of_a_fixed_deadline_is_refused_naming_it(text, expected):
    with pytest.raises(ProcessDefinitionError) as refused:
        overridden(text)
    assert refused.value.message.startswith("deadlines.local.toml: ")
    assert expected in refused.value.message


def test_the_overrides_file_comes_from_the_environment_or_the_instance_folder(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SAGSFLOW_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("SAGSFLOW_DEADLINE_OVERRIDES", raising=False)
    assert load_config()["DEADLINE_OVERRIDES"] is None

    local_file = tmp_path / "deadlines.local.toml"
    local_file.write_text("[deadlines.sel85_afgoerelse]\namount = 10\n", encoding="utf-8")
    assert load_config()["DEADLINE_OVERRIDES"] == str(local_file)
    catalogue = load_catalogue(ROOT / "processes", load_config()["DEADLINE_OVERRIDES"])
    assert catalogue["sel85_afgoerelse"].rule.amount == 10

    named = tmp_path / "kommune.toml"
    monkeypatch.setenv("SAGSFLOW_DEADLINE_OVERRIDES", str(named))
    assert load_config()["DEADLINE_OVERRIDES"] == str(named)
    with pytest.raises(ProcessDefinitionError, match="overrides file does not exist"):
        load_catalogue(ROOT / "processes", load_config()["DEADLINE_OVERRIDES"])


# Bad catalogues --------------------------------------------------------------------------------


def _set(key, field, value):
    def change(data):
        target = entry(data, key)
        *path, last = field.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return change


def _drop(key, field):
    def change(data):
        del entry(data, key)[field]
    return change


def _duplicate(data):
    data["deadline"].append(copy.deepcopy(entry(data, "aktindsigt_7hd")))


def _no_key(data):
    del data["deadline"][2]["key"]


@pytest.mark.parametrize("change, expected", [
    (_set("sel85_afgoerelse", "pause_reasons", "Afventer borgeren"),
     "deadline 'sel85_afgoerelse': pause_reasons: must be a list"),
    (_set("sel85_afgoerelse", "pause_reasons", ["Afventer borgeren", " "]),
     "deadline 'sel85_afgoerelse': pause_reasons[1].reason: must be"),
    (_set("aktindsigt_7hd", "pause_reasons", ["x" * 201]),
     "deadline 'aktindsigt_7hd': pause_reasons[0]: longer than 200 characters"),
    (_set("sel50_4m", "rule.kind", "months"),
     "deadline 'sel50_4m': rule.kind: unknown kind 'months'"),
    (_set("kvittering_6hd", "rule.amount", -6),
     "deadline 'kvittering_6hd': rule.amount: must be at least 1, got -6"),
    (_set("aktindsigt_7hd", "rule.amount", 0),
     "deadline 'aktindsigt_7hd': rule.amount: must be at least 1, got 0"),
    (_set("sel50_4m", "rule.amount", "4"),
     "deadline 'sel50_4m': rule.amount: must be a whole number"),
    (_drop("barnets_plan_3m", "title"), "deadline 'barnets_plan_3m': title: missing"),
    (_set("barnets_plan_3m", "title", "  "), "deadline 'barnets_plan_3m': title: must be"),
    (_drop("sel85_afgoerelse", "legal_basis"),
     "deadline 'sel85_afgoerelse': legal_basis: missing"),
    (_set("sel85_afgoerelse", "legal_basis", [{"law": "Retssikkerhedsloven"}]),
     "deadline 'sel85_afgoerelse': legal_basis[0].paragraph: missing"),
    (_drop("klage_genvurdering", "start_event"),
     "deadline 'klage_genvurdering': start_event: missing"),
    (_duplicate, "deadline 'aktindsigt_7hd': key: duplicate key"),
    (_no_key, "deadline #3 (no key): key: missing"),
    (_set("sel85_afgoerelse", "rule.amount", 60),
     "deadline 'sel85_afgoerelse': rule.amount: 60 is outside the override bounds 1–52"),
    (_set("sel85_afgoerelse", "override", {"municipality": True}),
     "deadline 'sel85_afgoerelse': override.min: missing"),
    (_set("sel50_4m", "override", {"municipality": False, "min": 1}),
     "deadline 'sel50_4m': override.min: bounds are only for a deadline that may be changed"),
    (_set("sel50_4m", "reminders", [{"kind": "fortnights", "amount": 1}]),
     "deadline 'sel50_4m': reminders[0].kind: unknown kind 'fortnights'"),
    (_set("sel50_4m", "reminders", [{"kind": "working_days", "amount": 0}]),
     "deadline 'sel50_4m': reminders[0].amount: must be at least 1"),
    (_set("sel50_4m", "on_breach", [{"action": "panic"}]),
     "deadline 'sel50_4m': on_breach[0].action: unknown action 'panic'"),
    (_set("sel50_4m", "on_breach", [{"action": "escalate", "to": "borgmester"}]),
     "deadline 'sel50_4m': on_breach[0].to: unknown recipient 'borgmester'"),
    (_set("sel50_4m", "on_breach", [{"action": "letter", "to": "parties"}]),
     "deadline 'sel50_4m': on_breach[0].letter: missing"),
    (_set("sel50_4m", "titel", "Stavefejl"), "deadline 'sel50_4m': titel: unknown field"),
    (_set("underretning_24t", "if_due_on_closed_day", "next_working_day"),
     "deadline 'underretning_24t': if_due_on_closed_day: only for days, weeks and months"),
    (_set("sel50_4m", "key", "SEL50 4m"), "deadline 'SEL50 4m': key: use lower-case letters"),
])
def test_a_bad_catalogue_is_refused_naming_the_entry_and_field(change, expected):
    with pytest.raises(ProcessDefinitionError) as refused:
        parse_catalogue(shipped_with(change), "deadlines.toml")
    assert refused.value.message.startswith("deadlines.toml: ")
    assert expected in refused.value.message


def test_every_rule_kind_is_accepted():
    for kind in RULE_KINDS:
        catalogue = parse_catalogue(shipped_with(_set("sel50_4m", "rule.kind", kind)))
        assert catalogue.due("sel50_4m", date(2025, 1, 31)) > local(2025, 1, 31)


def test_a_catalogue_that_is_not_toml_or_missing_is_refused(tmp_path):
    with pytest.raises(ProcessDefinitionError, match="deadlines.toml: not valid TOML"):
        parse_catalogue("[[deadline]\nkey = 1", "deadlines.toml")
    with pytest.raises(ProcessDefinitionError, match="deadline catalogue does not exist"):
        load_catalogue(tmp_path)
    with pytest.raises(ProcessDefinitionError, match="unknown top-level entry 'deadlines'"):
        parse_catalogue("[deadlines.x]\na = 1\n", "deadlines.toml")


def test_the_app_does_not_start_with_a_bad_catalogue(tmp_path):
    (tmp_path / "deadlines.toml").write_text(
        shipped_with(_set("klage_genvurdering", "rule.kind", "fortnights")), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError,
                       match="deadline 'klage_genvurdering': rule.kind: unknown kind"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                    "SECRET_KEY": "test", "PROCESSES_DIR": str(tmp_path)})
