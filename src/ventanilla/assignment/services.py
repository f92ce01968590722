"""Agents' availability: ONLINE is believed only while the page keeps confirming it.

The inbox page repeats ONLINE about every 45 s while it is open and visible; a closed tab or a sleeping laptop
stops confirming, and after `ONLINE_FOR` the agent counts as AWAY without anyone having to say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.assignment.schemas import AvailabilityRead
from ventanilla.db.models import Availability, User

ONLINE_FOR = timedelta(minutes=2)


def availability_of(user: User, now: datetime | None = None) -> AvailabilityRead:
    """The status as the assigner sees it: an unconfirmed ONLINE has lapsed to AWAY (since it lapsed)."""
    now = now or datetime.now(UTC)
    at = user.availability_at
    if user.availability is Availability.ONLINE:
        if at is not None and at > now - ONLINE_FOR:
            return AvailabilityRead(Availability.ONLINE, at)
        return AvailabilityRead(Availability.AWAY, at + ONLINE_FOR if at is not None else None)
    return AvailabilityRead(Availability.AWAY, at)


def is_online(now: datetime) -> ColumnElement[bool]:
    """SQL for "ONLINE and confirmed recently" (the same rule as `availability_of`)."""
    return and_(User.availability == Availability.ONLINE, User.availability_at > now - ONLINE_FOR)


async def set_availability(session: AsyncSession, user: User, status: Availability) -> AvailabilityRead:
    """Set (or, for ONLINE, confirm) the caller's status; one row update, committed by the request."""
    now = datetime.now(UTC)
    await session.execute(
        update(User).where(User.id == user.id).values(availability=status, availability_at=now, updated_at=now)
    )
    return AvailabilityRead(status, now)
