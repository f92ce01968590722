"""Reading a shipments CSV and checking every row before anything touches the database.

The format is documented in docs/shipments-and-faqs.md. It fits what a spreadsheet in a Spanish locale saves:

- UTF-8 (a BOM is fine) or Windows-1252 ("CSV" from Excel), comma-, semicolon- or tab-separated (told from row 1);
- column names in English (`trackingNumber`) or Spanish (`Número de guía`, `Guía`, `Estado`, `Origen`, `Destino`,
  `Fecha estimada`, `Remitente`, `Destinatario`), matched without regard to case, accents, spaces or punctuation;
- statuses as the API names them (`IN_TRANSIT`, any case) or as the pages show them (`En tránsito`, `Entregado`);
- dates as `dd/mm/aaaa` (also `-` or `.`, two-digit years as 20xx) or ISO `aaaa-mm-dd`.

`trackingNumber` and `status` are required. An empty cell never erases what is stored: it keeps the value (and a new
shipment simply has none). To erase a field, write `-` or `(vacío)` in its cell. A column left out of the header is
kept too. Rows are numbered as a spreadsheet shows them (the header is row 1); problems are reported in Spanish,
each with the API's column name (`key`) and the column as the file wrote it (`column`).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date

from litestar.exceptions import ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from ventanilla.db.models import SHIPMENT_STATUS_LABELS, ShipmentStatus
from ventanilla.shipments.tracking import EXAMPLE_TRACKING_NUMBER, normalize_tracking_number
from ventanilla.text import has_nul

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 10_000
TEXT_MAX_LENGTH = 120
REQUIRED_COLUMNS = ("trackingNumber", "status")
CLEAR_MARKERS = frozenset({"-", "(vacio)", "vacio"})  # compared after `_plain`: "(Vacío)" is one too
DELIMITERS = (";", ",", "\t")
NUL_IN_CELL = "contiene el carácter NUL (\\0), que ningún texto puede tener; revisa cómo se exportó el archivo"


@dataclass(frozen=True)
class RowError:
    row: int
    key: str
    message: str
    column: str | None = None  # the header as the file wrote it, when the problem is in a named column


@dataclass(frozen=True)
class ShipmentRow:
    """One valid data row: model attribute -> value, for the cells that say something (a value, or "erase")."""

    row: int
    values: dict[str, object]

    @property
    def tracking_number(self) -> str:
        return str(self.values["tracking_number"])


@dataclass(frozen=True)
class ParsedFile:
    rows: list[ShipmentRow]
    errors: list[RowError]


def rejection(errors: Sequence[RowError]) -> ValidationException:
    """422 listing every problem at once, so one round of fixes is enough; nothing has been written."""
    ordered = sorted(errors, key=lambda error: error.row)
    return ValidationException(
        detail=f"{len(ordered)} problem(s) in the file; nothing was imported",
        status_code=422,
        extra=[{k: v for k, v in asdict(error).items() if v is not None} for error in ordered],
    )


def _plain(text: str) -> str:
    """Lower case, without accents or surrounding spaces: how names and labels are compared."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _name_key(text: str) -> str:
    """A header name with only its letters and digits: "Número de guía" -> "numerodeguia"."""
    return re.sub(r"[^a-z0-9]", "", _plain(text))


_STATUS_WORDS = {_name_key(label): status for status, label in SHIPMENT_STATUS_LABELS.items()} | {
    _name_key(status.value): status for status in ShipmentStatus
}
_STATUS_WORDS |= {
    "creado": ShipmentStatus.CREATED,
    "transito": ShipmentStatus.IN_TRANSIT,
    "ensucursal": ShipmentStatus.AT_SERVICE_POINT,
    "disponible": ShipmentStatus.AT_SERVICE_POINT,
    "enreparto": ShipmentStatus.OUT_FOR_DELIVERY,
    "devuelto": ShipmentStatus.RETURNED,
    "novedad": ShipmentStatus.EXCEPTION,
}
_STATUS_HINT = ", ".join(f"«{label}»" for label in SHIPMENT_STATUS_LABELS.values())


def _tracking_number(cell: str) -> str:
    if not cell:
        raise ValueError("falta el número de guía")
    canonical = normalize_tracking_number(cell)
    if canonical is None:
        raise ValueError(
            f"«{cell}» no es un número de guía: deben ser de 2 a 5 letras y luego de 5 a 12 dígitos, "
            f"por ejemplo {EXAMPLE_TRACKING_NUMBER}"
        )
    return canonical


def _status(cell: str) -> ShipmentStatus:
    if not cell:
        raise ValueError(f"falta el estado; puede ser {_STATUS_HINT}")
    status = _STATUS_WORDS.get(_name_key(cell))
    if status is None:
        raise ValueError(f"estado desconocido «{cell}»; puede ser {_STATUS_HINT}")
    return status


_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})$")
_ISO_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


def _eta(cell: str) -> date:
    day_first, iso = _DAY_FIRST.match(cell), _ISO_DATE.match(cell)
    try:
        if day_first:
            day, month, year = (int(part) for part in day_first.groups())
            return date(year + 2000 if year < 100 else year, month, day)
        if iso:
            year, month, day = (int(part) for part in iso.groups())
            return date(year, month, day)
    except ValueError:
        raise ValueError(f"la fecha «{cell}» no existe en el calendario") from None
    raise ValueError(f"«{cell}» no es una fecha: escríbela como día/mes/año (31/12/2026) o 2026-12-31")


