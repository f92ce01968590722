"""The offline engine's eyes: the text printed in a customer's photo, read by a local OCR engine.

RapidOCR (the `ocr` extra, `rapidocr-onnxruntime`) ships its ONNX models inside its wheel: nothing is downloaded,
at install or at run time. It is imported on the first photo, not at start-up (it costs a few hundred MB and a
second or so), and a photo is CPU work of about a second: it runs in a thread, a few at a time, so that the event
loop and the other branches' turns keep their cores. Without the extra a photo reads as nothing (logged once).
Nothing read from a photo is logged: a label carries names and addresses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ventanilla.bot.images import UnreadableImage, open_bounded

log = logging.getLogger(__name__)

# A label's tracking number is large print: a phone photo scaled to this still reads, and the text detector, most of
# the time, runs on these pixels as they are (`det_limit_type="max"`: never scaled up, as the default "min" would).
MAX_SIDE = 1280
UNAVAILABLE = "OCR unavailable, the offline bot cannot read photos; install the `ocr` extra"
THREADS_PER_PHOTO = 1  # onnxruntime threads of one reading: parallelism comes from several photos at once


class _Shared:
    """The process's one RapidOCR engine (onnxruntime sessions are safe across threads), loaded on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engine: Any = None
        self.unavailable = False  # the extra is not installed: said once in the log

    def load(self) -> Any:
        with self.lock:
            if self.engine is None and not self.unavailable:
                try:
                    from rapidocr_onnxruntime import RapidOCR

                    self.engine = RapidOCR(
                        intra_op_num_threads=THREADS_PER_PHOTO, inter_op_num_threads=1, det_limit_type="max"
                    )
                except Exception as exc:  # not installed, or a system library missing (OpenCV needs libGL)
                    self.unavailable = True
                    log.warning("%s (%s): %s", UNAVAILABLE, type(exc).__name__, exc)
                    return None
            return self.engine


_shared = _Shared()


def default_concurrency() -> int:
    """Photos read at once: half the cores, at least one (the rest serve the event loop and the database)."""
    return max(1, (os.cpu_count() or 2) // 2)


def available() -> bool:
    """Whether photos can be read here (loads the engine when it is installed)."""
    return _shared.load() is not None


def read_text(path: Path) -> str | None:
    """The lines printed in the photo, top to bottom; None when it cannot be read. Blocking: run in a thread."""
    engine = _shared.load()
    if engine is None:
        return None
    try:
        image = open_bounded(path, MAX_SIDE)
    except UnreadableImage as exc:
        log.info("photo not readable: %s", exc)
        return None
    try:
        found, _ = engine(image)
    except Exception as exc:  # the engine on an image it does not expect: one photo unread, not a failed turn
        log.warning("OCR failed on a photo: %s", type(exc).__name__)
        return None
    return "\n".join(str(line[1]) for line in found or ())


class PhotoReader:
    """Reads photos for one Bot, at most `concurrency` at once; the engine behind it is shared by the process."""

    def __init__(self, concurrency: int | None = None) -> None:
        self._slots = asyncio.Semaphore(concurrency or default_concurrency())

    async def read(self, path: Path) -> str | None:
        if _shared.unavailable:
            return None
        async with self._slots:
            return await asyncio.to_thread(read_text, path)
