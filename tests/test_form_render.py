"""A task's form rendered from its JSON Schema (api/web/form_render.py and the macros in
api/templates/web/_form.html.j2): every shipped form renders with labels, help, pre-filled and
escaped values and each field's messages next to its input; what a browser submits from the
rendered form parses back into the data the engine validates."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader
from markupsafe import escape
from werkzeug.datastructures import MultiDict

from api.web import form_render
from api.web.form_render import error_summary, fields, parse, walk
from engine.clock import local_date, now
from engine.errors import ValidationFailed
from engine.forms import CodeSystem, FormCatalog

ROOT = Path(__file__).resolve().parent.parent
CATALOG = FormCatalog.load(ROOT / "forms")
FORMS = sorted(CATALOG.keys())
FFB = CodeSystem.load(ROOT / "forms" / "codes" / "ffb.json")

EVIL = 'Tekst med <script>alert("x")</script> & æøå'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; æøå"


def _env(**options) -> Environment:
    return Environment(loader=FileSystemLoader(ROOT / "api" / "templates"), **options)


ENV = _env(autoescape=True)
PAGE = '{% import "web/_form.html.j2" as form %}{{ form.render_form(fields, summary) }}'


def render(tree, summary=None, env=ENV) -> str:
    return env.from_string(PAGE).render(fields=tree, summary=summary)


def ffb(parent: str, display: str) -> str:
    [code] = [c for c, name in FFB.codes(parent) if name == display]
    return code


def days_ago(days: int) -> str:
    return (local_date(now()) - timedelta(days=days)).isoformat()


# -- the rendered page, as a browser reads it ------------------------------------------------

VOID = {"input", "br", "img", "meta", "link", "hr", "area", "base", "col", "embed", "source",
        "track", "wbr"}
CONTAINERS = {"field", "group", "list"}


class Page(HTMLParser):
    """What a browser makes of the form: the name/value pairs it submits (ticked boxes,
    chosen options, textareas with CRLF; nothing inside a <template>), and the ids, labels,
    descriptions and containers of its elements."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.submitted: list[tuple[str, str]] = []
        self.elements: dict[str, dict] = {}  # id -> attrs, tag, container, text
        self.ids: Counter = Counter()
        self.labels_for: set[str] = set()
        self.controls: list[dict] = []
        self._stack: list[dict] = []
        self._serial = 0
        self._select = None
        self._option = None
        self._textarea = None
        self.feed(html)
        self.close()

    @property
    def _in_template(self) -> bool:
        return any(e["tag"] == "template" for e in self._stack)

    def _container(self):
        for element in reversed(self._stack):
            if CONTAINERS & set(element["attrs"].get("class", "").split()):
                return element["serial"]
        return None

    def handle_starttag(self, tag, attrs):
        attrs = {k: ("" if v is None else v) for k, v in attrs}
        self._serial += 1
        element = {"tag": tag, "attrs": attrs, "serial": self._serial,
                   "container": self._container(), "text": [], "template": self._in_template}
        if "id" in attrs:
            self.ids[attrs["id"]] += 1
            self.elements[attrs["id"]] = element
        if tag == "label" and "for" in attrs:
            self.labels_for.add(attrs["for"])
        if tag in ("input", "select", "textarea"):
            self.controls.append(element)
        submits = not element["template"] and "disabled" not in attrs and "name" in attrs
        if tag == "input" and submits:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.submitted.append((attrs["name"], attrs.get("value", "on")))
            elif kind not in ("button", "submit", "reset"):
                self.submitted.append((attrs["name"], attrs.get("value", "")))
        if tag == "select":
            self._select = {"name": attrs.get("name") if submits else None, "options": []}
        if tag == "option" and self._select is not None:
            self._option = [attrs.get("value", ""), "selected" in attrs]
            self._select["options"].append(self._option)
        if tag == "textarea":
            self._textarea = {"name": attrs.get("name") if submits else None, "text": []}
        if tag not in VOID:
            self._stack.append(element)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._select["options"] if selected]
            options = self._select["options"]
            if self._select["name"] is not None:
                for value in chosen or [options[0][0]] if options else []:
                    self.submitted.append((self._select["name"], value))
            self._select = None
        if tag == "textarea" and self._textarea is not None:
            text = "".join(self._textarea["text"])
            text = text[1:] if text.startswith("\n") else text  # as the HTML parser does
            if self._textarea["name"] is not None:
                self.submitted.append((self._textarea["name"], text.replace("\n", "\r\n")))
            self._textarea = None
        while self._stack:
            element = self._stack.pop()
            if element["tag"] == tag:
                break

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea["text"].append(data)
        for element in self._stack:
            element["text"].append(data)

    def text(self, element_id: str) -> str:
        return "".join(self.elements[element_id]["text"])

    def form(self) -> MultiDict:
        return MultiDict(self.submitted)


