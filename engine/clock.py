"""The one place product code reads "now" from.

SpiffWorkflow reads the wall clock for timers, so tests move time with time-machine,
which this function follows as well.
"""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

# Danish casework counts days as the municipality does; times are stored in UTC.
LOCAL_TZ = ZoneInfo("Europe/Copenhagen")


def now() -> datetime:
    return datetime.now(timezone.utc)


def local_date(moment: datetime) -> date:
    """The calendar date of a moment in Denmark (a notice at 00:30 belongs to that day)."""
    return moment.astimezone(LOCAL_TZ).date()
