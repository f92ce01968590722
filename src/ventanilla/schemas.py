"""Shared pieces of the HTTP schemas: camelCase Structs and the validated string types every domain uses.

Every string a body accepts is a `ventanilla.text.Text` (NUL refused), most through `bounded`. Patterns are written
for both Python's `re` (which msgspec uses) and ECMA-262 (the OpenAPI document's dialect): a rule meant to hold to
the end of the string says `(?!\\n)$`, since Python's `$` also matches before a final newline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar.exceptions import ClientException

from ventanilla.db.models import E164_CHECK
from ventanilla.phones import normalize_phone
from ventanilla.text import Text, bounded

# The database's rule (PostgreSQL's `$` is the very end of the string), said so for Python's `re` as well.
E164_PATTERN = E164_CHECK.removesuffix("$") + r"(?!\n)$"

# A phone number as people type it: E.164 or a local format. A Struct holding one calls `as_e164` in its
# `__post_init__`, so handlers only ever see E.164, the form stored (and the database's CHECK).
PhoneNumber = Annotated[
    Text,
    msgspec.Meta(
        min_length=1,
        max_length=32,
        description="Phone number: E.164 (+593991234567) or a local format (0991234567, +593 99 123 4567, "
        "(099) 123-4567), read as Ecuadorian without a country code; stored and answered in E.164",
        examples=["+593991234567", "0991234567"],
    ),
]
PHONE_MESSAGE = "not a phone number: e.g. +593991234567 or 0991234567"
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+(?!\n)$"
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=254, examples=["ana@example.com"])]
Name = bounded(120, min_length=1)
# Times we are given must say their offset: a naive time would be read in whatever zone the server runs.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Request and response bodies: camelCase on the wire, unknown fields rejected with a 400 that names them."""


def as_e164(struct: msgspec.Struct, *fields: str) -> None:
    """Replace each named `PhoneNumber` field (None and UNSET stay) by its E.164 form; a 400 naming the field when
    it is not a phone number, in the API's usual shape. Not a ValueError: msgspec would wrap one and name only the
    object, not the field."""
    names = {field.name: field.encode_name for field in msgspec.structs.fields(struct)}
    for name in fields:
        value = getattr(struct, name)
        if not isinstance(value, str):
            continue
        phone = normalize_phone(value)
        if phone is None:
            key = names[name]
            raise ClientException(
                detail=f"{key}: {PHONE_MESSAGE}", extra=[{"key": key, "message": PHONE_MESSAGE, "source": "body"}]
            )
        setattr(struct, name, phone)
