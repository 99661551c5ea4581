"""The web pages' foundation: log-in with a session cookie and CSRF on every form, log-out,
the inbox (tabs with counts, soonest due first, CPR masked, claim and give back), and error
pages in Danish. Every page is rendered by the real app against the real database."""

from __future__ import annotations

import re

from conftest import PASSWORD, new_case_body
from web_helpers import _csrf, _login


def _open_case(api, **kw):
    response = api("sagsbehandler").post("/api/v1/cases", json=new_case_body(**kw))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_page_needs_a_log_in_and_comes_back_after_it(app):
    client = app.test_client()
    response = client.get("/indbakke?fane=team")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="da">' in page and "Log ind i Sagsflow" in page
    assert 'for="username"' in page and 'for="password"' in page  # labelled inputs
    logged_in = _login(client, next_="/indbakke?fane=team")
    assert logged_in.status_code == 302
    assert logged_in.headers["Location"].endswith("/indbakke?fane=team")
    cookie = logged_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/indbakke").status_code == 200


def test_a_form_without_its_csrf_token_is_refused_with_a_danish_page(app):
    client = app.test_client()
    response = client.post("/login", data={"username": "sagsbehandler", "password": PASSWORD})
    assert response.status_code == 400
    assert "sikkerhedsnøgle" in response.get_data(as_text=True)
    assert client.get("/indbakke").status_code == 302  # not logged in


def test_a_wrong_password_says_so_and_repeated_failures_lock_the_account(app):
    client = app.test_client()
    wrong = _login(client, password="forkert")
    assert wrong.status_code == 401
    page = wrong.get_data(as_text=True)
    assert "Forkert brugernavn eller adgangskode." in page and 'role="alert"' in page
    assert 'value="sagsbehandler"' in page  # the username stays typed
    for _ in range(4):
        _login(client, password="forkert")
    locked = _login(client)
    assert locked.status_code == 429 and "spærret" in locked.get_data(as_text=True)
    empty = _login(client, username="", password="")
    assert empty.status_code == 422


def test_no_redirect_to_another_site_after_log_in(app):
    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)"):
        client = app.test_client()
        response = _login(client, next_=target)
        assert response.status_code == 302
        # one's start page ("/": the inbox, or a designer's files), never the other site
        assert response.headers["Location"] == "/", target


def test_log_out_ends_the_session(app):
    client = app.test_client()
    _login(client)
    page = client.get("/indbakke").get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": _csrf(page)})
    assert out.status_code == 302 and out.headers["Location"].endswith("/login")
    assert client.get("/indbakke").status_code == 302


def test_the_inbox_lists_my_tasks_with_counts_and_masks_the_cpr_number(app, api):
    case = _open_case(api, cpr="0102031234")
    client = app.test_client()
    _login(client)
    page = client.get("/indbakke").get_data(as_text=True)
    assert "Vurdér henvendelsen" in page or case["open_tasks"][0]["name"] in page
    assert case["number"] in page
    assert "010203-xxxx" in page and "0102031234" not in page and "010203-1234" not in page
    counts = dict(re.findall(r'fane=(\w+)[^>]*>[^<]*<span class="count"[^>]*>(\d+)<', page))
    assert counts == {"mine": "1", "team": "1", "unassigned": "0"}


def test_claim_and_give_back_from_the_inbox(app, api):
    case = _open_case(api)
    [task] = case["open_tasks"]
    client = app.test_client()
    _login(client)
    page = client.get("/indbakke").get_data(as_text=True)
    given = client.post(f"/opgaver/{task['id']}/frigiv",
                        data={"csrf_token": _csrf(page), "next": "/indbakke?fane=unassigned"})
    assert given.status_code == 302 and given.headers["Location"].endswith("fane=unassigned")
    unassigned = client.get("/indbakke?fane=unassigned").get_data(as_text=True)
    assert "givet tilbage til teamet" in unassigned and case["number"] in unassigned
    assert api("sagsbehandler").get(f"/api/v1/tasks/{task['id']}").get_json()["assignee"] is None
    client.post(f"/opgaver/{task['id']}/tag", data={"csrf_token": _csrf(unassigned)})
    assert api("sagsbehandler").get(
        f"/api/v1/tasks/{task['id']}").get_json()["assignee"] == "sagsbehandler"