def sample(schema: dict, name: str = "felt"):
    """A value of every field of a schema, with text that must be escaped."""
    kind = form_render._type(schema)
    if kind == "object":
        if not schema.get("properties"):
            return {"kilde": EVIL, "dato": "2026-01-02", "svar": ["a", "b"]}
        return {k: sample(v, k) for k, v in schema["properties"].items()}
    if kind == "array":
        items = schema.get("items") or {}
        if "enum" in items:
            return items["enum"][:2]
        return [sample(items, name), sample(items, name)]
    if "enum" in schema:
        return schema["enum"][-1]
    if kind == "boolean":
        return True
    if kind == "integer":
        return schema.get("minimum", 3)
    if kind == "number":
        return 2.5
    if schema.get("format") == "date":
        return "2026-01-02"
    if schema.get("format") == "date-time":
        return "2026-01-02T10:30:00+01:00"
    if schema.get("format") == "cpr":
        return "0105134321"
    if schema.get("x-widget") == "textarea":
        return f"{EVIL}\nLinje 2 om {name}"
    return f"{EVIL} ({name})"


def editable(schema: dict, value):
    """What a form sends back of a value: no read-only fields, nothing empty."""
    kind = form_render._type(schema)
    if kind == "object" and isinstance(value, dict) and schema.get("properties"):
        found = {}
        for key, item in value.items():
            sub = schema["properties"].get(key, {})
            if sub.get("readOnly") or item is None or item == "":
                continue
            found[key] = editable(sub, item)
        return found
    if kind == "array" and isinstance(value, list):
        return [editable(schema.get("items") or {}, v) for v in value]
    return value


def check_accessible(page: Page) -> None:
    """Every control has a label; every description it names exists; ids are unique."""
    assert not [i for i, n in page.ids.items() if n > 1], "duplicate ids"
    for control in page.controls:
        if control["attrs"].get("type") == "hidden":
            continue
        assert control["attrs"].get("id") in page.labels_for, control["attrs"]
    for element in page.elements.values():
        for described in element["attrs"].get("aria-describedby", "").split():
            assert described in page.elements, (element["attrs"], described)


def messages_for(tree) -> dict[str, list[str]]:
    return {f.path: [f"Fejl <b>ved</b> {f.path}"] for f in walk(tree)}


def check_errors_next_to_fields(page: Page, tree) -> None:
    for f in walk(tree):
        error = page.elements[f.error_id]
        assert f"Fejl <b>ved</b> {f.path}" in page.text(f.error_id)
        assert error["attrs"].get("role") == "alert"
        if f.kind in ("group", "list"):
            box = page.elements[f.id]
            assert f.error_id in box["attrs"]["aria-describedby"].split()
            assert error["container"] == box["serial"]
        elif f.kind in ("radio", "multiselect"):
            choice = page.elements[f"{f.id}-0"]
            assert choice["attrs"].get("aria-invalid") == "true"
            assert error["container"] == choice["container"]
        elif f.kind == "readonly":
            assert error["container"] == page.elements[f.id]["serial"]
        else:
            control = page.elements[f.id]
            assert control["attrs"].get("aria-invalid") == "true", f.path
            assert f.error_id in control["attrs"]["aria-describedby"].split()
            assert error["container"] == control["container"]


# -- every shipped form ----------------------------------------------------------------------


@pytest.mark.parametrize("key", FORMS)
def test_every_form_renders_empty_with_its_labels_and_messages(key):
    schema = CATALOG.get(key).schema
    tree = fields(schema, {}, {})
    html = render(tree)
    page = Page(html)
    check_accessible(page)
    for f in walk(tree):
        assert str(escape(f.label)) in html, f.path
        if f.help:
            assert f.help in page.text(f.help_id)
    # Sent as it stands, an empty form is its unticked boxes and the lists that may be empty.
    assert parse(schema, page.form()) == {
        name: False if field["type"] == "boolean" else []
        for name, field in schema["properties"].items() if not field.get("readOnly") and (
            field["type"] == "boolean" or (field["type"] == "array" and not field.get(
                "minItems") and name in schema.get("required", [])))}

    tree = fields(schema, {}, messages_for(tree))
    page = Page(render(tree, error_summary(tree, messages_for(tree))))
    check_accessible(page)
    check_errors_next_to_fields(page, tree)


@pytest.mark.parametrize("key", FORMS)
def test_every_form_pre_fills_escapes_and_reads_back_its_values(key):
    schema = CATALOG.get(key).schema
    values = sample(schema)
    tree = fields(schema, values, {}, catalog=CATALOG)
    html = render(tree)
    assert "<script>alert" not in html
    if any(f.kind in ("text", "textarea", "readonly") for f in walk(tree)):
        assert ESCAPED in html
    page = Page(html)
    check_accessible(page)
    for f in walk(tree):
        assert str(escape(f.label)) in html, f.path
    # What the browser sends back is what was pre-filled (read-only fields are not sent).
    assert parse(schema, page.form()) == editable(schema, values)
    readonly = [f.name for f in walk(tree) if f.kind == "readonly"]
    assert not [name for name, _ in page.submitted if name in readonly]

    tree = fields(schema, values, messages_for(tree), catalog=CATALOG)
    page = Page(render(tree, error_summary(tree, messages_for(tree))))
    check_errors_next_to_fields(page, tree)
    assert parse(schema, page.form()) == editable(schema, values)


