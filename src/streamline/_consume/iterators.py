"""Iterators over the stream that survive a cancelled ``anext()``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Restartable(AsyncIterator[T], Generic[T]):
    """An async iterator over one of the stream's generators that survives a cancelled (or
    failed) ``anext()``: the stream keeps all iteration state, so a fresh generator resumes
    exactly where the interrupted one stopped — nothing is lost, nothing handed out twice."""

    __slots__ = ("_gen", "_make", "_next", "broken")

    def __init__(self, make: Callable[[Restartable[T]], AsyncGenerator[T, None]]) -> None:
        self._make = make
        self.broken = False
        self._gen = make(self)
        self._next = self._gen.__anext__

    def __aiter__(self) -> Restartable[T]:
        return self

    def __anext__(self) -> Any:
        if self.broken:
            self.broken = False
            self._gen = self._make(self)
            self._next = self._gen.__anext__
        return self._next()

    async def aclose(self) -> None:
        await self._gen.aclose()
