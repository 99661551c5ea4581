"""Casework in a real browser (chromium through Playwright) against the real app served by
waitress, the acceptance of issue 7: a caseworker opens a § 50 notification on "Ny sag", works
its first two tasks from their pages and sees each leave the inbox as the next one comes; a
leader sees an overdue deadline in the queue (red for the caseworker) and moves the case to a
colleague; a caseworker of another team gets the 403 page and none of the case; a draft
survives a reload, a closed tab and a new log-in; and the task page with its error summary has
no serious or critical accessibility violation."""

from __future__ import annotations

import re
from datetime import timedelta

from conftest import new_case_body

from .conftest import SQLITE_ONLY, login

pytestmark = SQLITE_ONLY

CPR = "0105134321"
CHILD = "Ida Ærø"
ASSESS = "Vurdér underretningen (inden 24 timer)"
SCREENING = "Screening: hvad skal der ske?"
CONSENT = "Indhent samtykke"


def _notification(api, hours_ago: int = 2) -> dict:
    """A § 50 notification received `hours_ago` hours ago, opened through the REST API (which
    shares the live server's database); its assessment lands with sagsbehandler."""
    from engine.clock import now

    received = (now() - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    response = api("sagsbehandler").post("/api/v1/cases", json={
        **new_case_body(received_at=received), "process": "sel50",
        "citizen": {"cpr": CPR, "name": CHILD}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _overdue_case(api, app) -> dict:
    """A notification received 30 hours ago, and a scheduler tick that breaches its 24-hour
    deadline. The tick runs in an app context of its own, as the scheduler's process would
    (a context shared with the page requests would share Flask's `g`)."""
    from conftest import run_tick

    case = _notification(api, hours_ago=30)
    with app.app_context():
        run_tick(app)
    return case


def _assessment(case: dict) -> dict:
    return next(t for t in case["open_tasks"] if t["bpmn_id"] == "vurder_underretning")


def _flash(page):
    """The receipt a page shows after a redirect (role=status)."""
    return page.locator("main > p.flash[role=status]")


def _inbox_row(page, case_number: str, task_name: str):
    return page.locator("tbody tr", has_text=case_number).filter(
        has=page.get_by_role("link", name=task_name, exact=True))


def _goto_inbox(page):
    page.get_by_role("navigation", name="Hovedmenu").get_by_role(
        "link", name="Indbakke", exact=True).click()
    page.wait_for_url(re.compile(r"/indbakke"))


# -- 1. a notification from "Ny sag" through its first two tasks --------------------------------

def test_a_notification_is_opened_and_its_first_tasks_are_worked_from_the_inbox(page, base):
    from playwright.sync_api import expect

    from engine.clock import LOCAL_TZ, now

    login(page, base, "sagsbehandler")
    page.get_by_role("link", name="Ny sag", exact=True).click()
    page.wait_for_url(re.compile(r"/sager/ny"))
    page.get_by_role("radio", name=re.compile(r"^Underretning om et barn")).check()
    page.get_by_label("Borgerens CPR-nummer").fill(CPR)
    page.get_by_label("Borgerens navn").fill(CHILD)
    page.get_by_label("Adresse").fill("Havnegade 3, 8000 Aarhus C")
    received = (now() - timedelta(hours=2)).astimezone(LOCAL_TZ)
    page.get_by_label("Modtaget dato").fill(received.date().isoformat())
    page.get_by_label("Modtaget klokken").fill(received.strftime("%H:%M"))
    page.get_by_role("button", name="Opret sagen").click()

    # the case page: made, the child, the assessment open with the caseworker
    page.wait_for_url(re.compile(r"/sager/\d+$"))
    case_url = page.url
    expect(_flash(page)).to_contain_text("er oprettet")
    number = re.search(r"Sag (\S+) er oprettet", _flash(page).inner_text()).group(1)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sag {number}: {CHILD}")
    tasks = page.locator("section[aria-labelledby=h-opgaver]")
    expect(tasks.get_by_role("link", name=ASSESS, exact=True)).to_be_visible()
    assert CPR not in page.content() and "010513-4321" not in page.content()

    # the inbox has it; open it from there
    _goto_inbox(page)
    row = _inbox_row(page, number, ASSESS)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("010513-xxxx")
    row.get_by_role("link", name=ASSESS, exact=True).click()
    page.wait_for_url(re.compile(r"/opgaver/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(ASSESS)

    # the assessment: a teacher's notification, no violence, no acute danger, two parents
    page.get_by_role("radio", name="Fagperson", exact=True).check()
    page.get_by_label(re.compile(r"^Fagpersonens rolle")).fill("Klasselærer")
    page.get_by_label(re.compile(r"^Underretterens navn")).fill("Mette Holm")
    page.get_by_label(re.compile(r"^Hvad siger underretningen\?")).fill(
        "Ida kommer ofte sulten i skole.\nHun falder i søvn i timerne.")
    violence = page.get_by_label("Handler underretningen om vold eller seksuelle overgreb?")
    danger = page.get_by_label("Er barnet i akut fare?")
    expect(violence).not_to_be_checked()  # unticked is "no"
    expect(danger).not_to_be_checked()
    holders = page.locator("fieldset#f-foraeldremyndighed")
    expect(holders.locator(".items > .item")).to_have_count(0)
    for i, (name, address, relation) in enumerate((
            ("Sara Ærø", "Havnegade 3, 8000 Aarhus C", "Mor"),
            ("Jonas Ærø", "Søndergade 12, 8000 Aarhus C", "Far"))):
        holders.get_by_role("button", name="Tilføj", exact=True).click()
        item = holders.locator(".items > .item").nth(i)
        expect(item.get_by_role("group", name=f"Nr. {i + 1}")).to_be_visible()
        # the new item's first input has focus, so a keyboard user can type on
        expect(item.get_by_label(re.compile(r"^Navn"))).to_be_focused()
        page.keyboard.type(name)
        item.get_by_label(re.compile(r"^Adresse")).fill(address)
        item.get_by_label(re.compile(r"^Relation")).select_option(label=relation)
    page.get_by_role("button", name="Afslut opgaven", exact=True).click()

    # the case page says it is done and what comes next
    page.wait_for_url(case_url)
    expect(_flash(page)).to_contain_text(f"“{ASSESS}” er afsluttet.")
    expect(_flash(page)).to_contain_text(f"Næste: {SCREENING}.")
    expect(tasks.get_by_role("link", name=ASSESS, exact=True)).to_have_count(0)
    expect(tasks.get_by_role("link", name=SCREENING, exact=True)).to_be_visible()

    # the inbox: the assessment is gone, the screening is there
    _goto_inbox(page)
    expect(_inbox_row(page, number, ASSESS)).to_have_count(0)
    row = _inbox_row(page, number, SCREENING)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=SCREENING, exact=True).click()
    page.wait_for_url(re.compile(r"/opgaver/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(SCREENING)

    # the screening: a child who may need special support, so an investigation (§ 20)
    page.get_by_role("checkbox", name="Barnet kan have behov for særlig støtte").check()
    page.get_by_role("radio", name="Børnefaglig undersøgelse (§ 20)").check()
    page.get_by_role("button", name="Afslut opgaven", exact=True).click()
    page.wait_for_url(case_url)
    expect(_flash(page)).to_contain_text(f"“{SCREENING}” er afsluttet.")
    expect(_flash(page)).to_contain_text(f"Næste: {CONSENT}.")
    # the investigation has begun with the custody holders entered in the assessment as parties
    parties = page.locator("section[aria-labelledby=h-borger] tbody")
    expect(parties.locator("tr", has_text="Sara Ærø")).to_contain_text("Forældremyndighed")
    expect(parties.locator("tr", has_text="Jonas Ærø")).to_contain_text("Søndergade 12")

    # and the inbox moves on
    _goto_inbox(page)
    expect(_inbox_row(page, number, SCREENING)).to_have_count(0)
    expect(_inbox_row(page, number, ASSESS)).to_have_count(0)
    expect(_inbox_row(page, number, CONSENT)).to_have_count(1)


# -- 2. the leader's queue: an overdue deadline, moved to a colleague ------------------------------

def test_the_leader_sees_the_overdue_deadline_and_moves_the_case(page, base, api, app):
    from playwright.sync_api import expect

    case = _overdue_case(api, app)
    number = case["number"]
    login(page, base, "leder")
    page.get_by_role("link", name="Frister", exact=True).click()
    page.wait_for_url(re.compile(r"/frister"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Overskredne frister")

    # red for the caseworker, with one overdue deadline; green for the colleague
    lights = page.locator("section[aria-labelledby=h-lys] tbody tr")
    worker = lights.filter(has=page.get_by_role("link", name="Sagsbehandler", exact=True))
    expect(worker).to_contain_text("Rød")
    expect(worker.locator("span.lys")).to_have_class(re.compile(r"\blys-roed\b"))
    expect(worker.locator("td").nth(2)).to_have_text("1")
    colleague = lights.filter(has=page.get_by_role("link", name="Sagsbehandler3", exact=True))
    expect(colleague).to_contain_text("Grøn")

    # the deadline's row: the case, the 24-hour deadline, the caseworker
    rows = page.locator("form[action$='/frister/flyt'] tbody tr", has_text=number)
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Sagsbehandler")
    expect(rows.get_by_role("link", name=number, exact=True)).to_have_attribute(
        "href", f"/sager/{case['id']}")

    # tick it, from the caseworker to the colleague, Flyt
    page.get_by_label(f"Vælg sag {number}").check()
    page.get_by_label("Fra", exact=True).select_option(label="Sagsbehandler")
    page.get_by_label("Til", exact=True).select_option(label="Sagsbehandler3")
    page.get_by_role("button", name="Flyt", exact=True).click()
    expect(_flash(page)).to_contain_text("1 sag er flyttet fra Sagsbehandler til "
                                         "Sagsbehandler3")
    page.wait_for_url(re.compile(r"/frister"))

    # the deadline is the colleague's now, and so is the case
    rows = page.locator("form[action$='/frister/flyt'] tbody tr", has_text=number)
    expect(rows.locator("td").nth(5)).to_have_text("Sagsbehandler3")
    colleague = page.locator("section[aria-labelledby=h-lys] tbody tr").filter(
        has=page.get_by_role("link", name="Sagsbehandler3", exact=True))
    expect(colleague).to_contain_text("Rød")
    rows.get_by_role("link", name=number, exact=True).click()
    page.wait_for_url(re.compile(rf"/sager/{case['id']}$"))
    expect(page.locator("main > p", has_text="Sagsbehandler:")).to_contain_text(
        "Sagsbehandler: Sagsbehandler3")
    assert api("leder").get(f"/api/v1/cases/{case['id']}").get_json()[
        "caseworker"]["username"] == "sagsbehandler3"


# -- 3. another team's caseworker -----------------------------------------------------------------

def test_a_caseworker_of_another_team_gets_the_403_page_and_none_of_the_case(page, base, api,
                                                                             app):
    from playwright.sync_api import expect

    case = _overdue_case(api, app)
    task = _assessment(case)
    login(page, base, "sagsbehandler2")
    for path in (f"/sager/{case['id']}", f"/opgaver/{task['id']}"):
        response = page.goto(base + path)
        assert response.status == 403, (path, response.status)
        expect(page.get_by_role("heading", level=1)).to_have_text("Ingen adgang")
        expect(page).to_have_title(re.compile(r"^Ingen adgang"))
        html = page.content()
        for secret in (case["number"], CHILD, CPR, "010513", "Vurdér underretningen"):
            assert secret not in html, (path, secret)
        expect(page.get_by_role("link", name="Til indbakken")).to_be_visible()


# -- 4. a draft survives a reload, a closed tab and a new log-in ----------------------------------

def test_a_draft_survives_a_reload_a_closed_tab_and_a_new_log_in(page, base, api, browser):
    from playwright.sync_api import expect

    case = _notification(api)
    task = _assessment(case)
    task_url = f"{base}/opgaver/{task['id']}"
    content = page.get_by_label(re.compile(r"^Hvad siger underretningen\?"))
    status = page.locator("#kladde-status")
    login(page, base, "sagsbehandler")
    page.goto(task_url)
    expect(status).to_have_text("")

    # typed, then kept by the autosave (a few seconds after the last key)
    content.fill("Ida kommer ofte sulten i skole.")
    expect(status).to_have_text("Kladde gemt automatisk.", timeout=10_000)
    page.reload()
    expect(content).to_have_value("Ida kommer ofte sulten i skole.")
    expect(status).to_contain_text("Kladde gemt")
    expect(status).to_contain_text("(Sagsbehandler)")

    # the button keeps it too
    role = page.get_by_label(re.compile(r"^Fagpersonens rolle"))
    role.fill("Klasselærer")
    page.get_by_role("button", name="Gem kladde", exact=True).click()
    expect(_flash(page)).to_have_text("Kladden er gemt.")
    expect(role).to_have_value("Klasselærer")
    expect(content).to_have_value("Ida kommer ofte sulten i skole.")

    # a second tab: typed, autosaved, the tab closed without pressing anything
    tab = page.context.new_page()
    tab.goto(task_url)
    tab.get_by_role("radio", name="Fagperson", exact=True).check()
    tab.get_by_label(re.compile(r"^Underretterens navn")).fill("Mette Holm")
    expect(tab.locator("#kladde-status")).to_have_text("Kladde gemt automatisk.")
    tab.close()

    # a new browser (no cookies), logged in again: everything is there
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        again = context.new_page()
        login(again, base, "sagsbehandler")
        again.goto(task_url)
        expect(again.get_by_label(re.compile(r"^Hvad siger underretningen\?"))).to_have_value(
            "Ida kommer ofte sulten i skole.")
        expect(again.get_by_label(re.compile(r"^Fagpersonens rolle"))).to_have_value(
            "Klasselærer")
        expect(again.get_by_label(re.compile(r"^Underretterens navn"))).to_have_value(
            "Mette Holm")
        expect(again.get_by_role("radio", name="Fagperson", exact=True)).to_be_checked()
    finally:
        context.close()


# -- the task page with its errors shown ----------------------------------------------------------

def test_the_task_page_with_field_errors_has_no_serious_accessibility_violations(
        page, base, api, check_axe):
    from playwright.sync_api import expect

    case = _notification(api)
    task = _assessment(case)
    login(page, base, "sagsbehandler")
    page.goto(f"{base}/opgaver/{task['id']}")
    # a teacher, but no role, no content and no custody holder
    page.get_by_role("radio", name="Fagperson", exact=True).check()
    page.get_by_role("button", name="Afslut opgaven", exact=True).click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # a screen reader reads it, the keyboard starts there
    expect(summary.get_by_role("heading")).to_have_text("Formularen er ikke udfyldt rigtigt")
    expect(summary).to_contain_text("Hvad siger underretningen?")
    expect(summary).to_contain_text("Forældremyndighedens indehavere")
    expect(summary).to_contain_text("Fagpersonens rolle")
    content = page.get_by_label(re.compile(r"^Hvad siger underretningen\?"))
    expect(content).to_have_attribute("aria-invalid", "true")
    # each of the summary's problems links to its field, and the link takes the focus there
    problems = summary.locator("li")
    expect(summary.locator("li a")).to_have_count(problems.count())
    summary.get_by_role("link", name="Hvad siger underretningen?").click()
    expect(content).to_be_focused()
    # a list (a fieldset): to its first control, here the button that adds one
    summary.get_by_role("link", name="Forældremyndighedens indehavere").click()
    expect(page.locator("fieldset#f-foraeldremyndighed").get_by_role(
        "button", name="Tilføj", exact=True)).to_be_focused()
    # nothing was completed: the task is still open
    assert api("sagsbehandler").get(f"/api/v1/tasks/{task['id']}").get_json()["state"] == \
        "ready"
    check_axe(page)


# -- a list item removed: the others are numbered anew ---------------------------------------------

def test_removing_a_list_item_numbers_the_others_anew(page, base, api):
    from playwright.sync_api import expect

    case = _notification(api)
    task = _assessment(case)
    login(page, base, "sagsbehandler")
    page.goto(f"{base}/opgaver/{task['id']}")
    holders = page.locator("fieldset#f-foraeldremyndighed")
    items = holders.locator(".items > .item")
    for name in ("Sara Ærø", "Jonas Ærø", "Mette Ærø"):
        holders.get_by_role("button", name="Tilføj", exact=True).click()
        items.last.get_by_label(re.compile(r"^Navn")).fill(name)
    items.first.get_by_role("button", name="Fjern: Nr. 1", exact=True).click()

    expect(items).to_have_count(2)
    for i, name in enumerate(("Jonas Ærø", "Mette Ærø")):
        item = items.nth(i)
        expect(item.get_by_role("group", name=f"Nr. {i + 1}", exact=True)).to_be_visible()
        expect(item.get_by_role("button", name=f"Fjern: Nr. {i + 1}", exact=True)).to_be_visible()
        field = item.get_by_label(re.compile(r"^Navn"))  # the label still names its input
        expect(field).to_have_value(name)
        expect(field).to_have_attribute("name", f"foraeldremyndighed.{i}.navn")
        expect(field).to_have_attribute("id", f"f-foraeldremyndighed-{i}-navn")
    # the next one added is the third, and what the form sends is numbered 0, 1, 2
    holders.get_by_role("button", name="Tilføj", exact=True).click()
    expect(items.nth(2).get_by_role("group", name="Nr. 3", exact=True)).to_be_visible()
    expect(items.nth(2).get_by_label(re.compile(r"^Navn"))).to_have_attribute(
        "name", "foraeldremyndighed.2.navn")
    sent = page.evaluate("""() => [...new FormData(document.getElementById("opgave")).keys()]
        .filter(k => k.startsWith("foraeldremyndighed."))""")
    indices = sorted({int(k.split(".")[1]) for k in sent})
    assert indices == [0, 1, 2], sent
    ids = page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids)), "an id is there twice"
    # kept as a draft and shown again in that order
    page.get_by_role("button", name="Gem kladde", exact=True).click()
    expect(_flash(page)).to_have_text("Kladden er gemt.")
    expect(items).to_have_count(3)  # the third, added and not filled in yet, too
    expect(items.nth(0).get_by_label(re.compile(r"^Navn"))).to_have_value("Jonas Ærø")
    expect(items.nth(1).get_by_label(re.compile(r"^Navn"))).to_have_value("Mette Ærø")
    expect(items.nth(2).get_by_label(re.compile(r"^Navn"))).to_have_value("")