# -- real data through the browser and the engine --------------------------------------------

PARENTS = [{"navn": "Sara Ærø", "adresse": "Havnegade 3, 8000 Aarhus C", "relation": "mor"},
           {"navn": "Jonas Ærø", "adresse": "Skovvej 9, 8210 Aarhus V", "relation": "far"}]
MODERATE = ffb("Funktionsevneniveau", "Moderat nedsat funktionsevne")
NOT_ASSESSED = ffb("Funktionsevneniveau", "Ikke vurderet")
NEED_MODERATE = ffb("Støttebehovsniveau", "Moderat støttebehov")
NEED_NONE = ffb("Støttebehovsniveau", "Ikke vurderet")
THEMES = ("mentale_funktioner", "sundhedsforhold", "fysiske_funktioner", "sociale_forhold",
          "relationer", "kommunikation", "mobilitet", "egenomsorg", "samfundsliv",
          "praktiske_opgaver", "omgivelser")
GOALS = [{"maal": "Peter handler selv ind og laver mad tre dage om ugen.",
          "maaltype": ffb("Måltype", "Udvikle funktionsevne")},
         {"maal": "Peter åbner og betaler sin post.",
          "maaltype": ffb("Måltype", "Udvikle funktionsevne")}]
CONTINUE = "1e971d84-10a4-4ef8-a8b3-0daa4c7d088a"
END = "d7d03656-4c87-4e67-9146-aa5990460f16"
GP_REQUEST = {"behov": ["helbred"], "modtager_type": "egen_laege",
              "modtager": "Lægerne i Søndergade", "spoergsmaal": "Hvordan er Peters helbred?",
              "svarfrist_dage": 14, "grundlag": "samtykke"}


def assessment():
    conditions = {}
    for theme in THEMES:
        reduced = theme in ("praktiske_opgaver", "egenomsorg")
        conditions[theme] = {"funktionsevneniveau": MODERATE if reduced else NOT_ASSESSED,
                             "stoettebehov": NEED_MODERATE if reduced else NEED_NONE,
                             "beskrivelse": "Har svært ved at komme i gang." if reduced else ""}
    conditions["mobilitet"]["tilstande"] = [c for c, _ in FFB.codes("Mobilitet")[:2]]
    return {"tilstande": conditions,
            "maalgruppe_primaer": ffb("Funktionsnedsættelse", "Depression"),
            "maalgrupper_sekundaere": [ffb("Socialt problem", "Social isolation")],
            "borgerens_oensker": "Jeg vil gerne kunne klare mig selv i min lejlighed.\n"
                                 "Og have en hund.",
            "indsatsmaal": GOALS, "samlet_stoettebehov": NEED_MODERATE}


