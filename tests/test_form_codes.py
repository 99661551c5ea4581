"""FFB code lists in forms: `"x-ffb": "<concept>"` (and `"x-ffb-depth": n`) filled in from KL's
FFB code system (forms/codes/ffb.json) as enum codes with x-enumNames when the forms load; a
form naming a concept the code system lacks stops the load; the shipped VUM assessment
(forms/sel85_udredning.json) takes real codes and names the field of a made-up one."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from engine.errors import ProcessDefinitionError, ValidationFailed
from engine.forms import CodeSystem, FormCatalog

FORMS_DIR = Path(__file__).resolve().parent.parent / "forms"
FFB_FILE = FORMS_DIR / "codes" / "ffb.json"
RAW = json.loads(FFB_FILE.read_text(encoding="utf-8"))

VUM_THEMES = ["Mentale funktioner", "Sundhedsforhold", "Fysiske funktioner", "Sociale forhold",
              "Relationer", "Kommunikation", "Mobilitet", "Egenomsorg", "Samfundsliv",
              "Praktiske opgaver", "Omgivelser"]
LEVELS = {"Ikke vurderet", "Ingen nedsat funktionsevne", "Let nedsat funktionsevne",
          "Moderat nedsat funktionsevne", "Svært nedsat funktionsevne",
          "Fuldstændig nedsat funktionsevne"}
SUPPORT = {"Ikke vurderet", "Intet støttebehov", "Let støttebehov", "Moderat støttebehov",
           "Højt støttebehov", "Fuldstændigt støttebehov"}
MADE_UP = "00000000-0000-0000-0000-000000000000"


def _concept(display: str, concepts=None) -> dict:
    """The first concept of that name in the file, looked up without the engine (the names
    used here occur once)."""
    for concept in RAW["concept"] if concepts is None else concepts:
        if concept["display"] == display:
            return concept
        found = _concept(display, concept.get("concept") or [])
        if found:
            return found
    return {}


def _leaves(concept: dict) -> list[tuple[str, str]]:
    found = []
    for child in concept.get("concept") or []:
        found += _leaves(child) if child.get("concept") else [(child["code"], child["display"])]
    return found


@pytest.fixture(scope="module")
def codes() -> CodeSystem:
    return CodeSystem.load(FFB_FILE)


@pytest.fixture(scope="module")
def catalog() -> FormCatalog:
    return FormCatalog.load(FORMS_DIR)


def _code(codes: CodeSystem, under: str, display: str) -> str:
    [code] = [c for c, d in codes.codes(under) if d == display]
    return code


# -- the code system ---------------------------------------------------------------------


def test_the_shipped_file_is_kls_ffb_code_system():
    assert RAW["resourceType"] == "CodeSystem"
    assert RAW["name"] == "FFB"
    assert RAW["url"] == "urn:oid:1.2.208.176.2.22"


def test_ffb_tilstande_two_levels_down_are_the_eleven_vum_themes(codes):
    themes = codes.codes("FFB tilstande", 2)
    assert [display for _code, display in themes] == VUM_THEMES
    assert ("d1495b2c-1452-4e49-8dbe-8193af5d8823", "Mobilitet") in themes
    assert len({code for code, _ in themes}) == 11
    # One level down are the three groups the themes belong to.
    assert [d for _c, d in codes.codes("FFB tilstande", 1)] == [
        "Funktioner og forhold", "Aktivitet og deltagelse", "Omgivelsesfaktorer"]


def test_without_a_depth_the_codes_are_the_leaves_below_the_concept(codes):
    leaves = codes.codes("FFB tilstande")
    assert leaves == _leaves(_concept("FFB tilstande"))
    assert len(leaves) > 11
    displays = {d for _c, d in leaves}
    assert not displays & set(VUM_THEMES)  # a theme has conditions below it: not a leaf
    # A concept whose leaves lie at different depths: each leaf once, no inner concept.
    target_groups = codes.codes("Målgruppe")
    assert target_groups == _leaves(_concept("Målgruppe"))
    assert "Socialt problem" not in {d for _c, d in target_groups}


def test_funktionsevneniveau_gives_the_six_levels(codes):
    levels = codes.codes("Funktionsevneniveau")
    assert {d for _c, d in levels} == LEVELS
    assert len(levels) == 6
    assert codes.codes("Funktionsevneniveau", 1) == levels
    # "Ikke vurderet" is also a support level, with its own code: the lists do not mix.
    support = codes.codes("Støttebehovsniveau")
    assert {d for _c, d in support} == SUPPORT
    assert (_code(codes, "Funktionsevneniveau", "Ikke vurderet")
            != _code(codes, "Støttebehovsniveau", "Ikke vurderet"))


def test_a_depth_below_the_tree_is_refused_and_a_depth_keeps_the_order(codes):
    with pytest.raises(KeyError, match="gives no codes"):
        codes.codes("Funktionsevneniveau", 2)
    assert [d for _c, d in codes.codes("Social indsats", 1)] == [
        c["display"] for c in _concept("Social indsats")["concept"]]


def test_display_names_every_code(codes):
    mobility = "d1495b2c-1452-4e49-8dbe-8193af5d8823"
    assert codes.display[mobility] == "Mobilitet"
    for code, display in codes.codes("FFB tilstande"):
        assert codes.display[code] == display


def test_an_unknown_concept_is_a_key_error_naming_it(codes):
    with pytest.raises(KeyError, match="'Findes ikke'.*not a concept of the FFB code system"):
        codes.codes("Findes ikke")
    with pytest.raises(KeyError, match="mobilitet"):
        codes.codes("mobilitet")  # names are exact


def test_expand_fills_enum_and_names_in_the_same_order_wherever_the_field_is(codes):
    schema = {"type": "object", "properties": {
        "niveau": {"type": "string", "title": "Niveau", "x-ffb": "Funktionsevneniveau"},
        "temaer": {"type": "array", "items": {"type": "string", "x-ffb": "FFB tilstande",
                                              "x-ffb-depth": 2}},
        "fri": {"type": "string"}}}
    original = copy.deepcopy(schema)
    expanded = codes.expand(schema)
    assert schema == original  # the loaded schema is not changed in place
    niveau = expanded["properties"]["niveau"]
    pairs = codes.codes("Funktionsevneniveau")
    assert niveau["enum"] == [c for c, _d in pairs]
    assert niveau["x-enumNames"] == [d for _c, d in pairs]
    assert niveau["title"] == "Niveau" and niveau["x-ffb"] == "Funktionsevneniveau"
    assert expanded["properties"]["temaer"]["items"]["x-enumNames"] == VUM_THEMES
    assert expanded["properties"]["fri"] == {"type": "string"}


def test_no_code_system_file_means_no_codes(tmp_path):
    empty = CodeSystem.load(tmp_path / "findes_ikke.json")
    with pytest.raises(KeyError):
        empty.codes("Funktionsevneniveau")
    assert empty.expand({"type": "string"}) == {"type": "string"}


@pytest.mark.parametrize("content", [
    "{ikke json",
    json.dumps([1, 2]),
    json.dumps({"concept": [{"code": "a"}]}),  # no display
    json.dumps({"concept": ["a"]}),  # a concept that is not an object
])
def test_a_malformed_code_system_stops_the_load(tmp_path, content):
    path = tmp_path / "ffb.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProcessDefinitionError, match="not a FHIR CodeSystem"):
        CodeSystem.load(path)


# -- forms naming codes, loaded from a folder ----------------------------------------------


def _forms_folder(tmp_path: Path, schema: dict, with_codes: bool = True) -> Path:
    folder = tmp_path / "forms"
    folder.mkdir()
    if with_codes:
        (folder / "codes").mkdir()
        shutil.copy(FFB_FILE, folder / "codes" / "ffb.json")
    (folder / "ok.json").write_text(json.dumps(
        {"type": "object", "properties": {"a": {"type": "string"}}}), encoding="utf-8")
    (folder / "vurdering.json").write_text(json.dumps(schema), encoding="utf-8")
    return folder


def _form_with(field: dict) -> dict:
    return {"type": "object", "properties": {"felt": field}, "additionalProperties": False}


def test_a_form_loads_with_the_codes_of_its_concept(tmp_path):
    folder = _forms_folder(tmp_path, _form_with(
        {"type": "string", "x-ffb": "FFB tilstande", "x-ffb-depth": 2}))
    catalog = FormCatalog.load(folder)
    field = catalog.get("vurdering").fields["felt"]
    assert field["x-enumNames"] == VUM_THEMES
    form = catalog.get("vurdering")
    mobility = "d1495b2c-1452-4e49-8dbe-8193af5d8823"
    assert form.validate({"felt": mobility}) == {"felt": mobility}
    with pytest.raises(ValidationFailed) as refused:
        form.validate({"felt": "Mobilitet"})  # the name is not the code
    assert list(refused.value.fields) == ["felt"]


def test_an_unknown_concept_stops_the_load_naming_the_form_file(tmp_path):
    folder = _forms_folder(tmp_path, _form_with({"type": "string", "x-ffb": "Funktionsniveau"}))
    with pytest.raises(ProcessDefinitionError) as refused:
        FormCatalog.load(folder)
    assert refused.value.message.startswith("form vurdering.json: ")
    assert "'Funktionsniveau'" in refused.value.message


def test_a_concept_deep_in_a_form_is_checked_too(tmp_path):
    schema = {"type": "object", "properties": {"temaer": {"type": "object", "properties": {
        "mobilitet": {"type": "array", "items": {"type": "string", "x-ffb": "Mobilitett"}}}}}}
    with pytest.raises(ProcessDefinitionError, match=r"form vurdering\.json: .*'Mobilitett'"):
        FormCatalog.load(_forms_folder(tmp_path, schema))


def test_without_the_code_system_a_form_naming_codes_does_not_load(tmp_path):
    folder = _forms_folder(tmp_path, _form_with({"type": "string", "x-ffb": "Mobilitet"}),
                           with_codes=False)
    with pytest.raises(ProcessDefinitionError, match=r"form vurdering\.json: .*ffb\.json"):
        FormCatalog.load(folder)


@pytest.mark.parametrize("field", [
    {"type": "string", "x-ffb": "Intet støttebehov"},
    {"type": "string", "x-ffb": "Funktionsevneniveau", "x-ffb-depth": 3},
])
def test_a_concept_without_codes_below_it_stops_the_load(tmp_path, field):
    with pytest.raises(ProcessDefinitionError, match=r"form vurdering\.json"):
        FormCatalog.load(_forms_folder(tmp_path, _form_with(field)))


def test_an_ambiguous_concept_name_is_refused_and_a_parent_picks_one(codes):
    kinds = [c for c in _all(RAW["concept"]) if c["display"] == "Kriminalitet"]
    assert len(kinds) == 2  # the premise: the name occurs twice in KL's file
    with pytest.raises(KeyError, match="several FFB concepts.*Socialt problem/Kriminalitet"):
        codes.codes("Kriminalitet")
    crime = _concept("Socialt problem")["concept"][
        [c["display"] for c in _concept("Socialt problem")["concept"]].index("Kriminalitet")]
    assert codes.codes("Socialt problem/Kriminalitet") == _leaves(crime)


def _all(concepts):
    for concept in concepts:
        yield concept
        yield from _all(concept.get("concept") or [])


# -- the shipped VUM assessment form -----------------------------------------------------


THEME_KEYS = ["mentale_funktioner", "sundhedsforhold", "fysiske_funktioner", "sociale_forhold",
              "relationer", "kommunikation", "mobilitet", "egenomsorg", "samfundsliv",
              "praktiske_opgaver", "omgivelser"]


def _assessment(codes: CodeSystem) -> dict:
    level = _code(codes, "Funktionsevneniveau", "Let nedsat funktionsevne")
    support = _code(codes, "Støttebehovsniveau", "Let støttebehov")
    themes = {key: {"funktionsevneniveau": level, "stoettebehov": support}
              for key in THEME_KEYS}
    themes["mentale_funktioner"]["tilstande"] = [codes.codes("Mentale funktioner")[0][0]]
    return {
        "tilstande": themes,
        "maalgruppe_primaer": codes.codes("Målgruppe")[0][0],
        "borgerens_oensker": "Jeg vil klare mine indkøb selv.",
        "indsatsmaal": [{"maal": "Handle ind selv",
                         "maaltype": _code(codes, "Måltype", "Udvikle funktionsevne")}],
        "samlet_stoettebehov": support,
    }


def test_the_assessment_form_has_codes_and_names_from_the_code_system(catalog):
    form = catalog.get("sel85_udredning")
    codes = catalog.codes
    themes = form.fields["tilstande"]["properties"]
    assert list(themes) == THEME_KEYS
    for key, theme in themes.items():
        level = theme["properties"]["funktionsevneniveau"]
        pairs = codes.codes("Funktionsevneniveau")
        assert (level["enum"], level["x-enumNames"]) == ([c for c, _ in pairs],
                                                         [d for _, d in pairs])
        assert set(theme["properties"]["stoettebehov"]["x-enumNames"]) == SUPPORT
        conditions = theme["properties"]["tilstande"]["items"]
        assert conditions["enum"] == [c for c, _ in codes.codes(theme["x-ffb-tema"])], key
    maaltype = form.fields["indsatsmaal"]["items"]["properties"]["maaltype"]
    assert set(maaltype["x-enumNames"]) == {"Fastholde funktionsevne", "Udvikle funktionsevne",
                                            "Begrænse tab af funktionsevne"}


def test_the_assessment_takes_real_codes(catalog):
    form = catalog.get("sel85_udredning")
    data = _assessment(catalog.codes)
    assert form.validate(data) == data


@pytest.mark.parametrize("path, change", [
    ("tilstande.mobilitet.funktionsevneniveau",
     lambda d, c: d["tilstande"]["mobilitet"].update(funktionsevneniveau=MADE_UP)),
    ("tilstande.mobilitet.stoettebehov",
     lambda d, c: d["tilstande"]["mobilitet"].update(stoettebehov="Let støttebehov")),
    # A real FFB code from another list: "Ikke vurderet" of the support levels.
    ("tilstande.egenomsorg.funktionsevneniveau",
     lambda d, c: d["tilstande"]["egenomsorg"].update(
         funktionsevneniveau=_code(c, "Støttebehovsniveau", "Ikke vurderet"))),
    # A condition of another theme.
    ("tilstande.mentale_funktioner.tilstande.0",
     lambda d, c: d["tilstande"]["mentale_funktioner"].update(
         tilstande=[c.codes("Mobilitet")[0][0]])),
    ("indsatsmaal.0.maaltype", lambda d, c: d["indsatsmaal"][0].update(maaltype=MADE_UP)),
    ("samlet_stoettebehov", lambda d, c: d.update(samlet_stoettebehov=MADE_UP)),
])
def test_a_made_up_code_is_refused_naming_the_field_path(catalog, path, change):
    form = catalog.get("sel85_udredning")
    data = _assessment(catalog.codes)
    change(data, catalog.codes)
    for validate in (form.validate, form.validate_draft):
        with pytest.raises(ValidationFailed) as refused:
            validate(data)
        assert list(refused.value.fields) == [path]
        assert refused.value.fields[path][0].startswith("must be one of ")


def test_the_assessment_can_be_saved_theme_by_theme_but_completes_only_whole(catalog):
    form = catalog.get("sel85_udredning")
    codes = catalog.codes
    one_theme = {"tilstande": {"mobilitet": {
        "funktionsevneniveau": _code(codes, "Funktionsevneniveau", "Ikke vurderet")}}}
    assert form.validate_draft(one_theme) == one_theme
    with pytest.raises(ValidationFailed) as refused:
        form.validate(one_theme)
    missing = refused.value.fields
    assert "tilstande.mobilitet.stoettebehov" in missing
    assert "tilstande.egenomsorg" in missing
    assert "indsatsmaal" in missing
    assert "tilstande.mobilitet.funktionsevneniveau" not in missing


@pytest.mark.parametrize("draft", [False, True])
@pytest.mark.parametrize("path, change", [
    ("tilstande.mobilitet.bogus", lambda d: d["tilstande"]["mobilitet"].update(bogus=1)),
    ("tilstande.ukendt_tema", lambda d: d["tilstande"].update(ukendt_tema={})),
    ("indsatsmaal.0.frist", lambda d: d["indsatsmaal"][0].update(frist="2027-01-01")),
])
def test_an_unknown_field_inside_the_assessment_is_refused(catalog, draft, path, change):
    """Nested objects with additionalProperties: false name their unknown keys by path, as
    the form's own fields are named."""
    form = catalog.get("sel85_udredning")
    data = _assessment(catalog.codes)
    change(data)
    with pytest.raises(ValidationFailed) as refused:
        form.validate(data, draft=draft)
    assert refused.value.fields == {path: ["unknown field"]}


def test_a_path_names_a_concept_by_its_ancestors_and_a_wrong_one_is_refused(codes):
    assert codes.codes("Målgruppe/Socialt problem/Kriminalitet") == \
        codes.codes("Socialt problem/Kriminalitet")
    with pytest.raises(KeyError, match="not a concept"):
        codes.codes("Ydelse/Socialt problem/Kriminalitet")
