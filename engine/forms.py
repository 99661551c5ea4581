"""Form definitions: one JSON Schema per user task in `forms/`, keyed by the file name.

Display hints ride along in the schema: `title` is the Danish label, `description` the help
text, `x-enumNames` the labels of enum values, `x-widget` the input to use and `x-reports`
which reports use a field (so the form can show what a field is for).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from .errors import ProcessDefinitionError, ValidationFailed

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
        """Values for the form's fields from what the case already knows."""
        values = {}
        for name, field in self.fields.items():
            if name in data:
                values[name] = data[name]
            elif "default" in field:
                values[name] = field["default"]
        return values

    def validate(self, submitted: Any) -> dict[str, Any]:
        """Return the submitted data without its read-only fields if valid, else raise
        ValidationFailed with one message per field."""
        if not isinstance(submitted, dict):
            raise ValidationFailed("data must be a JSON object", {"data": ["must be an object"]})
        fields: dict[str, list[str]] = {}
        for name in submitted:
            if name not in self.fields:
                fields.setdefault(name, []).append("unknown field")
        for error in self.validator.iter_errors(submitted):
            if error.validator == "required":
                # Top-level or conditional (if/then): name each field that is missing.
                for name in error.validator_value:
                    if isinstance(error.instance, dict) and name not in error.instance:
                        path = ".".join([*(str(p) for p in error.absolute_path), name])
                        fields.setdefault(path, []).append("required field is missing")
                continue
            if error.validator == "additionalProperties":
                continue  # reported above as unknown fields
            name = ".".join(str(p) for p in error.absolute_path) or "data"
            fields.setdefault(name, []).append(_message(error))
        if fields:
            fields = {k: sorted(set(v)) for k, v in fields.items()}
            raise ValidationFailed(f"invalid data for form {self.key}", fields)
        # Read-only fields show what the case knows (pre-filled); a form sends them back, but
        # they are not the user's to change.
        return {k: v for k, v in submitted.items() if not self.fields[k].get("readOnly")}


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
    if error.validator == "format":
        return f"must be a valid {error.validator_value}"
    return error.message


class FormCatalog:
    """All forms in a folder, loaded and checked once."""

    def __init__(self, forms: dict[str, Form]):
        self._forms = forms

    @classmethod
    def load(cls, folder: Path) -> FormCatalog:
        forms = {}
        for path in sorted(Path(folder).glob("*.json")):
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ProcessDefinitionError(f"form {path.name}: not valid JSON: {exc}") from None
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
            validator = Draft202012Validator(schema, format_checker=FormatChecker())
            forms[key] = Form(key, schema, validator)
        return cls(forms)

    def get(self, key: str | None) -> Form | None:
        return self._forms.get(key) if key else None

    def __contains__(self, key: str) -> bool:
        return key in self._forms

    def keys(self):
        return self._forms.keys()
