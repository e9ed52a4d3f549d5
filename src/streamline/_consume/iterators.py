"""Iterators over the stream that survive a cancelled ``anext()``."""

from __future__ import annotations

import operator
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Restartable(Generic[T]):
    """An async iterator over one of the stream's generators that survives a cancelled (or
    failed) ``anext()``: the stream keeps all iteration state, so a fresh generator resumes
    exactly where the interrupted one stopped — nothing is lost, nothing handed out twice.

    ``anext()`` costs no Python frame: ``__anext__`` is a property that hands out the current
    generator's own ``__anext__`` (a plain Python ``def __anext__`` costs ~0.2 µs per message,
    ~15 % of consume throughput). After :meth:`broke` it hands out :meth:`_restart` instead.
    """

    __slots__ = ("_gen", "_make", "_next")

    def __init__(self, make: Callable[[Restartable[T]], AsyncGenerator[T, None]]) -> None:
        self._make = make
        self._gen = make(self)
        self._next: Callable[[], Awaitable[T]] = self._gen.__anext__

    def __aiter__(self) -> Restartable[T]:
        return self

    __anext__ = property(operator.attrgetter("_next"))

    def broke(self) -> None:
        """The generator was cancelled or failed while fetching: the next ``anext()`` starts a
        fresh one (the exception itself goes to the caller as usual)."""
        self._next = self._restart

    def _restart(self) -> Awaitable[T]:
        self._gen = self._make(self)
        self._next = self._gen.__anext__
        return self._next()

    async def aclose(self) -> None:
        await self._gen.aclose()
