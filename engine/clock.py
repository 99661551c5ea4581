"""The one place product code reads "now" from.

SpiffWorkflow reads the wall clock for timers, so tests move time with time-machine,
which this function follows as well.
"""

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)