def real_data():
    consent_50 = {"samtykke_formaal": "At afdække Idas trivsel i skole og hjem.", "samtykker": [
        {"part": p["navn"], "rolle": "foraeldremyndighed", "givet": True, "dato": days_ago(20),
         "form": "skriftlig", "omfang": ["skole", "sundhedspleje"]} for p in PARENTS]}
    refusal = {**consent_50, "samtykker": [
        consent_50["samtykker"][0],
        {"part": "Jonas Ærø", "rolle": "foraeldremyndighed", "givet": False,
         "dato": days_ago(3), "bemaerkning": "Vil ikke."}]}
    goals = [{**g, "forrige_vurdering": None, "forrige_kommentar": None,
              "vurdering": "delvist", "kommentar": "Godt på vej."} for g in GOALS]
    again = [{**g, "forrige_vurdering": "delvist", "forrige_kommentar": "Godt på vej.",
              "vurdering": "opnaaet"} for g in GOALS]
    return [
        ("sel50_samtykke", consent_50),
        ("sel50_samtykke", refusal),
        ("sel85_samtykke", {"samtykke_formaal": "At udrede Peters behov for støtte.",
                            "samtykker": [{"part": "Peter Madsen", "rolle": "borger",
                                           "givet": True, "dato": days_ago(24),
                                           "form": "skriftlig",
                                           "omfang": ["egen_laege", "psykiatri"]}]}),
        ("sel85_udredning", assessment()),
        ("sel85_plan_indhentning", {"formaal": "Udredning.", "anmodninger": []}),
        ("sel85_plan_indhentning", {"formaal": "Udredning.", "anmodninger": [
            GP_REQUEST,
            {"behov": ["oekonomi", "maal_beskaeftigelsesplan"], "modtager_type": "jobcenter",
             "modtager": "Jobcenter Aarhus", "modtager_adresse": "Værkmestergade 8",
             "spoergsmaal": "Hvilke mål har Peter?\nOg hvornår?", "svarfrist_dage": 30,
             "grundlag": "lov", "hjemmel_tekst": "Retssikkerhedslovens § 11 c, stk. 1"}]}),
        ("sel50_plan_indhentning", {"formaal": "At afdække Idas behov for støtte.",
                                    "anmodninger": [{
                                        "behov": ["status_dagtilbud_skole", "fravaer_skole"],
                                        "modtager_type": "skole", "modtager": "Vestre Skole",
                                        "spoergsmaal": "Hvordan trives Ida i skolen?",
                                        "svarfrist_dage": 14, "grundlag": "samtykke"}]}),
        ("opfoelgning_maal", {"maal_vurdering": goals}),
        ("opfoelgning_maal", {"maal_vurdering": again}),
        ("opfoelgning_konklusion", {"status": CONTINUE, "juster_indsats": False,
                                    "konklusion": "Indsatsen virker.",
                                    "naeste_opfoelgning_maaneder": 6,
                                    "interval_begrundelse": "Stabil udvikling."}),
        ("opfoelgning_konklusion", {"status": END, "juster_indsats": True,
                                    "konklusion": "Målene er nået."}),
        ("partshoering", {"undtagelse": False,
                          "hoering_emne": "Familiebehandling 3 timer om ugen.",
                          "hoering_oplysninger": "Skolens udtalelse og samtalen med Ida.",
                          "svarfrist_dage": 14}),
        ("partshoering", {"undtagelse": True,
                          "undtagelse_begrundelse": "Afgørelsen giver parterne fuldt medhold."}),
        ("sel85_visitation", {"moede_dato": days_ago(6),
                              "deltagere": ["Lene Holm, teamleder", "Ali Khan, rådgiver"],
                              "udfald": "bevilling",
                              "ydelse": ffb("Socialpædagogisk støtte",
                                            "Støtte til daglige opgaver i hjemmet"),
                              "omfang": "4 timer om ugen", "timer_pr_uge": 4.5}),
        ("sel50_underretning", {"borger_navn": "Ida Ærø", "modtaget_dato": days_ago(1),
                                "kilde": "fagperson", "fagperson_rolle": "Klasselærer",
                                "underretter_navn": "Mette Holm",
                                "indhold": "Ida kommer ofte sulten i skole.",
                                "vold_eller_overgreb": False, "akut_fare": False,
                                "foraeldremyndighed": [{**PARENTS[0], "cpr": "0101801234"},
                                                       PARENTS[1]]}),
    ]


@pytest.mark.parametrize("key, data", real_data(),
                         ids=[f"{k}-{i}" for i, (k, _) in enumerate(real_data())])
def test_real_data_round_trips_through_the_browser_and_the_engine(key, data):
    form = CATALOG.get(key)
    form.validate(data)  # the data is valid to begin with
    page = Page(render(fields(form.schema, form.prefill(data), {})))
    parsed = parse(form.schema, page.form())
    assert form.validate(parsed) == editable(form.schema, form.prefill(data))
    # Saved as a draft and shown again, it is the same form.
    again = Page(render(fields(form.schema, parsed, {})))
    assert again.submitted == page.submitted


def test_a_list_left_empty_is_an_empty_list_where_that_is_an_answer():
    form = CATALOG.get("sel85_plan_indhentning")
    assert parse(form.schema, MultiDict([("formaal", "Udredning.")])) == {
        "formaal": "Udredning.", "anmodninger": []}
    consent = CATALOG.get("sel50_samtykke")  # at least one: left out, named as missing
    with pytest.raises(ValidationFailed) as raised:
        consent.validate(parse(consent.schema, MultiDict([("samtykke_formaal", "x")])))
    assert raised.value.fields == {"samtykker": ["required field is missing"]}


# -- reading a submitted form ----------------------------------------------------------------


def test_a_word_in_a_whole_number_field_comes_back_so_the_engine_names_the_field():
    form = CATALOG.get("partshoering")
    submitted = MultiDict([("undtagelse", "true"), ("undtagelse_begrundelse", "Medhold."),
                           ("svarfrist_dage", "fjorten")])
    parsed = parse(form.schema, submitted)
    assert parsed["svarfrist_dage"] == "fjorten"
    with pytest.raises(ValidationFailed) as raised:
        form.validate(parsed)
    assert raised.value.fields == {"svarfrist_dage": ["must be a whole number"]}
    # Shown again as typed, with the message in Danish next to it.
    tree = fields(form.schema, parsed, raised.value.fields)
    page = Page(render(tree, error_summary(tree, raised.value.fields)))
    field = page.elements["f-svarfrist_dage"]
    assert field["attrs"]["value"] == "fjorten"
    assert field["attrs"]["aria-invalid"] == "true"
    assert "Skal være et helt tal." in page.text("f-svarfrist_dage-fejl")
    assert page.elements["f-svarfrist_dage-fejl"]["container"] == field["container"]