def test_another_teams_caseworker_sees_none_of_it_and_cannot_claim_it(app, api):
    case = _open_case(api)
    [task] = case["open_tasks"]
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim")
    client = app.test_client()
    _login(client, username="sagsbehandler2")
    page = client.get("/indbakke?fane=unassigned").get_data(as_text=True)
    assert case["number"] not in page
    refused = client.post(f"/opgaver/{task['id']}/tag", data={"csrf_token": _csrf(page)})
    assert refused.status_code == 302
    assert "Ingen adgang" in client.get("/indbakke").get_data(as_text=True) or \
        api("sagsbehandler").get(f"/api/v1/tasks/{task['id']}").get_json()["assignee"] is None


def test_unknown_pages_and_tabs_are_danish_error_pages(app):
    client = app.test_client()
    _login(client)
    for url in ("/findes-ikke", "/indbakke?fane=alle-andres"):
        response = client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == 404, url
        body = response.get_data(as_text=True)
        assert "Siden findes ikke, eller den er flyttet." in body
        assert "requested URL" not in body  # not Werkzeug's English
    # the API still answers in JSON
    assert client.get("/api/v1/findes-ikke").is_json


def test_the_case_page_shows_the_whole_case_and_logs_the_view(app, api, session):
    from sqlalchemy import select

    from engine.models import AccessLog

    case = _open_case(api, cpr="0102031234")
    client = app.test_client()
    _login(client)
    inbox = client.get("/indbakke").get_data(as_text=True)
    assert f'href="/sager/{case["id"]}"' in inbox  # a deep link from the inbox
    response = client.get(f"/sager/{case['id']}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert case["number"] in page and "Emil Hansen" in page
    assert "010203-xxxx" in page and "0102031234" not in page
    for heading in ("Borger og parter", "Åbne opgaver", "Frister", "Breve", "Processen",
                    "Tidslinje"):
        assert heading in page, heading
    assert case["open_tasks"][0]["name"] in page
    assert "Sagen er oprettet" in page and "case_created" not in page  # the timeline
    session.expire_all()
    views = session.scalars(select(AccessLog).where(AccessLog.case_id == case["id"])).all()
    assert any(v.action == "view_case" for v in views)


def test_a_case_of_another_team_is_refused_with_a_page(app, api):
    case = _open_case(api)
    client = app.test_client()
    _login(client, username="sagsbehandler2")
    response = client.get(f"/sager/{case['id']}")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Ingen adgang" in page and case["number"] not in page
    assert client.get("/sager/999999").status_code == 404


def test_the_engines_english_messages_are_not_shown_on_the_pages(app, api):
    """A use case's error: the page says in Danish what kind of error it is, and field
    messages are translated (form_render.danish_message); the engine's English is the REST
    API's."""
    case = _open_case(api)
    [task] = case["open_tasks"]
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/unclaim")
    other = app.test_client()
    _login(other, username="sagsbehandler2")
    refused = other.get(f"/sager/{case['id']}").get_data(as_text=True)
    assert "Du har ikke adgang til det, du forsøgte at se eller gøre." in refused
    assert "belongs to a team" not in refused
    gone = other.get("/sager/999999")
    assert gone.status_code == 404
    assert "findes ikke (længere)" in gone.get_data(as_text=True)
    assert "no case" not in gone.get_data(as_text=True)
    # a refusal told after a redirect (the inbox's Tag button)
    page = other.get("/indbakke").get_data(as_text=True)
    other.post(f"/opgaver/{task['id']}/tag", data={"csrf_token": _csrf(page)})
    told = other.get("/indbakke").get_data(as_text=True)
    assert "Du har ikke adgang" in told and "belongs to a team" not in told
    # invalid input that reaches the error page: the kind, and the field's message in Danish
    leader = app.test_client()
    _login(leader, username="leder")
    queue = leader.get("/frister?team=findes-ikke")
    assert queue.status_code == 422
    html = queue.get_data(as_text=True)
    assert "Oplysningerne kan ikke bruges." in html and "Teamet findes ikke." in html
    assert "cannot show" not in html and "no team" not in html
    # the API still says it in English
    body = api("sagsbehandler2").get(f"/api/v1/cases/{case['id']}").get_json()
    assert "team" in body["message"]
    # Werkzeug's English is not shown either
    tab = other.get("/indbakke?fane=alle-andres").get_data(as_text=True)
    assert "Siden findes ikke, eller den er flyttet." in tab and "requested URL" not in tab


def _overdue_case(api, app):
    """A § 50 notification received 30 hours ago: its 24-hour deadline is overdue."""
    from datetime import timedelta

    from conftest import run_tick

    from engine.clock import now

    response = api("sagsbehandler").post("/api/v1/cases", json={
        **new_case_body(received_at=(now() - timedelta(hours=30)).isoformat(timespec="seconds")),
        "process": "sel50", "citizen": {"cpr": "0105134321", "name": "Ida Ærø"}})
    assert response.status_code == 201, response.get_json()
    # In an app context of its own: a test that holds one would share Flask's `g` with the
    # page requests (the CSRF token is cached there), which never happens in a server.
    with app.app_context():
        run_tick(app)
    return response.get_json()


def test_the_leaders_queue_shows_overdue_deadlines_and_exports_them(app, api):
    case = _overdue_case(api, app)
    client = app.test_client()
    _login(client, username="leder")
    page = client.get("/frister").get_data(as_text=True)
    assert "Overskredne frister" in page
    assert f'href="/sager/{case["id"]}"' in page and "Rød" in page
    grouped = client.get("/frister?gruppe=key").get_data(as_text=True)
    assert "underretning_24t: 1" in grouped
    export = client.get("/frister.csv?tilstand=overdue")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    text = export.get_data(as_text=True)
    assert text.startswith("\ufeffSag;Team;") and case["number"] in text
    assert client.get("/frister?tilstand=alt").status_code == 404


def test_a_leader_moves_a_case_from_the_queue(app, api):
    case = _overdue_case(api, app)
    client = app.test_client()
    _login(client, username="leder")
    page = client.get("/frister").get_data(as_text=True)
    moved = client.post("/frister/flyt", data={
        "csrf_token": _csrf(page), "fra": "sagsbehandler", "til": "sagsbehandler3",
        "sag": str(case["id"]), "next": "/frister"})
    assert moved.status_code == 302
    after = client.get("/frister").get_data(as_text=True)
    assert "1 sag er flyttet fra Sagsbehandler til Sagsbehandler3" in after
    body = api("leder").get(f"/api/v1/cases/{case['id']}").get_json()
    assert body["caseworker"]["username"] == "sagsbehandler3"
    # nothing chosen: said, nothing moved
    client.post("/frister/flyt", data={"csrf_token": _csrf(after), "fra": "sagsbehandler3",
                                       "til": "sagsbehandler", "next": "/frister"})
    assert "Vælg de sager" in client.get("/frister").get_data(as_text=True)


def test_a_refused_move_names_no_case_the_leader_may_not_see(app, api):
    mine = _overdue_case(api, app)
    theirs = api("sagsbehandler2").post("/api/v1/cases", json=new_case_body(
        cpr="0506071234", name="Sofie Berg")).get_json()
    client = app.test_client()
    _login(client, username="leder")
    page = client.get("/frister").get_data(as_text=True)
    for chosen in ([theirs["id"]], [mine["id"], theirs["id"]], [theirs["id"], mine["id"]],
                   [999999]):
        client.post("/frister/flyt", data={
            "csrf_token": _csrf(page), "fra": "sagsbehandler", "til": "sagsbehandler3",
            "sag": [str(i) for i in chosen], "next": "/frister"})
        after = client.get("/frister").get_data(as_text=True)
        said = re.search(r'<p class="flash error"[^>]*>([^<]*)</p>', after).group(1)
        assert said == "Intet er flyttet: nogle af de valgte sager hører ikke til dine teams.", \
            (chosen, said)
        assert theirs["number"] not in after and str(theirs["id"]) not in said
    assert api("leder").get(f"/api/v1/cases/{mine['id']}").get_json()[
        "caseworker"]["username"] == "sagsbehandler"
    # a case the leader leads, refused: named, the reason in Danish
    client.post("/frister/flyt", data={
        "csrf_token": _csrf(page), "fra": "sagsbehandler3", "til": "sagsbehandler",
        "sag": str(mine["id"]), "next": "/frister"})
    after = client.get("/frister").get_data(as_text=True)
    assert f"{mine['number']}: sagsbehandler3 er ikke sagens sagsbehandler." in after


def test_a_caseworker_cannot_move_cases(app, api):
    case = _overdue_case(api, app)
    client = app.test_client()
    _login(client)
    page = client.get("/frister").get_data(as_text=True)
    assert "Flyt sager" not in page  # the form is a leader's
    client.post("/frister/flyt", data={"csrf_token": _csrf(page), "fra": "sagsbehandler",
                                       "til": "sagsbehandler3", "sag": str(case["id"])})
    assert "Intet er flyttet" in client.get("/frister").get_data(as_text=True)
    body = api("sagsbehandler").get(f"/api/v1/cases/{case['id']}").get_json()
    assert body["caseworker"]["username"] == "sagsbehandler"


def test_the_caseload_page_counts_cases_age_and_tasks_per_caseworker(app, api):
    from datetime import timedelta

    from engine.clock import now

    _open_case(api, received_at=(now() - timedelta(days=10)).isoformat(timespec="seconds"))
    _overdue_case(api, app)  # 30 hours old, its assessment overdue
    client = app.test_client()
    _login(client, username="leder")
    page = client.get("/sagsbyrde").get_data(as_text=True)
    rows = re.findall(r"<tr><td><a href=\"/frister\?sagsbehandler=(\w+)\">.*?</tr>", page,
                      re.S)
    assert "sagsbehandler" in rows and "sagsbehandler2" not in rows  # only the leader's team
    row = re.search(r'sagsbehandler=sagsbehandler">.*?</tr>', page, re.S).group(0)
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:2] == ["2", "10"]  # open cases, the oldest 10 days old
    assert "Rød" in row  # an overdue task
    # a caseworker has no caseload page
    worker = app.test_client()
    _login(worker)
    assert worker.get("/sagsbyrde").status_code == 403


