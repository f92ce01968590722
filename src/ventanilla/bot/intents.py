"""What a Spanish WhatsApp message asks for, by deterministic rules: the offline engine's understanding.

Patterns run on folded text (lower case, no accents), so "Guía", "guia" and "GUÍA" read the same. They favour
precision for handoffs (a false "asesor" costs an agent's time) and recall for tracking numbers (a number that is
not found is answered plainly).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from ventanilla.shipments.tracking import normalize_tracking_number

MAX_NUMBERS = 3
MAX_ANALYZED_CHARS = 1000  # customers may paste pages; the rules read the start, in bounded time

# 2-5 letters, optional separators, then digit groups ("ABC123456", "abc-123 456", "#ABC 123.456").
_NUMBER_CANDIDATE = re.compile(r"(?<!\w)#?([A-Za-z]{2,5})([\s\-_.#]{0,2})(\d+(?:[\s\-.]\d{3,})*)(?!\w)")
# Words that often stand before a number ("guía 123456", "es 123456") and must not be read as its letters.
_WORD_BEFORE_NUMBER = re.compile(
    r"a|al|cel|cod|con|de|del|dni|el|en|es|guias?|hay|id|la|las|los|mas|mis?|no|nros?|nums?|o|para|por|que|ruc|son|"
    r"tel|telf|tengo|van|y|ya"
)


def fold(value: str) -> str:
    """Lower case without accents, like the database's `ventanilla_fold`."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_PERSON = _any(
    r"\b(asesor|asesora|asesores|humano|humana|operador|operadora|ejecutivo|ejecutiva|representante|agente)\b",
    r"\b(habl\w*|comunic\w*|contact\w*|pas\w*|transfier\w*|deriv\w*|atien\w*|convers\w*)\b.*"
    r"\bcon (una |un |alguna |algun )?(persona|alguien)\b",
    r"\b(persona|alguien) (real|de verdad|de carne)\b",
    r"\bno\b.*\b(bot|robot|maquina|contestadora)\b",
)
_FORMAL_COMPLAINT = re.compile(r"\b(reclamo|reclamar|queja|quejarme|denuncia|denunciar|demanda|demandar)\b")
_INSULT = _any(
    r"\b(idiota|estupid|imbecil|inutil|pendej|mierda|carajo|maldit|ladron|estafa|basura|porqueria|huevon|cabron)\w*",
    r"\b(hdp|ptm|csm|hijueputa|verga|joder|jodan|incompetentes?|cojud\w*|malparid\w*|mamaguev\w*)\b",
    r"\bhij[oa]s? de (puta|perra)\b",
    r"\b(pesimo|horrible|asqueroso|de mierda|terrible) servicio\b",
    r"\bson (unos|una) (ineptos|sinverguenzas|vagos|payasos)\b",
)
_COMPLAINT = _any(
    r"\b(todavia|aun|sigue sin|sigo sin|nunca) (no )?(me )?(llega|llego|ha llegado|recibo|recibi|aparece|sale)",
    r"\bsigo esperando\b",
    r"\bya (van|pasaron|son) \w+ (dias|semanas)\b",
    r"\bnadie (me )?(responde|contesta|ayuda|atiende|da razon)\b",
    r"\bno me (responden|contestan|ayudan|resuelven|dan (razon|solucion))\b",
    r"\b(siempre lo mismo|es el colmo|inaceptable|no puede ser)\b",
    r"\b(harto|harta|cansado|cansada|molesto|molesta|enojado|enojada|indignado|indignada)\b",
    r"\b(demora|retraso|retrasado|atrasado|perdieron|perdido|extraviado)\b",
    r"\bno sirven?\b",
)
_PARCEL = (
    r"\b(mis?|nuestros?|el|la|los|las) "
    r"(paquetes?|envios?|encomiendas?|pedidos?|cajas?|cargas?|ordenes|orden|compras?)\b"
)
_TRACKING = _any(
    r"\b(rastre\w*|seguimiento|tracking|guias?)\b",
    r"\bnumero de envio\b",
    rf"\b(donde|cuando|estado|estatus|status|como va|que paso|que pasa)\b.*{_PARCEL}",
    rf"{_PARCEL}.*\b(llega\w*|llego|lleg\w+do|esta|va|viene|anda|sale|salio|paso|donde|cuando|estado|ubic\w*)\b",
    rf"\b(saber|consultar|ver|revisar) (de |por |sobre |el estado de )?{_PARCEL}",
    rf"\b(llega\w*|llego|lleg\w+do|recib\w*)\b.*{_PARCEL}",
)
_GREETING = re.compile(
    r"^\W*(?:(?:hola+|holi|ola|buen[oa]s?(?: (?:dias|tardes|noches))?|buen dia|saludos|que tal|hey|alo|"
    r"como (?:esta|estas|estan))\b\W*)+"
)
_ACKNOWLEDGEMENT = re.compile(
    r"gracias|ok|okay|oki|listo|perfecto|vale|chao|adios|luego|acuerdo|entendido|genial|excelente|buenisimo|dale|"
    r"bueno|si|no|igualmente|bye"
)
_COURTESY_FILLER = re.compile(r"muchas|mil|hasta|de|por|todo|la|su|ayuda|muy|amable")
_HELP = re.compile(r"\b(ayuda|ayudame|menu|opciones|que puedes hacer|que haces|como funciona|informacion|info)\b")