def test_a_bad_number_in_a_list_item_is_named_by_its_path():
    form = CATALOG.get("sel85_plan_indhentning")
    submitted = MultiDict([
        ("formaal", "Udredning."), ("anmodninger.0", ""), ("anmodninger.0.behov", "helbred"),
        ("anmodninger.0.modtager_type", "egen_laege"), ("anmodninger.0.modtager", "Lægen"),
        ("anmodninger.0.spoergsmaal", "Helbred?"), ("anmodninger.0.svarfrist_dage", "14 dage"),
        ("anmodninger.0.grundlag", "samtykke")])
    with pytest.raises(ValidationFailed) as raised:
        form.validate(parse(form.schema, submitted))
    assert raised.value.fields == {"anmodninger.0.svarfrist_dage": ["must be a whole number"]}


def test_numbers_dates_checkboxes_and_empty_inputs_are_read_as_the_engine_wants_them():
    form = CATALOG.get("sel85_visitation")
    parsed = parse(form.schema, MultiDict([
        ("moede_dato", "2.11.2026"), ("deltagere.0", "Lene"), ("deltagere.1", "  "),
        ("deltagere.3", "Ali"), ("udfald", "bevilling"), ("ydelse", ""), ("omfang", ""),
        ("timer_pr_uge", "4,5"), ("moedets_bemaerkninger", "")]))
    assert parsed == {"moede_dato": "2026-11-02", "deltagere": ["Lene", "Ali"],
                      "udfald": "bevilling", "timer_pr_uge": 4.5}
    assert parse(form.schema, {"timer_pr_uge": "4"})["timer_pr_uge"] == 4
    assert parse(form.schema, {"moede_dato": "31.02.2026"})["moede_dato"] == "31.02.2026"
    assert parse(form.schema, {"timer_pr_uge": "1e400"})["timer_pr_uge"] == "1e400"

    report = CATALOG.get("sel50_underretning")
    parsed = parse(report.schema, MultiDict([("akut_fare", "true"), ("indhold", "a\r\nb")]))
    assert parsed == {"akut_fare": True, "vold_eller_overgreb": False, "indhold": "a\nb"}


def test_list_items_are_read_in_order_with_gaps_closed_and_templates_ignored():
    form = CATALOG.get("sel50_samtykke")
    parsed = parse(form.schema, MultiDict([
        ("samtykker.2", ""), ("samtykker.2.part", "Jonas"), ("samtykker.2.givet", "true"),
        ("samtykker.0", ""), ("samtykker.0.part", "Sara"),
        ("samtykker.0.omfang", "skole"), ("samtykker.0.omfang", "politi"),
        ("samtykker.5", ""),  # an item added and left empty
        ("samtykker.__i0__.part", "skabelon"), ("samtykker.99999999999.part", "for stor"),
        ("samtykker.-1.part", "negativ")]))
    assert parsed["samtykker"] == [
        {"part": "Sara", "givet": False, "omfang": ["skole", "politi"]},
        {"part": "Jonas", "givet": True},
        {"givet": False}]


def test_read_only_fields_are_never_read_back():
    form = CATALOG.get("vurder_henvendelse")
    parsed = parse(form.schema, MultiDict([("borger_navn", "Forfalsket"),
                                           ("modtaget_dato", "2020-01-01")]))
    assert "borger_navn" not in parsed and "modtaget_dato" not in parsed
    goals = CATALOG.get("opfoelgning_maal")
    parsed = parse(goals.schema, MultiDict([("maal_vurdering.0.maal", "Mål"),
                                            ("maal_vurdering.0.maaltype", "forfalsket")]))
    assert parsed == {"maal_vurdering": [{"maal": "Mål"}]}


def test_a_choice_not_on_the_list_is_kept_so_the_engine_names_it():
    konklusion = CATALOG.get("opfoelgning_konklusion")
    parsed = parse(konklusion.schema, {"status": "fortsaet", "juster_indsats": "true",
                                       "konklusion": "Godt."})
    with pytest.raises(ValidationFailed) as raised:
        konklusion.validate(parsed)
    assert list(raised.value.fields) == ["status"]
    # A value the case holds that is no longer a choice is shown, not silently dropped.
    tree = fields(konklusion.schema, parsed, raised.value.fields)
    [status] = [f for f in tree if f.path == "status"]
    assert ("fortsaet", "fortsaet (ukendt værdi)") in status.choices
    assert "Vælg en af mulighederne." in status.errors


# -- how fields are shown --------------------------------------------------------------------


def _field(tree, path):
    [found] = [f for f in walk(tree) if f.path == path]
    return found


