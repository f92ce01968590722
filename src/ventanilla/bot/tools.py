"""The bot's three tools, shared by both engines: argument Structs (which are also the model's JSON schemas),
execution bound to the request's service point, and one audit record per call.

Nothing a tool does depends on the model for *where* it looks: the point comes from the request. Every failure
(bad JSON, wrong fields, unknown tool, database trouble) becomes a tool result the model can read, never an
exception. Each call runs in its own short read-only transaction, so the bot cannot write even by mistake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import msgspec

from ventanilla.bot.decision import Engine, Outcome, ToolCallRecord
from ventanilla.bot.lookups import (
    FaqView,
    SessionFactory,
    ShipmentLookup,
    ShipmentView,
    read_only_session,
    search_faqs,
)
from ventanilla.shipments.tracking import EXAMPLE_TRACKING_NUMBER, normalize_tracking_number
from ventanilla.text import storable, storable_json

log = logging.getLogger(__name__)


CONSULTAR_GUIA = "consultar_guia"
CONSULTAR_FAQ = "consultar_faq"
TRANSFERIR_A_HUMANO = "transferir_a_humano"
MAX_TOOL_NAME = 64  # tool_call.tool column
MAX_TEXT_ARGUMENT = 500
DEFAULT_HANDOFF_REASON = "El bot pidió la ayuda de un asesor."


class ToolArguments(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """Strict by construction: every field required, no others allowed (what OpenAI's strict mode demands)."""


class TrackingQuery(ToolArguments):
    tracking_number: Annotated[
        str,
        msgspec.Meta(
            description=f"Número de guía tal como lo escribió el cliente, por ejemplo {EXAMPLE_TRACKING_NUMBER}"
        ),
    ]


class FaqQuery(ToolArguments):
    query: Annotated[str, msgspec.Meta(description="La pregunta del cliente, con sus palabras")]


class HandoffRequest(ToolArguments):
    reason: Annotated[str, msgspec.Meta(description="Por qué necesita un asesor, en una frase para el asesor")]


class TrackingResult(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    found: bool
    tracking_number: str
    shipment: ShipmentView | None = None
    message: str | None = None


class FaqResults(msgspec.Struct, frozen=True):
    results: list[FaqView]
    message: str | None = None


class HandoffResult(msgspec.Struct, frozen=True):
    transferred: bool


class ToolError(msgspec.Struct, frozen=True):
    error: str


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    arguments: type[ToolArguments]


TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        CONSULTAR_GUIA,
        "Consulta el estado actual de un envío por su número de guía (de cualquier sucursal). Devuelve la etiqueta "
        "de estado, origen, destino y fecha estimada de entrega cuando se conocen.",
        TrackingQuery,
    ),
    ToolSpec(
        CONSULTAR_FAQ,
        "Busca en las preguntas frecuentes de esta sucursal y en las generales (horarios, dirección, precios, "
        "requisitos, plazos). Responde solo con lo que devuelva.",
        FaqQuery,
    ),
    ToolSpec(
        TRANSFERIR_A_HUMANO,
        "Pasa la conversación a un asesor humano de la sucursal: cuando el cliente lo pide, está molesto, quiere "
        "reclamar, o no sabes cómo ayudarle.",
        HandoffRequest,
    ),
)
_SPECS = {spec.name: spec for spec in TOOL_SPECS}


def tool_parameters(arguments: type[ToolArguments]) -> dict[str, Any]:
    """The JSON schema of an arguments Struct, inlined (function parameters cannot start with a $ref)."""
    _, components = msgspec.json.schema_components([arguments])
    schema = {k: v for k, v in components[arguments.__name__].items() if k != "title"}
    if schema.get("additionalProperties") is not False or set(schema["required"]) != set(schema["properties"]):
        raise TypeError(f"{arguments.__name__} is not a strict schema")
    return schema


@dataclass(frozen=True)
class ToolResult:
    """One executed call: its audit record, the JSON the model reads back, and a handoff if one was asked for."""

    record: ToolCallRecord
    content: str
    handoff_reason: str | None = None


@dataclass(frozen=True)
class _Answer:
    outcome: Outcome
    payload: msgspec.Struct
    handoff_reason: str | None = None


