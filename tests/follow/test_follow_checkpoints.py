"""Point 12: acknowledged checkpoints, resume, at-least-once, rotated files found by identity."""

from __future__ import annotations

import json
import os

import anyio
import pytest

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._errors import CheckpointError
from streamline._follow import Checkpoints, follow


def saved(directory) -> dict:
    return json.loads((directory / "checkpoints.json").read_text())["files"]


async def test_resume_after_acknowledged_lines_and_redeliver_the_rest(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, numbered("l", 0, 10))
    async with follow(log, start="beginning", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        lines = aiter(f)
        got = await take(lines, 10)
        for line in got[:3]:
            line.ack()
        got[5].ack()  # out of order: held back until 3 and 4 are acknowledged
    (record,) = saved(cp).values()
    assert record["offset"] == got[2].end_offset
    async with follow(log, start="beginning", checkpoints=cp, poll_interval=POLL) as f:
        lines = aiter(f)
        again = await take(lines, 7)
        await nothing_more(lines, 0.2)
    assert [line.text for line in again] == [f"l{i}" for i in range(3, 10)]  # at-least-once


async def test_batch_ack_and_start_option_ignored_for_known_files(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, numbered("l", 0, 5))
    async with follow(log, start="beginning", checkpoints=cp, stop_at_eof=True) as f:
        async for batch in f.batches():
            batch.ack()
    append(log, "l5\n")
    async with follow(log, start="end", checkpoints=cp, stop_at_eof=True) as f:
        assert [line.text async for line in f] == ["l5"]  # resumed, not from the end


async def test_positions_are_flushed_periodically_while_running(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    async with follow(log, checkpoints=Checkpoints(cp, flush_interval=0.1), poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "one\n")
        (line,) = await take(lines, 1)
        line.ack()
        await nothing_more(lines, 0.4)  # idle: the follower saves while it waits
        assert list(saved(cp).values())[0]["offset"] == 4


async def test_rotated_while_stopped_is_found_under_its_new_name(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, numbered("a", 0, 4))
    async with follow(log, start="beginning", checkpoints=cp, poll_interval=POLL) as f:
        lines = aiter(f)
        for line in await take(lines, 2):
            line.ack()
    append(log, "a4\n")
    os.rename(log, log.with_name("access.log.1"))  # rotated while nobody followed
    log.write_text("b0\n")
    async with follow(log, start="end", checkpoints=cp, poll_interval=POLL) as f:
        lines = aiter(f)
        got = await take(lines, 4)
        await nothing_more(lines, 0.2)
    assert [line.text for line in got] == ["a2", "a3", "a4", "b0"]


async def test_short_file_checkpoint_is_found_after_it_grew(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, "tiny\n")  # fingerprint covers 5 bytes only
    async with follow(log, start="beginning", checkpoints=cp, stop_at_eof=True) as f:
        async for line in f:
            line.ack()
    append(log, "y" * 3000 + "\n")
    async with follow(log, start="beginning", checkpoints=cp, stop_at_eof=True) as f:
        assert [len(line.data) async for line in f] == [3000]
    (record,) = saved(cp).values()
    assert record["fingerprint_size"] == 1024


async def test_corrupt_checkpoint_stops_start_up(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    cp.mkdir()
    (cp / "checkpoints.json").write_text('{"version": 1, "files": [')
    with pytest.raises(CheckpointError, match="checkpoints.json"):
        async with follow(log, checkpoints=cp):
            pass


async def test_positions_saved_on_cancellation(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, numbered("l", 0, 3))
    with anyio.move_on_after(0.5):
        async with follow(log, start="beginning", checkpoints=Checkpoints(cp, flush_interval=60)) as f:
            async for line in f:
                line.ack()
    (record,) = saved(cp).values()
    assert record["offset"] == len(log.read_bytes())