def tracking_numbers(text: str, *, printed: bool = False) -> list[str]:
    """Canonical tracking numbers written anywhere in `text`, in order, at most MAX_NUMBERS.

    `printed`: text read from a photo, where OCR drops the spaces ("Tel0991234567"), so a word before digits is
    a word even when nothing separates them.
    """
    found: list[str] = []
    for match in _NUMBER_CANDIDATE.finditer(text):
        letters, separator, digits = match.groups()
        spaced = separator.strip() == "" and (bool(separator) or printed)
        if spaced and _WORD_BEFORE_NUMBER.fullmatch(fold(letters)):
            continue
        number = normalize_tracking_number(letters + digits)
        if number is not None and number not in found:
            found.append(number)
    return found[:MAX_NUMBERS]


def latest_tracking_numbers(texts: Sequence[str]) -> list[str]:
    """The numbers of the latest text (oldest first) that has any: the shipment the conversation is about."""
    for text in reversed(texts):
        if numbers := tracking_numbers(text):
            return numbers
    return []


def wants_person(folded: str) -> bool:
    return _PERSON.search(folded) is not None


def wants_to_complain(folded: str) -> bool:
    return _FORMAL_COMPLAINT.search(folded) is not None


def insults(folded: str) -> bool:
    return _INSULT.search(folded) is not None


def shouting(text: str) -> bool:
    """SHOUTING: capitals over several words. Tracking numbers don't count, nor do greetings ("HOLA BUENOS DIAS")."""
    if only_greets(fold(text)) or only_thanks(fold(text)):
        return False
    words = re.findall(r"[^\W\d_]{2,}", _NUMBER_CANDIDATE.sub(" ", text))
    letters = "".join(words)
    if len(words) < 3 or len(letters) < 10:
        return False
    return sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def complains(folded: str) -> bool:
    return _COMPLAINT.search(folded) is not None


def complained_before(history_texts: Sequence[str]) -> bool:
    return any(complains(fold(text)) for text in history_texts)


def asks_about_tracking(folded: str) -> bool:
    return _TRACKING.search(folded) is not None


def greets(folded: str) -> bool:
    return _GREETING.match(folded) is not None


def only_greets(folded: str) -> bool:
    match = _GREETING.match(folded)
    return match is not None and not re.search(r"\w", folded[match.end() :])


def only_thanks(folded: str) -> bool:
    """An acknowledgement ("gracias", "ok, muchas gracias", "👍") that needs no more than a polite answer."""
    words = re.findall(r"\w+", folded)
    if not all(_ACKNOWLEDGEMENT.fullmatch(word) or _COURTESY_FILLER.fullmatch(word) for word in words):
        return False
    return not words or any(_ACKNOWLEDGEMENT.fullmatch(word) for word in words)


def asks_for_help(folded: str) -> bool:
    return _HELP.search(folded) is not None
