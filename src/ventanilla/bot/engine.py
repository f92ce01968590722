"""`Bot`: the pipeline's single entry point. It picks the engine, falls back, and always returns a decision.

With an API key the OpenAI engine answers; when it cannot (timeout, API error after the SDK's retries) the offline
engine answers the same request with the same toolbox, so the audit keeps every tool call of the turn, and the
decision says why (`fallback_reason`) for the pipeline to count. Logs carry ids and reasons, never message text.

Voice notes are transcribed before either engine answers, so a model that fails after hearing them still lets the
offline engine answer their words; the transcripts travel in the decision for the pipeline to store.
"""

from __future__ import annotations

import logging
import traceback
from uuid import UUID

from ventanilla.bot.alerts import decide_alerts
from ventanilla.bot.attachments import heard
from ventanilla.bot.decision import BotDecision, BotRequest, Engine
from ventanilla.bot.lookups import SessionFactory, ShipmentLookup
from ventanilla.bot.ocr import PhotoReader
from ventanilla.bot.offline import decide_offline
from ventanilla.bot.orchestrator import ModelUnavailable, OpenAIEngine
from ventanilla.bot.replies import cap, handoff
from ventanilla.bot.tools import Toolbox
from ventanilla.config import Settings
from ventanilla.text import storable

log = logging.getLogger(__name__)

REASON_INTERNAL_ERROR = "El bot falló al procesar el mensaje."
FALLBACK_DAILY_CAP = "daily_cap"  # the point spent its model calls for today


class Bot:
    """Decides the answer to one inbound message; never writes to the database and never raises for model or
    tool trouble.

    `session_factory` opens a short session (e.g. `alchemy_config.get_session` or `async_sessionmaker(engine)`);
    the bot opens one per tool call and never holds it while waiting for the model.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        *,
        timeout: float = 15.0,
        max_retries: int = 2,
        max_parallel: int = 256,
        ocr_concurrency: int | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._shipments = ShipmentLookup(session_factory)
        self._photos = PhotoReader(ocr_concurrency)
        self._model = (
            OpenAIEngine(settings, timeout=timeout, max_retries=max_retries, max_parallel=max_parallel)
            if settings.openai_api_key
            else None
        )

    @property
    def engine(self) -> Engine:
        """The engine that answers when nothing fails."""
        return "offline" if self._model is None else "openai"

    async def close(self) -> None:
        """Releases the model client's connections (call once at shutdown)."""
        if self._model is not None:
            await self._model.close()

    async def decide(self, request: BotRequest) -> BotDecision:
        engine: Engine = self.engine
        toolbox = Toolbox(self._session_factory, request.service_point_id, engine, self._shipments)
        fallback_reason: str | None = None
        if self._model is not None and not request.allow_model:
            engine, fallback_reason = "offline", FALLBACK_DAILY_CAP
            toolbox.engine = engine
        transcripts: dict[UUID, str] = {}
        try:
            if engine == "offline":
                answer = await decide_offline(heard(request, {}), toolbox, self._photos)
            else:
                try:
                    transcripts = await self._model.transcribe(request, toolbox)
                    understood = heard(request, transcripts)
                    answer = await decide_alerts(understood, toolbox) or await self._model.decide(understood, toolbox)
                except ModelUnavailable as exc:
                    engine, fallback_reason = "offline", exc.reason
                    toolbox.engine = engine
                    log.warning(
                        "bot fallback to the offline engine (%s) for message %s", exc.reason, request.message_id
                    )
                    answer = await decide_offline(heard(request, transcripts), toolbox, self._photos)
        except Exception as exc:
            # A bug must not leave the customer in silence. Type and stack only: the error may quote their message.
            stack = "".join(traceback.format_tb(exc.__traceback__))
            log.error("bot failed on message %s: %s\n%s", request.message_id, type(exc).__name__, stack)
            answer = handoff(REASON_INTERNAL_ERROR)
        reply = cap(storable(answer.reply))
        if not reply:  # nothing of the answer could be stored (a model's reply of NUL characters, say)
            answer = handoff(REASON_INTERNAL_ERROR)
            reply = answer.reply
        return BotDecision(
            reply=reply,
            handoff_reason=storable(answer.handoff_reason) if answer.handoff_reason else None,
            engine=engine,
            fallback_reason=fallback_reason,
            tool_calls=tuple(toolbox.records),
            model_calls=toolbox.model_calls,
            transcripts=transcripts,
            alerts=answer.alerts,
        )
