"""The path of one inbound customer message, from the socket to the reply in the outbox.

1. `intake`: stored first (or set aside, or journaled on disk while the database is away), before the socket
   handler returns.
2. A conversation with a person gets no bot turn (agents hear about the message live). A photo or a voice note
   waits for its file: the downloader hands it back (`media_settled`).
3. `lanes`: a conversation with the bot gets a turn in its lane (one at a time, in order; what the customer adds
   meanwhile joins the next turn), in a slot shared fairly across branches.
4. `context`: the turn is counted and what the bot needs is read; `limits` and the point's daily cap decide
   whether the model is asked; the bot decides without holding a database connection.
5. `decisions`: reply, handoff, audit and "handled" land in one transaction; the delivery worker sends the reply.
6. `recovery`: what a crash or an outage left behind is resumed and replayed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from ventanilla.bot import Bot, BotDecision
from ventanilla.bot.replies import HOLD_ON, Answer, handoff
from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.models import ConversationStatus
from ventanilla.db.session import SessionFactory
from ventanilla.metrics import Metrics
from ventanilla.pipeline.context import Asked, Context, ContextPolicy, Prepared
from ventanilla.pipeline.decisions import Decisions
from ventanilla.pipeline.intake import Arrival, Intake, IntakePolicy, Outcome
from ventanilla.pipeline.journal import Journal
from ventanilla.pipeline.lanes import FairSlots, Lanes
from ventanilla.pipeline.limits import CustomerLimiter, Verdict
from ventanilla.pipeline.recovery import Recovery, RecoveryPolicy
from ventanilla.whatsapp.transport import InboundMessage

logger = logging.getLogger(__name__)
# With several replicas: "messages of this point were stored elsewhere" (payload: the point id), for its owner.
ARRIVALS_CHANNEL = "ventanilla_arrivals"
REASON_EXHAUSTED = "El bot no pudo responder estos mensajes después de varios intentos."
REASON_FLOOD = "El cliente envió muchos mensajes seguidos."


@dataclass(frozen=True)
class PipelinePolicy:
    concurrency: int = 1280  # bot turns at once (each waits on the model, not on the database, and costs little)
    reserve: int = 256  # of those, slots one point can never take: always there for the other points
    max_attempts: int = 3  # bot turns per message before a person takes over without the model
    customer_turns: int = 6  # bot turns per conversation within customer_window_seconds ...
    customer_window_seconds: float = 60.0  # ... beyond which the customer waits for a person
    sweep_seconds: float = 30.0  # how often stored-but-unhandled messages are looked for
    stale_seconds: float = 30.0  # how old such a message must be before the sweep takes it again
    replay_seconds: float = 1.0  # how often the journal is tried while it holds messages
    store_retry_seconds: float = 2.0  # how long a message waits for the database before it is journaled
    drain_seconds: float = 10.0  # graceful shutdown: how long bot turns in flight may finish


class InboundPipeline:
    def __init__(
        self,
        sessions: SessionFactory,
        bot: Bot,
        queued: Callable[[], None],
        metrics: Metrics,
        journal_dir: Path,
        policy: PipelinePolicy | None = None,
        daily_model_calls: int | None = None,
        media_dir: Path | None = None,
        owned: Callable[[], Collection[UUID]] | None = None,
    ) -> None:
        self.bot = bot
        self.queued = queued  # tells the delivery worker a reply is waiting
        self.metrics = metrics
        self.policy = policy = policy or PipelinePolicy()
        self.journal = Journal(journal_dir)
        self.intake = Intake(sessions, self.journal, IntakePolicy(retry_seconds=policy.store_retry_seconds))
        self.context = Context(sessions, ContextPolicy(policy.max_attempts, daily_model_calls, media_dir))
        self.decisions = Decisions(sessions)
        self.limiter = CustomerLimiter(policy.customer_turns, policy.customer_window_seconds)
        self.slots = FairSlots(policy.concurrency, policy.reserve)
        self.lanes = Lanes(self._turn)
        self._recovered: set[UUID] = set()  # back through recovery: their next turn is counted
        self._database_failed: set[UUID] = set()  # their last turn failed because the database was away: not counted
        metrics.watch_pipeline(lambda: self.journal.pending, lambda: self.slots.in_use, lambda: len(self.lanes))
        self.recovery = Recovery(
            sessions,
            self.intake,
            self.journal,
            self._resume,
            self._arrived,
            RecoveryPolicy(policy.sweep_seconds, policy.stale_seconds, policy.replay_seconds),
            owned,
        )
        self._resuming: set[asyncio.Task[int]] = set()

    async def start(self) -> None:
        """Replay the journal, resume what a previous run did not answer, then keep doing both."""
        await self.recovery.start()

    async def stop(self) -> None:
        """Stop answering (messages are still stored, or journaled); let turns in flight finish within the bound."""
        self.intake.stopping = True
        self.recovery.stop()
        await self.lanes.drain(self.policy.drain_seconds)

    def resume_point(self, point_id: UUID) -> None:
        """Answer at once what is stored but unanswered for a point of ours: one this replica has just taken over,
        or one whose messages another replica stored (the Cloud API's webhook reaches any replica)."""
        task = asyncio.create_task(self.recovery.resume(None, [point_id]), name=f"resume-{point_id}")
        self._resuming.add(task)
        task.add_done_callback(self._resumed)

    def _resumed(self, task: asyncio.Task[int]) -> None:
        self._resuming.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            logger.warning("resuming a point taken over failed (%s); the sweep takes it", type(error).__name__)

    async def receive(self, service_point_id: UUID, message: InboundMessage, *, answer: bool = True) -> Arrival:
        """Store the message (or keep it safe); hand it to the bot when its conversation is the bot's, unless
        `answer` is False (another replica owns the point and answers it: `resume_point` there)."""
        arrival = await self.intake.store(service_point_id, message)
        if answer:
            self._arrived(service_point_id, arrival)
        else:
            self.metrics.inbound(service_point_id, arrival.outcome.value)
        return arrival

    def media_settled(self, point_id: UUID, conversation_id: UUID, message_id: UUID) -> None:
        """The downloader is done with a message's file (stored, or given up): the bot may read it now."""
        self.lanes.submit(point_id, conversation_id, message_id)

    def _arrived(self, point_id: UUID, arrival: Arrival) -> None:
        self.metrics.inbound(point_id, arrival.outcome.value)
        stored = arrival.stored
        if (
            arrival.outcome is Outcome.STORED
            and stored
            and stored.conversation_status is ConversationStatus.BOT
            and not stored.awaiting_media  # its turn comes from `media_settled`
        ):
            self.lanes.submit(point_id, stored.conversation_id, stored.message_id)

    def _resume(self, point_id: UUID, conversation_id: UUID, message_id: UUID) -> bool:
        """A message recovery found unanswered: its earlier turn never finished, so this one counts (unless only
        the database was to blame)."""
        queued = self.lanes.submit(point_id, conversation_id, message_id)
        if queued and message_id not in self._database_failed:
            self._recovered.add(message_id)
        return queued

    async def _turn(self, point_id: UUID, conversation_id: UUID, message_ids: tuple[UUID, ...]) -> None:
        counted = self._recovered.intersection(message_ids)
        self._recovered.difference_update(counted)
        try:
            async with self.slots.slot(point_id):
                prepared = await self.context.prepare(Asked(point_id, conversation_id, message_ids, counted))
                if prepared is None:
                    self._database_failed.difference_update(message_ids)
                    return
                started = time.perf_counter()
                decision = await self._decide(prepared)
                thinking = time.perf_counter() - started
                applied = await self.decisions.apply(prepared.request, decision)
        except Exception as exc:
            if not is_unavailable(exc):
                self._database_failed.difference_update(message_ids)
                raise
            self._database_failed.update(message_ids)  # the sweep tries again, and that turn does not count
            logger.warning(
                "conversation %s: turn unfinished, database unavailable (%s)", conversation_id, describe(exc)
            )
            return
        self._database_failed.difference_update(message_ids)
        if applied is not None:
            self.metrics.decision(point_id, decision, thinking)
            self.queued()

    async def _decide(self, prepared: Prepared) -> BotDecision:
        """The bot's decision, unless this turn must not ask the model: too many failed turns, or a flood."""
        request = prepared.request
        if prepared.exhausted:
            self.metrics.limited(request.service_point_id, "exhausted")
            return _without_model(handoff(REASON_EXHAUSTED))
        verdict = self.limiter.verdict(request.conversation_id)
        if verdict is Verdict.HOLD:
            self.metrics.limited(request.service_point_id, "hold")
            return _without_model(Answer(HOLD_ON))
        if verdict is Verdict.HANDOFF:
            self.metrics.limited(request.service_point_id, "flood_handoff")
            return _without_model(handoff(REASON_FLOOD))
        return await self.bot.decide(request)


def _without_model(answer: Answer) -> BotDecision:
    return BotDecision(
        reply=answer.reply, handoff_reason=answer.handoff_reason, engine="offline", fallback_reason=None, tool_calls=()
    )
