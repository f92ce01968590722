"""API keys (admin) under /api/api-keys: created with the key shown once, listed without secrets, revoked."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.security.jwt import Token

from ventanilla.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from ventanilla.api_keys.services import ApiKeyService, UnknownPointsError
from ventanilla.auth.guards import requires_admin
from ventanilla.db.models import User
from ventanilla.http_errors import invalid_field


class ApiKeyController(Controller):
    path = "/api/api-keys"
    tags = ["api keys"]
    guards = [requires_admin]
    dependencies = {"api_keys": Provide(create_service_provider(ApiKeyService))}

    @get("/", summary="Every API key, revoked ones included; never the secret (admin)")
    async def list_keys(self, api_keys: NamedDependency[ApiKeyService]) -> list[ApiKeyRead]:
        return [ApiKeyRead.of(key) for key in await api_keys.list_keys()]

    @post("/", summary="Create an API key; `key` is in this answer only, store it now (admin)")
    async def create_key(
        self,
        request: Request[User, Token, State],
        data: JSONBody[ApiKeyCreate],
        api_keys: NamedDependency[ApiKeyService],
    ) -> ApiKeyCreated:
        try:
            key, secret = await api_keys.create_key(data, request.user.id)
        except UnknownPointsError as exc:
            raise invalid_field("servicePointIds", str(exc)) from None
        return ApiKeyCreated(**{f: getattr(ApiKeyRead.of(key), f) for f in ApiKeyRead.__struct_fields__}, key=secret)

    @delete("/{key_id:uuid}", summary="Revoke an API key: refused from the next request on (admin)")
    async def revoke_key(self, key_id: FromPath[UUID], api_keys: NamedDependency[ApiKeyService]) -> None:
        await api_keys.revoke_key(key_id)
