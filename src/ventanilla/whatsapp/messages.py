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

CLOUD_NOT_SET_UP = (
    "Esta sucursal usa la API oficial de WhatsApp (Cloud API) pero no tiene número configurado. Un administrador debe "
    "ingresar el Phone Number ID, el token de acceso, el App Secret y el Verify Token."
)
CLOUD_NO_PAIRING = "Los números de la API oficial (Cloud API) no se vinculan con código ni QR: se configuran en Meta."


def cloud_token_rejected(detail: str) -> str:
    return (
        f"Meta rechazó el token de acceso ({detail}). Genera un token permanente (usuario del sistema) en Meta "
        "Business y guárdalo de nuevo en la configuración de Cloud API de esta sucursal."
    )


def cloud_refused(detail: str) -> str:
    return f"Meta rechazó la configuración de Cloud API ({detail}). Revisa el Phone Number ID y los permisos del token."


NO_TEMPLATES = "Este canal no envía plantillas: solo los números de la API oficial (Cloud API) las usan."
# Names no other branch, as NUMBER_TAKEN.
CLOUD_NUMBER_TAKEN = (
    "Este número de WhatsApp ya pertenece a otra sucursal, y un número solo puede atender a una. Un administrador debe "
    "configurar otro número de Cloud API para esta sucursal, o revisar a cuál pertenece este."
)