def test_each_kind_of_field_gets_its_input():
    consent = fields(CATALOG.get("sel50_samtykke").schema, {"samtykker": [{}]})
    assert [(f.path, f.kind) for f in walk(consent)] == [
        ("samtykke_formaal", "textarea"), ("samtykker", "list"), ("samtykker.0", "group"),
        ("samtykker.0.part", "text"), ("samtykker.0.rolle", "radio"),
        ("samtykker.0.givet", "checkbox"), ("samtykker.0.dato", "date"),
        ("samtykker.0.form", "select"), ("samtykker.0.omfang", "multiselect"),
        ("samtykker.0.bemaerkning", "textarea")]
    assert _field(consent, "samtykker.0.rolle").choices == [
        ("foraeldremyndighed", "Forældremyndighed"), ("barn", "Den unge (fra 15 år)")]
    assert _field(consent, "samtykker.0.part").required
    assert not _field(consent, "samtykker.0.form").required
    assert _field(consent, "samtykker.0.form").required_when == ["»Samtykke givet?« er »Ja«"]

    plan = fields(CATALOG.get("sel85_plan_indhentning").schema, {})
    anmodninger = _field(plan, "anmodninger")
    assert anmodninger.children == [] and anmodninger.max_items == 21
    new = {f.path: f for f in anmodninger.template.walk()}
    assert new["anmodninger.__i0__.svarfrist_dage"].value == "14"  # a new item's default
    assert new["anmodninger.__i0__.modtager_type"].kind == "select"
    assert new["anmodninger.__i0__.svarfrist_dage"].hint == "Et helt tal fra 1 til 90."

    assessment_ = fields(CATALOG.get("sel85_udredning").schema, {})
    themes = _field(assessment_, "tilstande")
    assert themes.kind == "group" and len(themes.children) == 11
    assert _field(assessment_, "tilstande.mobilitet.funktionsevneniveau").kind == "select"
    assert _field(assessment_, "tilstande.mobilitet.tilstande").kind == "multiselect"

    meeting = fields(CATALOG.get("sel85_visitation").schema, {"deltagere": ["Lene"]})
    assert _field(meeting, "deltagere.0").kind == "text"
    assert _field(meeting, "deltagere.0").label == "Navn og funktion 1"
    assert _field(meeting, "timer_pr_uge").kind == "number"
    assert _field(meeting, "ydelse").required_when == ["»Beslutning« er »Bevilling«"]

    conclusion = fields(CATALOG.get("opfoelgning_konklusion").schema, {})
    assert _field(conclusion, "interval_begrundelse").required_when == [
        f"»Status på indsatsen (FFB)« er »{FFB.display[CONTINUE]}« og "
        "»Skal indsatsen ændres (ny afgørelse)?« er »Nej«"]


def test_an_error_on_a_nested_path_is_shown_next_to_its_input_in_danish():
    schema = CATALOG.get("sel85_udredning").schema
    errors = {"tilstande.mobilitet.funktionsevneniveau": ["required field is missing"],
              "indsatsmaal.1.maal": ["must not be blank"],
              "maalgrupper_sekundaere.0": ['must be one of "a", "b"']}
    tree = fields(schema, {"indsatsmaal": GOALS}, errors)
    page = Page(render(tree, error_summary(tree, errors)))
    select = page.elements["f-tilstande-mobilitet-funktionsevneniveau"]
    assert select["tag"] == "select" and select["attrs"]["aria-invalid"] == "true"
    error_id = "f-tilstande-mobilitet-funktionsevneniveau-fejl"
    assert error_id in select["attrs"]["aria-describedby"].split()
    assert page.text(error_id) == "Fejl: Skal udfyldes."
    assert page.elements[error_id]["container"] == select["container"]
    assert page.text("f-indsatsmaal-1-maal-fejl") == "Fejl: Må ikke være tom."
    # A wrong tick of a multi-select belongs to the ticks.
    assert page.text("f-maalgrupper_sekundaere-fejl") == "Fejl: Vælg en af mulighederne."
    # Unrelated fields are not marked.
    assert "aria-invalid" not in page.elements["f-tilstande-mobilitet-stoettebehov"]["attrs"]


def test_the_error_summary_links_to_each_field_and_keeps_messages_without_one():
    schema = CATALOG.get("sel50_samtykke").schema
    errors = {"samtykker.0.dato": ["cannot be in the future"],
              "samtykker": ["no answer recorded from Jonas Ærø"],
              "samtykker.4.part": ["required field is missing"], "data": ["must be an object"]}
    tree = fields(schema, {"samtykker": [{"part": "Sara"}]}, errors)
    summary = error_summary(tree, errors)
    assert summary == [
        {"label": "Samtykker", "href": "#f-samtykker",
         "messages": ["no answer recorded from Jonas Ærø"]},
        {"label": "Dato", "href": "#f-samtykker-0-dato",
         "messages": ["Må ikke ligge i fremtiden."]},
        {"label": "samtykker.4.part", "href": None, "messages": ["Skal udfyldes."]},
        {"label": "Formularen", "href": None,
         "messages": ["Skal udfyldes som en gruppe af felter."]}]
    page = Page(render(tree, summary))
    assert page.elements["fejlopsummering"]
    for problem in summary:
        if problem["href"]:
            assert problem["href"][1:] in page.elements


