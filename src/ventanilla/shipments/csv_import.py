"""Reading a shipments CSV and checking every row before anything touches the database.

The format is documented in docs/shipments-and-faqs.md: UTF-8 (a BOM is fine), comma- or semicolon-separated (as
spreadsheets in Spanish locales save it), row 1 the header. `trackingNumber` and `status` are required columns;
`origin`, `destination`, `eta`, `senderName`, `recipientName` optional, in any order. A column left out of the
header keeps its stored value when a shipment is updated; an empty cell clears it. Rows are numbered as a
spreadsheet shows them (the header is row 1), so an operator can go straight to the line to fix.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date

from litestar.exceptions import ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from ventanilla.db.models import ShipmentStatus
from ventanilla.shipments.schemas import TRACKING_NUMBER_HINT
from ventanilla.shipments.tracking import normalize_tracking_number
from ventanilla.text import has_nul

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
TEXT_MAX_LENGTH = 120
REQUIRED_COLUMNS = ("trackingNumber", "status")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATUSES = ", ".join(ShipmentStatus)
NUL_IN_CELL = "contains the NUL character (\\0), which no text may hold; check how the file was exported"


@dataclass(frozen=True)
class RowError:
    row: int
    key: str
    message: str


@dataclass(frozen=True)
class ShipmentRow:
    """One valid data row: model attribute -> value, for the columns the file has."""

    row: int
    values: dict[str, object]

    @property
    def tracking_number(self) -> str:
        return str(self.values["tracking_number"])


@dataclass(frozen=True)
class ParsedFile:
    columns: tuple[str, ...]  # model attributes the header names, tracking_number first
    rows: list[ShipmentRow]
    errors: list[RowError]


def rejection(errors: Sequence[RowError]) -> ValidationException:
    """422 listing every problem at once, so one round of fixes is enough; nothing has been written."""
    ordered = sorted(errors, key=lambda error: error.row)
    return ValidationException(
        detail=f"{len(ordered)} problem(s) in the file; nothing was imported",
        status_code=422,
        extra=[asdict(error) for error in ordered],
    )


def _tracking_number(cell: str) -> str:
    if not cell:
        raise ValueError("required")
    canonical = normalize_tracking_number(cell)
    if canonical is None:
        raise ValueError(f"not a tracking number ({cell!r}): expected {TRACKING_NUMBER_HINT}")
    return canonical


def _status(cell: str) -> ShipmentStatus:
    if not cell:
        raise ValueError(f"required; one of {_STATUSES}")
    try:
        return ShipmentStatus(cell.upper())
    except ValueError:
        raise ValueError(f"unknown status {cell!r}; expected one of {_STATUSES}") from None


def _eta(cell: str) -> date | None:
    if not cell:
        return None
    try:
        if _ISO_DATE.match(cell):
            return date.fromisoformat(cell)
    except ValueError:
        pass
    raise ValueError(f"not a date ({cell!r}): expected an ISO date YYYY-MM-DD, or an empty cell")


def _text(cell: str) -> str | None:
    if len(cell) > TEXT_MAX_LENGTH:
        raise ValueError(f"at most {TEXT_MAX_LENGTH} characters (found {len(cell)})")
    return cell or None


# Header name -> (model attribute, cell parser). Header names match case-insensitively.
COLUMNS: dict[str, tuple[str, Callable[[str], object]]] = {
    "trackingNumber": ("tracking_number", _tracking_number),
    "status": ("status", _status),
    "origin": ("origin", _text),
    "destination": ("destination", _text),
    "eta": ("eta", _eta),
    "senderName": ("sender_name", _text),
    "recipientName": ("recipient_name", _text),
}
_BY_LOWER_NAME = {name.lower(): name for name in COLUMNS}
_HEADER_HINT = f"row 1 must be the header, e.g. {','.join(COLUMNS)}"


def parse_shipments_csv(content: bytes) -> ParsedFile:
    """Every valid row and every problem found; 413 beyond MAX_IMPORT_ROWS, 422 for a bad header or CSV syntax."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        message = "the file must be UTF-8 text (save it from the spreadsheet as 'CSV UTF-8')"
        raise ValidationException(detail=message, extra=[{"key": "file", "message": message}]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[ShipmentRow] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    row_number = data_rows = 0
    try:
        header = _read_header(next(reader, []))
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            data_rows += 1
            if data_rows > MAX_IMPORT_ROWS:
                raise RequestEntityTooLarge(detail=f"at most {MAX_IMPORT_ROWS} rows per file; split it into several")
            row = _read_row(row_number, cells, header, errors)
            if row is None:
                continue
            first = first_row_of.setdefault(row.tracking_number, row_number)
            if first != row_number:
                errors.append(RowError(row_number, "trackingNumber", f"{row.tracking_number} is also on row {first}"))
            else:
                rows.append(row)
    except csv.Error as exc:
        raise rejection([RowError(row_number + 1, "file", f"not readable as CSV: {exc}")]) from None
    if data_rows == 0:
        raise rejection([RowError(2, "file", "the file has a header but no shipments")])
    named = [name for name in header if name is not None]
    columns = tuple(COLUMNS[name][0] for name in sorted(named, key=list(COLUMNS).index))
    return ParsedFile(columns=columns, rows=rows, errors=errors)


def _read_header(cells: Iterable[str]) -> list[str | None]:
    """The column of each position; None for a column without a name (spreadsheets add them), whose cells are
    ignored."""
    names = [cell.strip() for cell in cells]
    if not any(name.lower() in _BY_LOWER_NAME for name in names):
        raise rejection([RowError(1, "header", f"no known column; {_HEADER_HINT}")])
    header: list[str | None] = []
    errors: list[RowError] = []
    for name in names:
        canonical = _BY_LOWER_NAME.get(name.lower())
        if not name:
            header.append(None)
        elif canonical is None:
            errors.append(RowError(1, "header", f"unknown column {name!r}; {_HEADER_HINT}"))
        elif canonical in header:
            errors.append(RowError(1, "header", f"column {canonical} appears twice"))
        else:
            header.append(canonical)
    errors += [
        RowError(1, "header", f"missing required column {required}; {_HEADER_HINT}")
        for required in REQUIRED_COLUMNS
        if required not in header
    ]
    if errors:
        raise rejection(errors)
    return header


def _read_row(
    row_number: int, cells: list[str], header: list[str | None], errors: list[RowError]
) -> ShipmentRow | None:
    """The row's values, or None after recording its problems in `errors`."""
    if len(cells) != len(header):
        errors.append(RowError(row_number, "row", f"expected {len(header)} cells like the header, found {len(cells)}"))
        return None
    values: dict[str, object] = {}
    found = len(errors)
    for name, cell in zip(header, cells, strict=True):
        if name is None:
            continue
        attribute, parse = COLUMNS[name]
        try:
            if has_nul(cell):
                raise ValueError(NUL_IN_CELL)
            values[attribute] = parse(cell.strip())
        except ValueError as exc:
            errors.append(RowError(row_number, name, str(exc)))
    return ShipmentRow(row_number, values) if len(errors) == found else None
