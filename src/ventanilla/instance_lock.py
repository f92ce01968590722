"""One `ventanilla serve` per data dir and per WhatsApp session store.

Two servers sharing credentials would keep replacing each other's WhatsApp sessions, and two sharing a data dir
would both write the simulator record; the second one is refused with a clear message instead.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ventanilla.config import ConfigError

LOCK_FILE = ".ventanilla-serve.lock"


@contextmanager
def serve_lock(*directories: Path) -> Iterator[None]:
    with ExitStack() as stack:
        for directory in dict.fromkeys(d.resolve() for d in directories):
            stack.enter_context(_locked(directory))
        yield


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    path = directory / LOCK_FILE
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"another `ventanilla serve` (pid {holder}) is already using {directory}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()
