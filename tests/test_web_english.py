"""The web pages in English (issue 7). Danish is the default; ?sprog=en switches the session to
English and ?sprog=da back, and an unknown language changes nothing. The catalogue
(api/translations/en/LC_MESSAGES/messages.po) has an English text for every text the code and
the templates mark, read from the sources anew here, so a new Danish text without its English
fails this file (`make messages`, then translate)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from web_helpers import _csrf, _login

from api import translations, web

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "api" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


# -- the pages -----------------------------------------------------------------------------------

def test_the_inbox_in_english_and_the_choice_holds_for_the_next_pages(app):
    client = app.test_client()
    _login(client)
    danish = _html(client.get("/indbakke"))
    assert "Mine opgaver" in danish and "Log ud" in danish and _lang(danish) == "da"

    english = _html(client.get("/indbakke?sprog=en"))
    for text in ("Inbox", "My tasks", "My team’s tasks", "Unassigned", "New case", "Deadlines",
                 "Log out", "Skip to content", "Save filter", "Task type"):
        assert text in english, text
    for text in ("Indbakke", "Mine opgaver", "Ikke tildelt", "Ny sag", "Log ud",
                 "Gå til indholdet", "Gem filter"):
        assert text not in english, text

    # the session remembers it: the next pages are English without asking again
    following = _html(client.get("/indbakke"))
    assert "My tasks" in following and "Mine opgaver" not in following
    assert _lang(following) == "en"
    queue = _html(client.get("/frister"))
    assert "Deadlines" in queue and "Frister" not in queue

    back = _html(client.get("/frister?sprog=da"))
    assert "Frister" in back and "Deadlines" not in back
    assert "Mine opgaver" in _html(client.get("/indbakke"))


def test_an_unknown_language_changes_nothing(app):
    client = app.test_client()
    _login(client)
    page = _html(client.get("/indbakke?sprog=xx"))
    assert "Mine opgaver" in page and "My tasks" not in page and _lang(page) == "da"
    client.get("/indbakke?sprog=en")
    page = _html(client.get("/indbakke?sprog=xx"))
    assert "My tasks" in page and "Mine opgaver" not in page


def test_the_log_in_page_and_its_messages_in_english(app):
    client = app.test_client()
    page = _html(client.get("/login?sprog=en"))
    for text in ("Log in to Sagsflow", "Username", "Password", "Log in"):
        assert text in page, text
    for text in ("Log ind", "Brugernavn", "Adgangskode"):
        assert text not in page, text
    # a text from the Python code (gettext in api/web), not only the templates
    refused = client.post("/login", data={"csrf_token": _csrf(page), "username": "sagsbehandler",
                                          "password": "forkert"})
    assert refused.status_code == 401
    assert "Wrong username or password." in refused.get_data(as_text=True)
    assert "Brugernavn" in _html(client.get("/login?sprog=da"))


def test_a_message_with_a_placeholder_in_english(app):
    client = app.test_client()
    _login(client)
    page = _html(client.get("/indbakke?sprog=en"))
    saved = client.post("/indbakke/filtre", data={"csrf_token": _csrf(page), "navn": "Mine <b>",
                                                  "fane": "team"}, follow_redirects=True)
    html = _html(saved)
    assert "The filter “Mine &lt;b&gt;” has been saved." in html
    assert "er gemt" not in html


def test_the_language_links_keep_the_page_and_its_filters(app):
    client = app.test_client()
    login = _html(client.get("/login"))
    assert 'href="/login?sprog=en" lang="en" hreflang="en">English</a>' in login
    _login(client)
    page = _html(client.get("/indbakke?fane=team&borger=Jens+%C3%85&sprog=en"))
    assert 'href="/indbakke?fane=team&amp;borger=Jens+%C3%85&amp;sprog=da" lang="da"' in page
    assert 'href="/indbakke?fane=team&amp;borger=Jens+%C3%85&amp;sprog=en" lang="en"' in page


def test_error_pages_and_the_csrf_refusal_in_english(app, api):
    from conftest import new_case_body

    case = api("sagsbehandler").post("/api/v1/cases", json=new_case_body()).get_json()
    client = app.test_client()
    client.get("/login?sprog=en")
    refused = client.post("/login", data={"username": "sagsbehandler", "password": "x"})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "<h1>Bad request</h1>" in html and "security token" in html
    assert "Forkert forespørgsel" not in html and "sikkerhedsnøgle" not in html
    _login(client, username="sagsbehandler2")
    for url, status, title in ((f"/sager/{case['id']}", 403, "No access"),
                               ("/sager/999999", 404, "Page not found"),
                               ("/indbakke?fane=alle", 404, "Page not found"),
                               ("/findes-ikke", 404, "Page not found")):
        response = client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == status, url
        html = response.get_data(as_text=True)
        assert f"<title>{title} · Sagsflow</title>" in html and f"<h1>{title}</h1>" in html, url
        assert "Ingen adgang" not in html and "Siden findes ikke" not in html, url
    assert "You do not have access" in client.get(f"/sager/{case['id']}").get_data(as_text=True)


def test_the_page_that_switches_is_marked_with_its_language(app):
    client = app.test_client()
    _login(client)
    assert _lang(_html(client.get("/indbakke?sprog=en"))) == "en"


def test_english_chosen_on_the_log_in_page_holds_after_log_in(app):
    client = app.test_client()
    client.get("/login?sprog=en")
    _login(client)
    assert "My tasks" in _html(client.get("/indbakke"))


# -- the catalogue -------------------------------------------------------------------------------

def _catalogue():
    with PO.open("rb") as f:
        return read_po(f, locale="en")


def _key(message_id) -> str:
    """A text's singular: a text with a plural form (ngettext) is the pair of them."""
    return message_id[0] if isinstance(message_id, tuple) else message_id


