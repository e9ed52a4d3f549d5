"""A wait until a deadline that others may bring forward: how idle tasks sleep without polling.

An idle task (the pipeline's ticker, a follower waiting for changes) computes when it next has
work from its state, e.g. "a checkpoint save is due at T", and waits until then, or forever. A
callback that creates work (an acknowledgement, a batch read) brings the deadline forward
instead of the task waking up every fraction of a second to look. Event-driven: an idle
process makes no wake-ups.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import anyio


class Alarm:
    """Wait until a deadline (``anyio.current_time()`` clock) that :meth:`bring_forward` can move up.

        alarm = Alarm()
        await alarm.wait_until(float("inf"))              # in the waiting task
        alarm.bring_forward(anyio.current_time() + 1)  # elsewhere (a callback): ends it in 1 s

    Between two waits nothing is remembered: the waiter recomputes its deadline from the state
    the callback changed (no await between reading that state and the wait, so nothing is missed).
    """

    __slots__ = ("_loop", "_scope", "_thread")

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0  # the waiting loop's thread

    @property
    def waiting(self) -> bool:
        """True while a task waits in :meth:`wait_until`."""
        return self._scope is not None

    async def wait_until(self, deadline: float, wait: Callable[[], Awaitable[object]] = anyio.sleep_forever) -> bool:
        """Await ``wait()`` (by default: nothing happens) until ``deadline``; True if it ended
        by itself, False at the deadline. ``wait`` must be cancel-safe (lose nothing if cut short)."""
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        with anyio.CancelScope(deadline=deadline) as scope:
            self._scope = scope
            try:
                await wait()
            finally:
                self._scope = None
        return not scope.cancelled_caught

    def bring_forward(self, deadline: float | None) -> None:
        """End the current wait at ``deadline`` if that is sooner (``None``: no change). From
        the loop's thread (a callback) or any other (e.g. ``line.ack()`` in a worker thread)."""
        if self._thread != threading.get_ident() and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self.bring_forward, deadline)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass
            return
        scope = self._scope
        if scope is not None and deadline is not None and deadline < scope.deadline:
            scope.deadline = deadline


__all__ = ["Alarm"]
