"""The inbox in a real browser (chromium through Playwright) against the real app served by
waitress: log in, see one's task with the CPR number masked, give it back, take it again, log
out; another team sees none of it; the skip link is the first Tab stop; and axe finds no
serious or critical accessibility violations on the main pages."""

from __future__ import annotations

import re

import pytest
from conftest import new_case_body

from .conftest import SQLITE_ONLY, login, logout

pytestmark = SQLITE_ONLY


def _open_case(api, username="sagsbehandler", **kw) -> dict:
    """Open a case through the REST API (the test client shares the live server's database);
    its first task lands with the caseworker who opened it."""
    response = api(username).post("/api/v1/cases", json=new_case_body(**kw))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _tab(page, label: str):
    """A tab of the inbox; its accessible name is the label followed by the count."""
    return page.get_by_role("link", name=re.compile(rf"^{re.escape(label)}\b"))


def _row(page, case_number: str):
    return page.locator("tbody tr", has_text=case_number)


def test_my_task_give_it_back_take_it_again_and_log_out(page, base, api):
    from playwright.sync_api import expect

    case = _open_case(api, cpr="0102031234", name="Emil Hansen")
    [task] = case["open_tasks"]
    login(page, base, "sagsbehandler")

    # Mine opgaver: the task, the citizen, the CPR number masked (never in full)
    expect(_tab(page, "Mine opgaver")).to_have_attribute("aria-current", "page")
    row = _row(page, case["number"])
    expect(row).to_have_count(1)
    expect(row).to_contain_text(task["name"])
    expect(row).to_contain_text("Emil Hansen")
    expect(row).to_contain_text("010203-xxxx")
    html = page.content()
    assert "0102031234" not in html and "010203-1234" not in html

    # Giv tilbage: gone from mine, a receipt, and waiting under Ikke tildelt
    row.get_by_role("button", name=re.compile(r"^Giv tilbage")).click()
    expect(page.get_by_role("status")).to_contain_text("givet tilbage til teamet")
    expect(_row(page, case["number"])).to_have_count(0)
    _tab(page, "Ikke tildelt").click()
    page.wait_for_url(re.compile(r"fane=unassigned"))
    expect(_tab(page, "Ikke tildelt")).to_have_attribute("aria-current", "page")
    row = _row(page, case["number"])
    expect(row).to_contain_text("Ingen")
    assert api("sagsbehandler").get(f"/api/v1/tasks/{task['id']}").get_json()["assignee"] is None

    # Tag: it is mine again
    row.get_by_role("button", name=re.compile(r"^Tag\b")).click()
    expect(page.get_by_role("status")).to_contain_text("Du har taget opgaven")
    assert api("sagsbehandler").get(
        f"/api/v1/tasks/{task['id']}").get_json()["assignee"] == "sagsbehandler"
    _tab(page, "Mine opgaver").click()
    page.wait_for_url(re.compile(r"fane=mine"))
    expect(_row(page, case["number"])).to_contain_text("Sagsbehandler")

    # Log ud: back at the log-in page, and the inbox asks for a log-in again
    logout(page)
    page.goto(f"{base}/indbakke")
    page.wait_for_url(re.compile(r"/login"))
    expect(page.locator("#username")).to_be_visible()


def test_another_teams_caseworker_does_not_see_the_task(page, base, api):
    from playwright.sync_api import expect

    case = _open_case(api)
    [task] = case["open_tasks"]
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim")

    # a colleague on the same team sees it waiting (so the absence below means something)
    login(page, base, "sagsbehandler3")
    _tab(page, "Ikke tildelt").click()
    page.wait_for_url(re.compile(r"fane=unassigned"))
    expect(_row(page, case["number"])).to_have_count(1)
    logout(page)

    login(page, base, "sagsbehandler2")
    for label, key in (("Mine opgaver", "mine"), ("Mit teams", "team"),
                       ("Ikke tildelt", "unassigned")):
        _tab(page, label).click()
        page.wait_for_url(re.compile(rf"fane={key}"))
        expect(page.locator("main")).not_to_contain_text(case["number"])
        expect(page.locator("main")).not_to_contain_text("010203-xxxx")


