"""Encryption of the third-party secrets we must use in clear later (a Cloud API access token, an app secret).

Passwords and our own API keys are hashed instead; these cannot be, since Meta wants them back. `cryptography`'s
Fernet (AES-128-CBC + HMAC-SHA256, with a timestamp) does the work; each configured key (`VENTANILLA_SECRET_KEY`,
or the one generated into the data dir) is stretched to a Fernet key by SHA-256. The first key encrypts and every
key decrypts: a key is rotated by putting the new one first, keeping the old one after it, running `ventanilla
reseal-secrets` (every stored value sealed again under the new key), and only then dropping the old key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretUnreadable(Exception):
    """A stored secret was encrypted with a key this process does not have (VENTANILLA_SECRET_KEY differs)."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(_fernet_key(key)) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted with this VENTANILLA_SECRET_KEY; set the key it was stored with "
                "(every replica needs the same), or enter the secret again"
            ) from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed under the first key (SecretUnreadable when no configured key opens it)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable("a stored secret cannot be decrypted with any configured key") from None


def _fernet_key(key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())
