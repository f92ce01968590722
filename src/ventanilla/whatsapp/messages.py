"""What branch staff read in `lastError`: plain Spanish that says what happened and what to do."""

from __future__ import annotations

from datetime import datetime

LOGGED_OUT = (
    "Se cerró la sesión de WhatsApp desde el teléfono (dispositivo desvinculado). "
    "Pulsa «Vincular WhatsApp» y escanea el nuevo código QR."
)
REPLACED = (
    "La sesión de WhatsApp se abrió en otro lugar y esta se cerró. No se reconecta sola para no disputar la sesión: "
    "cierra la otra y pulsa «Reiniciar»."
)
QR_EXPIRED = (
    "El código QR venció sin ser escaneado. Pulsa «Vincular WhatsApp» para generar uno nuevo "
    "y escanéalo desde WhatsApp > Dispositivos vinculados."
)


def banned(until: datetime | None) -> str:
    when = f"hasta el {until:%d/%m/%Y a las %H:%M} UTC" if until else "por un tiempo que WhatsApp no indicó"
    return (
        f"WhatsApp suspendió temporalmente este número {when}. No intentes reconectar antes; "
        "revisa que los mensajes respondan a clientes que escribieron primero."
    )


def refused(reason: str) -> str:
    return f"WhatsApp rechazó la conexión ({reason}). Actualiza Ventanilla y vuelve a intentarlo."


def reconnecting(delay_seconds: float) -> str:
    return f"Se perdió la conexión con WhatsApp. Reintentando automáticamente en {delay_seconds:.0f} s."


UNLINKED_DROP = (
    "No se pudo conectar con WhatsApp para mostrar el código QR. Revisa la conexión a internet y vuelve a intentar."
)


# Names no other branch: staff of this point must learn nothing of the others, not even which one has the number.
NUMBER_TAKEN = (
    "Este número de WhatsApp ya está vinculado a otra sucursal, y un número solo puede atender a una: se desvinculó "
    "este dispositivo. Vincula otro número, o pide a un administrador que revise a qué sucursal pertenece este."
)
