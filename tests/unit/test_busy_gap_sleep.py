"""The follower's busy-gap sleep (``_follow/watch._sleep``): a plain loop timer that wakes the
waiter after its delay, and one cancelled while waiting leaves no timer behind."""

from __future__ import annotations

import asyncio

import pytest

from streamline._follow import watch


async def test_it_returns_no_sooner_than_its_delay() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await watch._sleep(0.02)
    assert loop.time() - start >= 0.02 - loop._clock_resolution  # a timer may run one tick early


def _live_wake_timers(loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
    return [h for h in loop._scheduled if not h.cancelled() and h._callback is watch._wake]  # type: ignore[attr-defined]


async def test_cancelled_while_waiting_it_cancels_its_timer() -> None:
    loop = asyncio.get_running_loop()
    sleeping = asyncio.ensure_future(watch._sleep(3600))
    await asyncio.sleep(0)  # it is waiting now
    assert len(_live_wake_timers(loop)) == 1
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    assert _live_wake_timers(loop) == []


async def test_a_timer_that_fires_after_the_waiter_was_cancelled_does_nothing() -> None:
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    woken.cancel()
    watch._wake(woken)  # no InvalidStateError
    assert woken.cancelled()
