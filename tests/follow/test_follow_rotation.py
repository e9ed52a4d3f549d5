"""Points 4-6: rotation by rename + create, truncation (copytruncate), identity changes."""

from __future__ import annotations

import os

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._follow import follow


async def test_rename_and_create_loses_and_repeats_nothing(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, numbered("a", 0, 3))
        got = await take(lines, 3)
        append(log, numbered("a", 3, 6))  # unread when the rotation happens
        os.rename(log, log.with_name("access.log.1"))
        append(log.with_name("access.log.1"), numbered("a", 6, 8))  # writer still on old fd
        append(log, numbered("b", 0, 3))
        got += await take(lines, 8)
        await nothing_more(lines, 0.3)
        assert f.stats.rotations == 1
    assert [line.text for line in got] == [f"a{i}" for i in range(8)] + ["b0", "b1", "b2"]
    assert {line.path for line in got} == {str(log)}  # the followed path, also for the old file


async def test_two_rotations_within_one_poll_interval(log) -> None:
    rotated1, rotated2 = log.with_name("access.log.1"), log.with_name("access.log.2")
    # Polling only, with a long interval: all of this happens between two looks.
    async with follow(log, poll_interval=0.5, notify=False) as f:
        lines = aiter(f)
        append(log, "a0\n")
        got = await take(lines, 1)
        append(log, "a1\n")
        os.rename(log, rotated1)  # A -> .1
        append(log, "b0\nb1\n")  # B created
        os.rename(rotated1, rotated2)  # A -> .2
        os.rename(log, rotated1)  # B -> .1
        append(log, "c0\n")  # C created
        got += await take(lines, 4)
        await nothing_more(lines, 0.7)
    assert [line.text for line in got] == ["a0", "a1", "b0", "b1", "c0"]


async def test_rotation_with_many_lines_in_flight(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        expected = []
        for generation in range(4):
            chunk = numbered(f"g{generation}-", 0, 5000)
            append(log, chunk)
            expected += chunk.splitlines()
            os.rename(log, log.with_name(f"access.log.{generation}"))
        append(log, "live\n")
        expected.append("live")
        got = await take(lines, len(expected), timeout=120)
        await nothing_more(lines, 0.3)
    assert [line.text for line in got] == expected


async def test_truncation_continues_from_zero(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, numbered("old", 0, 5))
        await take(lines, 5)
        os.truncate(log, 0)  # copytruncate
        append(log, "new0\n")
        (line,) = await take(lines, 1)
        assert (line.text, line.offset) == ("new0", 0)
        assert f.stats.truncations == 1


async def test_truncate_then_regrow_past_old_size_is_caught_by_identity(log) -> None:
    async with follow(log, poll_interval=0.5, notify=False) as f:
        lines = aiter(f)
        append(log, "short old content\n")
        await take(lines, 1)
        # Between two looks: truncated, and rewritten longer than before.
        with open(log, "r+b") as file:
            file.truncate(0)
            file.write(b"".join(b"new line %d\n" % i for i in range(10)))
        got = await take(lines, 10)
        assert [line.text for line in got] == [f"new line {i}" for i in range(10)]
        assert got[0].offset == 0 and f.stats.truncations == 1


async def test_reused_inode_with_other_content_is_read_from_the_start(tmp_path) -> None:
    path = tmp_path / "app.log"
    path.write_text("gen 1\n")
    inode = os.stat(path).st_ino
    async with follow(path, poll_interval=POLL) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.1)
        path.unlink()
        path.write_text("gen 2 longer\n")  # tmpfs/ext4 commonly hand out the freed inode again
        (line,) = await take(lines, 1)
    assert line.text == "gen 2 longer"
    del inode  # either way (same inode or not) the new content is read from 0
