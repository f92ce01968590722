"""Customer phone numbers and words never reach the logs: masked where we log, scrubbed from what libraries log.

Our own log lines carry ids and masked numbers only. Errors raised by the driver can still quote what a statement
carried (asyncpg's "invalid input for query argument $3: '...'", PostgreSQL's "Failing row contains (...)"), and
Litestar logs unexpected errors with their traceback; `RedactPrivate`, on every handler, scrubs those and any
phone-like number from the message and the traceback before a line is written.
"""

from __future__ import annotations

import logging
import re

_PHONE_LIKE = re.compile(r"(?<![\w-])\+?\d{8,15}(?![\w-])")
_QUOTED_VALUES = (
    (re.compile(r"(invalid input for query argument \$\d+:).*"), r"\1 [redacted]"),
    (re.compile(r"(Failing row contains )\(.*?\)(?=\.?$)", re.MULTILINE), r"\1(...)"),
    (re.compile(r"(Key \([^)]*\)=)\(.*?\)( already exists| is not present)"), r"\1(...)\2"),
    (re.compile(r"(\[parameters: ).*?(\])$", re.MULTILINE), r"\1[redacted]\2"),
    # PostgreSQL quotes the offending value: `value "..." is out of range`, `invalid input syntax for type uuid: "..."`
    (re.compile(r'((?:value|:) )"[^"\n]*"'), r'\1"..."'),
)


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


def mask_numbers(text: str) -> str:
    """Every phone-like number in `text` masked (ids, counts and dates are left alone)."""
    return _PHONE_LIKE.sub(lambda match: mask_phone(match.group()), text)


def redact(text: str) -> str:
    for pattern, replacement in _QUOTED_VALUES:
        text = pattern.sub(replacement, text)
    return mask_numbers(text)


class RedactPrivate(logging.Filter):
    """On every handler: the record's message and traceback, scrubbed (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = redact(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
