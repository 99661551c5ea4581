"""The web pages in English. The message ids are the Danish texts as written in the code and the
templates (Danish is the default and needs no catalogue); en/LC_MESSAGES/messages.po holds the
English ones. `make messages` extracts the texts anew (babel.cfg) and updates the catalogue;
tests/test_web_english.py fails while a text has no English.

directory() is the folder Flask-Babel reads (api/web, init_app). It first compiles every
catalogue whose .mo is missing or older than its .po (a fresh clone, a test run without
`make install`, a pulled .po), so the English pages never fall back to Danish unnoticed. The .mo
is written next to its .po (never committed: .gitignore); where that folder cannot be written,
the catalogues are compiled into a temporary folder and that one is read instead."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


def N_(text: str) -> str:
    """Marks a text for extraction without translating it; it is translated where shown."""
    return text


# Texts the pages translate by value, `_(label)`, are marked with N_ where they are written
# (api/web's TABS, DEADLINE_LIGHTS, GROUP_NAMES, STATE_NAMES, EVENT_NAMES, api/errors.py's
# PAGE_TITLES). This one is written in engine/oversight, which knows nothing of translation:
# the deadline overview's row for cases without a caseworker. tests/test_web_english.py names
# any shown value that extraction misses.
LOOKED_UP = (N_("Ingen sagsbehandler"),)


def directory() -> str:
    """The translations folder, with every catalogue compiled and up to date."""
    try:
        _compile(HERE, only_stale=True)
        return str(HERE)
    except OSError as exc:
        target = Path(tempfile.mkdtemp(prefix="sagsflow-translations-"))
        log.warning("cannot write the compiled catalogues next to the .po files (%s); "
                    "compiling them into %s", exc, target)
        _compile(target, only_stale=False)
        return str(target)


def _compile(target: Path, only_stale: bool) -> None:
    for po in sorted(HERE.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(HERE).with_suffix(".mo")
        if only_stale and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        mo.parent.mkdir(parents=True, exist_ok=True)
        # Written aside and renamed: another process starting meanwhile reads the old file or
        # the new one, never half of one.
        out = tempfile.NamedTemporaryFile(dir=mo.parent, prefix=".", suffix=".mo", delete=False)
        try:
            with out:
                write_mo(out, catalog)
            os.replace(out.name, mo)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(out.name)
            raise
