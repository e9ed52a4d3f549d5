"""Field conditions (issue 11): late writers after rotation, rewrites under the saved position,
several iterators in turn."""

from __future__ import annotations

import os

import anyio

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._follow import Checkpoints, follow

HEADER = "# app v1 started; fixed banner of more than one KiB " + "=" * 1100 + "\n"


async def until(lines, condition, timeout: float = 10.0) -> None:
    """Keep the follower working (it only works while iterated) until ``condition()`` holds."""
    with anyio.fail_after(timeout):
        while not condition():
            await nothing_more(lines, 0.05)


async def test_writer_appending_after_the_rename_is_read_until_quiet(log) -> None:
    rotated = log.with_name("access.log.1")
    writer = open(log, "ab", buffering=0)  # the application's descriptor: it does not reopen
    try:
        async with follow(log, poll_interval=POLL, rotate_wait=60) as f:
            lines = aiter(f)
            writer.write(b"a0\n")
            await take(lines, 1)
            os.rename(log, rotated)
            append(log, "b0\n")  # logrotate "create": the new file
            got = await take(lines, 1)
            assert [line.text for line in got] == ["b0"]
            # The new file is being read; the application still writes to the old one.
            writer.write(b"a1\na2\n")
            got = await take(lines, 2)
            assert [line.text for line in got] == ["a1", "a2"]
            writer.write(b"a3\n")
            append(log, "b1\n")
            got = sorted(line.text for line in await take(lines, 2))
            assert got == ["a3", "b1"]
            assert f.stats.files == 2  # the renamed file is still open
    finally:
        writer.close()


async def test_deleted_file_still_written_is_read_and_closed_once_quiet(log) -> None:
    writer = open(log, "ab", buffering=0)
    try:
        async with follow(log, poll_interval=POLL, rotate_wait=0.5) as f:
            lines = aiter(f)
            writer.write(b"x0\n")
            await take(lines, 1)
            log.unlink()
            await until(lines, lambda: f.stats.rotations == 1)
            for i in range(1, 4):  # keeps writing to the deleted file
                writer.write(f"x{i}\n".encode())
                assert [line.text for line in await take(lines, 1)] == [f"x{i}"]
            writer.close()
            await until(lines, lambda: f.stats.files == 0)  # closed after rotate_wait of quiet
    finally:
        writer.close()


async def test_rotated_file_lines_come_in_order_per_file(log) -> None:
    rotated = log.with_name("access.log.1")
    writer = open(log, "ab", buffering=0)
    try:
        async with follow(log, poll_interval=POLL, rotate_wait=60) as f:
            lines = aiter(f)
            writer.write(numbered("old", 0, 1000).encode())
            os.rename(log, rotated)
            append(log, numbered("new", 0, 1000))
            writer.write(numbered("old", 1000, 2000).encode())
            got = await take(lines, 3000, timeout=120)
    finally:
        writer.close()
    old = [line.text for line in got if line.text.startswith("old")]
    new = [line.text for line in got if line.text.startswith("new")]
    assert old == [f"old{i}" for i in range(2000)]
    assert new == [f"new{i}" for i in range(1000)]


async def test_rewrite_with_same_header_and_inode_is_read_from_the_start(log) -> None:
    append(log, HEADER + numbered("first", 0, 50))
    async with follow(log, start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        await take(lines, 51)
        # `app > app.log` and a fast writer: same inode, same first KiB, longer than before,
        # all between two looks of the follower.
        with open(log, "r+b") as rewrite:
            rewrite.truncate(0)
            rewrite.write((HEADER + numbered("second-run-line-", 0, 200)).encode())
        got = await take(lines, 201)
        await nothing_more(lines, 0.2)
    assert got[0].text == HEADER.rstrip("\n")
    assert [line.text for line in got[1:]] == [f"second-run-line-{i}" for i in range(200)]
    assert f.stats.truncations == 1


async def test_rewrite_while_stopped_is_noticed_by_the_checksum_before_the_position(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, HEADER + numbered("first", 0, 50))
    async with follow(log, start="beginning", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        for line in await take(aiter(f), 51):
            line.ack()
    inode = os.stat(log).st_ino
    with open(log, "r+b") as rewrite:  # same inode, same first KiB, longer, other lines
        rewrite.truncate(0)
        rewrite.write((HEADER + numbered("second-run-line-", 0, 200)).encode())
    assert os.stat(log).st_ino == inode
    async with follow(log, start="end", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        lines = aiter(f)
        got = await take(lines, 201)
        await nothing_more(lines, 0.2)
    assert [line.text for line in got[1:]] == [f"second-run-line-{i}" for i in range(200)]


async def test_unchanged_file_resumes_at_its_position_after_a_restart(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, HEADER + numbered("l", 0, 50))
    async with follow(log, start="beginning", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        for line in await take(aiter(f), 51):
            line.ack()
    append(log, "after\n")
    async with follow(log, checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        lines = aiter(f)
        assert [line.text for line in await take(lines, 1)] == ["after"]
        await nothing_more(lines, 0.2)


async def test_iterators_in_turn_see_every_line_once(log) -> None:
    append(log, numbered("l", 0, 10))  # one read: one batch of ten lines
    async with follow(log, start="beginning", poll_interval=POLL) as f:
        got = []
        async for line in f:
            got.append(line.text)
            break  # the first iterator holds the rest of the batch
        async for line in f:
            got.append(line.text)
            if len(got) == 4:
                break
        async for batch in f.batches():
            got += [data.decode() for data in batch.data]
            batch.ack()
            if len(got) == 10:
                break
        append(log, "l10\n")
        got += [line.text for line in await take(aiter(f), 1)]
    assert got == [f"l{i}" for i in range(11)]


async def test_checkpoint_moves_past_lines_handed_out_by_a_second_iterator(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    append(log, numbered("l", 0, 10))
    async with follow(log, start="beginning", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        async for line in f:
            line.ack()
            break
        async for batch in f.batches():
            batch.ack()
            break
        assert f.checkpoints is not None
        assert f.checkpoints.position(batch.identity) == os.path.getsize(log)
