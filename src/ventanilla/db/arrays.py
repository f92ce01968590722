"""Array parameters on hot paths: `column = ANY(:array)` instead of `IN (:a, :b, ...)`, and `INSERT ... SELECT
unnest(:array), ...` instead of a multi-row VALUES.

An IN list (or a VALUES list) renders a different SQL text for every number of values, so each batch size is a new
statement to SQLAlchemy's renderer and a new prepared statement to asyncpg and PostgreSQL (a round trip and a parse
each time, ~10 % of the server's CPU under load). One array parameter per column keeps a single statement whatever
the batch holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, Table, Text, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.types import TypeEngine


def among(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column` is one of `values`."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(_element(column.type))))


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> Insert:
    """`INSERT INTO table (...) SELECT unnest(:a), unnest(:b), ...`: `rows` (all with the same keys, at least one)
    as one array parameter per column, so the statement is the same for any number of rows (a multi-row VALUES is
    a new one for each count). PostgreSQL's `insert`, for ON CONFLICT and RETURNING."""
    columns = list(rows[0])
    arrays = (
        bindparam(None, [row[name] for row in rows], type_=ARRAY(_element(table.c[name].type))) for name in columns
    )
    values = select(*(func.unnest(array).label(name) for name, array in zip(columns, arrays, strict=True)))
    return insert(table).from_select(columns, values)


def _element(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The array's element type. Text for every string column: the parameter is cast to it explicitly, and an
    explicit cast to VARCHAR(n) would silently cut a longer value that the column must refuse (SQLSTATE 22001)."""
    return Text() if isinstance(column_type, String) else column_type
