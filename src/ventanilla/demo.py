"""`ventanilla demo-data`: two branches with staff, shipments in every status and FAQs, loaded idempotently.

Rows are matched on their natural keys (point name, email, tracking number, FAQ question) and only missing ones
are inserted, so a second run changes nothing and edits made since the first run are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ventanilla.auth.passwords import hash_password
from ventanilla.db.models import Faq, MemberRole, Membership, ServicePoint, Shipment, ShipmentStatus, User

DEMO_PASSWORD = "ventanilla-demo"
DEMO_ADMIN_EMAIL = "admin@demo.ventanilla.ec"

POINTS = {"Quito Norte": "+593223456780", "Guayaquil Centro": "+593423456780"}
STAFF = [
    ("supervisor.quito@demo.ventanilla.ec", "Sofía Andrade", "Quito Norte", MemberRole.SUPERVISOR),
    ("agente.quito@demo.ventanilla.ec", "Mateo Cevallos", "Quito Norte", MemberRole.AGENT),
    ("supervisor.guayaquil@demo.ventanilla.ec", "Valeria Mendoza", "Guayaquil Centro", MemberRole.SUPERVISOR),
    ("agente.guayaquil@demo.ventanilla.ec", "Andrés Villacís", "Guayaquil Centro", MemberRole.AGENT),
]
S = ShipmentStatus
# (tracking number, point, status, origin, destination, days until ETA or None, sender, recipient)
SHIPMENTS = [
    ("QTO100001", "Quito Norte", S.CREATED, "Quito", "Cuenca", 4, "Lucía Paredes", "Jorge Salinas"),
    ("QTO100002", "Quito Norte", S.IN_TRANSIT, "Quito", "Guayaquil", 2, "Diego Ortiz", "Camila Ruiz"),
    ("QTO100003", "Quito Norte", S.IN_TRANSIT, "Ambato", "Quito", 1, "Paola Vera", "Santiago León"),
    ("QTO100004", "Quito Norte", S.AT_SERVICE_POINT, "Guayaquil", "Quito", None, "Rosa Mora", "Luis Jaramillo"),
    ("QTO100005", "Quito Norte", S.OUT_FOR_DELIVERY, "Loja", "Quito", 0, "Ana Castro", "Pedro Toapanta"),
    ("QTO100006", "Quito Norte", S.DELIVERED, "Quito", "Ibarra", None, "Carlos Mena", "Elena Pozo"),
    ("QTO100007", "Quito Norte", S.RETURNED, "Quito", "Manta", None, "Gabriela Ríos", "Fernando Vaca"),
    ("QTO100008", "Quito Norte", S.EXCEPTION, "Cuenca", "Quito", None, "Julio Arias", "María Benítez"),
    ("QTO100009", "Quito Norte", S.DELIVERED, "Riobamba", "Quito", None, "Teresa Gómez", "Raúl Chávez"),
    ("QTO100010", "Quito Norte", S.AT_SERVICE_POINT, "Esmeraldas", "Quito", None, "Irene Silva", "Óscar Luna"),
    ("GYE200001", "Guayaquil Centro", S.CREATED, "Guayaquil", "Quito", 5, "Marco Zambrano", "Nora Aguirre"),
    ("GYE200002", "Guayaquil Centro", S.IN_TRANSIT, "Guayaquil", "Loja", 3, "Silvia Cedeño", "Hugo Bravo"),
    ("GYE200003", "Guayaquil Centro", S.AT_SERVICE_POINT, "Quito", "Guayaquil", None, "Patricio Lara", "Inés Ochoa"),
    ("GYE200004", "Guayaquil Centro", S.OUT_FOR_DELIVERY, "Machala", "Guayaquil", 0, "Ramiro Solís", "Alba Cruz"),
    ("GYE200005", "Guayaquil Centro", S.DELIVERED, "Guayaquil", "Cuenca", None, "Daniela Peña", "Tomás Ibarra"),
    ("GYE200006", "Guayaquil Centro", S.RETURNED, "Guayaquil", "Portoviejo", None, "Eva Franco", "Ángel Reyes"),
    ("GYE200007", "Guayaquil Centro", S.EXCEPTION, "Quevedo", "Guayaquil", None, "Rubén Mejía", "Clara Vélez"),
    ("GYE200008", "Guayaquil Centro", S.IN_TRANSIT, "Manta", "Guayaquil", 2, "Lorena Ayala", "Iván Correa"),
    ("GYE200009", "Guayaquil Centro", S.OUT_FOR_DELIVERY, "Guayaquil", "Durán", 0, "Sara Molina", "Pablo Núñez"),
    ("GYE200010", "Guayaquil Centro", S.CREATED, "Guayaquil", "Santa Elena", 6, "Mónica Cruz", "Javier Rosales"),
]
# (point or None for every branch, question, answer, keywords)
FAQS = [
    (
        None,
        "¿Qué necesito para retirar un paquete?",
        (
            "Presenta tu cédula o pasaporte y el número de guía. Si retira otra persona, necesita una autorización "
            "firmada y una copia de tu cédula."
        ),
        ["retirar", "retiro", "documentos", "cédula", "autorización"],
    ),
    (
        None,
        "¿Cuánto tiempo guardan un paquete en la sucursal?",
        "Guardamos los paquetes 15 días calendario desde que llegan a la sucursal. Después se devuelven al remitente.",
        ["guardan", "bodega", "días", "plazo", "devolución"],
    ),
    (
        None,
        "¿Cuánto cuesta enviar un paquete?",
        (
            "La tarifa depende del peso y del destino: hasta 2 kg dentro de la misma ciudad cuesta USD 3,50 y a otra "
            "provincia USD 5,75. Para más peso, te cotizamos en la sucursal."
        ),
        ["precio", "costo", "tarifa", "cuesta"],
    ),
    (
        None,
        "¿Hacen envíos internacionales?",
        "Por ahora solo enviamos dentro de Ecuador continental.",
        ["internacional", "exterior", "otro país"],
    ),
    (
        None,
        "¿Qué objetos no puedo enviar?",
        "No aceptamos dinero en efectivo, armas, líquidos inflamables, animales vivos ni alimentos perecibles.",
        ["prohibidos", "no puedo enviar", "restricciones"],
    ),
    (
        None,
        "¿Qué significa que mi envío tiene novedad?",
        (
            "Significa que hubo un inconveniente con la entrega (dirección incompleta, destinatario ausente). "
            "Un agente te contactará para resolverlo."
        ),
        ["novedad", "problema", "inconveniente"],
    ),
    (
        "Quito Norte",
        "¿Cuál es el horario de atención?",
        "Quito Norte atiende de lunes a viernes de 08:00 a 18:00 y sábados de 09:00 a 13:00.",
        ["horario", "hora", "abren", "cierran", "atención"],
    ),
    (
        "Quito Norte",
        "¿Dónde queda la sucursal?",
        "Estamos en la Av. de la Prensa N45-12 y Homero Salas, junto al parque La Concepción.",
        ["dirección", "ubicación", "dónde", "queda"],
    ),
    (
        "Guayaquil Centro",
        "¿Cuál es el horario de atención?",
        "Guayaquil Centro atiende de lunes a sábado de 08:30 a 19:00.",
        ["horario", "hora", "abren", "cierran", "atención"],
    ),
    (
        "Guayaquil Centro",
        "¿Dónde queda la sucursal?",
        "Estamos en la Av. 9 de Octubre 1215 y Avilés, frente al Banco del Pacífico.",
        ["dirección", "ubicación", "dónde", "queda"],
    ),
]


@dataclass(frozen=True)
class DemoSummary:
    points: int
    users: int
    shipments: int
    faqs: int


async def load_demo_data(session: AsyncSession) -> DemoSummary:
    """Insert what is missing; the caller commits."""
    points, created_points = await _points(session)
    users = await _users(session, points)
    shipments = await _shipments(session, points)
    faqs = await _faqs(session, points)
    return DemoSummary(points=created_points, users=users, shipments=shipments, faqs=faqs)


async def _points(session: AsyncSession) -> tuple[dict[str, UUID], int]:
    ids: dict[str, UUID] = {}
    created = 0
    for name, phone in POINTS.items():
        point = await session.scalar(select(ServicePoint).where(func.lower(ServicePoint.name) == name.lower()))
        if point is None:
            point = ServicePoint(name=name, phone_number=phone)
            session.add(point)
            await session.flush()
            created += 1
        ids[name] = point.id
    return ids, created


async def _users(session: AsyncSession, points: dict[str, UUID]) -> int:
    created = 0
    password_hash = await hash_password(DEMO_PASSWORD)
    people = [(DEMO_ADMIN_EMAIL, "Administración Demo", None, None), *STAFF]
    for email, name, point_name, role in people:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, name=name, password_hash=password_hash, is_admin=point_name is None)
            session.add(user)
            await session.flush()
            created += 1
        if point_name is not None:
            await session.execute(
                insert(Membership)
                .values(user_id=user.id, service_point_id=points[point_name], role=role)
                .on_conflict_do_nothing()
            )
    return created


async def _shipments(session: AsyncSession, points: dict[str, UUID]) -> int:
    today = date.today()
    now = datetime.now(UTC)
    rows = [
        {
            "tracking_number": number,
            "service_point_id": points[point],
            "status": status,
            "origin": origin,
            "destination": destination,
            "eta": None if days is None else today + timedelta(days=days),
            "last_update": now - timedelta(hours=index * 3),
            "sender_name": sender,
            "recipient_name": recipient,
        }
        for index, (number, point, status, origin, destination, days, sender, recipient) in enumerate(SHIPMENTS)
    ]
    statement = insert(Shipment).values(rows).on_conflict_do_nothing(index_elements=["tracking_number"])
    result = await session.execute(statement.returning(Shipment.id))
    return len(result.all())


async def _faqs(session: AsyncSession, points: dict[str, UUID]) -> int:
    created = 0
    for point_name, question, answer, keywords in FAQS:
        point_id = points[point_name] if point_name else None
        exists = await session.scalar(
            select(Faq.id).where(Faq.question == question, Faq.service_point_id.is_not_distinct_from(point_id))
        )
        if exists is None:
            session.add(Faq(service_point_id=point_id, question=question, answer=answer, keywords=keywords))
            created += 1
    await session.flush()
    return created
