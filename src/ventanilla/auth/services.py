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


class UserRuleError(Exception):
    """A change to an account that would leave the instance without a way in (the last active admin, oneself)."""


class WrongPasswordError(Exception):
    """The current password given to change one's own password is not the user's."""


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
        user.is_active = True  # the way back in when every admin account was deactivated
        if name:
            user.name = name
        await self.repository.session.flush()
        return user, False

    async def update_user(
        self,
        actor: User,
        user_id: UUID,
        *,
        name: str | None = None,
        email: str | None = None,
        is_admin: bool | None = None,
        is_active: bool | None = None,
    ) -> User:
        """Edit an account. Deactivating it ends its sessions (its tokens stop working). Refused with
        `UserRuleError`: deactivating oneself, or leaving no active administrator."""
        user = await self.get_with_memberships(user_id)
        if is_active is False and user.id == actor.id:
            raise UserRuleError("you cannot deactivate your own account")
        if email is not None:
            email = email.strip().lower()
            taken = await self.repository.session.scalar(select(User.id).where(User.email == email, User.id != user.id))
            if taken is not None:
                raise DuplicateKeyError(detail=f"email: a user with email {email} already exists")
            user.email = email
        if name is not None:
            user.name = name.strip()
        stays_admin = (user.is_admin if is_admin is None else is_admin) and (
            user.is_active if is_active is None else is_active
        )
        if user.is_admin and user.is_active and not stays_admin and not await self._other_active_admin(user.id):
            raise UserRuleError("the last active administrator must stay an active administrator")
        if is_admin is not None:
            user.is_admin = is_admin
        if is_active is not None and is_active != user.is_active:
            user.is_active = is_active
            user.token_version += 1  # deactivated: every session ends now; reactivated: old tokens stay dead
        await self.repository.session.flush()
        return user

    async def set_password(self, user_id: UUID, password: str) -> User:
        """An administrator's reset: the new password, and every session opened with the old one ends."""
        user = await self.get_with_memberships(user_id)
        user.password_hash = await hash_password(password)
        user.token_version += 1
        await self.repository.session.flush()
        return user

    async def change_own_password(self, user_id: UUID, current: str, new: str) -> User:
        """The user's own change, proven by the current password (`WrongPasswordError` otherwise). Other sessions
        end; the caller gets a fresh token."""
        user = await self.get_with_memberships(user_id)
        if not await verify_password(user.password_hash, current):
            raise WrongPasswordError("wrong current password")
        return await self.set_password(user_id, new)

    async def get_with_memberships(self, user_id: UUID) -> User:
        user = await self.repository.session.scalar(
            select(User).where(User.id == user_id).options(selectinload(User.memberships))
        )
        if user is None:
            raise NotFoundError(detail="user not found")
        return user

    async def _other_active_admin(self, user_id: UUID) -> bool:
        statement = select(User.id).where(User.is_admin, User.is_active, User.id != user_id).limit(1)
        return await self.repository.session.scalar(statement) is not None

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
