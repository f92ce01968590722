"""A point's approved message templates, read from Meta when asked (any replica: it needs only the credentials)."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.exceptions import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.whatsapp.cloud.accounts import CloudAccounts
from ventanilla.whatsapp.cloud.graph import Template
from ventanilla.whatsapp.cloud.transport import CloudTransport
from ventanilla.whatsapp.transport import TemplateSend

APPROVED = "APPROVED"


class TemplatesUnavailableError(Exception):
    """The point cannot list templates: not a Cloud API point, or no business account id was entered."""


class TemplateNotUsableError(Exception):
    """The template asked for is not approved for this number, or its parameters do not fit; `field` names what."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CloudTemplates:
    def __init__(self, session: AsyncSession, transport: CloudTransport) -> None:
        self.session = session
        self.transport = transport

    async def list(self, point_id: UUID) -> list[Template]:
        credentials = await CloudAccounts(self.session, self.transport.box).credentials(point_id)
        if credentials is None:
            raise TemplatesUnavailableError("the point has no Cloud API number: templates are a Cloud API feature")
        if credentials.business_account_id is None:
            raise TemplatesUnavailableError(
                "enter the point's businessAccountId (PUT .../whatsapp/cloud) to list its templates"
            )
        await self.session.commit()  # no transaction held while Meta answers
        graph = self.transport.client(credentials)
        return await graph.templates(credentials.business_account_id)

    async def prepare(
        self, point_id: UUID, name: str, language: str, parameters: list[str]
    ) -> tuple[TemplateSend, str]:
        """The template to send and the text the agent sees, once Meta confirms it is approved and the parameters
        fit (TemplateNotUsableError otherwise)."""
        found = next((t for t in await self.list(point_id) if t.name == name and t.language == language), None)
        if found is None:
            raise NotFoundError(detail=f"no template {name} ({language}) for this number")
        if found.status != APPROVED:
            message = f"the template is {found.status}, not {APPROVED}: Meta would refuse it"
            raise TemplateNotUsableError("name", message)
        if len(parameters) != found.parameter_count:
            raise TemplateNotUsableError(
                "parameters", f"the template takes {found.parameter_count} parameters; {len(parameters)} were given"
            )
        return TemplateSend(name, language, tuple(parameters)), found.render(parameters)
