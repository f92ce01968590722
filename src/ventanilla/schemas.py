"""Shared pieces of the HTTP schemas: camelCase Structs and the validated string types every domain uses."""

from __future__ import annotations

from typing import Annotated

import msgspec

from ventanilla.db.models import E164_CHECK

E164_PATTERN = E164_CHECK  # the same rule the database enforces

PhoneNumber = Annotated[
    str,
    msgspec.Meta(
        pattern=E164_PATTERN, description="E.164 phone number, e.g. +593991234567", examples=["+593991234567"]
    ),
]
Email = Annotated[
    str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254, examples=["ana@example.com"])
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Request and response bodies: camelCase on the wire, unknown fields rejected with a 400 that names them."""
