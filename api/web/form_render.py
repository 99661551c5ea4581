"""A task's form as HTML, from its JSON Schema in forms/ (engine/forms.py), and the submitted
HTML form back as the JSON the engine validates. Pure functions: no request, no database.

`fields(schema, values, errors)` describes the form as a tree of `Field`s that the Jinja
macros in api/templates/web/_form.html.j2 render: the Danish label (`title`), help
(`description`), choices (`enum` with `x-enumNames`, also the FFB codes `x-ffb` expanded at
load), the value pre-filled from the case, whether it is required (by the `required` of the
object it sits in, or by an if/then condition, which is shown as a hint) and the engine's
messages for it (`ValidationFailed.fields`, keyed by the same dotted paths).

Naming: an input's name is the field's path as the engine names it in its messages, the
object keys and list indices joined with dots: `formaal`, `tilstande.mobilitet.stoettebehov`,
`samtykker.0.dato`. A multi-select sends its path once per ticked value
(`samtykker.0.omfang`), a list of single values one input per item (`deltagere.1`). Every
item of a list of objects also sends an empty hidden input named by the item's path
(`samtykker.0`), so that an item is there even when nothing in it is filled in. The blank item
a list adds (in a <template>, never submitted) has `__i0__` in place of its index (`__i1__` for
a list inside a list item, ...), and `__n0__` in place of its number in the legend.

`parse(schema, formdata)` reads such a form back: types converted (whole numbers, numbers with
a decimal comma or point, a boolean's box ticked as true and unticked as false, Danish dates
d.m.åååå as ISO dates, Danish local times as ISO with the offset), textarea line ends as \n,
empty inputs left out (never ""; an empty object or list too, except a required list that may
be empty, which is []), lists of objects rebuilt from their indices in order (the gap an item
removed in the browser leaves is closed), ticks in the order of the choices, read-only fields
never read (they show what the case knows; not the user's to change). A value that cannot be
converted is kept as typed, so that the engine's validation names the field ("must be a whole
number") and the form shows it again as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from engine.clock import LOCAL_TZ

# Small closed lists of a required field are radio buttons; longer or optional ones a
# drop-down (whose "Vælg …" lets an optional answer be taken back).
RADIO_MAX = 4

MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august", "september",
          "oktober", "november", "december")

_TRUE = frozenset({"true", "on", "1", "ja", "yes"})
_INDEX = re.compile(r"[0-9]{1,6}")  # a list index; anything longer is not ours


@dataclass
class Field:
    """One field of a form, as the template renders it.

    kind: text, textarea, date, datetime, integer, number, checkbox, select, radio,
    multiselect (ticks, one per choice), group (an object: `children` are its fields), list
    (an array: `children` are its items, each a group or a single input, and `template` the
    blank item to add) or readonly (shown, never sent: `display`, or `rows` for objects)."""

    path: str
    kind: str
    label: str
    help: str = ""
    required: bool = False
    required_when: list[str] = field(default_factory=list)
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: Any = None
    errors: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    children: list[Field] = field(default_factory=list)
    template: Field | None = None
    placeholder: str = ""  # list: what stands for the new item's index in `template`
    number_placeholder: str = ""  # list: what stands for the new item's number
    item: bool = False  # an item of a list (it can be removed)
    label_stem: str = ""  # an item: its label without the number ("Nr.", the items' title)
    display: str = ""
    rows: list[list[tuple[str, str]]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    autocomplete: str = ""

    @property
    def name(self) -> str:
        """The HTML input name: the dotted path (see the module docstring)."""
        return self.path

    @property
    def id(self) -> str:
        return "f-" + self.path.replace(".", "-")

    @property
    def help_id(self) -> str:
        return self.id + "-hjaelp"

    @property
    def error_id(self) -> str:
        return self.id + "-fejl"

    @property
    def when_id(self) -> str:
        return self.id + "-naar"

    @property
    def hint(self) -> str:
        """What the input accepts, in words (limits the browser does not enforce)."""
        if self.kind in ("integer", "number"):
            what = "Et helt tal" if self.kind == "integer" else "Et tal"
            low, high = _num(self.minimum), _num(self.maximum)
            if low is not None and high is not None:
                return f"{what} fra {low} til {high}."
            if low is not None:
                return f"{what}, mindst {low}."
            if high is not None:
                return f"{what}, højst {high}."
        if self.kind == "list" and self.max_items:
            return f"Højst {self.max_items}."
        return ""

    @property
    def describedby(self) -> str:
        """The ids of the texts that describe the input (aria-describedby)."""
        ids = []
        if self.help or self.hint or self.reports:
            ids.append(self.help_id)
        if self.required_when and not self.required:
            ids.append(self.when_id)
        if self.errors:
            ids.append(self.error_id)
        return " ".join(ids)

    @property
    def next_index(self) -> int:
        """A list: the index the next item added gets."""
        return len(self.children)

    def walk(self):
        """This field and every field inside it (not the blank item template)."""
        yield self
        for child in self.children:
            yield from child.walk()


# -- from schema and values to fields ------------------------------------------------------


def fields(schema: dict, values: dict | None = None,
           errors: dict[str, list[str]] | None = None, catalog=None) -> list[Field]:
    """The fields of a form: `schema` its JSON Schema (as FormCatalog loaded it, FFB codes
    expanded), `values` what to pre-fill (Form.prefill of the task's data, or what was just
    submitted), `errors` the engine's messages by field path (ValidationFailed.fields).
    `catalog` (the FormCatalog, optional) lets read-only values read well: an FFB code shows
    as its name, and the messages an `x-messages` list shows get the labels of their form."""
    context = _Context(errors or {}, catalog.codes.display if catalog else {}, catalog)
    return _object_fields(schema, "", values if isinstance(values, dict) else {},
                          context, readonly=False, depth=0)


@dataclass(frozen=True)
class _Context:
    """What every field is built with: the messages by path, the names of codes."""

    errors: dict[str, list[str]]
    codes: dict[str, str]
    catalog: Any = None


def walk(tree: list[Field]):
    """Every field of a tree, depth first."""
    for top in tree:
        yield from top.walk()


def error_summary(tree: list[Field], errors: dict[str, list[str]] | None) -> list[dict]:
    """The form's problems for a summary at its top: each {"label", "href", "messages"}, in
    the order of the form; `href` (#id of the input) is None for a message that belongs to no
    field shown (the form as a whole, an unknown field, an item no longer there)."""
    errors = errors or {}
    shown = {f.path: f for f in walk(tree)}
    problems, placed = [], set()
    for f in walk(tree):
        if f.errors:
            problems.append({"label": f.label, "href": "#" + _anchor(f), "messages": f.errors})
            placed.add(f.path)
            if f.kind == "multiselect":
                placed.update(p for p in errors if _below(p, f.path))
    for path, messages in errors.items():
        if path in placed or not messages:
            continue
        owner = shown.get(path)
        label = owner.label if owner else ("Formularen" if path in ("", "data") else path)
        problems.append({"label": label, "href": None,
                         "messages": [danish_message(m) for m in messages]})
    return problems


def _anchor(f: Field) -> str:
    """The element a link to the field goes to: the input itself, or the first of a group."""
    if f.kind in ("radio", "multiselect") and f.choices:
        return f"{f.id}-0"
    return f.id


def _object_fields(schema: dict, prefix: str, values: dict, ctx: _Context, readonly: bool,
                   depth: int) -> list[Field]:
    required = set(schema.get("required") or [])
    when = _conditions(schema)
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        out.append(_field(sub, prefix + name, values.get(name), ctx,
                          required=name in required, when=when.get(name, []),
                          readonly=readonly or bool(sub.get("readOnly")), depth=depth))
    return out


def _field(schema: dict, path: str, value, ctx: _Context, *, required: bool, when: list[str],
           readonly: bool, depth: int, label: str | None = None) -> Field:
    kind_of = _type(schema)
    f = Field(path=path, kind="text", label=label or _label(schema, path),
              help=schema.get("description") or "", required=required,
              required_when=[] if required else list(when),
              reports=list(schema.get("x-reports") or []),
              errors=[danish_message(m, schema) for m in ctx.errors.get(path) or []])
    if readonly:
        f.kind = "readonly"
        message = ctx.catalog.get(schema.get("x-messages")) if ctx.catalog else None
        if message is not None:  # the labels of the message's own form
            schema = {**schema, "items": message.schema}
        f.display, f.rows = _display(schema, value, ctx.codes)
        return f
    if kind_of == "object":
        f.kind = "group"
        f.children = _object_fields(schema, path + ".", value if isinstance(value, dict) else {},
                                    ctx, readonly=False, depth=depth)
        return f
    if kind_of == "array":
        return _array(f, schema, value, ctx, depth)
    choices = _choices(schema)
    if kind_of == "boolean":
        f.kind, f.value = "checkbox", value is True
        f.required_when = []
        return f
    if choices:
        widget = schema.get("x-widget")
        small = len(choices) <= RADIO_MAX and required
        f.kind = widget if widget in ("radio", "select") else ("radio" if small else "select")
        f.value = "" if value is None else _text(value)
        f.choices = _with_unknown(choices, [f.value])
        return f
    f.value = "" if value is None else _text(value)
    if kind_of in ("integer", "number"):
        f.kind = kind_of
        f.minimum, f.maximum = schema.get("minimum"), schema.get("maximum")
        return f
    fmt = schema.get("format")
    if fmt == "date":
        f.kind = "date"
    elif fmt == "date-time":
        f.kind, f.value = "datetime", _local_datetime(value)
    elif schema.get("x-widget") == "textarea":
        f.kind = "textarea"
    if fmt == "cpr":
        f.autocomplete = "off"
    f.min_length, f.max_length = schema.get("minLength"), schema.get("maxLength")
    return f


def _array(f: Field, schema: dict, value, ctx: _Context, depth: int) -> Field:
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    values = value if isinstance(value, list) else []
    f.min_items, f.max_items = schema.get("minItems"), schema.get("maxItems")
    choices = _choices(items)
    if choices and _type(items) != "object":
        f.kind = "multiselect"
        f.value = [_text(v) for v in values]
        f.choices = _with_unknown(choices, f.value)
        # A wrong choice is named by its index (omfang.2): it belongs to the ticks.
        for path, messages in ctx.errors.items():
            if _below(path, f.path) and path.count(".") == f.path.count(".") + 1:
                f.errors += [danish_message(m, items) for m in messages]
        return f
    f.kind = "list"
    f.placeholder, f.number_placeholder = f"__i{depth}__", f"__n{depth}__"
    f.children = [_item(items, f"{f.path}.{i}", v, ctx, depth, str(i + 1))
                  for i, v in enumerate(values)]
    f.template = _item(items, f"{f.path}.{f.placeholder}", _defaults(items),
                       _Context({}, ctx.codes, ctx.catalog), depth, f.number_placeholder)
    return f


def _item(items: dict, path: str, value, ctx: _Context, depth: int, number: str) -> Field:
    stem = items.get("title") or "Nr."
    label = f"{stem} {number}"
    if _type(items) == "object" and items.get("properties"):
        item = Field(path=path, kind="group", label=label, item=True, label_stem=stem,
                     help=items.get("description") or "",
                     errors=[danish_message(m, items) for m in ctx.errors.get(path) or []])
        item.children = _object_fields(items, path + ".", value if isinstance(value, dict)
                                       else {}, ctx, readonly=False, depth=depth + 1)
        return item
    item = _field(items, path, value, ctx, required=False, when=[],
                  readonly=_type(items) == "object", depth=depth + 1, label=label)
    item.item, item.label_stem = True, stem
    return item


def _defaults(schema: dict):
    """What a new item starts with: the defaults of its fields."""
    if "default" in schema:
        return schema["default"]
    if _type(schema) == "object":
        found = {}
        for name, sub in (schema.get("properties") or {}).items():
            value = _defaults(sub) if isinstance(sub, dict) else None
            if value is not None:
                found[name] = value
        return found or None
    return None


def _conditions(schema: dict) -> dict[str, list[str]]:
    """Fields an if/then makes required, each with the condition in words."""
    clauses = [schema] if "if" in schema else []
    clauses += [c for c in schema.get("allOf") or [] if isinstance(c, dict) and "if" in c]
    props = schema.get("properties") or {}
    found: dict[str, list[str]] = {}
    for clause in clauses:
        test, then = clause.get("if") or {}, clause.get("then") or {}
        parts = []
        for name, rule in (test.get("properties") or {}).items():
            if not isinstance(rule, dict):
                continue
            field_schema = props.get(name) or {}
            if "const" in rule:
                wanted = [rule["const"]]
            elif "enum" in rule:
                wanted = rule["enum"]
            else:
                continue
            answers = " eller ".join(f"»{_choice_label(field_schema, v)}«" for v in wanted)
            parts.append(f"»{_label(field_schema, name)}« er {answers}")
        if not parts:
            continue
        text = " og ".join(parts)
        for name in then.get("required") or []:
            found.setdefault(name, []).append(text)
    return found


def _type(schema: dict) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind


def _label(schema: dict, path: str) -> str:
    return schema.get("title") or path.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def _choices(schema: dict) -> list[tuple[str, str]]:
    values = schema.get("enum")
    if not isinstance(values, list):
        return []
    names = schema.get("x-enumNames") or []
    return [(_text(v), names[i] if i < len(names) else _text(v))
            for i, v in enumerate(values) if v is not None]


def _choice_label(schema: dict, value) -> str:
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    return dict(_choices(schema)).get(_text(value), _text(value))


def _with_unknown(choices, values) -> list[tuple[str, str]]:
    """The choices, and a value the case holds that is not among them (an old code), so that
    it is shown rather than silently dropped; the engine names it when it is sent."""
    known = {v for v, _ in choices}
    extra = [(v, f"{v} (ukendt værdi)") for v in values if v and v not in known]
    return choices + extra


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _num(value):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else str(value).replace(".", ",")


def _local_datetime(value) -> str:
    """A datetime for <input type="datetime-local">: local time, to the minute."""
    if not isinstance(value, str) or not value:
        return "" if value is None else _text(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo:
        moment = moment.astimezone(LOCAL_TZ)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _below(path: str, parent: str) -> bool:
    return path.startswith(parent + ".")


# -- read-only values ------------------------------------------------------------------------


def _display(schema: dict, value, codes) -> tuple[str, list[list[tuple[str, str]]]]:
    """A read-only value as text, or as rows of (label, text) for objects and lists of
    them."""
    kind = _type(schema)
    if kind == "array" and isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if any(isinstance(v, dict) for v in value):
            return "", [_row(items, v, codes) for v in value if isinstance(v, dict)]
        return ", ".join(_shown(items, v, codes) for v in value) or "–", []
    if isinstance(value, dict):
        return "", [_row(schema, value, codes)]
    return _shown(schema, value, codes), []


def _row(schema: dict, value: dict, codes) -> list[tuple[str, str]]:
    props = schema.get("properties") or {}
    row = []
    for key, item in value.items():
        sub = props.get(key) if isinstance(props.get(key), dict) else {}
        row.append((_label(sub, key), _shown(sub, item, codes)))
    return row


def _shown(schema: dict, value, codes) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return ", ".join(_shown(items, v, codes) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown({}, v, codes)}" for k, v in value.items())
    if _choices(schema):
        return _choice_label(schema, value)
    if isinstance(value, str) and schema.get("format") in ("date", "date-time"):
        return _danish_date(value)
    if isinstance(value, str) and value in codes:
        return codes[value]
    return _text(value)


def _danish_date(value: str) -> str:
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value)
            local = moment.astimezone(LOCAL_TZ) if moment.tzinfo else moment
            return f"{local.day}. {MONTHS[local.month - 1]} {local.year} kl. {local:%H.%M}"
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


# -- the engine's messages in Danish ---------------------------------------------------------


_FIXED = {
    "required field is missing": "Skal udfyldes.",
    "unknown field": "Feltet hører ikke til formularen.",
    "must be text": "Skal være tekst.",
    "must be a whole number": "Skal være et helt tal.",
    "must be a number": "Skal være et tal.",
    "must be a number or null": "Skal være et tal.",
    "must be a whole number or null": "Skal være et helt tal.",
    "must be text or null": "Skal være tekst.",
    "must be true or false": "Skal være ja eller nej.",
    "must be a list": "Skal være en liste.",
    "must be an object": "Skal udfyldes som en gruppe af felter.",
    "must not be blank": "Må ikke være tom.",
    "must be a valid date": "Skal være en gyldig dato (dd-mm-åååå).",
    "must be a valid date-time": "Skal være et gyldigt tidspunkt.",
    "cannot be in the future": "Må ikke ligge i fremtiden.",
    "CPR number must be a string of 10 digits": "CPR-nummeret skal være 10 cifre.",
    "CPR number must be 10 digits (DDMMÅÅ-XXXX)": "CPR-nummeret skal være 10 cifre "
                                                  "(DDMMÅÅ-XXXX).",
    # engine/services.py, engine/oversight.py and engine/letters (the use cases' own checks)
    "is required": "Skal udfyldes.",
    "missing": "Mangler.",
    "must include a time zone offset": "Skal have en tidszone.",
    "you belong to no team; name the team": "Du er ikke med i noget team: vælg teamet.",
    "you belong to several teams; name the team": "Du er med i flere teams: vælg teamet.",
    "is not a caseworker of the team": "Er ikke sagsbehandler i teamet.",
    "the case is closed": "Sagen er lukket.",
    "is the same caseworker as from": "Er den samme sagsbehandler, som sagerne flyttes fra.",
    "must be text of 1 to 2000 characters": "Skal være tekst på 1 til 2000 tegn.",
}

# Messages with a value in them: a pattern of the engine's text, and the Danish with the
# pattern's groups ({0}, …) filled in.
_PATTERNS = (
    (r"(?:.* )?(?:is )?not a valid date(?: .*)?", "Skal være en gyldig dato (dd-mm-åååå)."),
    (r"no team .*", "Teamet findes ikke."),
    (r"no user '(.*)'", "Brugeren »{0}« findes ikke."),
    (r"no caseworker '(.*)' in your teams", "»{0}« er ikke sagsbehandler i dine teams."),
    (r"(\S+) is not the case's caseworker", "{0} er ikke sagens sagsbehandler."),
    (r"(\S+) is not an active caseworker of the case's team",
     "{0} er ikke aktiv sagsbehandler i sagens team."),
    (r"at most ([0-9]+) characters", "Højst {0} tegn."),
    (r"not a value this letter takes .*", "Brevet bruger ikke den værdi."),
    (r".* has no text block .*", "Brevet har ikke det tekstfelt."),
    (r"must match .*", "Har ikke den rigtige form."),
    (r"must be a valid .*", "Har ikke den rigtige form."),
)


def danish_message(message: str, schema: dict | None = None) -> str:
    """One of the engine's field messages in Danish, where it is one of the fixed kinds
    (engine/forms.py, jsonschema, and the use cases' own checks in engine/services.py,
    engine/oversight.py and engine/letters); other messages (the named checks of
    engine/form_checks.py) are shown as they are. The one place the pages translate them."""
    schema = schema or {}
    if message in _FIXED:
        return _FIXED[message]
    for pattern, danish in _PATTERNS:
        found = re.fullmatch(pattern, message, re.DOTALL)
        if found:
            return danish.format(*found.groups())
    if message.startswith("must be one of "):
        return "Vælg en af mulighederne."
    if message.startswith("CPR number does not start with a real date"):
        return "CPR-nummeret begynder ikke med en gyldig dato."
    array = _type(schema) == "array"
    if message.endswith(" should be non-empty"):
        return "Vælg eller tilføj mindst én." if array else "Skal udfyldes."
    if message.endswith(" is too short"):
        least = schema.get("minItems" if array else "minLength")
        if least is not None:
            return f"Mindst {least}." if array else f"Skal være mindst {least} tegn."
    if message.endswith(" is too long"):
        most = schema.get("maxItems" if array else "maxLength")
        if most is not None:
            return f"Højst {most}." if array else f"Må højst være {most} tegn."
    if message.endswith(" has non-unique elements"):
        return "Det samme valg må kun forekomme én gang."
    found = re.search(r" is less than the minimum of (\S+)$", message)
    if found:
        return f"Skal være mindst {found.group(1).replace('.', ',')}."
    found = re.search(r" is greater than the maximum of (\S+)$", message)
    if found:
        return f"Må højst være {found.group(1).replace('.', ',')}."
    return message


# -- from the submitted form back to JSON ----------------------------------------------------


class _Empty:
    """Nothing was entered: the field is left out."""


_EMPTY = _Empty()


class _FormData:
    """A werkzeug MultiDict (or a plain dict of strings or lists of strings), read by name."""

    def __init__(self, formdata):
        if hasattr(formdata, "getlist"):
            self._lists = {key: [str(v) for v in formdata.getlist(key)]
                           for key in formdata.keys()}
        else:
            self._lists = {key: [str(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
                           for key, v in dict(formdata or {}).items()}

    def getlist(self, name: str) -> list[str]:
        return self._lists.get(name, [])

    def get(self, name: str) -> str | None:
        found = self._lists.get(name)
        return found[0] if found else None

    def indices(self, path: str) -> list[int]:
        """The list indices sent under `path` (path.N or path.N.…), in order."""
        start = path + "."
        found = set()
        for key in self._lists:
            if key.startswith(start):
                index = key[len(start):].split(".", 1)[0]
                if _INDEX.fullmatch(index):
                    found.add(int(index))
        return sorted(found)


def parse(schema: dict, formdata) -> dict:
    """The JSON for Form.validate (or validate_draft) from a submitted HTML form rendered
    from `fields` (see the module docstring for the names)."""
    return _parse_object(schema, "", _FormData(formdata))


def _parse_object(schema: dict, prefix: str, data: _FormData) -> dict:
    required = set(schema.get("required") or [])
    result = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        value = _parse(sub, prefix + name, data, required=name in required)
        if value is not _EMPTY:
            result[name] = value
    return result


def _parse(schema: dict, path: str, data: _FormData, required: bool):
    if schema.get("readOnly"):
        return _EMPTY
    kind = _type(schema)
    if kind == "object":
        if not schema.get("properties"):
            return _EMPTY  # free-form: nothing the form lets one enter
        return _parse_object(schema, path + ".", data) or _EMPTY
    if kind == "array":
        return _parse_array(schema, path, data, required)
    if kind == "boolean":
        return any(v.strip().lower() in _TRUE for v in data.getlist(path))
    raw = data.get(path)
    if raw is None or not raw.strip():
        return _EMPTY
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")  # browsers send CRLF
    if _choices(schema):
        return {_text(v): v for v in schema["enum"]}.get(raw, raw)
    if kind == "integer":
        return _integer(raw)
    if kind == "number":
        return _number(raw)
    if schema.get("format") == "date":
        return _date(raw)
    if schema.get("format") == "date-time":
        return _datetime(raw)
    return raw


def _parse_array(schema: dict, path: str, data: _FormData, required: bool):
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if _choices(items) and _type(items) != "object":
        lookup = {_text(v): v for v in items["enum"]}
        values = [lookup.get(v, v) for v in data.getlist(path) if v.strip()]
    elif _type(items) == "object":
        if not items.get("properties"):
            return _EMPTY
        values = [_parse_object(items, f"{path}.{i}.", data) for i in data.indices(path)]
    else:
        values = [v for i in data.indices(path)
                  if (v := _parse(items, f"{path}.{i}", data, False)) is not _EMPTY]
    if values:
        return values
    # An empty list is an answer only where the list is required and may be empty (e.g. no
    # requests for information); elsewhere it is left out like any empty field.
    return [] if required and not schema.get("minItems") else _EMPTY


def _integer(raw: str):
    text = raw.strip()
    if re.fullmatch(r"[+-]?[0-9]{1,15}", text):
        return int(text)
    return raw


def _number(raw: str):
    text = raw.strip().replace(" ", "")
    if re.fullmatch(r"[+-]?[0-9]{1,15}", text):
        return int(text)
    if re.fullmatch(r"[+-]?[0-9]{0,15}[.,][0-9]{1,15}", text):
        return float(text.replace(",", "."))
    return raw


def _date(raw: str):
    text = raw.strip()
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return text
    found = re.fullmatch(r"([0-9]{1,2})[.\-/ ]([0-9]{1,2})[.\-/ ]([0-9]{4})", text)
    if found:
        try:
            return date(int(found[3]), int(found[2]), int(found[1])).isoformat()
        except ValueError:
            pass
    return raw


def _datetime(raw: str):
    text = raw.strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?"
                        r"(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?", text):
        return raw
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return raw
    if moment.tzinfo is None:  # <input type="datetime-local">: Danish time
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.isoformat(timespec="seconds")
