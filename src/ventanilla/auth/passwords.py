"""Argon2id password hashes, computed off the event loop (each costs tens of milliseconds on purpose)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as long as a wrong password (no account probing).
_DUMMY_HASH = _hasher.hash("ventanilla-timing-equaliser")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash it still spends the same time and says False."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