def test_a_new_notification_opens_a_case_and_bad_input_is_named_on_the_page(app, api):
    client = app.test_client()
    _login(client)
    page = client.get("/sager/ny").get_data(as_text=True)
    assert "Underretning om et barn" in page and 'for="cpr"' in page
    bad = client.post("/sager/ny", data={"csrf_token": _csrf(page), "proces": "sel50",
                                         "cpr": "3102101234", "navn": "",
                                         "modtaget_dato": "2026-13-40"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "Sagen er ikke oprettet" in text and 'id="fejl-modtaget_dato"' in text
    assert api("sagsbehandler").get("/api/v1/cases").get_json()["total"] == 0  # nothing made
    bad = client.post("/sager/ny", data={"csrf_token": _csrf(page), "proces": "sel50",
                                         "cpr": "3102101234", "navn": "",
                                         "modtaget_dato": "2026-11-20", "modtaget_tid": "09:30"})
    text = bad.get_data(as_text=True)
    assert 'id="fejl-cpr"' in text and 'id="fejl-navn"' in text
    assert 'value="3102101234"' in text  # what was typed stays
    made = client.post("/sager/ny", data={
        "csrf_token": _csrf(page), "proces": "sel50", "cpr": "0105134321", "navn": "Ida Ærø",
        "adresse": "Havnegade 3", "modtaget_dato": "2026-11-20", "modtaget_tid": "09:30"})
    assert made.status_code == 302 and "/sager/" in made.headers["Location"]
    case_page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "er oprettet" in case_page and "Ida Ærø" in case_page
    assert "Vurdér underretningen" in case_page
    [case] = api("sagsbehandler").get("/api/v1/cases").get_json()["items"]
    assert case["received_at"].startswith("2026-11-20T08:30")  # 09:30 Danish time


def test_what_users_typed_is_escaped_on_every_page(app, api):
    case = _open_case(api, name='<script>alert("x")</script> Hansen')
    client = app.test_client()
    _login(client)
    for url in ("/indbakke", f"/sager/{case['id']}"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        assert "&lt;script&gt;alert" in page, url


def test_a_task_is_worked_from_its_page_with_drafts_and_field_errors(app, api):
    case = _open_case(api)
    [task] = case["open_tasks"]
    client = app.test_client()
    _login(client)
    inbox = client.get("/indbakke").get_data(as_text=True)
    assert f'href="/opgaver/{task["id"]}"' in inbox
    page = client.get(f"/opgaver/{task['id']}").get_data(as_text=True)
    assert task["name"] in page and 'name="henvendelse"' in page
    # a draft: kept, shown on the next visit, and by the autosave as JSON
    saved = client.post(f"/opgaver/{task['id']}/kladde", data={
        "csrf_token": _csrf(page), "_version": "0", "henvendelse": "Bekymring fra skolen"})
    assert saved.status_code == 302
    page = client.get(f"/opgaver/{task['id']}").get_data(as_text=True)
    assert "Kladden er gemt." in page and "Bekymring fra skolen" in page
    auto = client.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
        "csrf_token": _csrf(page), "_version": "1", "henvendelse": "Bekymring fra skolen."})
    assert auto.status_code == 200 and auto.get_json()["version"] == 2
    stale = client.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
        "csrf_token": _csrf(page), "_version": "1", "henvendelse": "Noget andet"})
    assert stale.status_code == 409
    # completing without the required answer: the page again, the field named
    refused = client.post(f"/opgaver/{task['id']}/afslut", data={
        "csrf_token": _csrf(page), "henvendelse": "Bekymring fra skolen."})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert 'aria-invalid="true"' in text and "Bekymring fra skolen." in text
    assert api("sagsbehandler").get(f"/api/v1/tasks/{task['id']}").get_json()["state"] == \
        "ready"
    done = client.post(f"/opgaver/{task['id']}/afslut", data={
        "csrf_token": _csrf(page), "henvendelse": "Bekymring fra skolen.", "udfald": "oplys"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/sager/{case['id']}")
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "er afsluttet." in after and "Næste:" in after
    assert "ikke længere åben" in client.get(f"/opgaver/{task['id']}").get_data(as_text=True)


def test_a_letter_is_previewed_edited_and_issued_from_its_page(app, api):
    case = _open_case(api)
    made = api("sagsbehandler").post(f"/api/v1/cases/{case['id']}/letters",
                                      json={"letter": "lukning", "texts": {}})
    assert made.status_code == 201, made.get_json()
    letter_id = made.get_json()["id"]
    client = app.test_client()
    _login(client)
    case_page = client.get(f"/sager/{case['id']}").get_data(as_text=True)
    assert f'href="/breve/{letter_id}"' in case_page
    page = client.get(f"/breve/{letter_id}").get_data(as_text=True)
    assert 'name="tekst.aarsag"' in page and "Forhåndsvisning" in page
    # issuing without the reason the letter needs: named, nothing issued
    refused = client.post(f"/breve/{letter_id}", data={"csrf_token": _csrf(page),
                                                        "tekst.aarsag": "", "udsend": "1"})
    assert refused.status_code == 422 and "tekst.aarsag" in refused.get_data(as_text=True)
    saved = client.post(f"/breve/{letter_id}", data={
        "csrf_token": _csrf(page), "tekst.aarsag": "Familien klarer sig <godt>."})
    assert saved.status_code == 302
    page = client.get(f"/breve/{letter_id}").get_data(as_text=True)
    assert "Brevet er gemt." in page and "Familien klarer sig &lt;godt&gt;." in page
    assert "srcdoc=" in page and "<godt>" not in page
    issued = client.post(f"/breve/{letter_id}", data={
        "csrf_token": _csrf(page), "tekst.aarsag": "Familien klarer sig godt.", "udsend": "1"})
    assert issued.status_code == 302
    after = client.get(issued.headers["Location"]).get_data(as_text=True)
    assert "er udsendt." in after and f"/breve/{letter_id}/pdf" in after
    assert client.get(f"/breve/{letter_id}/pdf").data.startswith(b"%PDF")
    # an issued letter has no edit form
    assert 'name="tekst.aarsag"' not in client.get(f"/breve/{letter_id}").get_data(as_text=True)


def test_administrators_search_who_looked_at_which_case(app, api):
    case = _open_case(api)
    viewer = app.test_client()
    _login(viewer, username="leder")
    viewer.get(f"/sager/{case['id']}")
    admin = app.test_client()
    _login(admin, username="admin")
    page = admin.get(f"/adgangslog?sag={case['number']}").get_data(as_text=True)
    rows = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td><td>(\w+)</td><td>([^<]*)</td>"
                      r"<td>(\w+)</td></tr>", page)
    assert ("leder", case["number"], "view_case") in rows
    only_leader = admin.get("/adgangslog?bruger=leder").get_data(as_text=True)
    assert "<td>sagsbehandler</td>" not in only_leader
    bad = admin.get("/adgangslog?fra=igaar")
    assert bad.status_code == 422 and 'id="fejl-fra"' in bad.get_data(as_text=True)
    # nobody else may search it
    assert viewer.get("/adgangslog").status_code == 403


def test_the_inbox_filters_by_task_type_citizen_and_due_date_and_filters_can_be_saved(app, api):
    _open_case(api, cpr="0102031234", name="Emil Hansen")
    other = _open_case(api, cpr="0506071234", name="Sofie Berg")
    client = app.test_client()
    _login(client)
    by_name = client.get("/indbakke?borger=sofie").get_data(as_text=True)
    assert other["number"] in by_name and "Emil Hansen" not in by_name
    by_cpr = client.get("/indbakke?borger=010203-1234", follow_redirects=True).get_data(
        as_text=True)  # an old address with a CPR number still works (borger_id, below)
    assert "Emil Hansen" in by_cpr and "Sofie Berg" not in by_cpr
    assert "Sofie Berg" not in client.get("/indbakke?opgave=godkend_afgoerelse").get_data(
        as_text=True)
    assert "Sofie Berg" not in client.get("/indbakke?frist_foer=2000-01-01").get_data(
        as_text=True)
    assert client.get("/indbakke?frist_foer=snart").status_code == 422
    page = client.get("/indbakke?borger=sofie").get_data(as_text=True)
    by_form = client.post("/indbakke", data={"csrf_token": _csrf(page), "fane": "mine",
                                              "borger": "Sofie", "proces": ""})
    assert by_form.status_code == 302  # a name stays in the address
    assert by_form.headers["Location"].endswith("/indbakke?fane=mine&borger=Sofie")
    saved = client.post("/indbakke/filtre", data={"csrf_token": _csrf(page), "navn": "Sofies",
                                                  "fane": "mine", "borger": "sofie"})
    assert saved.status_code == 302 and "borger=sofie" in saved.headers["Location"]
    page = client.get("/indbakke").get_data(as_text=True)
    assert 'href="/indbakke?fane=mine&amp;borger=sofie">Sofies</a>' in page
    # saved filters are one's own
    other_user = app.test_client()
    _login(other_user, username="sagsbehandler3")
    assert "Sofies" not in other_user.get("/indbakke").get_data(as_text=True)


def _citizen_id(app, cpr):
    from sqlalchemy import select

    from api.extensions import db
    from engine.models import Citizen

    with app.app_context():
        found = db.session.scalar(select(Citizen.id).where(Citizen.cpr == cpr))
        db.session.remove()
    return found


def test_a_cpr_search_is_posted_and_the_address_names_the_citizen_by_id(app, api):
    _open_case(api, cpr="0102031234", name="Emil Hansen")
    _open_case(api, cpr="0506071234", name="Sofie Berg")
    emil = _citizen_id(app, "0102031234")
    client = app.test_client()
    _login(client)
    page = client.get("/indbakke?fane=team").get_data(as_text=True)
    assert 'method="post" action="/indbakke"' in page  # the filter form, with its token
    # a form without its CSRF token is refused
    assert client.post("/indbakke", data={"borger": "0102031234"}).status_code == 400
    for typed in ("010203-1234", "0102031234", " 010203 1234 "):
        found = client.post("/indbakke", data={
            "csrf_token": _csrf(page), "fane": "team", "borger": typed, "proces": ""})
        assert found.status_code == 302, typed
        where = found.headers["Location"]
        assert where.endswith(f"/indbakke?fane=team&borger_id={emil}"), (typed, where)
        assert "1234" not in where
    listed = client.get(where)
    html = listed.get_data(as_text=True)
    assert listed.status_code == 200
    assert "Emil Hansen" in html and "Sofie Berg" not in html
    assert "0102031234" not in html and "010203-1234" not in html
    # the links of the page (tabs, save the filter) keep the citizen by id
    assert f"borger_id={emil}" in re.search(r'href="[^"]*fane=mine[^"]*"', html).group(0)
    assert f'name="borger_id" value="{emil}"' in html
    # an old address with the CPR number: the same page at the address without it
    old = client.get("/indbakke?fane=team&borger=010203-1234&sprog=da")
    assert old.status_code == 302
    assert old.headers["Location"].endswith(f"/indbakke?fane=team&borger_id={emil}&sprog=da")
    # a saved filter keeps the id, never the number
    saved = client.post("/indbakke/filtre", data={
        "csrf_token": _csrf(page), "navn": "Emil", "fane": "team", "borger": "0102031234"})
    assert "1234" not in saved.headers["Location"]
    assert f'href="/indbakke?fane=team&amp;borger_id={emil}">Emil</a>' in client.get(
        "/indbakke").get_data(as_text=True)
    # nobody found: borger_id=0, an empty list
    nobody = client.post("/indbakke", data={"csrf_token": _csrf(page), "fane": "team",
                                             "borger": "3112999999"})
    assert nobody.headers["Location"].endswith("/indbakke?fane=team&borger_id=0")
    empty = client.get(nobody.headers["Location"]).get_data(as_text=True)
    assert "Ingen opgaver her." in empty and "passer på søgningen" in empty


def test_a_citizen_of_another_team_is_neither_found_nor_named_by_id(app, api):
    _open_case(api, cpr="0102031234", name="Emil Hansen")
    emil = _citizen_id(app, "0102031234")
    client = app.test_client()
    _login(client, username="sagsbehandler2")
    page = client.get("/indbakke").get_data(as_text=True)
    # the CPR number of a citizen the user may not see answers as one who does not exist
    found = client.post("/indbakke", data={"csrf_token": _csrf(page), "fane": "mine",
                                           "borger": "0102031234"})
    assert found.headers["Location"].endswith("/indbakke?fane=mine&borger_id=0")
    # and the id typed into the address shows nothing of them
    for tab in ("mine", "team", "unassigned"):
        html = client.get(f"/indbakke?fane={tab}&borger_id={emil}").get_data(as_text=True)
        assert "Emil Hansen" not in html and "010203" not in html, tab


def test_the_case_page_draws_the_process_of_the_cases_version(app, api):
    import pytest

    from api.web import _vendor_file

    case = _open_case(api)
    client = app.test_client()
    _login(client)
    diagram = client.get(f"/sager/{case['id']}/diagram.bpmn")
    assert diagram.status_code == 200 and diagram.mimetype == "application/xml"
    assert b'<bpmn:process id="henvendelse"' in diagram.data
    if _vendor_file("bpmn-viewer.js") is None:
        pytest.skip("bpmn-js is not installed (make installs it with npm): the case page lists "
                    "the process's position without the drawing")
    page = client.get(f"/sager/{case['id']}").get_data(as_text=True)
    assert 'id="diagram"' in page and 'data-current="vurder_henvendelse"' in page
    script = client.get("/vendor/bpmn-viewer.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert client.get("/vendor/..%2Fpackage.json").status_code == 404
    assert client.get("/vendor/anything.js").status_code == 404


def test_every_kind_of_case_event_has_a_danish_name():
    import re as _re
    from pathlib import Path

    from api.web import EVENT_NAMES

    root = Path(__file__).resolve().parent.parent
    kinds = set()
    for path in [*root.glob("engine/**/*.py"), *root.glob("api/**/*.py")]:
        kinds |= set(_re.findall(r'record\(\s*session\w*, [^,]+, "([a-z_]+)"',
                                 path.read_text(encoding="utf-8")))
    assert kinds and kinds <= set(EVENT_NAMES), sorted(kinds - set(EVENT_NAMES))


def test_a_stale_draft_save_keeps_what_was_typed_and_says_why(app, api):
    case = _open_case(api)
    [task] = case["open_tasks"]
    first, second = app.test_client(), app.test_client()
    _login(first)
    _login(second)
    page = first.get(f"/opgaver/{task['id']}").get_data(as_text=True)
    other = second.get(f"/opgaver/{task['id']}").get_data(as_text=True)
    second.post(f"/opgaver/{task['id']}/kladde", data={
        "csrf_token": _csrf(other), "_version": "0", "henvendelse": "Fra den anden fane"})
    stale = first.post(f"/opgaver/{task['id']}/kladde", data={
        "csrf_token": _csrf(page), "_version": "0", "henvendelse": "Mit eget"})
    assert stale.status_code == 409
    text = stale.get_data(as_text=True)
    assert "gem igen for at bruge det" in text and "Mit eget" in text
    assert 'name="_version" value="1"' in text  # saving again from here overwrites
    again = first.post(f"/opgaver/{task['id']}/kladde", data={
        "csrf_token": _csrf(text), "_version": "1", "henvendelse": "Mit eget"})
    assert again.status_code == 302
    # the autosave is told in JSON, which its script reads
    auto = second.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
        "csrf_token": _csrf(other), "_version": "1", "henvendelse": "x"})
    assert auto.status_code == 409 and auto.is_json


