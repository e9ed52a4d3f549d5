"""An idle follower wakes only for events (issue 18, point 3), and misses none for it.

Hourly polls (``poll_interval=3600``) take the periodic look out of the way: what these tests
wait for can only come from an event (a change notification, an acknowledgement).
"""

from __future__ import annotations

import os

import anyio
from follow_helpers import append, nothing_more, numbered, saved_offset, take

from streamline._follow import Checkpoints, follow

HOURLY = 3600.0


async def until(condition, timeout: float = 60.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - a file's content: there is no event to wait on
            await anyio.sleep(0.01)


async def test_an_ack_while_the_follower_waits_is_saved_without_more_lines(log, tmp_path) -> None:
    cp = tmp_path / "cp"
    async with follow(log, checkpoints=Checkpoints(cp, flush_interval=0.05), poll_interval=HOURLY) as f:
        lines = aiter(f)
        append(log, "one\ntwo\n")
        got = await take(lines, 2)
        following: list[str] = []

        async def next_line() -> None:
            following.extend(line.text for line in await take(lines, 1))

        async with anyio.create_task_group() as tg:
            tg.start_soon(next_line)
            await anyio.wait_all_tasks_blocked()  # the follower waits for a change now
            for line in got:  # acknowledged later, by someone else (a delivery callback)
                line.ack()
            await until(lambda: saved_offset(cp) == 8)  # the wait ended for the save
            append(log, "three\n")
        assert following == ["three"]


async def test_an_idle_follower_sees_rotation_and_the_old_files_last_lines(log) -> None:
    async with follow(log, poll_interval=HOURLY) as f:
        lines = aiter(f)
        append(log, numbered("a", 0, 2))
        got = await take(lines, 2)
        await nothing_more(lines, 0.1)  # idle
        os.rename(log, log.with_name("access.log.1"))
        append(log.with_name("access.log.1"), numbered("a", 2, 4))  # the writer has not reopened yet
        append(log, numbered("b", 0, 2))
        got += await take(lines, 4)
        await nothing_more(lines, 0.1)  # idle, a rotated file open
        append(log.with_name("access.log.1"), "a4\n")  # a straggler to the old file
        got += await take(lines, 1)
        assert f.stats.rotations == 1
    assert sorted(line.text for line in got) == sorted([f"a{i}" for i in range(5)] + ["b0", "b1"])


async def test_an_idle_follower_sees_truncation_and_new_files(tmp_path) -> None:
    log = tmp_path / "app.log"
    append(log, "old line\n")
    async with follow(str(tmp_path / "*.log"), start="end", poll_interval=HOURLY) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.1)
        os.truncate(log, 0)  # copytruncate
        append(log, "new\n")
        assert [line.text for line in await take(lines, 1)] == ["new"]
        append(tmp_path / "other.log", "hello\n")
        assert [line.text for line in await take(lines, 1)] == ["hello"]
