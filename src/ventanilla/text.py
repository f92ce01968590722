"""Text PostgreSQL can hold, in one place: cleaned where it comes from outside our control, refused at the API.

PostgreSQL stores any Unicode text except the NUL character, and no UTF-8 encoder accepts a lone surrogate; JSONB
also refuses `\\u0000` inside strings. A customer's message, a model's answer or a tool's result may carry either,
and must still be stored (`storable`, `storable_json`: NUL removed, surrogates replaced). What people type into
our API is refused instead with a 400 that names the field (`Text` and the types built on it).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NO_NUL_PATTERN = "^[^\\x00]*$"  # the part of the rule a JSON body or a query can break (msgspec refuses surrogates)

# ... and, for text people read, at least one character that is neither NUL nor white space.
VISIBLE_PATTERN = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"

# Every string the API accepts is a `Text`: NUL refused with a 400 naming the field, whatever else it allows.
Text = Annotated[str, msgspec.Meta(pattern=NO_NUL_PATTERN)]


def bounded(max_length: int, *, min_length: int = 0, visible: bool = False) -> Any:
    """A `Text` of bounded length: the one way a schema declares a free-text field. `visible`: blank refused too
    (one pattern says both, as a string type holds only one)."""
    if visible:
        rule = msgspec.Meta(pattern=VISIBLE_PATTERN, min_length=max(min_length, 1), max_length=max_length)
        return Annotated[str, rule]
    return Annotated[Text, msgspec.Meta(min_length=min_length, max_length=max_length)]


def storable(text: str) -> str:
    """`text` without what PostgreSQL cannot store: NUL removed, lone surrogates replaced by U+FFFD."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(lambda match: "" if match.group() == "\x00" else "\ufffd", text)


def storable_json(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) whose strings, keys included, are `storable`."""
    try:
        if b"\\u0000" not in msgspec.json.encode(value):  # the usual case, checked at C speed
            return value
    except (TypeError, UnicodeEncodeError, msgspec.EncodeError):  # a lone surrogate, or not JSON at all: walk it
        pass
    return _storable_walk(value)


def _storable_walk(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): _storable_walk(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_walk(item) for item in value]
    return value


def has_nul(text: str) -> bool:
    return "\x00" in text
