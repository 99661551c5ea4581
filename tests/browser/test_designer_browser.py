"""The process designer in chromium: the § 85 process opens in the bpmn-js modeler with the
Camunda properties panel; a designer changes a user task's candidate group and a timer,
validates, deploys; new cases take the new version while a running one stays, and the running
one is moved to it. Also: a problem is marked on the diagram, a draft survives a reload, the
decision table opens in dmn-js, and the pages pass axe."""

from __future__ import annotations

import json

from .conftest import SQLITE_ONLY, login

pytestmark = SQLITE_ONLY

EDITOR = "/designer/filer/sel85.bpmn"


def _ready(page):
    page.wait_for_selector("#designer[data-ready='1']", timeout=30000)


def test_the_modeler_opens_with_the_camunda_properties_panel(page, base, check_axe):
    login(page, base, "designer")
    page.goto(base + EDITOR)
    _ready(page)
    task = page.locator("#modeller .djs-element[data-element-id='registrer_henvendelse']")
    assert task.count() == 1
    task.click()
    # the properties panel shows the element with Camunda's groups (user assignment, forms)
    page.wait_for_selector("#egenskaber .bio-properties-panel-header-label")
    assert "Registrér henvendelsen" in page.locator("#egenskaber").inner_text()
    assert page.locator("#henvisninger a", has_text="sel85_henvendelse").count() == 1
    check_axe(page)


def _panel_group(page, group_id):
    header = page.locator(f"#egenskaber [data-group-id='group-{group_id}'] "
                          ".bio-properties-panel-group-header")
    header.wait_for()
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def _select(page, element_id):
    page.locator(f"#modeller .djs-element[data-element-id='{element_id}']").first.click()
    page.wait_for_selector("#egenskaber .bio-properties-panel-header")


def _deploy(page):
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#udrul")
    page.wait_for_function("document.getElementById('designer').dataset.deployed")
    return json.loads(page.locator("#designer").get_attribute("data-deployed"))


def _version_of(app, case_id):
    from api.extensions import db
    from engine.db import transaction
    from engine.models import Case

    with app.app_context():
        with transaction(db.session) as session:
            case = session.get(Case, case_id)
            return case.process_version.version


def test_change_validate_deploy_and_move_running_cases(page, base, api, app, check_axe):
    """Issue 8's acceptance: open § 85, change a task's candidate group and a timer, validate,
    deploy; new cases take the new version while running ones stay; move them."""
    from conftest import new_case_body

    worker = api("sagsbehandler")
    running = worker.post("/api/v1/cases", json={**new_case_body(), "process": "sel85"})
    assert running.status_code == 201, running.get_json()
    running = running.get_json()
    assert _version_of(app, running["id"]) == 1

    login(page, base, "designer")
    page.goto(base + EDITOR)
    _ready(page)
    # the first task goes to team nord instead of every caseworker
    _select(page, "registrer_henvendelse")
    _panel_group(page, "CamundaPlatform__UserAssignment")
    field = page.locator("#bio-properties-panel-candidateGroups")
    assert field.input_value() == "sagsbehandler"
    field.fill("nord")
    field.press("Tab")
    page.click("#valider")
    page.wait_for_selector("#status:has-text('Ingen problemer')")
    assert _deploy(page) == [{"process_id": "sel85", "version": 2}]

    # the timer is in the follow-up module the § 85 process calls: reached from the call activity
    page.goto(base + EDITOR)
    _ready(page)
    page.locator("#alle-henvisninger li", has_text="kalder processen").locator(
        "a", has_text="opfoelgning").first.click()
    _ready(page)
    assert "/designer/filer/opfoelgning.bpmn" in page.url
    _select(page, "vent")
    _panel_group(page, "timer")
    value = page.locator("#bio-properties-panel-timerEventDefinitionValue")
    assert value.input_value() == "deadline_reminder(opfoelgning_frist)"
    # typed as in Camunda Modeler: refused, and the timer is marked on the diagram
    value.fill("P14D")
    value.press("Tab")
    page.click("#valider")
    page.wait_for_selector("#problemliste li")
    assert "vent" in page.locator("#problemliste").inner_text()
    assert page.locator("#modeller .djs-element.har-fejl[data-element-id='vent']").count() == 1
    # the follow-up appears when its deadline is due rather than at its warning
    value.fill("deadline(opfoelgning_frist)")
    value.press("Tab")
    page.click("#valider")
    page.wait_for_selector("#status:has-text('Ingen problemer')")
    assert page.locator("#modeller .djs-element.har-fejl").count() == 0
    deployed = _deploy(page)
    assert {"process_id": "opfoelgning", "version": 2} in deployed
    assert {"process_id": "sel85", "version": 3} in deployed

    # new cases start on the newest version; the running one stays on version 1
    fresh = worker.post("/api/v1/cases", json={**new_case_body(cpr="0101801234"),
                                               "process": "sel85"}).get_json()
    assert _version_of(app, fresh["id"]) == 3
    assert _version_of(app, running["id"]) == 1

    page.goto(base + "/designer/processer/sel85/versioner")
    assert page.locator("tbody tr").count() == 3
    check_axe(page)
    page.click("text=Vis forskel")  # 2 -> 3: the timer of the follow-up module
    changed = page.locator("h2:has-text('Ændrede elementer') + ul").inner_text()
    assert "vent" in changed and "registrer_henvendelse" not in changed
    page.go_back()
    page.click("text=Prøv at flytte sager til version 3")
    row = page.locator("table.plan tbody tr", has_text=running["number"])
    assert "ja" in row.inner_text()
    check_axe(page)
    page.click("button:has-text('Flyt den sag, der kan flyttes')")
    page.wait_for_selector(".flash:has-text('Flyttet til version 3: 1.')")
    assert _version_of(app, running["id"]) == 3
    # the moved case's first task now belongs to team nord, as version 3 says
    task = worker.get(f"/api/v1/cases/{running['id']}").get_json()["open_tasks"][0]
    assert task["candidate_groups"] == ["nord"]


