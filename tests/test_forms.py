"""Forms: one JSON Schema per user task. Validation gives one plain message per field;
prefill takes what the case knows and the defaults; a bad form file stops loading."""

import json
from pathlib import Path

import pytest

from engine.errors import ProcessDefinitionError, ValidationFailed
from engine.forms import FormCatalog

FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"

SCHEMA = {
    "title": "Prøve",
    "type": "object",
    "properties": {
        "navn": {"type": "string", "minLength": 1},
        "antal": {"type": "integer", "minimum": 1, "default": 14},
        "beloeb": {"type": ["number", "null"]},
        "godkendt": {"type": "boolean", "default": False},
        "udfald": {"type": "string", "enum": ["oplys", "afvis"]},
        "dato": {"type": "string", "format": "date"},
        "emner": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["navn", "udfald"],
    "additionalProperties": False,
}


def _write(folder: Path, name: str, content) -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return path


@pytest.fixture
def form(tmp_path):
    _write(tmp_path, "proeve.json", SCHEMA)
    return FormCatalog.load(tmp_path).get("proeve")


def _errors(form, data) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as raised:
        form.validate(data)
    return raised.value


def test_valid_data_is_returned_as_given(form):
    data = {"navn": "Emil", "udfald": "oplys", "antal": 3, "beloeb": None, "godkendt": True,
            "dato": "2024-02-29", "emner": ["skole"]}
    assert form.validate(data) == data
    assert form.validate({"navn": "Emil", "udfald": "afvis", "beloeb": 12.5})["beloeb"] == 12.5


def test_unknown_field_is_reported_as_unknown(form):
    error = _errors(form, {"navn": "Emil", "udfald": "oplys", "cpr": "0102031234"})
    assert error.fields == {"cpr": ["unknown field"]}
    assert error.message == "invalid data for form proeve"
    assert error.status == 422


@pytest.mark.parametrize("field, value, expected", [
    ("navn", 5, "must be text"),
    ("antal", "fem", "must be a whole number"),
    ("antal", 2.5, "must be a whole number"),
    ("antal", True, "must be a whole number"),
    ("godkendt", "ja", "must be true or false"),
    ("beloeb", "100 kr", "must be a number or null"),
    ("emner", "skole", "must be a list"),
])
def test_wrong_type_names_the_expected_type(form, field, value, expected):
    error = _errors(form, {"navn": "Emil", "udfald": "oplys", field: value})
    assert error.fields == {field: [expected]}


def test_missing_required_fields_are_each_reported(form):
    assert _errors(form, {}).fields == {"navn": ["required field is missing"],
                                        "udfald": ["required field is missing"]}
    assert _errors(form, {"navn": "Emil"}).fields == {"udfald": ["required field is missing"]}


def test_value_outside_the_enum_lists_the_allowed_values(form):
    error = _errors(form, {"navn": "Emil", "udfald": "måske"})
    assert error.fields == {"udfald": ['must be one of "oplys", "afvis"']}


@pytest.mark.parametrize("value", ["20-11-2026", "2026-02-30", "2025-02-29", "i morgen"])
def test_date_must_be_a_real_iso_date(form, value):
    error = _errors(form, {"navn": "Emil", "udfald": "oplys", "dato": value})
    assert error.fields == {"dato": ["must be a valid date"]}


@pytest.mark.parametrize("data", [[], "tekst", None, 42, [{"navn": "Emil"}]])
def test_data_that_is_not_an_object_is_refused(form, data):
    error = _errors(form, data)
    assert error.message == "data must be a JSON object"
    assert error.fields == {"data": ["must be an object"]}


def test_every_problem_is_reported_at_once(form):
    error = _errors(form, {"navn": "", "antal": 0, "emner": ["a", 7], "ekstra": 1})
    assert set(error.fields) == {"navn", "antal", "emner.1", "ekstra", "udfald"}
    assert error.fields["emner.1"] == ["must be text"]
    assert error.fields["ekstra"] == ["unknown field"]
    assert error.fields["udfald"] == ["required field is missing"]
    assert "minimum" in error.fields["antal"][0]


def test_prefill_takes_known_values_then_defaults(form):
    values = form.prefill({"navn": "Emil", "antal": 3, "sagsnummer": "2026-000001"})
    assert values == {"navn": "Emil", "antal": 3, "godkendt": False}


def test_prefill_uses_defaults_when_the_case_knows_nothing(form):
    assert form.prefill({}) == {"antal": 14, "godkendt": False}


def test_prefill_keeps_a_known_false_or_empty_value_over_the_default(form):
    assert form.prefill({"godkendt": False, "antal": 0, "navn": ""}) == {
        "navn": "", "antal": 0, "godkendt": False}


def test_shipped_forms_load_and_validate():
    catalog = FormCatalog.load(FORMS_DIR)
    assert set(catalog.keys()) == {p.stem for p in FORMS_DIR.glob("*.json")}
    vurder = catalog.get("vurder_henvendelse")
    assert vurder.validate({"henvendelse": "Bekymring", "udfald": "oplys"})
    assert vurder.prefill({"borger_navn": "Emil Hansen", "modtaget_dato": "2026-11-20",
                           "sagsnummer": "2026-000001"}) == {
        "borger_navn": "Emil Hansen", "modtaget_dato": "2026-11-20"}
    assert catalog.get("anmod_oplysninger").prefill({}) == {"svarfrist_dage": 14}


def test_catalog_lookup(tmp_path):
    _write(tmp_path, "a.json", SCHEMA)
    _write(tmp_path, "noter.txt", "not a form")
    catalog = FormCatalog.load(tmp_path)
    assert list(catalog.keys()) == ["a"]
    assert "a" in catalog and "b" not in catalog
    assert catalog.get("a").key == "a"
    assert catalog.get("b") is None
    assert catalog.get(None) is None
    assert catalog.get("") is None


def test_malformed_json_file_stops_loading_naming_the_file(tmp_path):
    _write(tmp_path, "a_god.json", SCHEMA)
    _write(tmp_path, "brudt.json", '{"type": "object", "properties": {')
    with pytest.raises(ProcessDefinitionError) as raised:
        FormCatalog.load(tmp_path)
    assert raised.value.message.startswith("form brudt.json: not valid JSON")


def test_form_file_not_in_utf8_stops_loading_naming_the_file(tmp_path):
    text = json.dumps({"type": "object", "title": "Træf afgørelse",
                       "properties": {"afgørelse": {"type": "string"}}}, ensure_ascii=False)
    (tmp_path / "latin1.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ProcessDefinitionError, match=r"^form latin1\.json: not valid JSON"):
        FormCatalog.load(tmp_path)


def test_invalid_json_schema_stops_loading_naming_the_file(tmp_path):
    _write(tmp_path, "forkert.json", {"type": "objekt", "properties": {}})
    with pytest.raises(ProcessDefinitionError,
                       match=r"^form forkert\.json: not a valid JSON Schema"):
        FormCatalog.load(tmp_path)


@pytest.mark.parametrize("schema", [
    {"type": "string"},
    {"type": "object"},
    {"type": "object", "properties": ["navn"]},
    [],
    True,  # a valid JSON Schema, but not a form
    {},
])
def test_form_must_be_an_object_schema_with_properties(tmp_path, schema):
    _write(tmp_path, "flad.json", schema)
    with pytest.raises(ProcessDefinitionError, match=r"^form flad\.json: "):
        FormCatalog.load(tmp_path)


def test_read_only_fields_are_accepted_but_not_taken_over(tmp_path):
    (tmp_path / "visning.json").write_text(json.dumps({
        "type": "object",
        "properties": {"borger_navn": {"type": "string", "readOnly": True},
                       "svar": {"type": "string"}},
        "required": ["svar"], "additionalProperties": False}), encoding="utf-8")
    form = FormCatalog.load(tmp_path).get("visning")
    assert form.validate({"borger_navn": "Ændret navn", "svar": "ja"}) == {"svar": "ja"}
    with pytest.raises(ValidationFailed) as excinfo:
        form.validate({"borger_navn": 7, "svar": "ja"})
    assert "borger_navn" in excinfo.value.fields


def test_a_renamed_form_answers_to_its_former_key_for_running_cases(tmp_path):
    catalog = FormCatalog.load(FORMS_DIR)
    # cases on an earlier sel50 version name the hearing forms by their former keys
    assert catalog.get("sel50_partshoering") is catalog.get("partshoering")
    assert "sel50_bemaerkninger" in catalog and "sel50_bemaerkninger" not in catalog.keys()
    _write(tmp_path, "a.json", {**SCHEMA, "x-formerly": ["b"]})
    _write(tmp_path, "b.json", SCHEMA)
    with pytest.raises(ProcessDefinitionError, match="x-formerly names 'b', which is another"):
        FormCatalog.load(tmp_path)
