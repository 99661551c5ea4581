"""The Danish business calendar: holidays, closing days, working days, months and hours."""

from datetime import date, datetime, time, timedelta, timezone

import pytest

from engine.clock import LOCAL_TZ
from engine.deadlines.calendar import BusinessCalendar, ClosingDays, public_holiday

CAL = BusinessCalendar()


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


def due_day(moment: datetime) -> date:
    assert moment.tzinfo is not None
    return moment.astimezone(LOCAL_TZ).date()


# Public holidays -----------------------------------------------------------------------------


@pytest.mark.parametrize("day, name", [
    (date(2025, 4, 17), "Skærtorsdag"),
    (date(2025, 4, 18), "Langfredag"),
    (date(2025, 4, 20), "Påskedag"),
    (date(2025, 4, 21), "Anden påskedag"),
    (date(2025, 5, 29), "Kristi himmelfartsdag"),
    (date(2025, 6, 9), "Anden pinsedag"),
    (date(2026, 4, 2), "Skærtorsdag"),
    (date(2026, 4, 3), "Langfredag"),
    (date(2026, 4, 5), "Påskedag"),
    (date(2026, 4, 6), "Anden påskedag"),
    (date(2026, 5, 14), "Kristi himmelfartsdag"),
    (date(2026, 5, 25), "Anden pinsedag"),
    (date(2025, 12, 25), "Juledag"),
    (date(2025, 12, 26), "Anden juledag"),
    (date(2026, 1, 1), "Nytårsdag"),
])
def test_easter_ascension_whitsun_christmas_and_new_year_are_not_working_days(day, name):
    assert public_holiday(day) == name
    assert not CAL.is_working_day(day)
    assert CAL.non_working_reason(day) == name


@pytest.mark.parametrize("day", [
    date(2025, 4, 16),  # Wednesday before Maundy Thursday
    date(2025, 4, 22),  # Tuesday after Easter Monday
    date(2026, 4, 1),
    date(2026, 4, 7),
    date(2025, 12, 23),
    date(2026, 1, 2),   # the Friday after New Year's Day
    date(2025, 5, 1),   # 1 May is no public holiday in Denmark
])
def test_the_days_around_the_holidays_are_working_days(day):
    assert CAL.is_working_day(day)
    assert CAL.non_working_reason(day) is None


def test_store_bededag_is_a_holiday_in_2023_and_not_from_2024():
    assert public_holiday(date(2023, 5, 5)) == "Store bededag"
    assert not CAL.is_working_day(date(2023, 5, 5))
    assert public_holiday(date(2024, 4, 26)) is None
    assert CAL.is_working_day(date(2024, 4, 26))
    assert public_holiday(date(2025, 5, 16)) is None
    assert CAL.is_working_day(date(2025, 5, 16))


def test_six_working_days_skip_store_bededag_in_2023_but_not_in_2024():
    # Monday 1 May 2023: Tue 1, Wed 2, Thu 3, (Fri 5 May Store bededag), Mon 4, Tue 5, Wed 6.
    assert due_day(CAL.add_working_days(local(2023, 5, 1, 9), 6)) == date(2023, 5, 10)
    # Monday 22 April 2024: Tue 1 … Fri 26 April 4 (a working day now), Mon 5, Tue 6.
    assert due_day(CAL.add_working_days(local(2024, 4, 22, 9), 6)) == date(2024, 4, 30)


def test_weekends_are_not_working_days():
    assert CAL.non_working_reason(date(2025, 1, 11)) == "lørdag"
    assert CAL.non_working_reason(date(2025, 1, 12)) == "søndag"
    assert CAL.is_working_day(date(2025, 1, 13))


def test_a_datetime_is_judged_by_its_danish_date():
    # 23:30 UTC on Friday is 00:30 on Saturday in Copenhagen.
    assert not CAL.is_working_day(datetime(2025, 1, 10, 23, 30, tzinfo=timezone.utc))
    assert CAL.is_working_day(datetime(2025, 1, 10, 22, 30, tzinfo=timezone.utc))


# Closing days --------------------------------------------------------------------------------


def test_constitution_day_christmas_eve_and_new_years_eve_are_closing_days_by_default():
    for day in (date(2025, 6, 5), date(2025, 12, 24), date(2025, 12, 31)):
        assert CAL.non_working_reason(day) == "lukkedag"
        assert not CAL.is_working_day(day)


