"""What every benchmark needs: a scratch Ventanilla (data dir, migrated database) and `ventanilla serve` on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import free_port, process_env, stop  # noqa: E402

ADMIN = {"email": "bench@example.com", "password": "bench-password"}


@dataclass(frozen=True)
class Workspace:
    directory: Path
    env: dict[str, str]
    database_url: str  # postgresql+asyncpg://...

    @property
    def dsn(self) -> str:
        """The same database for plain asyncpg."""
        return self.database_url.replace("postgresql+asyncpg", "postgresql")


@contextmanager
def workspace(database_url: str | None, **env: str) -> Iterator[Workspace]:
    """A temporary data dir and a migrated database: `database_url` (an empty scratch one) or an embedded server."""
    with tempfile.TemporaryDirectory(prefix="ventanilla-bench-") as tmp:
        directory = Path(tmp)
        environment = process_env(
            VENTANILLA_DATA_DIR=str(directory / "data"),
            AUTH_SESSIONS_DIR=str(directory / "auth"),
            WHATSAPP_TRANSPORT="simulator",
            ADMIN_EMAIL=ADMIN["email"],
            ADMIN_PASSWORD=ADMIN["password"],
            LOG_LEVEL="WARNING",
            **env,
        )
        if database_url:
            environment["DATABASE_URL"] = database_url
        migrate = subprocess.run(
            [sys.executable, "-m", "ventanilla", "migrate"],
            check=False,
            env=environment,
            cwd=directory,
            capture_output=True,
        )
        if migrate.returncode:
            raise SystemExit(migrate.stderr.decode())
        if not database_url:
            from ventanilla.db.embedded import start_embedded_server

            database_url = start_embedded_server(directory / "data")
        yield Workspace(directory, environment, database_url)


@contextmanager
def serving(space: Workspace) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`ventanilla serve` on a free port of this machine; yields its base URL and the process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ventanilla", "serve", "--port", str(port)],
        env=space.env,
        cwd=space.directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        stop(server)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def link_points(dsn: str, auth_dir: Path, count: int) -> list[str]:
    """`count` service points whose simulated phones are already linked (a restart resumes them without a QR)."""
    import asyncpg

    rows = []
    for index in range(count):
        point_id = uuid.uuid4()
        phone = f"+5932{index:07d}"
        rows.append((point_id, f"Bench {index:04d}", phone))
        store = auth_dir / str(point_id)
        store.mkdir(mode=0o700, parents=True)
        (store / "simulator-session.json").write_text(json.dumps({"phone": phone}))
    connection = await asyncpg.connect(dsn)
    try:
        await connection.executemany(
            "INSERT INTO service_point (id, name, phone_number, whatsapp_status, created_at, updated_at) "
            "VALUES ($1, $2, $3, 'DISCONNECTED', now(), now())",
            rows,
        )
    finally:
        await connection.close()
    return [str(point_id) for point_id, _, _ in rows]
