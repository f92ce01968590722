"""Customer phone numbers never reach the logs whole."""

from __future__ import annotations

import logging


def mask_phone(phone: str) -> str:
    """+593991234567 -> +59399****567: enough to tell customers apart in a log, not enough to call them."""
    digits = phone.removeprefix("+")
    masked = f"{digits[:5]}****{digits[-3:]}" if len(digits) > 8 else f"****{digits[-2:]}"
    return f"+{masked}" if phone.startswith("+") else masked


class AccessLogWithoutQuery(logging.Filter):
    """uvicorn's access log without query strings: inbox searches (`?q=+5939...`) would put numbers in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            client, method, path, version, status = record.args
            record.args = (client, method, path.split("?", 1)[0], version, status)
        return True
