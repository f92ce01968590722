"""How a delivery is signed, and how a secret is made: the receiver recomputes the same HMAC to trust a POST."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`X-Ventanilla-Signature`: `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<raw body>"`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
