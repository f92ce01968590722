"""The key itself: `vk_` and 32 random bytes. Only its SHA-256 is stored: the secret is high-entropy, so a slow
password hash would add nothing but latency on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ventanilla.api_keys.principal import KEY_PREFIX

SHOWN_PREFIX_CHARS = len(KEY_PREFIX) + 8  # `vk_ab12cd34`: enough to tell keys apart in a list, useless to guess
MAX_KEY_CHARS = 100


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def shown_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX_CHARS]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)
