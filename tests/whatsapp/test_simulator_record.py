"""The simulator's record of what reached the phones: an id is delivered once, also after a restart."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from ventanilla.whatsapp.simulator import SentMessage, SentRecord


def _message(message_id: str) -> SentMessage:
    return SentMessage(to="+593991112233", text="hola", message_id=message_id, sent_at="2026-11-28T10:00:00+00:00")


def test_an_id_reaches_the_phone_once_across_restarts_and_per_point(tmp_path: Path) -> None:
    a, b = uuid4(), uuid4()
    record = SentRecord(tmp_path)
    assert record.append(a, _message("3EB0A"))
    assert not record.append(a, _message("3EB0A"))  # a resend under the same id
    assert record.append(b, _message("3EB0A"))  # the same id on another point is another message
    record.close()
    restarted = SentRecord(tmp_path)  # a new process: the record on disk is the truth
    assert not restarted.append(a, _message("3EB0A"))
    assert restarted.append(a, _message("3EB0B"))
    assert [m.message_id for m in restarted.read(a)] == ["3EB0A", "3EB0B"]
    restarted.close()


def test_a_send_that_could_not_be_written_may_be_sent_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point = uuid4()
    record = SentRecord(tmp_path)
    assert record.append(point, _message("3EB0A"))
    record.close()
    record = SentRecord(tmp_path)
    record.append(point, _message("3EB0B"))  # the file is open now

    def full(_: str) -> int:
        raise OSError("disk full")

    handle = record._files[point]
    monkeypatch.setattr(handle, "write", full)
    with pytest.raises(OSError):
        record.append(point, _message("3EB0C"))
    monkeypatch.undo()
    assert record.append(point, _message("3EB0C"))
    assert [m.message_id for m in record.read(point)] == ["3EB0A", "3EB0B", "3EB0C"]
    record.close()