def test_log_out_ends_the_session_everywhere_and_pages_cannot_be_framed(app):
    client = app.test_client()
    _login(client)
    page = client.get("/indbakke")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    copied = client.get_cookie("session").value
    client.post("/logout", data={"csrf_token": _csrf(page.get_data(as_text=True))})
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/indbakke").status_code == 302  # the copied cookie is worth nothing
    again = app.test_client()
    _login(again)
    assert again.get("/indbakke").status_code == 200  # a new log-in works


def test_odd_numbers_and_dates_in_the_address_are_refused_or_ignored_never_a_500(app, api):
    client = app.test_client()
    _login(client)
    for url in ("/indbakke?side=%C2%B2", "/frister?side=%C2%B2", "/indbakke?frist_foer=0001-01-01",
                "/adgangslog?fra=0001-01-01", "/frister?_method=POST", "/frister?_anchor=x",
                "/indbakke?borger=a%00b", "/frister?frist=%00"):
        response = client.get(url)
        assert response.status_code < 500, url
    page = client.get("/sager/ny").get_data(as_text=True)
    for team in ("%C2%B2", "9" * 30):
        response = client.post("/sager/ny", data={
            "csrf_token": _csrf(page), "proces": "sel50", "cpr": "0105134321", "navn": "Ida",
            "modtaget_dato": "0001-01-01", "team": team})
        assert response.status_code == 422, team


