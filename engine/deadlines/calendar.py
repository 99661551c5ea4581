"""The Danish business calendar: working days, calendar days, months and hours.

Every function takes and returns timezone-aware datetimes and reasons in Danish time
(`engine.clock.LOCAL_TZ`, Europe/Copenhagen); callers store the results in UTC.

Rules this module decides, once, for the whole product:

- **Working days** (*hverdage*) are Monday to Friday, except Danish public holidays (New Year's
  Day, Maundy Thursday, Good Friday, Easter Sunday and Monday, Ascension Day, Whit Sunday and
  Monday, Christmas Day, Boxing Day; *Store bededag* until 2023, as the `holidays` package
  knows) and the municipality's closing days (by default 5 June, 24 December and 31 December).
- **Counting days.** The start day never counts: a deadline of N days (working or calendar)
  started on day D ends on the Nth day after D. A start at any time of D counts from D in Danish
  time (a notification received at 23:30 on Friday was received on Friday).
- **A start on a non-working day** changes nothing for calendar days, weeks and months. For
  working days, counting starts from the next working day, which is working day 1 (as it is
  after a start on a working day). So a notification received on Friday 10, Saturday 11 or
  Sunday 12 January 2025 must be confirmed (6 working days) by Monday 20 January (Mon 13 = 1
  … Fri 17 = 5, Mon 20 = 6); one received on Monday 13, by Tuesday 21. This reads the
  statute's "senest 6 hverdage efter modtagelsen" so that the product never shows a date
  later than the law's: a weekend receipt gets no extra working day.
- **Time of day.** A deadline counted in days, weeks or months is met if the work is done any
  time on the due day: it falls due at the end of that day, 23:59:59 Danish time
  (`DAY_ENDS_AT`), and is breached only after that. Hour deadlines are exact elapsed time.
- **Hours** are real elapsed hours: 24 hours from 12:00 on the Saturday before the spring
  daylight-saving change is 13:00 on the Sunday (12:00 would be only 23 real hours).
- **Calendar months** keep the day of the month, or take the last day of a shorter month:
  4 months from 31 January is 31 May, 1 month from 31 January is 28 (29) February.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import holidays
from dateutil.relativedelta import relativedelta

from ..clock import LOCAL_TZ

# A day-based deadline falls due at the end of its due day, Danish time.
DAY_ENDS_AT = time(23, 59, 59)

# Where the municipality has said nothing else: Constitution Day, Christmas Eve, New Year's Eve.
DEFAULT_CLOSING_DAYS: tuple[str, ...] = ("06-05", "12-24", "12-31")

_ANNUAL = re.compile(r"^(\d{2})-(\d{2})$")
_ONE_OFF = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_holiday_lock = threading.Lock()


@lru_cache(maxsize=256)
def _public_holidays(year: int) -> dict[date, str]:
    """Danish public holidays of one year (the `holidays` package, public category only),
    with their Danish names."""
    with _holiday_lock:
        found = holidays.country_holidays("DK", years=year, language="da")
        return dict(found.items())


def public_holiday(day: date) -> str | None:
    """The Danish name of the public holiday on `day`, or None."""
    return _public_holidays(day.year).get(day)


@dataclass(frozen=True)
class ClosingDays:
    """Days the municipality is closed besides weekends and public holidays.

    Written as "MM-DD" (every year, e.g. "12-24") or "YYYY-MM-DD" (one year only, e.g. the
    Friday after Ascension Day 2026: "2026-05-15").
    """

    annual: frozenset[tuple[int, int]]
    dated: frozenset[date]

    @classmethod
    def parse(cls, values: Iterable[str]) -> ClosingDays:
        """Raises ValueError naming the first value that is not a valid day."""
        annual, dated = set(), set()
        for value in values:
            if not isinstance(value, str):
                raise ValueError(f"{value!r} is not a day: write \"MM-DD\" or \"YYYY-MM-DD\"")
            match = _ANNUAL.match(value)
            try:
                if match:
                    month, day = int(match[1]), int(match[2])
                    date(2000, month, day)  # a leap year, so "02-29" is allowed
                    annual.add((month, day))
                elif _ONE_OFF.match(value):
                    dated.add(date.fromisoformat(value))
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a day: write \"MM-DD\" (every year) or "
                    f"\"YYYY-MM-DD\" (one year)") from None
        return cls(frozenset(annual), frozenset(dated))

    def __contains__(self, day: date) -> bool:
        return (day.month, day.day) in self.annual or day in self.dated


def _require_aware(moment: datetime, name: str = "start") -> None:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment.isoformat()}")


def _require_count(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValueError(f"the number to add must be a whole number of at least 0, got {amount!r}")


def end_of_day(day: date) -> datetime:
    """The moment a day-based deadline on `day` falls due: 23:59:59 Danish time."""
    return datetime.combine(day, DAY_ENDS_AT, tzinfo=LOCAL_TZ)


def start_of_day(day: date) -> datetime:
    """00:00 Danish time on `day` (a date given without a time of day starts then)."""
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ)


class BusinessCalendar:
    """Working-day and calendar arithmetic in Danish time with the municipality's closing days.

    Immutable and safe to share between threads.
    """

    def __init__(self, closing_days: Iterable[str] = DEFAULT_CLOSING_DAYS):
        self.closing_days_text: tuple[str, ...] = tuple(closing_days)
        self.closing_days = ClosingDays.parse(self.closing_days_text)

    def __repr__(self) -> str:
        return f"BusinessCalendar(closing_days={list(self.closing_days_text)!r})"

    # Days -------------------------------------------------------------------------------

    def non_working_reason(self, day: date | datetime) -> str | None:
        """Why `day` is not a working day ("lørdag", "Langfredag", "lukkedag"), or None."""
        day = self._local_day(day)
        holiday = public_holiday(day)
        if holiday:
            return holiday
        if day.weekday() == 5:
            return "lørdag"
        if day.weekday() == 6:
            return "søndag"
        if day in self.closing_days:
            return "lukkedag"
        return None

    def is_working_day(self, day: date | datetime) -> bool:
        """Monday to Friday and neither a public holiday nor a closing day. A datetime is
        judged by its date in Danish time."""
        return self.non_working_reason(day) is None

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day before `day`."""
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def working_day_on_or_after(self, day: date) -> date:
        return day if self.is_working_day(day) else self.next_working_day(day)

    def working_days_after(self, day: date, amount: int) -> date:
        """The `amount`th working day after `day` (the day itself never counts; 0 gives `day`
        itself when it is a working day, else the next working day)."""
        _require_count(amount)
        if amount == 0:
            return self.working_day_on_or_after(day)
        for _ in range(amount):
            day = self.next_working_day(day)
        return day

    def working_days_before(self, day: date, amount: int) -> date:
        """The `amount`th working day before `day` (for reminders ahead of a due day)."""
        _require_count(amount)
        for _ in range(amount):
            day = self.previous_working_day(day)
        return day

    # Deadlines from an aware start --------------------------------------------------------

    def add_working_days(self, start: datetime, amount: int) -> datetime:
        """End of the `amount`th working day after the start's Danish date.

        The start day never counts, whether or not it is a working day: working day 1 is the
        first working day after it. Started on Friday 10 January 2025 (or Saturday 11, Sunday
        12): 6 working days are due on Monday 20 January 2025 at 23:59:59; started on Monday
        13 January: Tuesday 21 January.
        """
        _require_aware(start)
        return end_of_day(self.working_days_after(self._local_day(start), amount))

    def add_calendar_days(self, start: datetime, amount: int) -> datetime:
        """End of the day `amount` days after the start's Danish date (14 days from Monday
        3 March 2025 is Monday 17 March 2025, 23:59:59)."""
        _require_aware(start)
        _require_count(amount)
        return end_of_day(self._local_day(start) + timedelta(days=amount))

    def add_weeks(self, start: datetime, amount: int) -> datetime:
        """End of the same weekday `amount` weeks later (= 7 × amount calendar days)."""
        _require_count(amount)
        return self.add_calendar_days(start, 7 * amount)

    def add_calendar_months(self, start: datetime, amount: int) -> datetime:
        """End of the same day of the month `amount` months later, or of that month's last
        day when it is shorter (31 January + 1 month = 28 or 29 February; + 4 months = 31 May)."""
        _require_aware(start)
        _require_count(amount)
        return end_of_day(self._local_day(start) + relativedelta(months=amount))

    def add_hours(self, start: datetime, amount: int) -> datetime:
        """`amount` real elapsed hours after `start`, in Danish time (daylight-saving changes
        make the wall clock move by one hour more or less)."""
        _require_aware(start)
        _require_count(amount)
        return elapsed(start, timedelta(hours=amount))

    # Helpers ------------------------------------------------------------------------------

    @staticmethod
    def _local_day(day: date | datetime) -> date:
        if isinstance(day, datetime):
            _require_aware(day, "day")
            return day.astimezone(LOCAL_TZ).date()
        return day


def elapsed(start: datetime, span: timedelta) -> datetime:
    """`start` moved by real elapsed time, in Danish time (adding a timedelta to a datetime
    in a ZoneInfo zone would move the wall clock instead, wrong across a DST change)."""
    _require_aware(start)
    return (start.astimezone(timezone.utc) + span).astimezone(LOCAL_TZ)
