"""Shared pieces of the HTTP schemas: camelCase Structs and the validated string types every domain uses.

Every string a body accepts is a `ventanilla.text.Text` (NUL refused), most through `bounded`. Patterns are written
for both Python's `re` (which msgspec uses) and ECMA-262 (the OpenAPI document's dialect): a rule meant to hold to
the end of the string says `(?!\\n)$`, since Python's `$` also matches before a final newline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from ventanilla.db.models import E164_CHECK
from ventanilla.text import bounded

# The database's rule (PostgreSQL's `$` is the very end of the string), said so for Python's `re` as well.
E164_PATTERN = E164_CHECK.removesuffix("$") + r"(?!\n)$"

PhoneNumber = Annotated[
    str,
    msgspec.Meta(
        pattern=E164_PATTERN, description="E.164 phone number, e.g. +593991234567", examples=["+593991234567"]
    ),
]
EMAIL_PATTERN = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+(?!\n)$"
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=254, examples=["ana@example.com"])]
Name = bounded(120, min_length=1)
# Times we are given must say their offset: a naive time would be read in whatever zone the server runs.
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class CamelStruct(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Request and response bodies: camelCase on the wire, unknown fields rejected with a 400 that names them."""
