"""Fixtures for the browser tests: the real app served by waitress (the suite's `live_server`),
Debian's chromium driven by Playwright, a page that leaves a screenshot when its test fails, and
the axe accessibility check.

What they need and who installs it: chromium (`/usr/bin/chromium`, `.ci/run` installs it with
apt-get; `SAGSFLOW_CHROMIUM` names another binary), the Python package playwright (the `test`
extra, so `make test`) and axe-core (npm, `package.json`; `make test` and `.ci/run` install it).
Playwright's own browser downloads are not used. Without one of them the tests skip and say
which is missing; in CI (CI=true) they fail instead, so a broken set-up cannot pass as skips.

The browser tests run on SQLite only (`SQLITE_ONLY` below on each module): they test the pages,
keyboard and accessibility, which do not depend on the database; test_web.py covers the same
routes on both databases, and a second browser run would double the slowest tests for nothing."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import PASSWORD

CHROMIUM = os.environ.get("SAGSFLOW_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
SERIOUS = ("serious", "critical")

# Put on each browser test module: `pytestmark = SQLITE_ONLY`.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _unavailable(reason: str):
    """Skip locally; in CI a missing tool is a broken set-up, so fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it)", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (rep_setup, rep_call, rep_teardown), so the
    `page` fixture can tell at teardown whether the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        _unavailable("chromium not installed: .ci/run installs it (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright not installed: pip install -e '.[test]' (make test does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh page in a context of its own (no cookies shared between tests), Danish locale.
    When the test fails, a screenshot goes to test-artifacts/<test name>.png."""
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
        path = ARTIFACTS / f"{name}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failure: {path}")
        except Exception as exc:  # the page may be gone; the test's own failure matters
            print(f"no screenshot ({exc})")
    context.close()


@pytest.fixture
def base(live_server):
    """The live server's address, e.g. http://127.0.0.1:38123."""
    return live_server


def login(page, base: str, username: str, password: str = PASSWORD) -> None:
    """Log in through the log-in page and wait for one's start page (the inbox; a process
    designer's files)."""
    page.goto(f"{base}/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Log ind", exact=True).click()
    page.wait_for_url(re.compile(r"/(indbakke|designer/)"))


def logout(page) -> None:
    page.get_by_role("button", name="Log ud", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))


@pytest.fixture
def axe():
    """axe(page) runs axe-core on the page as it is and returns the serious and critical
    violations; check_axe(page) below asserts there are none and prints them if there are."""
    if not AXE_JS.exists():
        _unavailable("axe-core not installed: npm ci (make test and .ci/run install it)")

    def run(page) -> list[dict]:
        page.add_script_tag(path=str(AXE_JS))
        result = page.evaluate("async () => await axe.run(document)")
        return [v for v in result["violations"] if v.get("impact") in SERIOUS]

    return run


def describe_violations(url: str, violations: list[dict]) -> str:
    lines = [f"axe: {len(violations)} serious/critical violation(s) on {url}"]
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{v['helpUrl']}]")
        for node in v["nodes"]:
            lines.append(f"    element {json.dumps(node['target'])}: {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n      ")
            lines.append(f"      {summary}")
    return "\n".join(lines)


@pytest.fixture
def check_axe(axe):
    def check(page) -> None:
        violations = axe(page)
        if violations:
            report = describe_violations(page.url, violations)
            print(report)
            pytest.fail(report, pytrace=False)

    return check