class Toolbox:
    """Runs tools for one request, scoped to its service point, and keeps every call's audit record in order."""

    def __init__(
        self,
        session_factory: SessionFactory,
        service_point_id: UUID,
        engine: Engine = "offline",
        shipments: ShipmentLookup | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._shipments = shipments or ShipmentLookup(session_factory)
        self._service_point_id = service_point_id
        self.engine: Engine = engine  # which engine is running the calls now (changes on a fallback)
        self.records: list[ToolCallRecord] = []
        self.model_calls = 0  # requests the model engine made in this turn: what the point's daily cap counts
        self._handlers: dict[str, Callable[[Any], Awaitable[_Answer]]] = {
            CONSULTAR_GUIA: self._consultar_guia,
            CONSULTAR_FAQ: self._consultar_faq,
            TRANSFERIR_A_HUMANO: self._transferir_a_humano,
        }

    async def call(self, name: str, raw_arguments: str | bytes) -> ToolResult:
        """Decode, validate and run one call; whatever goes wrong comes back as a tool error, never raised."""
        started = time.perf_counter()
        arguments, answer = await self._run(name, raw_arguments)
        record = ToolCallRecord(
            engine=self.engine,
            tool=name[:MAX_TOOL_NAME],
            arguments=arguments,
            outcome=answer.outcome,
            result=storable_json(msgspec.to_builtins(answer.payload)),
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
        self.records.append(record)
        return ToolResult(record, msgspec.json.encode(answer.payload).decode(), answer.handoff_reason)

    async def track(self, tracking_number: str) -> ToolResult:
        return await self.call(CONSULTAR_GUIA, msgspec.json.encode(TrackingQuery(tracking_number)))

    async def search_faq(self, query: str) -> ToolResult:
        return await self.call(CONSULTAR_FAQ, msgspec.json.encode(FaqQuery(query)))

    async def _run(self, name: str, raw_arguments: str | bytes) -> tuple[dict[str, Any], _Answer]:
        spec = _SPECS.get(name)
        try:
            decoded = storable_json(msgspec.json.decode(raw_arguments))
        except msgspec.DecodeError:
            raw = raw_arguments if isinstance(raw_arguments, str) else raw_arguments.decode(errors="replace")
            arguments: dict[str, Any] = {"raw": storable(raw[:MAX_TEXT_ARGUMENT])}
            if spec is not None:
                return arguments, _error("invalid_arguments", "Los argumentos no son JSON válido.")
        else:
            arguments = decoded if isinstance(decoded, dict) else {"raw": decoded}
        if spec is None:
            available = ", ".join(_SPECS)
            return arguments, _error("unknown_tool", f"La herramienta {name!r} no existe. Usa: {available}.")
        try:
            parsed = msgspec.convert(decoded, spec.arguments)
        except msgspec.ValidationError as exc:
            return arguments, _error("invalid_arguments", f"Argumentos inválidos: {exc}.")
        try:
            return arguments, await self._handlers[name](parsed)
        except Exception as exc:
            # Database or driver trouble: the model is told; the error, which may quote the arguments, is not logged.
            log.warning("bot tool %s failed: %s", name, type(exc).__name__)
            return arguments, _error("error", "No se pudo consultar en este momento. Ofrece pasar con un asesor.")

    async def _consultar_guia(self, arguments: TrackingQuery) -> _Answer:
        number = normalize_tracking_number(arguments.tracking_number)
        if number is None:
            return _error(
                "invalid_arguments",
                f"No es un número de guía válido: son de 2 a 5 letras y de 5 a 12 dígitos, por ejemplo "
                f"{EXAMPLE_TRACKING_NUMBER}. Pide al cliente que lo revise.",
            )
        shipment = await self._shipments.find(number)
        if shipment is None:
            message = "No existe ninguna guía con ese número. Pide al cliente que lo revise."
            return _Answer("not_found", TrackingResult(found=False, tracking_number=number, message=message))
        return _Answer("ok", TrackingResult(found=True, tracking_number=number, shipment=shipment))

    async def _consultar_faq(self, arguments: FaqQuery) -> _Answer:
        query = arguments.query.strip()[:MAX_TEXT_ARGUMENT]
        if not query:
            return _error("invalid_arguments", "La consulta está vacía.")
        async with read_only_session(self._session_factory) as session:
            faqs = await search_faqs(session, self._service_point_id, query)
        if not faqs:
            message = "No hay ninguna pregunta frecuente sobre esto. No inventes una respuesta."
            return _Answer("not_found", FaqResults(results=[], message=message))
        return _Answer("ok", FaqResults(results=faqs))

    async def _transferir_a_humano(self, arguments: HandoffRequest) -> _Answer:
        reason = " ".join(arguments.reason.split())[:MAX_TEXT_ARGUMENT] or DEFAULT_HANDOFF_REASON
        return _Answer("ok", HandoffResult(transferred=True), handoff_reason=reason)


def _error(outcome: Outcome, message: str) -> _Answer:
    return _Answer(outcome, ToolError(error=message))