def test_a_change_is_saved_as_a_draft_before_a_test_run_and_survives_a_reload(page, base):
    login(page, base, "designer")
    page.goto(base + EDITOR)
    _ready(page)
    _select(page, "registrer_henvendelse")
    _panel_group(page, "general")
    name = page.locator("#bio-properties-panel-name")
    name.fill("Registrér henvendelsen (ændret)")
    name.press("Tab")
    page.click("#proevekoer")  # unsaved: saved first, then the test run page
    page.wait_for_url("**/proevekoersel")
    assert page.locator("h1").inner_text().startswith("Prøvekørsel af sel85.bpmn")
    page.goto(base + EDITOR)
    _ready(page)
    assert page.locator("#designer").get_attribute("data-lock-version") == "1"
    assert "Registrér henvendelsen (ændret)" in page.locator("#modeller").inner_text()


def test_a_decision_table_opens_in_dmn_js(page, base, check_axe):
    login(page, base, "designer")
    page.goto(base + "/designer/filer/opfoelgningsinterval.dmn")
    _ready(page)
    # dmn-js shows the decision table (or the requirements diagram with it) in the editor
    page.wait_for_selector("#modeller .tjs-table, #modeller .djs-container")
    page.click("#valider")
    page.wait_for_selector("#status:has-text('Ingen problemer')")
    check_axe(page)


def test_a_test_run_in_the_browser(page, base, check_axe):
    """Start a sample case, open its first task's form, move time past the municipality's
    deadline; the sandbox shows it overdue. The pages pass axe."""
    login(page, base, "designer")
    page.goto(base + EDITOR)
    _ready(page)
    page.click("#proevekoer")
    page.wait_for_url("**/proevekoersel")
    check_axe(page)
    page.select_option("#proces", "sel85")
    page.fill("#modtaget", "2026-11-02")
    page.click("button:has-text('Start')")
    page.wait_for_selector("#aabne-opgaver li:has-text('registrer_henvendelse')", timeout=30000)
    page.locator("#aabne-opgaver li", has_text="registrer_henvendelse").get_by_role(
        "button", name="Udfyld").click()
    page.wait_for_selector("#h-opgave", timeout=30000)
    assert page.evaluate("document.activeElement.id") == "h-opgave"
    check_axe(page)
    page.fill("#dage", "70")
    page.get_by_role("button", name="Flyt tiden").click()
    page.wait_for_selector("#vej", timeout=30000)
    assert "overskredet" in page.locator("main").inner_text()
    assert page.locator("#aabne-opgaver li", has_text="registrer_henvendelse").count() == 1
