"""Who a request authenticated with an API key is: never an admin, a member (AGENT) of the key's points only.

The guards ask every caller the same two questions (`is_admin`, `role_in(point)`), so an `ApiKeyPrincipal` passes
them exactly where a member of its points would, and a point outside the key answers 404 as for members. On top of
that, a key only reaches routes that declare, in their handler `opt`, a scope it holds (see `auth.jwt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from ventanilla.db.models import ApiKey, MemberRole

SCOPE_OPT = "scope"  # a handler's `opt={"scope": "messages:read"}`: what an API key needs to call it
KEY_PREFIX = "vk_"


@dataclass(frozen=True, slots=True)
class ApiKeyPrincipal:
    key_id: UUID
    name: str
    scopes: frozenset[str]
    service_point_ids: frozenset[UUID] | None  # None: every point

    is_admin = False
    # Not a user: what it writes (a reply) carries no user id, and "me" names nobody.
    id = None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyPrincipal:
        points = None if key.service_point_ids is None else frozenset(key.service_point_ids)
        return cls(key_id=key.id, name=key.name, scopes=frozenset(key.scopes), service_point_ids=points)

    def role_in(self, service_point_id: UUID) -> MemberRole | None:
        return MemberRole.AGENT if self.reaches(service_point_id) else None

    def reaches(self, service_point_id: UUID) -> bool:
        return self.service_point_ids is None or service_point_id in self.service_point_ids
