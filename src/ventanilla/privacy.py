"""Customer phone numbers never reach the logs whole."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """+593991234567 -> +5939****567: enough to tell customers apart in a log, not enough to call them."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:5]}{'*' * (len(phone) - 8)}{phone[-3:]}"
