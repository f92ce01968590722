"""The Cloud API's endpoints: a point's number (admin), its templates (members), and Meta's webhook (public,
authenticated by the signature of each body)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, MediaType, Request, Response, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import PermissionDeniedException
from litestar.params import JSONBody, QueryParameter
from litestar.security.jwt import Token
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.guards import requires_admin, requires_point_member
from ventanilla.db.models import ServicePoint, User
from ventanilla.service_points.dependencies import provide_service_point
from ventanilla.whatsapp.cloud.accounts import CloudAccounts
from ventanilla.whatsapp.cloud.schemas import CloudAccountPut, CloudAccountRead, TemplateRead
from ventanilla.whatsapp.cloud.templates import CloudTemplates
from ventanilla.whatsapp.commands import PointSessions
from ventanilla.whatsapp.controllers import provide_sessions

WEBHOOK_PATH = "/webhooks/whatsapp-cloud"
WEBHOOK_BODY_LIMIT = 3 * 1024 * 1024  # Meta batches up to 1,000 updates; far below this


async def provide_accounts(state: State, db_session: NamedDependency[AsyncSession]) -> CloudAccounts:
    return CloudAccounts(db_session, state.secret_box)


async def provide_templates(state: State, db_session: NamedDependency[AsyncSession]) -> CloudTemplates:
    return CloudTemplates(db_session, state.cloud)


class CloudAccountController(Controller):
    path = "/api/service-points/{sp_id:uuid}/whatsapp/cloud"
    tags = ["whatsapp cloud api"]
    dependencies = {
        "service_point": Provide(provide_service_point),
        "accounts": Provide(provide_accounts),
        "templates": Provide(provide_templates),
        "sessions": Provide(provide_sessions),
    }

    @get("/", guards=[requires_admin], summary="The point's Cloud API number, without its secrets (admin)")
    async def get_account(
        self, service_point: NamedDependency[ServicePoint], accounts: NamedDependency[CloudAccounts]
    ) -> CloudAccountRead:
        return CloudAccountRead.of(await accounts.get(service_point.id), WEBHOOK_PATH)

    @put(
        "/",
        guards=[requires_admin],
        summary="Use the official Cloud API for this point, with this number (admin)",
        description="Stores the number with its secrets sealed (never returned; left out later, they are kept), makes "
        "the point a `cloud` point and restarts its connection. Meta's app must send its webhook to "
        f"`{WEBHOOK_PATH}` with the same verify token.",
    )
    async def put_account(
        self,
        data: JSONBody[CloudAccountPut],
        service_point: NamedDependency[ServicePoint],
        accounts: NamedDependency[CloudAccounts],
        sessions: NamedDependency[PointSessions],
    ) -> CloudAccountRead:
        account = await accounts.put(service_point, data)
        read = CloudAccountRead.of(account, WEBHOOK_PATH)
        await accounts.session.commit()  # the socket reads the new number when it connects
        await sessions.restart(service_point.id)
        return read

    @get(
        "/templates",
        guards=[requires_point_member],
        summary="The number's message templates, as Meta has them",
        description="Approved ones may be sent outside the 24-hour window (`POST .../conversations/{cId}/templates`).",
        opt={"scope": "messages:send"},
    )
    async def list_templates(
        self, service_point: NamedDependency[ServicePoint], templates: NamedDependency[CloudTemplates]
    ) -> list[TemplateRead]:
        return [
            TemplateRead(
                name=t.name,
                language=t.language,
                status=t.status,
                category=t.category,
                body=t.body,
                parameter_count=t.parameter_count,
            )
            for t in await templates.list(service_point.id)
        ]


class CloudWebhookController(Controller):
    """Public: Meta calls it. GET proves the endpoint is ours (verify token); POST bodies are signed by the app."""

    path = WEBHOOK_PATH
    tags = ["whatsapp cloud api"]
    dependencies = {"accounts": Provide(provide_accounts)}

    @get(
        "/",
        summary="Meta's subscription check: answers hub.challenge when hub.verify_token is a point's",
    )
    async def verify(
        self,
        accounts: NamedDependency[CloudAccounts],
        mode: Annotated[str | None, QueryParameter(name="hub.mode", max_length=1024)] = None,
        verify_token: Annotated[str | None, QueryParameter(name="hub.verify_token", max_length=1024)] = None,
        challenge: Annotated[str | None, QueryParameter(name="hub.challenge", max_length=1024)] = None,
    ) -> Response[str]:
        if mode != "subscribe" or not verify_token or challenge is None:
            raise PermissionDeniedException("expected hub.mode=subscribe with hub.verify_token and hub.challenge")
        if not await accounts.knows_verify_token(verify_token):
            raise PermissionDeniedException("hub.verify_token is not the verify token of any point")
        return Response(challenge, media_type=MediaType.TEXT)  # the challenge, as is: Meta compares it

    @post(
        "/",
        summary="Messages and statuses from Meta, signed with the app secret (X-Hub-Signature-256)",
        status_code=200,
        request_max_body_size=WEBHOOK_BODY_LIMIT,
    )
    async def receive(
        self, request: Request[User, Token, State], db_session: NamedDependency[AsyncSession]
    ) -> Response[dict[str, int]]:
        """200 once every message is stored (Meta retries anything else); 401 for a bad signature, 400 for a body
        that is not Meta's."""
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256")
        handed = await request.app.state.cloud_webhook.receive(db_session, body, signature)
        return Response({"received": handed})
