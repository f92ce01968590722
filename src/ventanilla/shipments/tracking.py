"""Tracking numbers: one canonical form, whatever way a customer or a CSV writes them.

Canonical: upper case, 2 to 5 letters then 5 to 12 digits (ABC123456). Customers write "abc-123 456", "#ABC123456"
or "Abc 123456"; all of those are the same shipment.
"""

from __future__ import annotations

import re

TRACKING_NUMBER_PATTERN = r"^[A-Z]{2,5}[0-9]{5,12}$"
EXAMPLE_TRACKING_NUMBER = "ABC123456"
_CANONICAL = re.compile(TRACKING_NUMBER_PATTERN)
_SEPARATORS = re.compile(r"[\s\-_.#]+")


def normalize_tracking_number(raw: str) -> str | None:
    """The canonical number, or None when `raw` cannot be a tracking number."""
    candidate = _SEPARATORS.sub("", raw.strip()).upper()
    return candidate if _CANONICAL.match(candidate) else None