def test_saving_a_draft_does_not_log_another_view_and_a_finished_task_is_said_so(app, api):
    from sqlalchemy import func, select

    from api.extensions import db
    from engine.models import AccessLog

    case = _open_case(api)
    [task] = case["open_tasks"]
    client = app.test_client()
    _login(client)
    page = client.get(f"/opgaver/{task['id']}").get_data(as_text=True)

    def views():
        # an app context of its own: one held by the test would share Flask's `g` (and its
        # cached CSRF token) with the page requests
        with app.app_context():
            count = db.session.scalar(select(func.count()).select_from(AccessLog).where(
                AccessLog.case_id == case["id"], AccessLog.action == "view_task"))
            db.session.remove()
        return count

    before = views()
    for version in ("0", "1", "2"):
        client.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
            "csrf_token": _csrf(page), "_version": version, "henvendelse": "skriver …"})
    assert views() == before  # typing is not looking again
    bad = client.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
        "csrf_token": _csrf(page), "_version": "3", "udfald": "noget andet"})
    assert bad.status_code == 422 and "udfald" in bad.get_json()["fields"]
    api("sagsbehandler").post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {
        "henvendelse": "Bekymring", "udfald": "oplys"}})
    gone = client.post(f"/opgaver/{task['id']}/kladde", headers={"X-Autosave": "1"}, data={
        "csrf_token": _csrf(page), "_version": "3", "henvendelse": "for sent"})
    assert gone.status_code == 409 and gone.get_json()["message"] == "closed"
    button = client.post(f"/opgaver/{task['id']}/kladde", data={
        "csrf_token": _csrf(page), "_version": "3", "henvendelse": "for sent"})
    assert button.status_code == 302 and button.headers["Location"].endswith(task["id"])