def test_a_municipality_can_change_the_closing_days():
    open_all_year = BusinessCalendar(closing_days=[])
    assert open_all_year.is_working_day(date(2025, 6, 5))
    assert open_all_year.is_working_day(date(2025, 12, 24))

    own = BusinessCalendar(closing_days=["12-24", "2026-05-15"])  # + Friday after Ascension
    assert own.is_working_day(date(2025, 6, 5))
    assert not own.is_working_day(date(2025, 12, 24))
    assert not own.is_working_day(date(2026, 5, 15))
    assert own.is_working_day(date(2027, 5, 14))  # a dated closing day is for that year only
    assert not own.is_working_day(date(2027, 12, 24))


def test_closing_days_change_working_day_counting_over_christmas():
    # Monday 22 December 2025: Tue 23 (1), 24 closed, 25-26 holidays, weekend, Mon 29 (2),
    # Tue 30 (3), 31 closed, 1 Jan holiday, Fri 2 (4), Mon 5 (5), Tue 6 (6).
    start = local(2025, 12, 22, 10)
    assert due_day(CAL.add_working_days(start, 6)) == date(2026, 1, 6)
    # Without closing days 24 and 31 December are working days.
    assert due_day(BusinessCalendar([]).add_working_days(start, 6)) == date(2026, 1, 2)


@pytest.mark.parametrize("bad", ["13-01", "02-30", "5 June", "2025-02-29", "", 605])
def test_a_closing_day_that_is_no_day_is_refused(bad):
    with pytest.raises(ValueError, match="is not a day"):
        ClosingDays.parse([bad])


def test_29_february_may_be_an_annual_closing_day():
    calendar = BusinessCalendar(["02-29"])
    assert not calendar.is_working_day(date(2028, 2, 29))


# Working days --------------------------------------------------------------------------------


def test_six_working_days_to_confirm_receipt_count_from_the_day_after_receipt():
    # Received Friday 10 January 2025: Mon 13 is working day 1 … Mon 20 is working day 6.
    assert due_day(CAL.add_working_days(local(2025, 1, 10, 14), 6)) == date(2025, 1, 20)
    # Received on Monday 13: Tue 14 is day 1 … Tue 21 is day 6.
    assert due_day(CAL.add_working_days(local(2025, 1, 13, 8), 6)) == date(2025, 1, 21)


@pytest.mark.parametrize("start", [local(2025, 1, 11, 10), local(2025, 1, 12, 23, 59)])
def test_a_start_on_a_weekend_counts_from_the_next_working_day_as_day_one(start):
    # Saturday or Sunday: Monday 13 is working day 1, so day 6 is Monday 20 (as from Friday).
    assert due_day(CAL.add_working_days(start, 6)) == date(2025, 1, 20)


def test_a_start_on_a_holiday_counts_from_the_next_working_day_as_day_one():
    # Received Good Friday 2025: Tue 22 April (after Easter Monday) is working day 1.
    assert due_day(CAL.add_working_days(local(2025, 4, 18, 9), 1)) == date(2025, 4, 22)
    assert due_day(CAL.add_working_days(local(2025, 4, 18, 9), 6)) == date(2025, 4, 29)


def test_the_start_counts_by_its_danish_date_not_its_utc_date():
    # 23:30 UTC on Sunday 12 January is 00:30 on Monday 13 in Copenhagen: a Monday start.
    start = datetime(2025, 1, 12, 23, 30, tzinfo=timezone.utc)
    assert due_day(CAL.add_working_days(start, 6)) == date(2025, 1, 21)


def test_a_day_based_deadline_falls_due_at_the_end_of_its_day_in_danish_time():
    due = CAL.add_working_days(local(2025, 1, 10, 14), 6)
    assert due == local(2025, 1, 20, 23, 59, 59)
    assert due.utcoffset() == timedelta(hours=1)
    assert due.astimezone(timezone.utc) == datetime(2025, 1, 20, 22, 59, 59, tzinfo=timezone.utc)
    summer = CAL.add_calendar_days(local(2025, 7, 1, 9), 14)
    assert summer.time() == time(23, 59, 59)
    assert summer.utcoffset() == timedelta(hours=2)


