"""The constraints the product's promises rest on hold in PostgreSQL itself, not only in the services."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.db.models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    SenderType,
    ServicePoint,
    Shipment,
    ShipmentStatus,
    User,
)


async def _points(session: AsyncSession) -> tuple[ServicePoint, ServicePoint]:
    a, b = ServicePoint(name="A"), ServicePoint(name="B")
    session.add_all([a, b])
    await session.flush()
    return a, b


async def _fails(session: AsyncSession, *rows: object, constraint: str) -> None:
    session.add_all(rows)
    with pytest.raises(IntegrityError, match=constraint):
        await session.flush()
    await session.rollback()


async def test_one_conversation_per_point_and_customer(session: AsyncSession) -> None:
    a, b = await _points(session)
    session.add_all(
        [
            Conversation(service_point_id=a.id, customer_phone="+593991111111"),
            Conversation(service_point_id=b.id, customer_phone="+593991111111"),  # other point: allowed
        ]
    )
    await session.flush()
    await _fails(
        session,
        Conversation(service_point_id=a.id, customer_phone="+593991111111"),
        constraint="uq_conversation_point_customer",
    )


async def test_provider_message_id_unique_per_point(session: AsyncSession) -> None:
    a, b = await _points(session)
    ca = Conversation(service_point_id=a.id, customer_phone="+593991111111")
    cb = Conversation(service_point_id=b.id, customer_phone="+593991111111")
    session.add_all([ca, cb])
    await session.flush()

    def inbound(conversation: Conversation) -> Message:
        return Message(
            conversation_id=conversation.id,
            service_point_id=conversation.service_point_id,
            direction=Direction.IN,
            sender_type=SenderType.CUSTOMER,
            content="hola",
            provider_message_id="3EB0ABCDEF",
        )

    session.add_all([inbound(ca), inbound(cb)])  # the same id on two points: allowed
    await session.flush()
    await _fails(session, inbound(ca), constraint="uq_message_point_provider_id")


async def test_tracking_number_unique_company_wide_and_upper_case(session: AsyncSession) -> None:
    a, b = await _points(session)
    session.add(Shipment(service_point_id=a.id, tracking_number="ABC123456", status=ShipmentStatus.CREATED))
    await session.flush()
    await _fails(
        session,
        Shipment(service_point_id=b.id, tracking_number="ABC123456", status=ShipmentStatus.DELIVERED),
        constraint="uq_shipment_tracking_number",
    )
    a, _ = await _points(session)
    await _fails(
        session,
        Shipment(service_point_id=a.id, tracking_number="abc999", status=ShipmentStatus.CREATED),
        constraint="ck_shipment_tracking_number_upper",
    )


async def test_email_unique_and_lower_case(session: AsyncSession) -> None:
    session.add(User(email="ana@example.com", name="Ana", password_hash="x"))
    await session.flush()
    await _fails(
        session, User(email="ana@example.com", name="Ana 2", password_hash="x"), constraint="uq_user_account_email"
    )
    await _fails(
        session,
        User(email="Ana@Example.com", name="Ana 3", password_hash="x"),
        constraint="ck_user_account_email_lower",
    )


async def test_point_names_unique_ignoring_case(session: AsyncSession) -> None:
    session.add(ServicePoint(name="Quito Norte"))
    await session.flush()
    await _fails(session, ServicePoint(name="QUITO NORTE"), constraint="uq_service_point_name_lower")


async def test_phone_numbers_are_e164(session: AsyncSession) -> None:
    await _fails(
        session, ServicePoint(name="X", phone_number="0991234567"), constraint="ck_service_point_phone_number_e164"
    )
    a, _ = await _points(session)
    await _fails(
        session,
        Conversation(service_point_id=a.id, customer_phone="593-99"),
        constraint="ck_conversation_customer_phone_e164",
    )


async def test_delivery_status_only_on_outbound(session: AsyncSession) -> None:
    a, _ = await _points(session)
    conversation = Conversation(service_point_id=a.id, customer_phone="+593991111111")
    session.add(conversation)
    await session.flush()
    await _fails(
        session,
        Message(
            conversation_id=conversation.id,
            service_point_id=a.id,
            direction=Direction.OUT,
            sender_type=SenderType.BOT,
            content="hola",
            provider_message_id="out-1",
        ),
        constraint="ck_message_delivery_status_only_outbound",
    )
    a, _ = await _points(session)
    conversation = Conversation(service_point_id=a.id, customer_phone="+593991111111")
    session.add(conversation)
    await session.flush()
    await _fails(
        session,
        Message(
            conversation_id=conversation.id,
            service_point_id=a.id,
            direction=Direction.IN,
            sender_type=SenderType.CUSTOMER,
            content="hola",
            provider_message_id="in-1",
            delivery_status=DeliveryStatus.SENT,
        ),
        constraint="ck_message_delivery_status_only_outbound",
    )
