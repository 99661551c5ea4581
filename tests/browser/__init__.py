"""Browser tests (Playwright on Debian's chromium). A package, so that its conftest is imported
as `browser.conftest` and `conftest` stays the suite's shared fixtures (tests/conftest.py)."""
