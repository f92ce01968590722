"""WhatsApp of a service point: status, connect, QR, pairing code, logout, restart; and the status of all points."""

from __future__ import annotations

from typing import Annotated, Literal

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import JSONBody, QueryParameter
from litestar.security.jwt import Token
from litestar.status_codes import HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_point_member
from ventanilla.db.models import ServicePoint, User, WhatsappStatus
from ventanilla.http_errors import ConflictException
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.service_points.services import ServicePointService
from ventanilla.whatsapp import messages, qr
from ventanilla.whatsapp.commands import PointSessions
from ventanilla.whatsapp.manager import AlreadyConnectedError
from ventanilla.whatsapp.schemas import PairCode, PairCodeRequest, PointStatus, QrJson, WhatsappState
from ventanilla.whatsapp.transport import TransportError

QrFormat = Literal["json", "png", "svg"]


async def provide_sessions(state: State, db_session: NamedDependency[AsyncSession]) -> PointSessions:
    return state.sessions.for_request(db_session)


async def _state(point: ServicePoint, sessions: PointSessions) -> WhatsappState:
    return WhatsappState(
        status=point.whatsapp_status,
        phone_number=point.phone_number,
        last_qr_at=point.last_qr_at,
        qr_available=await sessions.pending_qr(point.id) is not None,
        last_error=point.last_error,
    )


class WhatsappController(Controller):
    path = "/api/service-points/{sp_id:uuid}/whatsapp"
    tags = ["whatsapp"]
    guards = [requires_point_member]
    dependencies = {"service_point": Provide(provide_service_point), "sessions": Provide(provide_sessions)}

    @get("/", summary="WhatsApp status of the point")
    async def status(
        self, service_point: NamedDependency[ServicePoint], sessions: NamedDependency[PointSessions]
    ) -> WhatsappState:
        return await _state(service_point, sessions)

    @post("/connect", status_code=HTTP_202_ACCEPTED, summary="Start the socket; a QR appears if not linked")
    async def connect(
        self, service_point: NamedDependency[ServicePoint], sessions: NamedDependency[PointSessions]
    ) -> None:
        await sessions.connect(service_point.id)

    @get(
        "/qr",
        summary="The pending QR code",
        description="JSON `{qr, dataUrl, expiresAt}`, PNG or SVG, by `?format=json|png|svg` or the Accept header. "
        "404 when no code is pending, 409 when the point is connected.",
        media_type="application/json",
    )
    async def qr_code(
        self,
        request: Request[User, Token, State],
        service_point: NamedDependency[ServicePoint],
        sessions: NamedDependency[PointSessions],
        qr_format: Annotated[QrFormat | None, QueryParameter(name="format")] = None,
    ) -> Response[bytes | str | QrJson]:
        _ensure_web(service_point)
        if service_point.whatsapp_status is WhatsappStatus.CONNECTED:
            raise ConflictException("the point is connected; there is no QR code to scan")
        pending = await sessions.pending_qr(service_point.id)
        if pending is None:
            raise NotFoundException("no QR code is pending; POST .../whatsapp/connect to get one")
        chosen = qr_format or _format_from_accept(request.headers.get("accept", ""))
        if chosen == "png":
            return Response(qr.png(pending.code), media_type="image/png", headers={"Cache-Control": "no-store"})
        if chosen == "svg":
            return Response(qr.svg(pending.code), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})
        body = QrJson(qr=pending.code, data_url=qr.data_url(pending.code), expires_at=pending.expires_at)
        return Response(body, headers={"Cache-Control": "no-store"})

    @post("/pair-code", summary="Link by phone number: a code to type on the phone instead of scanning")
    async def pair_code(
        self,
        data: JSONBody[PairCodeRequest],
        service_point: NamedDependency[ServicePoint],
        sessions: NamedDependency[PointSessions],
    ) -> PairCode:
        _ensure_web(service_point)
        try:
            return PairCode(code=await sessions.pairing_code(service_point.id, data.phone_number))
        except AlreadyConnectedError:
            raise ConflictException("the point is already linked and connected") from None
        except TransportError as exc:
            raise ServiceUnavailableException(f"WhatsApp could not issue a pairing code: {exc}") from None

    @post("/logout", status_code=HTTP_202_ACCEPTED, summary="Unlink the point and delete its credentials")
    async def logout(
        self, service_point: NamedDependency[ServicePoint], sessions: NamedDependency[PointSessions]
    ) -> None:
        await sessions.logout(service_point.id)

    @post("/restart", status_code=HTTP_202_ACCEPTED, summary="Close and reopen the point's socket")
    async def restart(
        self, service_point: NamedDependency[ServicePoint], sessions: NamedDependency[PointSessions]
    ) -> None:
        await sessions.restart(service_point.id)


def _ensure_web(point: ServicePoint) -> None:
    """QR codes and pairing codes link WhatsApp Web; a Cloud API number is set up at Meta instead."""
    if point.transport == "cloud":
        raise ConflictException(messages.CLOUD_NO_PAIRING)


def _format_from_accept(accept: str) -> QrFormat:
    for media_type in (part.split(";")[0].strip() for part in accept.split(",")):
        if media_type == "image/png":
            return "png"
        if media_type == "image/svg+xml":
            return "svg"
        if media_type in ("application/json", "*/*"):
            return "json"
    return "json"


class WhatsappStatusController(Controller):
    path = "/api/whatsapp/status"
    tags = ["whatsapp"]
    dependencies = {"service_points": Provide(create_service_provider(ServicePointService))}

    @get("/", summary="WhatsApp status of every point the caller may see")
    async def all_statuses(
        self, request: Request[User, Token, State], service_points: NamedDependency[ServicePointService]
    ) -> list[PointStatus]:
        points = await service_points.list_visible(request.user)
        return [PointStatus(p.id, p.name, p.whatsapp_status, p.last_qr_at) for p in points]
