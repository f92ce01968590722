"""Prometheus metrics: what flows through each service point, what the bot does, how delivery goes.

Counters and histograms are updated where things happen (pipeline, bot decisions, delivery); gauges that describe
the current state (outbox depth, session status) are read from the database when /metrics is scraped, so they are
right even just after a restart. Service points are labelled by id: no names or phone numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_metrics_token
from ventanilla.bot import BotDecision
from ventanilla.db.models import DeliveryStatus, Message, ServicePoint, WhatsappStatus

INBOUND = Counter("ventanilla_inbound_messages_total", "Customer messages stored", ["service_point"])
REDELIVERIES = Counter("ventanilla_inbound_redeliveries_total", "Inbound messages already stored", ["service_point"])
JOURNALED = Counter(
    "ventanilla_inbound_journaled_total", "Inbound messages kept on disk while the database was away", ["service_point"]
)
QUARANTINED = Counter(
    "ventanilla_inbound_quarantined_total", "Inbound messages the database refused, set aside", ["service_point"]
)
JOURNAL_WAITING = Gauge("ventanilla_journal_messages", "Inbound messages in the journal, not yet in the database")
BOT_TURNS = Gauge("ventanilla_bot_turns_in_flight", "Bot turns holding a slot (waiting on the model or the database)")
BOT_LANES = Gauge("ventanilla_bot_conversations_queued", "Conversations with a bot turn running or waiting for a slot")
BOT_LIMITED = Counter(
    "ventanilla_bot_limited_total",
    "Bot turns answered without the model: exhausted (failed turns), hold (customer rate), flood_handoff",
    ["service_point", "limit"],
)
OUTBOUND = Counter(
    "ventanilla_outbound_messages_total", "Outgoing messages by delivery outcome", ["service_point", "outcome"]
)
BOT_ANSWERS = Counter("ventanilla_bot_answers_total", "Bot replies queued", ["service_point", "engine"])
HANDOFFS = Counter("ventanilla_handoffs_total", "Conversations handed to a person by the bot", ["service_point"])
FALLBACKS = Counter("ventanilla_bot_fallbacks_total", "Offline engine answering although a model is set", ["reason"])
RECEIPTS = Counter(
    "ventanilla_receipts_total", "Outgoing messages moved forward by the customer's phone", ["service_point", "status"]
)
TOOL_CALLS = Counter("ventanilla_tool_calls_total", "Bot tool calls", ["tool", "outcome"])
UNKNOWN_TOOL = "unknown"  # the tool label of calls to a tool that does not exist (outcome unknown_tool)
DECISION_SECONDS = Histogram(
    "ventanilla_bot_decision_seconds",
    "Time the bot took to decide a reply (the model's latency when engine=openai)",
    ["engine"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
MEDIA_DOWNLOADS = Counter(
    "ventanilla_media_downloads_total",
    "Customers' files fetched from WhatsApp: ready, retry (transient failure), waiting (socket down), failed",
    ["service_point", "outcome"],
)
MEDIA_EXPIRED = Counter("ventanilla_media_expired_total", "Files past MEDIA_RETENTION_DAYS marked EXPIRED")
MEDIA_FILES_DELETED = Counter(
    "ventanilla_media_files_deleted_total", "Files removed from MEDIA_DIR by retention (no live row used them)"
)
OUTBOX_DEPTH = Gauge("ventanilla_outbox_depth", "Outgoing messages waiting to be sent", ["service_point"])
SESSION_STATUS = Gauge(
    "ventanilla_whatsapp_session_status", "1 for the current WhatsApp status of each point", ["service_point", "status"]
)
POINTS_OWNED = Gauge("ventanilla_points_owned", "Points whose WhatsApp socket this replica owns (valid lease)")
REPLICA = Gauge("ventanilla_replica_info", "This replica's id (always 1); every other series is this replica's", ["id"])


_INBOUND_BY_OUTCOME = {
    "stored": INBOUND,
    "redelivery": REDELIVERIES,
    "journaled": JOURNALED,
    "quarantined": QUARANTINED,
}


class Metrics:
    """The hooks the pipeline and the delivery worker call."""

    def inbound(self, point_id: UUID, outcome: str) -> None:
        """`outcome`: stored, redelivery, journaled or quarantined (see pipeline.intake.Outcome)."""
        _INBOUND_BY_OUTCOME[outcome].labels(str(point_id)).inc()

    def receipt(self, point_id: UUID, status: str) -> None:
        """An outgoing message the phone acknowledged (DELIVERED, READ), or WhatsApp failed later (FAILED)."""
        RECEIPTS.labels(str(point_id), status).inc()

    def limited(self, point_id: UUID, limit: str) -> None:
        BOT_LIMITED.labels(str(point_id), limit).inc()

    def watch_pipeline(self, journal: Callable[[], int], turns: Callable[[], int], lanes: Callable[[], int]) -> None:
        """Gauges read at each scrape: messages in the journal, turns holding a slot, conversations queued."""
        JOURNAL_WAITING.set_function(journal)
        BOT_TURNS.set_function(turns)
        BOT_LANES.set_function(lanes)

    def watch_replica(self, replica_id: str, owned: Callable[[], int]) -> None:
        """Each replica serves its own /metrics: name it, and count the points it owns at each scrape."""
        REPLICA.labels(replica_id).set(1)
        POINTS_OWNED.set_function(owned)

    def decision(self, point_id: UUID, decision: BotDecision, seconds: float) -> None:
        point = str(point_id)
        BOT_ANSWERS.labels(point, decision.engine).inc()
        DECISION_SECONDS.labels(decision.engine).observe(seconds)
        if decision.handoff_reason:
            HANDOFFS.labels(point).inc()
        if decision.fallback_reason:
            FALLBACKS.labels(decision.fallback_reason).inc()
        for call in decision.tool_calls:
            # a name the model made up is not a label: one series per invented name would grow without bound
            tool = UNKNOWN_TOOL if call.outcome == "unknown_tool" else call.tool
            TOOL_CALLS.labels(tool, call.outcome).inc()

    def delivery(self, point_id: UUID, outcome: str) -> None:
        OUTBOUND.labels(str(point_id), outcome).inc()

    def media_download(self, point_id: UUID, outcome: str) -> None:
        """`outcome`: ready, retry, waiting (the point's socket was down: not an attempt) or failed."""
        MEDIA_DOWNLOADS.labels(str(point_id), outcome).inc()

    def media_expired(self, expired: int, files_deleted: int) -> None:
        MEDIA_EXPIRED.inc(expired)
        MEDIA_FILES_DELETED.inc(files_deleted)


class MetricsController(Controller):
    """Outside the user tokens (`auth.jwt.PUBLIC_PATHS`): scrapers send the METRICS_TOKEN instead, when it is set."""

    tags = ["operations"]

    @get("/metrics", summary="Prometheus metrics", guards=[requires_metrics_token], include_in_schema=False)
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
