"""`kill -9` while customers' messages sit in the journal: the next start stores, answers and sends each once."""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Server, link_over_http, login_headers
from tests.ledger import assert_exactly_once, settled
from tests.outage import Outage
from tests.whatsapp.conftest import eventually
from ventanilla.db.models import ServicePoint

TEXT = "¿dónde está mi paquete ABC123456?"


@pytest.mark.slow
async def test_kill_9_with_messages_in_the_journal_loses_nothing(
    tmp_path: Path, database_url: str, session: AsyncSession, outage: Outage
) -> None:
    points = [
        ServicePoint(name="Norte", phone_number="+593200000021"),
        ServicePoint(name="Sur", phone_number="+593200000022"),
    ]
    session.add_all(points)
    await session.commit()
    ids = [str(point.id) for point in points]
    await session.close()
    server = Server(tmp_path, database_url)
    server.start()
    plan = [
        (ids[n % 2], [{"from": f"+59398{n:03d}{c:04d}", "text": TEXT, "messageId": f"J{n}-{c}"} for c in range(10)])
        for n in range(6)
    ]
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        headers = await login_headers(http)
        for point in ids:
            await link_over_http(http, headers, point)
        async with outage.refusing():
            for point, batch in plan:
                response = await http.post(
                    f"/api/service-points/{point}/simulator/inbound/batch", json=batch, headers=headers
                )
                assert response.status_code == 202, response.text  # on disk: WhatsApp will not send it again
            journal = b"".join(path.read_bytes() for path in (tmp_path / "data" / "journal").glob("*.jsonl"))
            assert journal.count(b"\n") == 60
            server.kill()  # no goodbye, with everything still in the journal
    first_output = server.process.stdout.read() if server.process and server.process.stdout else ""

    server.start()  # replays the journal before anything else
    await eventually(lambda: settled(database_url, 60), timeout=60, what="the journal replayed, answered and sent")
    assert not list((tmp_path / "data" / "journal").glob("*.jsonl"))
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        headers = await login_headers(http)
        phones = {
            UUID(point): (await http.get(f"/api/service-points/{point}/simulator/sent", headers=headers)).json()
            for point in ids
        }
    delivered = {m["messageId"] for _, batch in plan for m in batch}
    await assert_exactly_once(database_url, delivered, phones)
    output = first_output + server.stop()
    assert "¿dónde está" not in output and not re.search(r"\+?59398\d{7}", output)  # no words, no full numbers
