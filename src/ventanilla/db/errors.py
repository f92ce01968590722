"""What a failed statement means for the work that ran it: the rows were refused, or the database was away.

Background work treats the two differently. Rows refused for their content (SQLSTATE class 22, data exception, or
23, integrity violation; asyncpg's own encoding errors carry 22000) will be refused again: split the batch to find
them, clean or set them aside. Anything else (a dropped or refused connection, a terminated backend, a full pool,
a deadlock, a server restarting) may pass on a later try: retry, and keep the work safe meanwhile.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

_REFUSED_CLASSES = ("22", "23")
# connection exception, transaction rollback (deadlock, serialization), insufficient resources, object not in
# prerequisite state ("not accepting connections"), operator intervention (terminated, shutting down), system error
_UNAVAILABLE_CLASSES = ("08", "40", "53", "55", "57", "58")


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE PostgreSQL (or asyncpg) gave, found through SQLAlchemy's wrapping."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            return state
        current = getattr(current, "orig", None) or current.__cause__
    return None


def is_refused_content(error: BaseException) -> bool:
    """True when the database refused these rows for what they hold: retrying them unchanged cannot succeed."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return False
    state = sqlstate(error)
    return state is not None and state[:2] in _REFUSED_CLASSES


def is_unavailable(error: BaseException) -> bool:
    """True when the database, not the work, was the problem: trying the same work later may well succeed."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, PoolTimeoutError | OSError):
        return True
    state = sqlstate(error)
    return state is not None and state[:2] in _UNAVAILABLE_CLASSES


def describe(error: BaseException) -> str:
    """For logs: the error's type and SQLSTATE, never its text (which may quote what the statement carried)."""
    state = sqlstate(error)
    return f"{type(error).__name__}{f' {state}' if state else ''}"