def test_a_search_by_cpr_number_leaves_it_out_of_the_address(page, base, api):
    from playwright.sync_api import expect

    emil = _open_case(api, cpr="0102031234", name="Emil Hansen")
    sofie = _open_case(api, cpr="0506071234", name="Sofie Berg")
    login(page, base, "sagsbehandler")
    addresses = []
    page.on("request", lambda request: addresses.append(request.url))
    page.get_by_label("Borger (navn eller CPR)").fill("010203-1234")
    page.get_by_role("button", name="Filtrér", exact=True).click()
    page.wait_for_url(re.compile(r"/indbakke\?fane=mine&borger_id=\d+$"))
    expect(_row(page, emil["number"])).to_have_count(1)
    expect(_row(page, sofie["number"])).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Viser borgeren Emil Hansen (010203-xxxx)")
    assert not [a for a in addresses if "1234" in a], addresses
    assert "1234" not in page.url and "0102031234" not in page.content()
    # another tab keeps the citizen; "Vis alle borgere" lets go of it
    _tab(page, "Mit teams").click()
    page.wait_for_url(re.compile(r"fane=team&borger_id=\d+"))
    expect(_row(page, sofie["number"])).to_have_count(0)
    page.get_by_role("link", name="Vis alle borgere").click()
    expect(_row(page, sofie["number"])).to_have_count(1)
    # a name is searched as before, and stays in the address
    page.get_by_label("Borger (navn eller CPR)").fill("Sofie")
    page.get_by_role("button", name="Filtrér", exact=True).click()
    page.wait_for_url(re.compile(r"borger=Sofie"))
    expect(_row(page, sofie["number"])).to_have_count(1)
    expect(_row(page, emil["number"])).to_have_count(0)


def _focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        const r = e.getBoundingClientRect();
        return {tag: e.tagName.toLowerCase(), id: e.id, text: e.textContent.trim(),
                left: r.left, top: r.top, width: r.width}; }""")


def test_the_skip_link_is_the_first_tab_stop_and_leads_to_the_content(page, base):
    page.goto(f"{base}/login")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["tag"] == "a" and first["text"] == "Gå til indholdet", first
    assert first["left"] >= 0 and first["top"] >= 0 and first["width"] > 0, \
        "the skip link is not shown when it has focus"
    # then the form in reading order
    stops = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused = _focused(page)
        stops.append(focused["id"] or focused["text"])
    assert stops == ["username", "password", "Log ind"], stops
    # Enter on the skip link goes to the main content
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert _focused(page)["text"] == "Gå til indholdet"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#indhold$"))


def test_the_skip_link_is_the_first_tab_stop_in_the_inbox(page, base):
    login(page, base, "sagsbehandler")
    page.keyboard.press("Tab")
    first = _focused(page)
    assert first["tag"] == "a" and first["text"] == "Gå til indholdet", first
    assert first["left"] >= 0 and first["top"] >= 0 and first["width"] > 0
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#indhold$"))


def _login_with_error(page, base, _case):
    page.goto(f"{base}/login")
    page.locator("#username").fill("sagsbehandler")
    page.locator("#password").fill("forkert")
    page.get_by_role("button", name="Log ind", exact=True).click()
    page.get_by_role("alert").wait_for()


def _inbox(tab):
    def show(page, base, _case):
        login(page, base, "sagsbehandler")
        page.goto(f"{base}/indbakke?fane={tab}")
    return show


def _as(username, path):
    """A page as a user; {case} and {task} in the path are the test's case and its task."""
    def show(page, base, case):
        login(page, base, username)
        page.goto(base + path.format(case=case["id"], task=case["open_tasks"][0]["id"]))
    return show


def _not_found(page, base, _case):
    login(page, base, "sagsbehandler")
    page.goto(f"{base}/findes-ikke")


@pytest.mark.parametrize("show", [
    pytest.param(lambda page, base, _case: page.goto(f"{base}/login"), id="login"),
    pytest.param(_login_with_error, id="login-with-error"),
    pytest.param(_inbox("mine"), id="inbox-with-tasks"),
    pytest.param(_inbox("unassigned"), id="inbox-empty-tab"),
    pytest.param(_not_found, id="error-page"),
    pytest.param(_as("sagsbehandler", "/sager/{case}"), id="case-page"),
    pytest.param(_as("sagsbehandler", "/opgaver/{task}"), id="task-page"),
    pytest.param(_as("sagsbehandler", "/sager/ny"), id="new-case"),
    pytest.param(_as("leder", "/frister?gruppe=key"), id="leaders-queue"),
    pytest.param(_as("leder", "/sagsbyrde"), id="caseload"),
    pytest.param(_as("admin", "/adgangslog"), id="access-log"),
])
def test_no_serious_accessibility_violations(page, base, api, check_axe, show):
    case = _open_case(api, cpr="0102031234")
    _open_case(api, cpr="1111111118", name="Sofie Jensen")
    show(page, base, case)
    check_axe(page)


def test_the_case_page_draws_the_process_and_marks_where_it_stands(page, base, api):
    case = _open_case(api)
    login(page, base, "sagsbehandler")
    page.goto(f"{base}/sager/{case['id']}")
    page.wait_for_selector("#diagram[data-ready='1']", timeout=15000)
    marked = page.locator("#diagram .djs-element.current")
    assert marked.count() == 1
    assert marked.get_attribute("data-element-id") == "vurder_henvendelse"
    assert page.locator("#diagram .djs-element").count() > 5  # the whole process is drawn