def test_working_days_before_a_due_day_skip_weekends_and_holidays():
    # 5 working days before Tuesday 22 April 2025: Easter Monday, Good Friday and Maundy
    # Thursday are skipped: Wed 16 (1), Tue 15 (2), Mon 14 (3), Fri 11 (4), Thu 10 (5).
    assert CAL.working_days_before(date(2025, 4, 22), 5) == date(2025, 4, 10)


def test_zero_working_days_is_the_start_day_or_the_next_working_day():
    assert due_day(CAL.add_working_days(local(2025, 1, 13, 9), 0)) == date(2025, 1, 13)
    assert due_day(CAL.add_working_days(local(2025, 1, 11, 9), 0)) == date(2025, 1, 13)


# Calendar days, weeks, months ----------------------------------------------------------------


def test_calendar_days_and_weeks_do_not_care_about_weekends():
    assert due_day(CAL.add_calendar_days(local(2025, 3, 1, 9), 14)) == date(2025, 3, 15)
    assert due_day(CAL.add_weeks(local(2025, 1, 6, 9), 8)) == date(2025, 3, 3)


@pytest.mark.parametrize("start, months, expected", [
    (date(2025, 1, 31), 4, date(2025, 5, 31)),
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2028, 2, 29), 48, date(2032, 2, 29)),
    (date(2025, 8, 31), 1, date(2025, 9, 30)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 10, 15), 4, date(2026, 2, 15)),
    (date(2025, 12, 31), 2, date(2026, 2, 28)),
])
def test_calendar_months_keep_the_day_or_take_the_last_day_of_a_shorter_month(
        start, months, expected):
    due = CAL.add_calendar_months(datetime.combine(start, time(10), tzinfo=LOCAL_TZ), months)
    assert due == datetime.combine(expected, time(23, 59, 59), tzinfo=LOCAL_TZ)


def test_months_across_the_spring_daylight_saving_change_end_in_summer_time():
    due = CAL.add_calendar_months(local(2025, 1, 31, 9), 4)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(timezone.utc) == datetime(2025, 5, 31, 21, 59, 59, tzinfo=timezone.utc)


# Hours across daylight-saving changes -------------------------------------------------------


def test_24_hours_across_the_spring_change_are_real_hours():
    # Saturday 29 March 2025 12:00 CET; clocks go 02:00 → 03:00 on Sunday 30 March.
    start = local(2025, 3, 29, 12)
    due = CAL.add_hours(start, 24)
    assert (due.date(), due.hour, due.minute) == (date(2025, 3, 30), 13, 0)
    assert due.utcoffset() == timedelta(hours=2)
    # Subtracting two datetimes of the same zone gives wall-clock time; compare in UTC.
    assert due.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=24)
    assert due.astimezone(timezone.utc) == datetime(2025, 3, 30, 11, tzinfo=timezone.utc)


def test_24_hours_across_the_autumn_change_are_real_hours():
    # Saturday 25 October 2025 12:00 CEST; clocks go 03:00 → 02:00 on Sunday 26 October.
    start = local(2025, 10, 25, 12)
    due = CAL.add_hours(start, 24)
    assert (due.date(), due.hour) == (date(2025, 10, 26), 11)
    assert due.utcoffset() == timedelta(hours=1)
    assert due.astimezone(timezone.utc) - start.astimezone(timezone.utc) == timedelta(hours=24)


def test_hours_from_a_utc_start_come_back_in_danish_time():
    due = CAL.add_hours(datetime(2025, 3, 29, 11, tzinfo=timezone.utc), 24)
    assert due.tzinfo == LOCAL_TZ
    assert due.isoformat() == "2025-03-30T13:00:00+02:00"


def test_a_day_deadline_over_the_autumn_change_still_ends_at_23_59_59():
    due = CAL.add_calendar_days(local(2025, 10, 25, 12), 1)
    assert due.isoformat() == "2025-10-26T23:59:59+01:00"


# Input checks --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["add_working_days", "add_calendar_days", "add_weeks",
                                    "add_calendar_months", "add_hours"])
def test_naive_datetimes_and_negative_amounts_are_refused(method):
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(CAL, method)(datetime(2025, 1, 10, 9), 1)
    with pytest.raises(ValueError, match="at least 0"):
        getattr(CAL, method)(local(2025, 1, 10, 9), -1)
