"""Prometheus metrics: what flows through each service point, what the bot does, how delivery goes.

Counters and histograms are updated where things happen (pipeline, bot decisions, delivery); gauges that describe
the current state (outbox depth, session status) are read from the database when /metrics is scraped, so they are
right even just after a restart. Service points are labelled by id: no names or phone numbers.
"""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.bot import BotDecision
from ventanilla.db.models import DeliveryStatus, Message, ServicePoint, WhatsappStatus

INBOUND = Counter("ventanilla_inbound_messages_total", "Customer messages stored", ["service_point"])
REDELIVERIES = Counter("ventanilla_inbound_redeliveries_total", "Inbound messages already stored", ["service_point"])
OUTBOUND = Counter(
    "ventanilla_outbound_messages_total", "Outgoing messages by delivery outcome", ["service_point", "outcome"]
)
BOT_ANSWERS = Counter("ventanilla_bot_answers_total", "Bot replies queued", ["service_point", "engine"])
HANDOFFS = Counter("ventanilla_handoffs_total", "Conversations handed to a person by the bot", ["service_point"])
FALLBACKS = Counter("ventanilla_bot_fallbacks_total", "Offline engine answering although a model is set", ["reason"])
TOOL_CALLS = Counter("ventanilla_tool_calls_total", "Bot tool calls", ["tool", "outcome"])
DECISION_SECONDS = Histogram(
    "ventanilla_bot_decision_seconds",
    "Time the bot took to decide a reply (the model's latency when engine=openai)",
    ["engine"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
OUTBOX_DEPTH = Gauge("ventanilla_outbox_depth", "Outgoing messages waiting to be sent", ["service_point"])
SESSION_STATUS = Gauge(
    "ventanilla_whatsapp_session_status", "1 for the current WhatsApp status of each point", ["service_point", "status"]
)


class Metrics:
    """The hooks the pipeline and the delivery worker call."""

    def inbound(self, point_id: UUID, *, redelivery: bool) -> None:
        (REDELIVERIES if redelivery else INBOUND).labels(str(point_id)).inc()

    def decision(self, point_id: UUID, decision: BotDecision, seconds: float) -> None:
        point = str(point_id)
        BOT_ANSWERS.labels(point, decision.engine).inc()
        DECISION_SECONDS.labels(decision.engine).observe(seconds)
        if decision.handoff_reason:
            HANDOFFS.labels(point).inc()
        if decision.fallback_reason:
            FALLBACKS.labels(decision.fallback_reason).inc()
        for call in decision.tool_calls:
            TOOL_CALLS.labels(call.tool, call.outcome).inc()

    def delivery(self, point_id: UUID, outcome: str) -> None:
        OUTBOUND.labels(str(point_id), outcome).inc()


class MetricsController(Controller):
    tags = ["operations"]

    @get("/metrics", summary="Prometheus metrics", security=[], include_in_schema=False)
    async def metrics(self, db_session: NamedDependency[AsyncSession]) -> Response[bytes]:
        depth = await db_session.execute(
            select(Message.service_point_id, func.count())
            .where(Message.delivery_status == DeliveryStatus.PENDING)
            .group_by(Message.service_point_id)
        )
        OUTBOX_DEPTH.clear()
        for point_id, count in depth:
            OUTBOX_DEPTH.labels(str(point_id)).set(count)
        SESSION_STATUS.clear()
        for point_id, status in await db_session.execute(select(ServicePoint.id, ServicePoint.whatsapp_status)):
            for option in WhatsappStatus:
                SESSION_STATUS.labels(str(point_id), option.value).set(1 if option is status else 0)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
