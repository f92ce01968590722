"""Users and memberships: the queries behind login, user administration and point membership."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from advanced_alchemy.exceptions import DuplicateKeyError, NotFoundError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.service import SQLAlchemyAsyncRepositoryService
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from ventanilla.auth.passwords import hash_password, verify_password
from ventanilla.db.models import MemberRole, Membership, User


class UserRepository(SQLAlchemyAsyncRepository[User]):
    model_type = User


class UserService(SQLAlchemyAsyncRepositoryService[User, UserRepository]):
    """Accounts. Emails are stored lower-case; passwords only as argon2 hashes."""

    repository_type = UserRepository

    async def get_active(self, user_id: UUID) -> User | None:
        """The user behind a token, memberships loaded, so guards need no further query. One round trip (a join):
        this runs before every authenticated request."""
        found = await self.repository.session.execute(
            select(User).where(User.id == user_id).options(joinedload(User.memberships))
        )
        return found.unique().scalar_one_or_none()

    async def authenticate(self, email: str, password: str) -> User | None:
        user = await self.repository.session.scalar(
            select(User).where(User.email == email.strip().lower()).options(selectinload(User.memberships))
        )
        ok = await verify_password(user.password_hash if user else None, password)
        return user if ok else None

    async def create_user(self, *, email: str, password: str, name: str, is_admin: bool = False) -> User:
        email = email.strip().lower()
        if await self.repository.session.scalar(select(User.id).where(User.email == email)) is not None:
            raise DuplicateKeyError(detail=f"a user with email {email} already exists")
        user = User(email=email, name=name.strip(), password_hash=await hash_password(password), is_admin=is_admin)
        user.memberships = []
        return await self.repository.add(user)

    async def ensure_admin(self, *, email: str, password: str, name: str | None = None) -> tuple[User, bool]:
        """Create the admin, or make an existing user admin with this password. Returns (user, created)."""
        email = email.strip().lower()
        user = await self.repository.session.scalar(select(User).where(User.email == email))
        if user is None:
            return await self.create_user(email=email, password=password, name=name or email, is_admin=True), True
        if not await verify_password(user.password_hash, password):
            user.password_hash = await hash_password(password)
            user.token_version += 1  # a reset password also ends the sessions opened with the old one
        user.is_admin = True
        if name:
            user.name = name
        await self.repository.session.flush()
        return user, False

    async def revoke_tokens(self, user_id: UUID) -> None:
        """Every token issued to the user so far stops working: all their sessions end, on every device."""
        await self.repository.session.execute(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
        )

    async def list_users(self) -> Sequence[User]:
        return (
            await self.repository.session.scalars(
                select(User).options(selectinload(User.memberships)).order_by(User.email)
            )
        ).all()


class MembershipService:
    """Who belongs to which point. Owns its queries; commits are the caller's (request or CLI)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, service_point_id: UUID, user_id: UUID, role: MemberRole) -> Membership:
        """Add the user to the point, or change their role there."""
        if await self.session.get(User, user_id) is None:
            raise NotFoundError(detail=f"userId: no user {user_id}")
        statement = (
            insert(Membership)
            .values(user_id=user_id, service_point_id=service_point_id, role=role)
            .on_conflict_do_update(index_elements=["user_id", "service_point_id"], set_={"role": role})
            .returning(Membership)
        )
        membership = (await self.session.scalars(statement, execution_options={"populate_existing": True})).one()
        await self.session.refresh(membership, ["user"])
        return membership

    async def remove(self, service_point_id: UUID, user_id: UUID) -> None:
        result = await self.session.execute(
            delete(Membership).where(Membership.service_point_id == service_point_id, Membership.user_id == user_id)
        )
        if result.rowcount == 0:
            raise NotFoundError(detail=f"user {user_id} is not a member of this service point")

    async def list_members(self, service_point_id: UUID) -> Sequence[Membership]:
        return (
            await self.session.scalars(
                select(Membership)
                .where(Membership.service_point_id == service_point_id)
                .options(selectinload(Membership.user))
                .join(User)
                .order_by(User.name)
            )
        ).all()
