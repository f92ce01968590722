"""CSV import of shipments: one all-or-nothing upsert with every row's problems reported."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import World
from ventanilla.db.models import Shipment, ShipmentStatus
from ventanilla.shipments.csv_import import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from ventanilla.shipments.services import ShipmentService

Client = AsyncTestClient[Litestar]
CSV = {"Content-Type": "text/csv"}
HEADER = "trackingNumber,status,origin,destination,eta,senderName,recipientName\n"
GOOD = (
    HEADER
    + "abc-100001,CREATED,Quito,Cuenca,2026-12-01,Lucía Paredes,Jorge Salinas\n"
    + 'ABC100002,in_transit,Quito,"Guayaquil, Centro",,Diego Ortiz,Camila Ruiz\n'
    + "ABC100003,DELIVERED,Ambato,Quito,,,\n"
)


def import_path(world: World) -> str:
    return f"/api/service-points/{world.point_a}/shipments/import"


async def stored(session: AsyncSession) -> dict[str, Shipment]:
    session.expire_all()
    return {s.tracking_number: s for s in await session.scalars(select(Shipment))}


async def test_import_then_reimport_updates(client: Client, world: World, session: AsyncSession) -> None:
    first = await client.post(import_path(world), content=GOOD.encode(), headers=world.agent_a.headers | CSV)
    assert first.status_code == 200
    assert first.json() == {"created": 3, "updated": 0}
    rows = await stored(session)
    assert set(rows) == {"ABC100001", "ABC100002", "ABC100003"}
    assert rows["ABC100002"].status is ShipmentStatus.IN_TRANSIT
    assert rows["ABC100002"].destination == "Guayaquil, Centro"
    assert rows["ABC100001"].eta is not None and rows["ABC100001"].eta.isoformat() == "2026-12-01"
    assert rows["ABC100003"].sender_name is None
    assert all(s.service_point_id == world.point_a for s in rows.values())
    before = {n: s.last_update for n, s in rows.items()}

    changed = GOOD.replace("ABC100003,DELIVERED", "ABC100003,RETURNED")
    again = await client.post(import_path(world), content=changed.encode(), headers=world.supervisor_a.headers | CSV)
    assert again.json() == {"created": 0, "updated": 3}
    rows = await stored(session)
    assert len(rows) == 3
    assert rows["ABC100003"].status is ShipmentStatus.RETURNED
    assert rows["ABC100003"].last_update > before["ABC100003"]  # status changed
    assert rows["ABC100001"].last_update == before["ABC100001"]  # same status: untouched


async def test_invalid_file_reports_every_row_and_writes_nothing(
    client: Client, world: World, session: AsyncSession
) -> None:
    session.add(Shipment(service_point_id=world.point_b, tracking_number="BBB100007", status=ShipmentStatus.CREATED))
    await session.commit()
    content = (
        HEADER
        + "ABC100001,CREATED,,,,,\n"  # row 2
        + "ABC100002,LOST,,,,,\n"  # row 3: bad status
        + "ABC100003,CREATED,,,,,\n"  # row 4
        + "ABC100004,CREATED,,,31/02/2026,,\n"  # row 5: no such date
        + "ABC100005,CREATED,,,,,\n"  # row 6
        + "bbb-100007,DELIVERED,,,,,\n"  # row 7: point B's shipment
        + "abc 100001,CREATED,,,,,\n"  # row 8: repeats row 2
    )
    response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
    assert response.status_code == 422
    errors = response.json()["extra"]
    assert [(e["row"], e["key"]) for e in errors] == [
        (3, "status"),
        (5, "eta"),
        (7, "trackingNumber"),
        (8, "trackingNumber"),
    ]
    assert "LOST" in errors[0]["message"] and "«En tránsito»" in errors[0]["message"]
    assert errors[1]["message"] == "la fecha «31/02/2026» no existe en el calendario"
    assert "otra sucursal" in errors[2]["message"]
    assert "fila 2" in errors[3]["message"]
    rows = await stored(session)
    assert list(rows) == ["BBB100007"]
    assert rows["BBB100007"].status is ShipmentStatus.CREATED
    assert rows["BBB100007"].service_point_id == world.point_b


async def test_header_is_required_and_checked(client: Client, world: World) -> None:
    for content, message in (
        ("ABC100001,CREATED\n", "la fila 1 debe ser el encabezado"),
        ("trackingNumber,destination\nABC100001,Quito\n", "falta la columna obligatoria «Estado»"),
        ("trackingNumber,status,colour\nABC100001,CREATED,red\n", "columna desconocida «colour»"),
        ("Guía;Estado;Guia\nABC100001;Entregado;ABC100002\n", "la columna «Guia» está dos veces"),
        ("", "la fila 1 debe ser el encabezado"),
        (HEADER, "ningún envío"),
    ):
        response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
        assert response.status_code == 422, content
        assert any(message in e["message"] for e in response.json()["extra"]), response.json()


async def test_malformed_rows(client: Client, world: World) -> None:
    content = HEADER + "ABC100001,CREATED\n" + f"ABC100002,CREATED,{'x' * 121},,,,\n" + "ABC100003,,,,,,\n"
    response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
    assert response.status_code == 422
    assert [(e["row"], e["key"]) for e in response.json()["extra"]] == [(2, "row"), (3, "origin"), (4, "status")]
    binary = b"trackingNumber,status\n\x81\x8d\x90,CREATED\n"  # neither UTF-8 nor Windows-1252
    refused = await client.post(import_path(world), content=binary, headers=world.agent_a.headers | CSV)
    assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "file"


async def test_nul_in_any_cell_is_a_problem_of_its_row(client: Client, world: World, session: AsyncSession) -> None:
    """PostgreSQL cannot store NUL; a file that carries one (a bad export) is refused, naming the row and column."""
    content = (
        HEADER
        + "ABC100001,CREATED,Qu\x00ito,,,,\n"
        + "ABC100002,CREATED,,,,,Ana\x00\n"
        + "ABC10\x000003,CREATED,,,,,\n"
    )
    response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
    assert response.status_code == 422
    assert [(e["row"], e["key"]) for e in response.json()["extra"]] == [
        (2, "origin"),
        (3, "recipientName"),
        (4, "trackingNumber"),
    ]
    assert all("NUL" in e["message"] for e in response.json()["extra"])
    assert await stored(session) == {}


async def test_limits(client: Client, world: World, session: AsyncSession) -> None:
    too_big = HEADER.encode() + b"ABC100001,CREATED,,,,,\n" * (MAX_IMPORT_BYTES // 20)
    response = await client.post(import_path(world), content=too_big, headers=world.agent_a.headers | CSV)
    assert response.status_code == 413
    assert "5 MiB" in response.json()["detail"]
    as_upload = await client.post(
        import_path(world), files={"file": ("big.csv", too_big, "text/csv")}, headers=world.agent_a.headers
    )
    assert as_upload.status_code == 413
    too_many = HEADER + "".join(f"ROW{n:07d},CREATED,,,,,\n" for n in range(MAX_IMPORT_ROWS + 1))
    response = await client.post(import_path(world), content=too_many.encode(), headers=world.agent_a.headers | CSV)
    assert response.status_code == 413
    assert str(MAX_IMPORT_ROWS) in response.json()["detail"]
    assert await session.scalar(select(func.count()).select_from(Shipment)) == 0


async def test_full_size_import(client: Client, world: World, session: AsyncSession) -> None:
    content = "trackingNumber,status\n" + "".join(f"ROW{n:07d},CREATED\n" for n in range(MAX_IMPORT_ROWS))
    response = await client.post(import_path(world), content=content.encode(), headers=world.agent_a.headers | CSV)
    assert response.json() == {"created": MAX_IMPORT_ROWS, "updated": 0}
    assert await session.scalar(select(func.count()).select_from(Shipment)) == MAX_IMPORT_ROWS


async def test_multipart_semicolons_and_partial_columns(client: Client, world: World, session: AsyncSession) -> None:
    session.add(
        Shipment(
            service_point_id=world.point_a,
            tracking_number="ABC100001",
            status=ShipmentStatus.CREATED,
            destination="Cuenca",
            recipient_name="Jorge Salinas",
        )
    )
    await session.commit()
    content = "\ufeffTrackingNumber;Status;Destination;\nABC100001;IN_TRANSIT;;\nABC100009;CREATED;Loja;\n"
    response = await client.post(
        import_path(world), files={"file": ("envios.csv", content.encode(), "text/csv")}, headers=world.agent_a.headers
    )
    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 1}
    rows = await stored(session)
    assert rows["ABC100001"].destination == "Cuenca"  # an empty cell keeps the stored value
    assert rows["ABC100001"].recipient_name == "Jorge Salinas"  # an absent column is kept
    assert rows["ABC100009"].destination == "Loja"
    no_file = await client.post(import_path(world), files={"other": ("x.csv", b"x")}, headers=world.agent_a.headers)
    assert no_file.status_code == 400 and no_file.json()["extra"][0]["key"] == "file"


async def test_import_access_and_media_type(client: Client, world: World) -> None:
    for actor in (world.agent_b, world.outsider):
        response = await client.post(import_path(world), content=GOOD.encode(), headers=actor.headers | CSV)
        assert response.status_code == 404
    assert (await client.post(import_path(world), content=GOOD.encode(), headers=CSV)).status_code == 401
    as_json = await client.post(import_path(world), json={"rows": []}, headers=world.agent_a.headers)
    assert as_json.status_code == 415


async def test_number_taken_by_another_point_during_import_is_never_overwritten(
    client: Client, world: World, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If point B registers a number between the check and the upsert, the import fails whole and B's row stays."""
    session.add(Shipment(service_point_id=world.point_b, tracking_number="ABC100003", status=ShipmentStatus.CREATED))
    await session.commit()

    async def missed_it(*_: object) -> set[str]:
        return set()

    monkeypatch.setattr(ShipmentService, "numbers_of_other_points", missed_it)
    response = await client.post(import_path(world), content=GOOD.encode(), headers=world.agent_a.headers | CSV)
    assert response.status_code == 409
    rows = await stored(session)
    assert list(rows) == ["ABC100003"]
    assert (rows["ABC100003"].service_point_id, rows["ABC100003"].status) == (world.point_b, ShipmentStatus.CREATED)
