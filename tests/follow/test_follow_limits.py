"""Points 10, 11, 13: over-long lines, rate limits, chunked reads and bounded memory."""

from __future__ import annotations

import time

import pytest

from follow_helpers import append, numbered
from streamline._follow import LineTooLongError, RateLimit, follow
from streamline._follow import reader as reader_module
from streamline._follow.files import CHUNK_BYTES


async def test_long_lines_split(log) -> None:
    append(log, "ok\n" + "x" * 25 + "\nok2\n")
    async with follow(log, start="beginning", max_line_bytes=10, stop_at_eof=True) as f:
        got = [line async for line in f]
        assert f.stats.split_long_lines == 1
    assert [line.text for line in got] == ["ok", "x" * 10, "x" * 10, "x" * 5, "ok2"]
    assert [(line.offset, line.end_offset) for line in got[1:4]] == [(3, 13), (13, 23), (23, 29)]


async def test_long_lines_skip_are_counted_and_acknowledged(log, tmp_path) -> None:
    append(log, "ok\n" + "x" * 25 + "\nok2\n")
    async with follow(
        log, start="beginning", max_line_bytes=10, long_lines="skip", stop_at_eof=True,
        checkpoints=tmp_path / "cp",
    ) as f:
        got = [line async for line in f]
        for line in got:
            line.ack()
        assert f.stats.skipped_long_lines == 1
        assert f.checkpoints.position(got[0].identity) == len(log.read_bytes())
    assert [line.text for line in got] == ["ok", "ok2"]


async def test_long_lines_error_names_the_file(log) -> None:
    append(log, "x" * 25 + "\n")
    with pytest.raises(LineTooLongError, match="access.log"):
        async with follow(log, start="beginning", max_line_bytes=10, long_lines="error", stop_at_eof=True) as f:
            async for _ in f:
                pass


async def test_rate_limit_in_lines_slows_reading_and_drops_nothing(log) -> None:
    append(log, numbered("l", 0, 300))
    started = time.monotonic()
    async with follow(log, start="beginning", rate_limit=1000, stop_at_eof=True) as f:
        got = [line.text async for line in f]
    elapsed = time.monotonic() - started
    assert got == [f"l{i}" for i in range(300)]
    assert elapsed >= 0.2  # ~0.25 s at 1000 lines/s (first piece is free); slower is only load


async def test_rate_limit_in_bytes(log) -> None:
    append(log, numbered("line", 0, 2000))  # about 15.9 kB
    started = time.monotonic()
    limit = RateLimit(40_000, unit="bytes")
    async with follow(log, start="beginning", rate_limit=limit, stop_at_eof=True) as f:
        batches = [batch async for batch in f.batches()]
    elapsed = time.monotonic() - started
    assert [b"".join(b.data) for b in batches] and sum(len(b) for b in batches) == 2000
    assert elapsed >= 0.3  # the limit held it back; slower is only load
    assert all(b.bytes <= limit.piece for b in batches)
    for before, after in zip(batches, batches[1:]):
        assert before.end_offset == after.start_offset  # contiguous: ack ranges tile the file


async def test_reads_are_big_chunks_not_lines(log, monkeypatch) -> None:
    append(log, numbered("line", 0, 500_000))  # ~5.4 MB
    calls = []
    real = reader_module.read_turn

    def counting(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(reader_module, "read_turn", counting)
    async with follow(log, start="beginning", stop_at_eof=True) as f:
        count = sum([len(batch) async for batch in f.batches()])
    assert count == 500_000
    assert len(calls) <= log.stat().st_size // CHUNK_BYTES + 3


async def test_backpressure_reading_waits_for_the_consumer(log) -> None:
    append(log, numbered("line", 0, 500_000))
    async with follow(log, start="beginning", poll_interval=0.05) as f:
        batches = f.batches()
        first = await batches.__anext__()
        # Nothing is read ahead: the follower holds at most the one chunk handed out.
        assert f._reader._tracked()[0].position <= CHUNK_BYTES
        assert first.end_offset <= CHUNK_BYTES
        assert f.stats.bytes_behind >= log.stat().st_size - CHUNK_BYTES
