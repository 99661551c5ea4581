"""Form definitions: one JSON Schema per user task in `forms/`, keyed by the file name.

Display hints ride along in the schema: `title` is the Danish label, `description` the help
text, `x-enumNames` the labels of enum values, `x-widget` the input to use and `x-reports`
which reports use a field (so the form can show what a field is for).

Checks beyond plain JSON Schema:
- `"format": "cpr"`: a CPR number that starts with a real date;
- `"x-past": true` on a date or date-time: it cannot be in the future;
- `"x-checks": ["name", ...]` on the form: named checks against what the case already knows
  (engine/form_checks.py), e.g. that consent covers every request for information;
- `"x-formerly": ["<old key>", ...]` on a renamed form: it still answers to its former keys,
  for cases running on an earlier process version;
- `"x-messages": "<name>"` on a read-only list: it shows what arrived on the case as message
  `<name>` (e.g. the provider's status reports), newest first;
- `"x-ffb": "<concept>"` on a string field: its values are the codes below that concept in
  KL's FFB code system (`forms/codes/ffb.json`), filled in as `enum` and `x-enumNames` when
  the forms are loaded; `"x-ffb-depth": n` takes the codes exactly n levels below it instead of
  the leaves (e.g. the themes of "FFB tilstande" at depth 2).

A form can also be saved as a draft (`Form.validate_draft`): any part of it, in any order;
what is missing is only named when the task is completed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError

from .clock import LOCAL_TZ, now
from .cpr import normalize_cpr
from .errors import ProcessDefinitionError, ValidationFailed
from .form_checks import CHECKS

FORMATS = FormatChecker()


@FORMATS.checks("cpr", raises=ValueError)
def _is_cpr(value) -> bool:
    if isinstance(value, str):
        normalize_cpr(value)
    return True


def _past(validator, wanted, instance, schema):
    """`x-past`: a date (or date-time) that has happened, not one in the future."""
    if not wanted or not isinstance(instance, str):
        return
    try:
        if "T" in instance:
            moment = datetime.fromisoformat(instance)
            late = (moment.astimezone(LOCAL_TZ) if moment.tzinfo else moment.replace(
                tzinfo=LOCAL_TZ)) > now()
        else:
            late = date.fromisoformat(instance) > now().astimezone(LOCAL_TZ).date()
    except ValueError:
        return  # the format check names a malformed date
    if late:
        yield ValidationError("cannot be in the future")


FormValidator = validators.extend(Draft202012Validator, {"x-past": _past})

_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


@dataclass(frozen=True)
class Form:
    key: str
    schema: dict
    validator: Draft202012Validator

    @property
    def fields(self) -> dict[str, dict]:
        return self.schema.get("properties", {})

    def prefill(self, data: dict[str, Any]) -> dict[str, Any]:
        """Values for the form's fields from what the case already knows (a field left empty
        before, None, is empty again, or its default)."""
        values = {}
        for name, field in self.fields.items():
            if data.get(name) is not None:
                values[name] = data[name]
            elif "default" in field:
                values[name] = field["default"]
        return values

    def validate_draft(self, submitted: Any) -> dict[str, Any]:
        """A draft: every value given must be of the right kind (type, choices, format, length
        limit), but nothing is required yet (fields, list items or text left empty)."""
        return self.validate(submitted, draft=True)

    def validate(self, submitted: Any, draft: bool = False) -> dict[str, Any]:
        """Return the submitted data without its read-only fields if valid, else raise
        ValidationFailed with one message per field."""
        if not isinstance(submitted, dict):
            raise ValidationFailed("data must be a JSON object", {"data": ["must be an object"]})
        fields: dict[str, list[str]] = {}
        for name in submitted:
            if name not in self.fields:
                fields.setdefault(name, []).append("unknown field")
        for error in self.validator.iter_errors(submitted):
            if draft and error.validator in _NOT_YET:
                continue
            if error.validator == "required":
                # Top-level or conditional (if/then): name each field that is missing.
                for name in error.validator_value:
                    if isinstance(error.instance, dict) and name not in error.instance:
                        path = ".".join([*(str(p) for p in error.absolute_path), name])
                        fields.setdefault(path, []).append("required field is missing")
                continue
            if error.validator == "additionalProperties":
                if not error.absolute_path:
                    continue  # reported above as unknown fields
                allowed = set(error.schema.get("properties", {}))
                for name in error.instance:
                    if name not in allowed:
                        path = ".".join([*(str(p) for p in error.absolute_path), name])
                        fields.setdefault(path, []).append("unknown field")
                continue
            name = ".".join(str(p) for p in error.absolute_path) or "data"
            fields.setdefault(name, []).append(_message(error))
        if fields:
            fields = {k: sorted(set(v)) for k, v in fields.items()}
            raise ValidationFailed(f"invalid data for form {self.key}", fields)
        # Read-only fields show what the case knows (pre-filled); a form sends them back, but
        # they are not the user's to change.
        return {k: v for k, v in submitted.items() if not self.fields[k].get("readOnly")}

    @property
    def checks(self) -> list[str]:
        return list(self.schema.get("x-checks") or [])

    def check(self, submitted: dict, known: dict, messages: dict | None = None) -> None:
        """Run the form's named checks (x-checks) against what the case knows: `known`, the
        task's data; `messages`, what arrived on the case since (name -> list of data). Raise
        ValidationFailed naming each field that fails."""
        fields: dict[str, list[str]] = {}
        for name in self.checks:
            for field, problems in CHECKS[name](submitted, known, messages or {}).items():
                fields.setdefault(field, []).extend(problems)
        if fields:
            raise ValidationFailed(f"invalid data for form {self.key}",
                                   {k: sorted(set(v)) for k, v in fields.items()})


# What a draft may still lack: it is named when the task is completed.
_NOT_YET = frozenset({"required", "minLength", "minItems", "minProperties"})


def _message(error) -> str:
    if error.validator == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(_TYPE_NAMES.get(t, t) for t in expected)
        else:
            expected = _TYPE_NAMES.get(expected, expected)
        return f"must be {expected}"
    if error.validator == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    if error.validator == "pattern":
        return "must not be blank" if error.validator_value == "\\S" else \
            f"must match {error.validator_value}"
    if error.validator == "format":
        if error.validator_value == "cpr" and error.cause is not None:
            return str(error.cause)
        return f"must be a valid {error.validator_value}"
    return error.message


class FormCatalog:
    """All forms in a folder, loaded and checked once."""

    def __init__(self, forms: dict[str, Form], codes: CodeSystem | None = None,
                 formerly: dict[str, str] | None = None):
        self._forms = forms
        self.codes = codes or CodeSystem([])
        self._formerly = formerly or {}  # former key -> the form's key now

    @classmethod
    def load(cls, folder: Path) -> FormCatalog:
        forms = {}
        codes = CodeSystem.load(Path(folder) / "codes" / "ffb.json")
        for path in sorted(Path(folder).glob("*.json")):
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ProcessDefinitionError(f"form {path.name}: not valid JSON: {exc}") from None
            try:
                schema = codes.expand(schema)
            except KeyError as exc:
                raise ProcessDefinitionError(f"form {path.name}: {exc.args[0]}") from None
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ProcessDefinitionError(
                    f"form {path.name}: not a valid JSON Schema: {exc.message}"
                ) from None
            if (not isinstance(schema, dict) or schema.get("type") != "object"
                    or not isinstance(schema.get("properties"), dict)):
                raise ProcessDefinitionError(
                    f"form {path.name}: must be an object schema with properties"
                )
            key = path.stem
            unknown = [c for c in schema.get("x-checks") or [] if c not in CHECKS]
            if unknown:
                raise ProcessDefinitionError(
                    f"form {path.name}: x-checks names unknown checks {', '.join(unknown)} "
                    f"(known: {', '.join(sorted(CHECKS))})")
            validator = FormValidator(schema, format_checker=FORMATS)
            forms[key] = Form(key, schema, validator)
        # A renamed form keeps answering to its former keys: cases running on an earlier
        # process version name the task's form by the key it had then.
        formerly = {}
        for key, form in forms.items():
            for former in form.schema.get("x-formerly") or []:
                if former in forms or former in formerly:
                    raise ProcessDefinitionError(
                        f"form {key}.json: x-formerly names {former!r}, which is another form")
                formerly[former] = key
        return cls(forms, codes, formerly)

    def get(self, key: str | None) -> Form | None:
        return self._forms.get(self._formerly.get(key, key)) if key else None

    def __contains__(self, key: str) -> bool:
        return self._formerly.get(key, key) in self._forms

    def keys(self):
        return self._forms.keys()


class CodeSystem:
    """A FHIR CodeSystem (KL's FFB): concepts with codes and Danish display names, nested."""

    def __init__(self, concepts: list[dict]):
        self._concepts = concepts
        # display name -> [(concept, the display names of its ancestors, outermost first)]
        self._by_display: dict[str, list[tuple[dict, tuple[str, ...]]]] = {}
        self.display: dict[str, str] = {}
        stack = [(concept, ()) for concept in concepts]
        while stack:
            concept, ancestors = stack.pop()
            self._by_display.setdefault(concept["display"], []).append((concept, ancestors))
            self.display[concept["code"]] = concept["display"]
            stack.extend((child, (*ancestors, concept["display"]))
                         for child in concept.get("concept") or [])

    def _concept(self, under: str) -> dict:
        """The concept a form names: its display name, or "Parent/Name" where the name is
        used more than once."""
        *parents, name = under.split("/")
        found = [(c, a[-1] if a else None) for c, a in self._by_display.get(name, [])
                 if not parents or a[-len(parents):] == tuple(parents)]
        if not found:
            raise KeyError(f"x-ffb names {under!r}, which is not a concept of the FFB code "
                           "system (forms/codes/ffb.json)")
        if len(found) > 1:
            where = ", ".join(sorted(f"{p}/{name}" for _c, p in found))
            raise KeyError(f"x-ffb names {under!r}, which is the name of several FFB "
                           f"concepts: write one of {where}")
        return found[0][0]

    @classmethod
    def load(cls, path: Path) -> CodeSystem:
        if not path.exists():
            return cls([])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data.get("concept") or [])
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError,
                TypeError) as exc:
            raise ProcessDefinitionError(f"code system {path}: not a FHIR CodeSystem: {exc}") \
                from None

    def codes(self, under: str, depth: int | None = None) -> list[tuple[str, str]]:
        """(code, display) of the concepts below `under`: its leaves, or those exactly `depth`
        levels below it; in the code system's order."""
        concept = self._concept(under)
        found = []

        def walk(node, level):
            children = node.get("concept") or []
            if level and (level == depth or (depth is None and not children)):
                found.append((node["code"], node["display"]))
                return
            for child in children:
                walk(child, level + 1)

        walk(concept, 0)
        if not found:
            asked = f" with x-ffb-depth {depth}" if depth else ""
            raise KeyError(f"x-ffb names {under!r}{asked}, which gives no codes (a concept "
                           "without the levels asked for)")
        return found

    def expand(self, schema):
        """The schema with every `x-ffb` field given its codes as enum and x-enumNames."""
        if isinstance(schema, list):
            return [self.expand(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        expanded = {key: self.expand(value) for key, value in schema.items()}
        if "x-ffb" in expanded:
            pairs = self.codes(expanded["x-ffb"], expanded.get("x-ffb-depth"))
            expanded["enum"] = [code for code, _ in pairs]
            expanded["x-enumNames"] = [display for _, display in pairs]
        return expanded