def test_engine_messages_become_danish():
    form = CATALOG.get("partshoering")
    with pytest.raises(ValidationFailed) as raised:
        form.validate({"undtagelse": False, "hoering_emne": "x" * 5001,
                       "hoering_oplysninger": "y", "svarfrist_dage": 99})
    tree = fields(form.schema, {}, raised.value.fields)
    assert _field(tree, "hoering_emne").errors == ["Må højst være 5000 tegn."]
    assert _field(tree, "svarfrist_dage").errors == ["Må højst være 60."]
    danish = form_render.danish_message
    assert danish("[] should be non-empty", {"type": "array"}) == "Vælg eller tilføj mindst én."
    assert danish("'' should be non-empty", {"type": "string"}) == "Skal udfyldes."
    assert danish("0 is less than the minimum of 1") == "Skal være mindst 1."
    assert danish("must be a valid date") == "Skal være en gyldig dato (dd-mm-åååå)."
    assert danish("the consent of X does not cover politi") == \
        "the consent of X does not cover politi"


def test_the_use_cases_own_messages_become_danish_too():
    """What engine/services.py, engine/oversight.py and engine/letters say of a field, through
    the one translation the pages use."""
    from engine.cpr import normalize_cpr

    danish = form_render.danish_message
    for english, expected in (
            ("is required", "Skal udfyldes."),
            ("missing", "Mangler."),
            ("not a valid date", "Skal være en gyldig dato (dd-mm-åååå)."),
            ("'2026-13-01' is not a valid date", "Skal være en gyldig dato (dd-mm-åååå)."),
            ("must not be blank", "Må ikke være tom."),
            ("cannot be in the future", "Må ikke ligge i fremtiden."),
            ("must include a time zone offset", "Skal have en tidszone."),
            ("you belong to several teams; name the team", "Du er med i flere teams: vælg teamet."),
            ("no team with id 7", "Teamet findes ikke."),
            ("no user 'jens'", "Brugeren »jens« findes ikke."),
            ("the case is closed", "Sagen er lukket."),
            ("sagsbehandler3 is not the case's caseworker",
             "sagsbehandler3 er ikke sagens sagsbehandler."),
            ("at most 5000 characters", "Højst 5000 tegn."),
            ("must be a valid email", "Har ikke den rigtige form."),
            ("must match ^[0-9]{4}$", "Har ikke den rigtige form.")):
        assert danish(english) == expected, english
    for cpr in ("123", "3213991234"):
        with pytest.raises(ValueError) as raised:
            normalize_cpr(cpr)
        assert danish(str(raised.value)).startswith("CPR-nummeret"), str(raised.value)


def test_list_items_carry_their_path_and_the_label_without_its_number():
    """What the form script renumbers the items by after one is removed."""
    schema = CATALOG.get("sel50_samtykke").schema
    tree = fields(schema, {"samtykker": [{"part": "Sara"}, {"part": "Jonas"}]})
    items = _field(tree, "samtykker")
    assert [(i.path, i.label, i.label_stem) for i in items.children] == [
        ("samtykker.0", f"{items.children[0].label_stem} 1", items.children[0].label_stem),
        ("samtykker.1", f"{items.children[0].label_stem} 2", items.children[0].label_stem)]
    html = render(tree)
    assert 'data-path="samtykker.1"' in html and 'data-path="samtykker.__i0__"' in html
    assert f'data-label-stem="{escape(items.children[0].label_stem)}"' in html


def test_read_only_values_are_shown_as_text():
    form = CATALOG.get("vurder_henvendelse")
    tree = fields(form.schema, {"borger_navn": "<b>Peter</b>", "modtaget_dato": "2026-11-02"})
    html = render(tree)
    assert "&lt;b&gt;Peter&lt;/b&gt;" in html and "2. november 2026" in html
    assert _field(tree, "borger_navn").kind == "readonly"
    status = CATALOG.get("opfoelgning_status")
    tree = fields(status.schema, {"statusrapporter": [
        {"afsender": "Bostøtten", "status": "Går godt.\nMøder op."}]})
    assert _field(tree, "statusrapporter").rows == [[("Afsender", "Bostøtten"),
                                                     ("Status", "Går godt.\nMøder op.")]]
    assert "Går godt.<br>Møder op." in render(tree)
    tree = fields(status.schema, {"statusrapporter": [{"afsender": "Bostøtten"}]},
                  catalog=CATALOG)  # labelled as the message's own form
    assert _field(tree, "statusrapporter").rows == [[("Leverandør", "Bostøtten")]]
    goals = fields(CATALOG.get("opfoelgning_maal").schema, {"maal_vurdering": GOALS},
                   catalog=CATALOG)
    assert _field(goals, "maal_vurdering.0.maaltype").display == "Udvikle funktionsevne"


