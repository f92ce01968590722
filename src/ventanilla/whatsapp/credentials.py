"""Each service point's WhatsApp credentials: one private directory per point under AUTH_SESSIONS_DIR.

Directories are 0700 and files 0600: whoever reads them can act as the branch's WhatsApp. Deleting a point's
directory touches nothing else.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from uuid import UUID


class CredentialStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, service_point_id: UUID) -> Path:
        """The point's directory, created private if missing."""
        path = self.root / str(service_point_id)
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
        return path

    def secure(self, service_point_id: UUID) -> None:
        """Make every file the transport wrote readable by this user only."""
        path = self.root / str(service_point_id)
        if not path.is_dir():
            return
        path.chmod(0o700)
        for child in path.rglob("*"):
            child.chmod(0o700 if child.is_dir() else 0o600)

    def delete(self, service_point_id: UUID) -> None:
        shutil.rmtree(self.root / str(service_point_id), ignore_errors=True)

    def exists(self, service_point_id: UUID) -> bool:
        path = self.root / str(service_point_id)
        return path.is_dir() and any(os.scandir(path))
