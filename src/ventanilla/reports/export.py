"""The conversations of a period as a CSV file made for a spreadsheet in Spanish.

Excel in a Spanish locale splits columns on `;` (the comma is its decimal separator) and reads UTF-8 only after a
byte-order mark, so the file has both, with CRLF line ends. Times are dd/mm/yyyy hh:mm in the point's zone, which
such a spreadsheet reads as dates; durations are whole seconds. The customer's number is masked as in the logs: a
file like this gets forwarded, and the "Enlace" column opens the conversation for whoever may see it whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ventanilla.db.models import ConversationStatus
from ventanilla.privacy import mask_phone

BOM = "\ufeff"
HEADERS = (
    "Sucursal",
    "Conversación",
    "Enlace",
    "Cliente",
    "Primer mensaje del cliente",
    "Última actividad",
    "Mensajes del cliente",
    "Respuestas del bot",
    "Respuestas de agentes",
    "Derivaciones a persona",
    "Primera respuesta (s)",
    "Resolución (s)",
    "Atendida por",
    "Estado actual",
    "Asignada a",
    "Etiquetas",
    "Calificación (1-5)",
)
STATUS_LABELS = {
    ConversationStatus.BOT: "Bot",
    ConversationStatus.HUMAN: "Persona",
    ConversationStatus.RESOLVED: "Resuelta",
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """Text a spreadsheet shows as text: one that starts like a formula gets an apostrophe (CSV injection)."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _local(moment: datetime | None, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M") if moment else ""


def _seconds(value: Any) -> str:
    return "" if value is None else str(round(value))


def conversations_csv(rows: Iterable[Any], base_url: str) -> str:
    """`rows` from `ReportService.conversations`; `base_url` makes the links absolute (the file leaves the site)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        labels: Sequence[str] = row.labels or ()
        writer.writerow(
            [
                _cell(row.point_name),
                str(row.id),
                f"{base_url}/puntos/{row.service_point_id}/inbox?c={row.id}",
                mask_phone(row.customer_phone.removeprefix("+")),  # without "+": a spreadsheet reads it as a formula
                _local(row.first_inbound, row.tz),
                _local(row.last_at, row.tz),
                row.inbound,
                row.bot,
                row.agent,
                row.handoffs,
                _seconds(row.first_response),
                _seconds(row.resolution),
                _cell(row.agents),
                STATUS_LABELS[ConversationStatus(row.status)],
                _cell(row.assignee),
                _cell(", ".join(labels)),
                "" if row.rating is None else row.rating,
            ]
        )
    return out.getvalue()
