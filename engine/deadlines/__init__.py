"""Statutory deadlines: the Danish business calendar and the deadline catalogue.

`calendar` counts working days, calendar days, weeks, months and hours in Danish time;
`catalogue` reads the deadlines from `processes/deadlines.toml` with a municipality's overrides
and is the one place a due date is computed (`DeadlineCatalogue.due`).
"""

from .calendar import BusinessCalendar
from .catalogue import Deadline, DeadlineCatalogue, load_catalogue

__all__ = ["BusinessCalendar", "Deadline", "DeadlineCatalogue", "load_catalogue"]
