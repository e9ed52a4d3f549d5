"""Cleanup that must finish: a bounded coroutine that native ``task.cancel()`` does not cut short.

anyio's shielded scopes protect against anyio cancellation only; a plain ``task.cancel()`` (from
``asyncio.wait_for``, a signal handler, a framework) still interrupts them. Saving checkpoints of
acknowledged data and stopping a producer within its bound must not be interrupted half way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def finish(aw: Awaitable[T]) -> T:
    """Await ``aw`` to its end even if this task is cancelled meanwhile; then re-raise the
    cancellation. Only for work that is bounded by its own timeout.

    >>> await finish(producer.stop(timeout=5))  # doctest: +SKIP
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                if task.cancelled():  # the work itself was cancelled, not us
                    raise
                result = task.result()
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result
