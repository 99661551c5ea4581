"""CPR numbers: validation, the century rule of the 7th digit, masking. No database."""

from datetime import date

import pytest

from engine.cpr import birth_date, format_cpr, mask_cpr, normalize_cpr


@pytest.mark.parametrize("value", ["0102031234", "010203-1234", " 010203-1234 "])
def test_valid_cpr_is_accepted_with_and_without_dash(value):
    assert normalize_cpr(value) == "0102031234"


@pytest.mark.parametrize("value", ["", "010203123", "01020312345", "010203-123", "01020-31234",
                                   "010203 1234", "01O2031234", "abcdefghij",
                                   "０１０２０３１２３４", "٠١٠٢٠٣١٢٣٤"])
def test_cpr_needs_exactly_ten_ascii_digits(value):
    with pytest.raises(ValueError, match="10 digits"):
        normalize_cpr(value)


@pytest.mark.parametrize("value", [None, 102031234])
def test_cpr_that_is_not_a_string_is_refused(value):
    with pytest.raises(ValueError, match="string of 10 digits"):
        normalize_cpr(value)


def test_cpr_with_a_date_that_does_not_exist_is_refused_with_a_message():
    with pytest.raises(ValueError) as raised:
        normalize_cpr("310203-1234")
    assert "real date" in str(raised.value)
    assert "31-02-03" in str(raised.value)


@pytest.mark.parametrize("value", ["000203-1234", "321203-1234", "011303-1234", "010003-1234"])
def test_cpr_with_day_or_month_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match="real date"):
        normalize_cpr(value)


def test_29_february_is_accepted_in_a_leap_year():
    assert normalize_cpr("290296-1234") == "2902961234"  # 1996
    assert birth_date("290200-4123") == date(2000, 2, 29)  # 7th digit 4, year 00: 2000


def test_29_february_is_refused_in_a_non_leap_year():
    with pytest.raises(ValueError, match="real date"):
        normalize_cpr("290297-1234")  # 1997
    with pytest.raises(ValueError, match="real date"):
        normalize_cpr("290200-1234")  # 7th digit 1: 1900, not a leap year


@pytest.mark.parametrize("cpr, born", [
    # 7th digit 0-3: always 1900-1999
    ("010203-0123", date(1903, 2, 1)),
    ("010299-3123", date(1999, 2, 1)),
    # 7th digit 4 and 9: 2000-2036, else 1937-1999
    ("010236-4123", date(2036, 2, 1)),
    ("010237-4123", date(1937, 2, 1)),
    ("010200-9123", date(2000, 2, 1)),
    ("010299-9123", date(1999, 2, 1)),
    # 7th digit 5-8: 2000-2057, else 1858-1899
    ("010257-5123", date(2057, 2, 1)),
    ("010258-5123", date(1858, 2, 1)),
    ("010210-8123", date(2010, 2, 1)),
    ("010299-8123", date(1899, 2, 1)),
])
def test_seventh_digit_and_year_give_the_century(cpr, born):
    assert birth_date(cpr) == born


def test_birth_date_refuses_an_invalid_cpr():
    with pytest.raises(ValueError):
        birth_date("310203-1234")


def test_masking_shows_the_six_date_digits_and_hides_the_serial():
    masked = mask_cpr("0102031234")
    assert masked == "010203-xxxx"
    assert "1234" not in masked


def test_formatting_puts_the_dash_after_the_date():
    assert format_cpr(normalize_cpr("0102031234")) == "010203-1234"