def test_the_tab_counts_in_one_read_agree_with_each_tab_counted_alone(app, api):
    from api.extensions import db
    from engine.models import User

    first = _open_case(api)
    _open_case(api, cpr="0506071234", name="Sofie Berg")
    api("sagsbehandler").post(f"/api/v1/tasks/{first['open_tasks'][0]['id']}/unclaim")
    service = app.extensions["casework"]
    with app.app_context():
        for user in db.session.query(User).all():
            for filters in ({}, {"case_ids": [first["id"]]}, {"process": "henvendelse"}):
                together = service.count_tabs(db.session, user, **filters)
                alone = {scope: service.count_tasks(db.session, user, scope, **filters)
                         for scope in ("mine", "team", "unassigned")}
                assert together == alone, (user.username, filters)
        db.session.remove()


def test_the_queue_grouped_by_deadline_or_process_for_every_scope(app, api):
    _overdue_case(api, app)
    for username in ("leder", "admin", "sagsbehandler"):  # a team, all teams, one's own
        for group in ("key", "process"):
            client = app.test_client()
            _login(client, username=username)
            page = client.get(f"/frister?gruppe={group}")
            assert page.status_code == 200, (username, group)
            expected = "underretning_24t: 1" if group == "key" else "sel50: 1"
            assert expected in page.get_data(as_text=True), (username, group)
