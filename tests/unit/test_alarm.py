"""The alarm idle tasks sleep on: a deadline that a callback can bring forward, never push back."""

from __future__ import annotations

import math

import anyio

from streamline._alarm import Alarm


async def test_a_callback_brings_the_deadline_forward() -> None:
    alarm = Alarm()
    assert not alarm.waiting

    async def bring_forward() -> None:
        await anyio.wait_all_tasks_blocked()
        assert alarm.waiting
        alarm.bring_forward(math.inf)  # later than the deadline: no change
        alarm.bring_forward(None)  # nothing to do: no change
        alarm.bring_forward(anyio.current_time())  # now

    async with anyio.create_task_group() as tg:
        tg.start_soon(bring_forward)
        with anyio.fail_after(60):
            assert await alarm.wait_until(math.inf) is False  # ended by the deadline, not by itself
    assert not alarm.waiting
    alarm.bring_forward(0.0)  # nobody waits: nothing happens


async def test_the_wait_may_end_by_itself_first() -> None:
    alarm = Alarm()
    event = anyio.Event()
    event.set()
    assert await alarm.wait_until(math.inf, event.wait) is True


async def test_another_thread_may_bring_it_forward() -> None:
    """``line.ack()`` in a worker thread schedules a save: the alarm is moved in the loop's thread."""
    alarm = Alarm()

    async def from_a_thread() -> None:
        await anyio.wait_all_tasks_blocked()
        await anyio.to_thread.run_sync(alarm.bring_forward, anyio.current_time())

    async with anyio.create_task_group() as tg:
        tg.start_soon(from_a_thread)
        with anyio.fail_after(60):
            assert await alarm.wait_until(math.inf) is False
