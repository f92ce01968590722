"""The Spanish sentences of shipment alerts, built from stored statuses only: the bot never invents a status."""

from __future__ import annotations

from ventanilla.db.models import SHIPMENT_STATUS_LABELS, ShipmentStatus

STOP_HINT = "Responde NO MÁS AVISOS para dejar de recibir estos mensajes."


def status_change(tracking_number: str, status: ShipmentStatus) -> str:
    """One alert: the shipment's new status, and how to stop them."""
    return f"Tu envío {tracking_number} ahora está: *{SHIPMENT_STATUS_LABELS[status]}*. {STOP_HINT}"


def subscribed(tracking_number: str) -> str:
    return f"Listo: te avisaré por este chat cada vez que cambie el estado de tu envío {tracking_number}. {STOP_HINT}"


UNSUBSCRIBED = "Listo, ya no te enviaré avisos de tus envíos. Si quieres volver a recibirlos, escribe «avísame»."
WHICH_SHIPMENT = "¿De qué envío quieres recibir avisos? Envíame el número de guía y escribe «avísame»."
