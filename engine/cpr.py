"""CPR numbers: validation and masking."""

from __future__ import annotations

import re
from datetime import date

# ASCII digits only: \d would also take other scripts' digits (e.g. full-width "０").
_CPR = re.compile(r"^(\d{2})(\d{2})(\d{2})-?(\d{4})$", re.ASCII)


def _century(yy: int, seventh: int) -> int:
    # The 7th digit and the two-digit year give the century (CPR-kontoret's table).
    if seventh in (0, 1, 2, 3):
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def normalize_cpr(value: str) -> str:
    """Return the ten digits of a valid CPR number, or raise ValueError saying what is wrong.

    The modulus-11 check is not applied: CPR numbers issued since 2007 need not pass it.
    """
    if not isinstance(value, str):
        raise ValueError("CPR number must be a string of 10 digits")
    match = _CPR.match(value.strip())
    if not match:
        raise ValueError("CPR number must be 10 digits (DDMMÅÅ-XXXX)")
    dd, mm, yy, serial = match.groups()
    year = _century(int(yy), int(serial[0])) + int(yy)
    try:
        date(year, int(mm), int(dd))
    except ValueError:
        raise ValueError(f"CPR number does not start with a real date ({dd}-{mm}-{yy})") from None
    return f"{dd}{mm}{yy}{serial}"


def birth_date(cpr: str) -> date:
    cpr = normalize_cpr(cpr)
    year = _century(int(cpr[4:6]), int(cpr[6])) + int(cpr[4:6])
    return date(year, int(cpr[2:4]), int(cpr[0:2]))


def mask_cpr(cpr: str) -> str:
    """Lists show the birth date part only: 010203-xxxx."""
    return f"{cpr[:6]}-xxxx"


def format_cpr(cpr: str) -> str:
    return f"{cpr[:6]}-{cpr[6:]}"