def _extracted() -> dict[str, set[str]]:
    """Each text the sources mark, as `make messages` finds it (babel.cfg over api/), with the
    files it is in."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str, set[str]] = {}
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "api"), method_map, options_map, keywords=keywords):
        if _key(message):
            found.setdefault(_key(message), set()).add(filename)
    return found


def test_every_text_has_its_english():
    catalogue = _catalogue()
    assert not catalogue.fuzzy, "the catalogue's header is marked fuzzy: nothing compiles"
    messages = [m for m in catalogue if m.id]
    assert len(messages) > 150
    assert [m.id for m in messages if not all(
        text.strip() for text in (m.string if isinstance(m.string, tuple) else (m.string,)))
    ] == []
    # pybabel update marks a guess fuzzy, and a fuzzy text is left out of the compiled catalogue
    assert [m.id for m in messages if m.fuzzy] == []
    # the same %(name)s placeholders in both languages
    assert [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()] == []


def test_the_catalogue_has_every_text_the_sources_mark():
    extracted = _extracted()
    # the extraction reads the templates, the form macros and the Python code
    files = set().union(*extracted.values())
    assert {"templates/web/base.html.j2", "templates/web/_form.html.j2",
            "web/__init__.py"} <= {f.replace(os.sep, "/") for f in files}
    assert "Filteret “%(name)s” er gemt." in extracted and "Indbakke" in extracted
    translated = {_key(m.id) for m in _catalogue()}
    missing = {text: sorted(where) for text, where in extracted.items() if text not in translated}
    assert missing == {}, "run `make messages` and translate these in " + str(PO)


def test_texts_shown_by_value_are_extracted_too():
    """The pages translate some texts by value (`_(label)` in a template); they are marked with
    N_ where they are written (or in api/translations' LOOKED_UP) so that extraction, and so
    the catalogue, has them. (What a new case is opened for is content: the processes'
    `ny_sag`.)"""
    from api import errors

    shown = set(web.TABS.values()) \
        | set(errors.PAGE_TITLES.values()) \
        | {word for _light, word in web.DEADLINE_LIGHTS.values()} \
        | set(web.GROUP_NAMES.values()) | set(web.STATE_NAMES.values()) \
        | set(web.EVENT_NAMES.values())
    extracted = _extracted()
    assert sorted(shown - set(extracted)) == [], "add them to LOOKED_UP in api/translations"


def test_a_missing_or_stale_compiled_catalogue_is_compiled(tmp_path, monkeypatch):
    source = tmp_path / "translations"
    shutil.copytree(PO.parent.parent.parent, source,
                    ignore=shutil.ignore_patterns("*.mo", "*.pot", "*.py", "__pycache__"))
    monkeypatch.setattr(translations, "HERE", source)
    mo = source / "en" / "LC_MESSAGES" / "messages.mo"

    assert translations.directory() == str(source)
    assert Translations.load(str(source), ["en"]).gettext("Indbakke") == "Inbox"
    first = mo.stat().st_mtime_ns

    translations.directory()  # up to date: left alone
    assert mo.stat().st_mtime_ns == first
    po = mo.with_suffix(".po")
    os.utime(mo, (0, 0))  # older than the .po: compiled again
    translations.directory()
    assert mo.stat().st_mtime_ns > 0 and mo.stat().st_mtime_ns >= po.stat().st_mtime_ns


def test_the_catalogue_is_compiled_elsewhere_when_its_folder_cannot_be_written(
        tmp_path, monkeypatch):
    source = tmp_path / "translations"
    shutil.copytree(PO.parent.parent.parent, source,
                    ignore=shutil.ignore_patterns("*.mo", "*.pot", "*.py", "__pycache__"))
    monkeypatch.setattr(translations, "HERE", source)
    # a folder where the .mo would go cannot be replaced by a file (not even by root)
    blocked = source / "en" / "LC_MESSAGES" / "messages.mo"
    blocked.mkdir()
    os.utime(blocked, (0, 0))

    where = translations.directory()
    assert where != str(source)
    assert Translations.load(where, ["en"]).gettext("Indbakke") == "Inbox"
    assert sorted(p.name for p in blocked.parent.iterdir()) == ["messages.mo", "messages.po"]
    shutil.rmtree(where)
