"""CSV files as a Spanish-locale spreadsheet saves them: Windows-1252, `;`, Spanish headers and statuses, dd/mm/yyyy,
and empty cells that never erase what is stored."""

from __future__ import annotations

from datetime import date

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from tests.shipments.test_csv_import import CSV, import_path, stored
from ventanilla.db.models import Shipment, ShipmentStatus

Client = AsyncTestClient[Litestar]
EXCEL_HEADER = "Número de guía;Estado;Origen;Destino;Fecha estimada;Remitente;Destinatario\r\n"


async def test_excel_csv_in_windows_1252_with_semicolons_and_spanish_words(
    client: Client, world: World, session: AsyncSession
) -> None:
    content = (
        EXCEL_HEADER
        + "QTO-100001;En tránsito;Quito;Cuenca;05/01/2027;Lucía Peñaherrera;José Ñúñez\r\n"
        + "qto100002;ENTREGADO;Ambato;Loja;31/12/26;;\r\n"
        + 'QTO100003;en transito;Quito;"Guayaquil; Centro";2027-02-28;;\r\n'
        + "QTO100004;Disponible para retiro;;;;;\r\n"
        + "QTO100005;in_transit;;;1.3.2027;;\r\n"
    ).encode("cp1252")
    response = await client.post(import_path(world), content=content, headers=world.agent_a.headers | CSV)
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 5, "updated": 0}
    rows = await stored(session)
    first = rows["QTO100001"]
    assert (first.status, first.eta) == (ShipmentStatus.IN_TRANSIT, date(2027, 1, 5))
    assert (first.sender_name, first.recipient_name) == ("Lucía Peñaherrera", "José Ñúñez")
    assert (rows["QTO100002"].status, rows["QTO100002"].eta) == (ShipmentStatus.DELIVERED, date(2026, 12, 31))
    assert rows["QTO100003"].destination == "Guayaquil; Centro"
    assert rows["QTO100003"].eta == date(2027, 2, 28)
    assert rows["QTO100004"].status is ShipmentStatus.AT_SERVICE_POINT
    assert rows["QTO100005"].eta == date(2027, 3, 1)


async def test_empty_cells_keep_stored_fields_and_a_dash_or_vacio_erases(
    client: Client, world: World, session: AsyncSession
) -> None:
    for number in ("QTO100001", "QTO100002"):
        session.add(
            Shipment(
                service_point_id=world.point_a,
                tracking_number=number,
                status=ShipmentStatus.CREATED,
                origin="Quito",
                destination="Cuenca",
                eta=date(2027, 1, 5),
                sender_name="Lucía",
                recipient_name="Jorge",
            )
        )
    await session.commit()
    content = (
        "\ufeffguía,estado,origen,destino,eta,remitente,destinatario\n"
        "QTO100001,Entregado,,,,,\n"  # only the status changes
        "QTO100002,En reparto,-,(Vacío),-,,Ana\n"  # erase origin, destination and eta; a new recipient
        "QTO100003,Registrado,,Loja,,,\n"  # new: the empty cells are simply empty
    )
    response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
    assert response.json() == {"created": 1, "updated": 2}, response.text
    rows = await stored(session)
    kept = rows["QTO100001"]
    assert kept.status is ShipmentStatus.DELIVERED
    assert (kept.origin, kept.destination, kept.eta, kept.sender_name, kept.recipient_name) == (
        "Quito",
        "Cuenca",
        date(2027, 1, 5),
        "Lucía",
        "Jorge",
    )
    erased = rows["QTO100002"]
    assert erased.status is ShipmentStatus.OUT_FOR_DELIVERY
    assert (erased.origin, erased.destination, erased.eta) == (None, None, None)
    assert (erased.sender_name, erased.recipient_name) == ("Lucía", "Ana")
    new = rows["QTO100003"]
    assert (new.destination, new.origin, new.eta) == ("Loja", None, None)


async def test_problems_are_in_spanish_and_name_the_column_as_written(client: Client, world: World) -> None:
    content = (
        EXCEL_HEADER
        + "QTO100001;Perdido;;;;;\r\n"
        + "QTO100002;Entregado;;;32/13/2026;;\r\n"
        + "QTO100003;Entregado;;;mañana;;\r\n"
        + "12;Entregado;;;;;\r\n"
        + "QTO100005;Entregado;;\r\n"
    ).encode("cp1252")
    response = await client.post(import_path(world), content=content, headers=world.agent_a.headers | CSV)
    assert response.status_code == 422
    problems = [(e["row"], e["key"], e.get("column"), e["message"]) for e in response.json()["extra"]]
    assert problems[0][:3] == (2, "status", "Estado") and problems[0][3].startswith("estado desconocido «Perdido»")
    assert problems[1] == (3, "eta", "Fecha estimada", "la fecha «32/13/2026» no existe en el calendario")
    assert problems[2][:3] == (4, "eta", "Fecha estimada") and "día/mes/año" in problems[2][3]
    assert problems[3][:3] == (5, "trackingNumber", "Número de guía") and "no es un número de guía" in problems[3][3]
    assert problems[4] == (6, "row", None, "tiene 4 celdas y el encabezado 7; revisa los separadores")
