"""Phone numbers as people type them, turned into E.164 (the only form Ventanilla stores).

Agents and branch staff write local Ecuadorian formats: "0991234567", "099-123-4567", "(02) 234-5678",
"+593 99 123 4567", "593991234567" or "00593991234567". A number without an international prefix is taken as
national to `DEFAULT_COUNTRY_CODE` (Ecuador, 593): its trunk "0" is dropped and the country code put in front.
Ecuadorian national numbers have 8 digits (landlines, area code included) or 9 (mobiles) after the trunk "0".
"""

from __future__ import annotations

import re

from ventanilla.db.models import E164_CHECK

DEFAULT_COUNTRY_CODE = "593"
_E164 = re.compile(E164_CHECK)
_SEPARATORS = re.compile(r"[\s\-.()/]+")
_NATIONAL_LENGTHS = (8, 9)  # digits after the trunk "0": landline (area code + 7), mobile (9 + 8)


def compact_phone(raw: str) -> str:
    """`raw` without the separators people put in phone numbers (spaces, dashes, dots, parentheses, slashes)."""
    return _SEPARATORS.sub("", raw.strip())


def normalize_phone(raw: str, country_code: str = DEFAULT_COUNTRY_CODE) -> str | None:
    """The E.164 form of `raw` ("+593991234567"), or None when `raw` is not a whole phone number."""
    number = compact_phone(raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not number.startswith("+"):
        if not number.isdigit():
            return None
        if number.startswith("0") and len(number) - 1 in _NATIONAL_LENGTHS:
            number = "+" + country_code + number[1:]
        elif number.startswith(country_code) and len(number) - len(country_code) in _NATIONAL_LENGTHS:
            number = "+" + number  # international, without the "+"
        elif len(number) in _NATIONAL_LENGTHS and not number.startswith("0"):
            number = "+" + country_code + number  # national, without the trunk "0"
        else:
            return None
    return number if _E164.match(number) else None


def phone_digits_for_search(raw: str, country_code: str = DEFAULT_COUNTRY_CODE) -> str | None:
    """The digits an E.164 number holds when `raw` is a phone number or a part of one, for a substring search:
    a whole number in any format gives all its digits; a partial local one ("099123") loses its trunk "0" and
    gains the country code ("59399123"). None when `raw` is not made of digits."""
    whole = normalize_phone(raw, country_code)
    if whole is not None:
        return whole[1:]
    number = compact_phone(raw).removeprefix("+")
    if not number.isdigit():
        return None
    return country_code + number[1:] if number.startswith("0") and len(number) > 1 else number