def _text(cell: str) -> str:
    if len(cell) > TEXT_MAX_LENGTH:
        raise ValueError(f"admite como máximo {TEXT_MAX_LENGTH} caracteres (tiene {len(cell)})")
    return cell


# API column name -> (model attribute, cell parser, other names a spreadsheet may use).
COLUMNS: dict[str, tuple[str, Callable[[str], object], tuple[str, ...]]] = {
    "trackingNumber": (
        "tracking_number",
        _tracking_number,
        ("numero de guia", "guia", "no de guia", "nro de guia", "n guia", "numero guia", "tracking"),
    ),
    "status": ("status", _status, ("estado",)),
    "origin": ("origin", _text, ("origen",)),
    "destination": ("destination", _text, ("destino",)),
    "eta": ("eta", _eta, ("fecha estimada", "llegada estimada", "fecha de llegada", "fecha estimada de entrega")),
    "senderName": ("sender_name", _text, ("remitente", "nombre del remitente")),
    "recipientName": ("recipient_name", _text, ("destinatario", "nombre del destinatario")),
}
_BY_KEY = {_name_key(alias): name for name, (_, _, aliases) in COLUMNS.items() for alias in (name, *aliases)}
_HEADER_HINT = (
    "la fila 1 debe ser el encabezado, por ejemplo: Guía;Estado;Origen;Destino;Fecha estimada;Remitente;Destinatario"
)


def parse_shipments_csv(content: bytes) -> ParsedFile:
    """Every valid row and every problem found; 413 beyond MAX_IMPORT_ROWS, 422 for a bad header or CSV syntax."""
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[ShipmentRow] = []
    errors: list[RowError] = []
    first_row_of: dict[str, int] = {}
    row_number = data_rows = 0
    try:
        header, written = _read_header(next(reader, []))
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            data_rows += 1
            if data_rows > MAX_IMPORT_ROWS:
                raise RequestEntityTooLarge(detail=f"at most {MAX_IMPORT_ROWS} rows per file; split it into several")
            row = _read_row(row_number, cells, header, written, errors)
            if row is None:
                continue
            first = first_row_of.setdefault(row.tracking_number, row_number)
            if first != row_number:
                message = f"la guía {row.tracking_number} ya está en la fila {first}"
                errors.append(RowError(row_number, "trackingNumber", message, written["trackingNumber"]))
            else:
                rows.append(row)
    except csv.Error as exc:
        raise rejection([RowError(row_number + 1, "file", f"no se puede leer como CSV: {exc}")]) from None
    if data_rows == 0:
        raise rejection([RowError(2, "file", "el archivo tiene encabezado pero ningún envío")])
    return ParsedFile(rows=rows, errors=errors)


def _decode(content: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, what Excel saves as plain "CSV" in Spanish locales."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError:
        message = "el archivo no es texto UTF-8 ni Windows-1252: guárdalo desde la hoja de cálculo como «CSV UTF-8»"
        raise ValidationException(detail=message, extra=[{"key": "file", "message": message}]) from None


def _read_header(cells: Iterable[str]) -> tuple[list[str | None], dict[str, str]]:
    """The API column of each position (None for a column without a name, whose cells are ignored), and each
    column's name as the file wrote it."""
    names = [cell.strip() for cell in cells]
    if not any(_name_key(name) in _BY_KEY for name in names):
        raise rejection([RowError(1, "header", f"ninguna columna conocida; {_HEADER_HINT}")])
    header: list[str | None] = []
    written: dict[str, str] = {}
    errors: list[RowError] = []
    for name in names:
        canonical = _BY_KEY.get(_name_key(name))
        if not name:
            header.append(None)
        elif canonical is None:
            errors.append(RowError(1, "header", f"columna desconocida «{name}»; {_HEADER_HINT}", name))
        elif canonical in header:
            errors.append(RowError(1, "header", f"la columna «{name}» está dos veces", name))
        else:
            header.append(canonical)
            written[canonical] = name
    missing = {"trackingNumber": "Número de guía", "status": "Estado"}
    errors += [
        RowError(1, "header", f"falta la columna obligatoria «{missing[required]}»; {_HEADER_HINT}")
        for required in REQUIRED_COLUMNS
        if required not in header
    ]
    if errors:
        raise rejection(errors)
    return header, written


def _read_row(
    row_number: int, cells: list[str], header: list[str | None], written: dict[str, str], errors: list[RowError]
) -> ShipmentRow | None:
    """The row's values, or None after recording its problems in `errors`. An empty cell says nothing (the stored
    value stays); a clear marker says "erase" (None)."""
    if len(cells) != len(header):
        message = f"tiene {len(cells)} celdas y el encabezado {len(header)}; revisa los separadores"
        errors.append(RowError(row_number, "row", message))
        return None
    values: dict[str, object] = {}
    found = len(errors)
    for name, raw in zip(header, cells, strict=True):
        if name is None:
            continue
        attribute, parse, _ = COLUMNS[name]
        cell = raw.strip()
        try:
            if has_nul(cell):
                raise ValueError(NUL_IN_CELL)
            if name in REQUIRED_COLUMNS:
                values[attribute] = parse(cell)
            elif _plain(cell) in CLEAR_MARKERS:
                values[attribute] = None
            elif cell:
                values[attribute] = parse(cell)
        except ValueError as exc:
            errors.append(RowError(row_number, name, str(exc), written[name]))
    return ShipmentRow(row_number, values) if len(errors) == found else None
