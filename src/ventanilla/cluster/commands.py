"""Commands for a point's owner: any replica may be asked to connect a point, show its pairing code or deliver a
simulated phone's message, but only the replica holding the point's lease has its socket.

`run()` carries a command out here when the point is ours, claims the point first when nobody owns it, and
otherwise writes it to `point_command` for the owner and signals it (NOTIFY); the owner runs it once (the row is
taken with `started_at IS NULL`), writes the outcome and signals back. Notifications can be missed (a LISTEN
connection that was away), so the owner also looks for waiting rows when it reconnects and at every poll, and the
asker reads the row itself now and then. The outcome is the handler's JSON value, or the name and message of the
error it raised, raised again on the asking side as the same class when it is a known one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import msgspec
from sqlalchemy import text

from ventanilla.cluster.leases import PointLeases
from ventanilla.db.errors import describe, is_unavailable
from ventanilla.db.session import SessionFactory

logger = logging.getLogger(__name__)
COMMAND_CHANNEL = "ventanilla_command"  # payload "<owner replica>:<command id>"
DONE_CHANNEL = "ventanilla_command_done"  # payload "<command id>"


class NoOwnerError(Exception):
    """Nobody holds the point and this replica could not take it (it is stopping, or lost the race), or its owner
    did not answer in time: try again in a moment."""


class Hub(Protocol):
    def listen(self, channel: str, callback: Callable[[str], None]) -> None: ...

    def on_reconnect(self, callback: Callable[[], None]) -> None: ...

    async def notify_now(self, channel: str, payload: str) -> None: ...


@dataclass(frozen=True)
class CommandPolicy:
    answer_seconds: float = 15.0  # how long an asker waits for the owner
    check_seconds: float = 1.0  # how often the asker reads its row, and the owner looks for missed commands


_OWNER = text("SELECT replica_id FROM point_lease WHERE service_point_id = :point AND expires_at > now()")
_ASK = text(
    "INSERT INTO point_command (service_point_id, replica_id, body) VALUES (:point, :owner, CAST(:body AS jsonb)) "
    "RETURNING id"
)
_ANSWER = text("SELECT result FROM point_command WHERE id = :id AND done_at IS NOT NULL")
# Taken once, and only while its asker may still be waiting: a replica that comes back after a crash does not
# replay what nobody waits for any more (an asker that gave up sends again, to whoever owns the point then).
_TAKE = text(
    "UPDATE point_command SET started_at = now() WHERE id = :id AND replica_id = :me AND started_at IS NULL "
    "AND created_at > now() - make_interval(secs => :fresh) RETURNING service_point_id, body"
)
_DONE = text("UPDATE point_command SET done_at = now(), result = CAST(:result AS jsonb) WHERE id = :id")
_WAITING = text(
    "SELECT id FROM point_command WHERE replica_id = :me AND started_at IS NULL "
    "AND created_at > now() - make_interval(secs => :fresh) ORDER BY id LIMIT 100"
)


class PointCommands:
    def __init__(
        self,
        sessions: SessionFactory,
        leases: PointLeases,
        hub: Hub | None,
        command_type: Any,
        handle: Callable[[UUID, Any], Awaitable[Any]],
        errors: tuple[type[Exception], ...],
        policy: CommandPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.leases = leases
        self.hub = hub
        self.handle = handle  # runs a command on a point of ours
        self.policy = policy or CommandPolicy()
        self._errors = {error.__name__: error for error in errors}  # raised again by name on the asking side
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(command_type)
        self._answers: dict[int, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        if hub is not None:
            hub.listen(COMMAND_CHANNEL, self._heard_command)
            hub.listen(DONE_CHANNEL, self._heard_answer)
            hub.on_reconnect(lambda: self._spawn(self._run_waiting()))

    def start(self) -> None:
        if self.hub is not None:
            self._poller = asyncio.create_task(self._poll(), name="point-commands")

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._poller] if self._poller else [])]:
            task.cancel()

    # --- asking --------------------------------------------------------------------------------------------

    async def run(
        self, point_id: UUID, command: Any, before_waiting: Callable[[], Awaitable[None]] | None = None
    ) -> Any:
        """Carry `command` out on the point's owner; its result, or the error it raised. `before_waiting` runs
        before we wait for another replica: a request ends its transaction there, so that no replica holds
        connections while it waits (two replicas waiting on each other with full pools would stall both)."""
        for _ in range(2):  # the owner may change between our look and its answer: look once more
            if self.leases.holds(point_id):
                return await self.handle(point_id, command)
            owner = await self._owner(point_id)
            if owner is None or owner == self.leases.replica_id:
                if await self.leases.claim(point_id):
                    return await self.handle(point_id, command)
                owner = await self._owner(point_id)
            if owner is None or owner == self.leases.replica_id or self.hub is None:
                continue
            if before_waiting is not None:
                await before_waiting()
            answer = await self._ask(owner, point_id, command)
            if answer.get("error") == "NotOwner":
                continue
            return self._unpack(answer)
        raise NoOwnerError("ningún servidor atiende este punto en este momento; intenta de nuevo")

    async def _owner(self, point_id: UUID) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(_OWNER, {"point": point_id})

    async def _ask(self, owner: str, point_id: UUID, command: Any) -> dict[str, Any]:
        assert self.hub is not None
        body = self._encoder.encode(command).decode()
        async with self.sessions() as session, session.begin():
            command_id = await session.scalar(_ASK, {"point": point_id, "owner": owner, "body": body})
        answered = self._answers[command_id] = asyncio.get_running_loop().create_future()
        try:
            await self.hub.notify_now(COMMAND_CHANNEL, f"{owner}:{command_id}")
            async with asyncio.timeout(self.policy.answer_seconds):
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(answered), self.policy.check_seconds)
                    async with self.sessions() as session:
                        result = await session.scalar(_ANSWER, {"id": command_id})
                    if result is not None:
                        return dict(result)
        except TimeoutError:
            raise NoOwnerError("el servidor que atiende este punto no respondió; intenta de nuevo") from None
        finally:
            self._answers.pop(command_id, None)

    def _unpack(self, answer: dict[str, Any]) -> Any:
        if "error" not in answer:
            return answer.get("value")
        error = self._errors.get(answer["error"])
        if error is None:
            raise RuntimeError(f"the point's owner failed: {answer['error']}")
        raise error(answer.get("message", ""))

    def _heard_answer(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            future = self._answers.get(int(payload))
            if future is not None and not future.done():
                future.set_result(None)

    # --- answering -----------------------------------------------------------------------------------------

    def _heard_command(self, payload: str) -> None:
        owner, _, command_id = payload.rpartition(":")
        if owner == self.leases.replica_id and command_id.isdigit():
            self._spawn(self._execute(int(command_id)))

    async def _execute(self, command_id: int) -> None:
        async with self.sessions() as session, session.begin():
            taking = {"id": command_id, "me": self.leases.replica_id, "fresh": self.policy.answer_seconds}
            row = (await session.execute(_TAKE, taking)).one_or_none()
        if row is None:
            return  # taken already (a notification and a poll both saw it)
        answer: dict[str, Any]
        if not self.leases.holds(row.service_point_id):
            answer = {"error": "NotOwner"}
        else:
            try:
                command = self._decoder.decode(self._encoder.encode(row.body))
                answer = {"value": await self.handle(row.service_point_id, command)}
            except Exception as exc:
                if type(exc).__name__ not in self._errors:
                    logger.exception("command %s for point %s failed", command_id, row.service_point_id)
                answer = {"error": type(exc).__name__, "message": str(exc)}
        async with self.sessions() as session, session.begin():
            await session.execute(_DONE, {"id": command_id, "result": self._encoder.encode(answer).decode()})
        if self.hub is not None:
            with contextlib.suppress(Exception):  # the asker reads its row anyway
                await self.hub.notify_now(DONE_CHANNEL, str(command_id))

    async def _run_waiting(self) -> None:
        async with self.sessions() as session:
            mine = {"me": self.leases.replica_id, "fresh": self.policy.answer_seconds}
            waiting = list((await session.scalars(_WAITING, mine)).all())
        for command_id in waiting:
            self._spawn(self._execute(command_id))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.policy.check_seconds)
            try:
                await self._run_waiting()
            except Exception as exc:
                if not is_unavailable(exc):
                    logger.exception("looking for waiting commands failed")
                else:
                    logger.debug("commands wait for the database (%s)", describe(exc))

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if is_unavailable(exc):  # type: ignore[arg-type]
                logger.warning("a command waits for the database (%s)", describe(exc))  # type: ignore[arg-type]
            else:
                logger.error("command task failed", exc_info=exc)
