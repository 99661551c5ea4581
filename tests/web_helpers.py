"""Helpers for tests of the web pages: log in through the log-in form, read a page's CSRF
token. Only the tests import this module."""

from __future__ import annotations

import re

from conftest import PASSWORD


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client, username="sagsbehandler", password=PASSWORD, next_=""):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": _csrf(page.get_data(as_text=True)),
                                       "username": username, "password": password,
                                       "next": next_})
