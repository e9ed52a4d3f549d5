"""Every task has an owner: breaking out leaves no task, no open file and no warning."""

from __future__ import annotations

import asyncio
import gc

import anyio

from follow_helpers import POLL, append, numbered
from streamline._follow import follow


async def settle() -> None:
    for _ in range(5):  # let the async-generator finalizer run
        await asyncio.sleep(0)


async def test_break_out_of_plain_async_for(log, open_fds) -> None:
    append(log, numbered("l", 0, 10))
    before_fds = open_fds()
    before_tasks = len(asyncio.all_tasks())
    async for line in follow(log, start="beginning", poll_interval=POLL):
        if line.text == "l3":
            break
    gc.collect()
    await settle()
    assert open_fds() == before_fds
    assert len(asyncio.all_tasks()) == before_tasks


async def test_break_out_of_plain_batches(log, open_fds) -> None:
    append(log, numbered("l", 0, 10))
    before_fds = open_fds()
    async for _ in follow(log, start="beginning").batches():
        break
    gc.collect()
    await settle()
    assert open_fds() == before_fds


async def test_break_inside_async_with_closes_deterministically(log, open_fds) -> None:
    append(log, numbered("l", 0, 10))
    before_fds = open_fds()
    before_tasks = len(asyncio.all_tasks())
    async with follow(str(log.parent / "*.log"), start="beginning", poll_interval=POLL) as f:
        async for line in f:
            break
        assert open_fds() > before_fds
    assert open_fds() == before_fds  # no need to wait for a finalizer
    assert len(asyncio.all_tasks()) == before_tasks


async def test_cancelled_while_waiting(log, open_fds) -> None:
    before_fds = open_fds()
    with anyio.move_on_after(0.3):
        async with follow(log, poll_interval=POLL) as f:
            async for _ in f:
                pass
    assert open_fds() == before_fds


async def test_timeout_around_next_line_keeps_the_follower_usable(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        with anyio.move_on_after(0.2):
            await lines.__anext__()
        append(log, "after the timeout\n")
        with anyio.fail_after(60):
            assert (await lines.__anext__()).text == "after the timeout"


async def test_a_follower_is_used_once(log) -> None:
    f = follow(log, stop_at_eof=True)
    async with f:
        pass
    try:
        async with f:
            raise AssertionError("reopened")
    except RuntimeError as exc:
        assert "closed" in str(exc)