def test_it_escapes_even_where_the_environment_does_not():
    """Flask turns autoescape on only for *.html: the macros escape by themselves."""
    tree = fields(CATALOG.get("sel50_samtykke").schema,
                  {"samtykke_formaal": EVIL, "samtykker": [{"part": EVIL}]},
                  {"samtykker.0.part": ["<i>fejl</i>"]})
    html = render(tree, error_summary(tree, {"samtykker.0.part": ["<i>fejl</i>"]}),
                  env=_env(autoescape=False))
    assert "<script>alert" not in html and "<i>fejl" not in html
    assert ESCAPED in html and "&lt;i&gt;fejl&lt;/i&gt;" in html


def test_fixed_texts_are_danish_and_go_through_gettext_where_there_is_one():
    tree = fields(CATALOG.get("sel85_plan_indhentning").schema, {})
    html = render(tree)
    for text in ("Tilføj", "Fjern", "Vælg …", "påkrævet"):
        assert text in html
    env = _env(autoescape=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(lambda s: {"Tilføj": "Add"}.get(s, s),
                                  lambda s, p, n: s if n == 1 else p, newstyle=True)
    assert ">Add</button>" in render(tree, env=env)


MADE_UP = {
    "type": "object",
    "properties": {
        "moede": {"type": "string", "format": "date-time", "title": "Mødet"},
        "sprog": {"type": "string", "title": "Sprog", "enum": ["da", "en", "de", "fr", "se"],
                  "x-enumNames": ["Dansk", "Engelsk", "Tysk", "Fransk", "Svensk"],
                  "x-widget": "radio"},
        "punkter": {"type": "array", "title": "Punkter", "items": {
            "type": "object", "title": "Punkt",
            "properties": {
                "overskrift": {"type": "string", "title": "Overskrift"},
                "vigtigt": {"type": "boolean", "title": "Vigtigt"},
                "underpunkter": {"type": "array", "title": "Underpunkter", "items": {
                    "type": "object", "properties": {
                        "tekst": {"type": "string", "title": "Tekst"},
                        "antal": {"type": ["integer", "null"], "title": "Antal"}}}}},
            "required": ["overskrift"]}},
        "adresse": {"type": "object", "title": "Adresse", "properties": {
            "vej": {"type": "string", "title": "Vej"},
            "postnr": {"type": "integer", "title": "Postnummer", "minimum": 1000}}},
    },
}


def test_a_made_up_form_with_lists_in_lists_and_times_round_trips():
    values = {"moede": "2026-07-01T10:30:00+02:00", "sprog": "se",
              "punkter": [{"overskrift": "Et", "vigtigt": False, "underpunkter": [
                  {"tekst": "a", "antal": 2}, {"tekst": "b"}]},
                  {"overskrift": "To", "vigtigt": True}],
              "adresse": {"vej": "Havnegade 3", "postnr": 8000}}
    tree = fields(MADE_UP, values)
    assert _field(tree, "moede").kind == "datetime" and _field(tree, "moede").value == \
        "2026-07-01T10:30"
    assert _field(tree, "sprog").kind == "radio"
    inner = _field(tree, "punkter.0.underpunkter")
    assert inner.template.path == "punkter.0.underpunkter.__i1__"
    assert _field(tree, "punkter").template.children[2].template.path == \
        "punkter.__i0__.underpunkter.__i1__"
    page = Page(render(tree))
    check_accessible(page)
    assert parse(MADE_UP, page.form()) == values
    # A time given in UTC is shown in Danish time and read back as the same moment.
    tree = fields(MADE_UP, {"moede": "2026-07-01T08:30:00+00:00"})
    assert parse(MADE_UP, Page(render(tree)).form())["moede"] == "2026-07-01T10:30:00+02:00"
    # Empty nested objects and lists are left out.
    assert parse(MADE_UP, MultiDict([("adresse.vej", ""), ("punkter.0", ""),
                                     ("punkter.0.overskrift", "x")])) == {
        "punkter": [{"overskrift": "x", "vigtigt": False}]}


def test_it_renders_in_the_flask_application_with_its_translations():
    """As the web blueprint will: Flask (autoescape only for *.html) and Flask-Babel."""
    from flask import Flask, render_template_string
    from flask_babel import Babel

    app = Flask(__name__, template_folder=str(ROOT / "api" / "templates"))
    Babel(app, default_locale="da")
    schema = CATALOG.get("sel50_samtykke").schema
    errors = {"samtykker.0.part": ["required field is missing"]}
    tree = fields(schema, {"samtykke_formaal": EVIL, "samtykker": [{}]}, errors)
    with app.test_request_context():
        html = render_template_string(PAGE, fields=tree, summary=error_summary(tree, errors))
    assert ESCAPED in html and "<script>alert" not in html
    assert "Tilføj" in html and "Skal udfyldes." in html
    check_accessible(Page(html))
