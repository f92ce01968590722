"""What the media domain refuses, as plain exceptions; `http_errors.media_error_handler` is where they become HTTP.

Messages are for the agent who sees them: they never quote a file's name or contents.
"""

from __future__ import annotations

from ventanilla.db.models import MediaStatus


class MediaError(Exception):
    """Base of every media refusal; `str(error)` is the detail shown to the caller."""


class MediaNotFoundError(MediaError):
    """No such file in this point (another point's id answers the same: its existence is not revealed)."""

    def __init__(self) -> None:
        super().__init__("media not found")


class MediaNotReadyError(MediaError):
    """PENDING (still downloading) or FAILED (an agent may retry it): there is no file to serve yet."""

    def __init__(self, status: MediaStatus) -> None:
        self.status = status
        if status is MediaStatus.PENDING:
            super().__init__("the file is still being downloaded from WhatsApp (status PENDING); try again shortly")
        else:
            super().__init__("the file could not be downloaded from WhatsApp (status FAILED); retry it")


class MediaExpiredError(MediaError):
    """Deleted by retention (MEDIA_RETENTION_DAYS), or lost from the disk: the message stays, the file is gone."""

    def __init__(self) -> None:
        super().__init__("the file is no longer stored (media expired)")


class MediaNotRetryableError(MediaError):
    """Only a FAILED download can be retried."""

    def __init__(self, status: MediaStatus) -> None:
        self.status = status
        super().__init__(f"only a FAILED download can be retried; this one is {status.value}")


class UploadError(MediaError):
    """A file an agent uploaded was refused; `field` is the form field it came in."""

    field = "file"


class EmptyUploadError(UploadError):
    def __init__(self) -> None:
        super().__init__("the file is empty")


class UploadTooLargeError(UploadError):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"the file is larger than {max_bytes} bytes (MEDIA_MAX_BYTES)")


class UnsupportedUploadError(UploadError):
    """A type WhatsApp customers should not receive from us: executables, web pages, SVG, unknown binary data."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"{reason}; send an image (JPEG, PNG, WebP), a PDF, an office document, a plain-text file, "
            "audio, video or a ZIP archive"
        )
