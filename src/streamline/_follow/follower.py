"""``follow()``: tail -F for asyncio, without losing or repeating a line."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Union

import anyio

from .. import _metrics
from .._errors import ConfigurationError
from .checkpoints import Checkpoints
from .framing import LONG_LINE_POLICIES, LongLinePolicy
from .lines import FollowerStats, Line, LineBatch
from .ratelimit import RateLimit, Throttle
from .reader import Reader, ReaderOptions, Start

PathArg = Union[str, "os.PathLike[str]"]


class Follower:
    """Follows files like ``tail -F``: an async iterator of :class:`Line`, and a context manager.

    Create it with :func:`follow`. ``async with`` gives deterministic clean-up (files closed,
    checkpoints saved) even when you ``break``; plain ``async for`` cleans up too, when Python
    finalizes the iterator. :meth:`batches` is the fast path: one :class:`LineBatch` per read.

        async with follow("/var/log/nginx/access.log") as lines:
            async for line in lines:
                print(line.text)
    """

    def __init__(
        self,
        paths: PathArg | Sequence[PathArg],
        *,
        start: Start = "end",
        reopen: bool = True,
        must_exist: bool = False,
        notify: bool = True,
        poll_interval: float = 0.25,
        max_line_bytes: int = 1_048_576,
        long_lines: LongLinePolicy = "split",
        rate_limit: RateLimit | float | None = None,
        checkpoints: Checkpoints | PathArg | None = None,
        stop_at_eof: bool = False,
    ) -> None:
        path_list = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not path_list:
            raise ConfigurationError("follow() needs at least one path or glob")
        self.paths = [os.fspath(p) for p in path_list]
        if not (start in ("end", "beginning") or (_is_int(start) and int(start) >= 0)):
            raise ConfigurationError(
                f"start must be 'end', 'beginning' or a byte offset >= 0 (got {start!r})"
            )
        if not poll_interval > 0:
            raise ConfigurationError(f"poll_interval must be positive (got {poll_interval!r})")
        if not (_is_int(max_line_bytes) and max_line_bytes >= 1):
            raise ConfigurationError(f"max_line_bytes must be at least 1 (got {max_line_bytes!r})")
        if long_lines not in LONG_LINE_POLICIES:
            raise ConfigurationError(
                f"long_lines must be one of {', '.join(LONG_LINE_POLICIES)} (got {long_lines!r})"
            )
        try:
            if rate_limit is not None and not isinstance(rate_limit, RateLimit):
                rate_limit = RateLimit(float(rate_limit))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"rate_limit: {exc}") from None
        if checkpoints is not None and not isinstance(checkpoints, Checkpoints):
            checkpoints = Checkpoints(checkpoints)
        self.rate_limit = rate_limit
        self.checkpoints = checkpoints
        self.stats = FollowerStats()
        _metrics.track(self)
        options = ReaderOptions(
            start, reopen, must_exist, notify, poll_interval, max_line_bytes, long_lines, stop_at_eof
        )
        self._reader = Reader(self.paths, options, self.stats, checkpoints)
        self._throttle = Throttle(rate_limit) if rate_limit is not None else None
        self._pieces: deque[LineBatch] = deque()
        self._state = "new"  # -> "open" -> "closed"

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        """Load checkpoints and open the files; raises ``FileNotFoundError`` with ``must_exist``."""
        if self._state != "new":
            raise RuntimeError(f"this follower is already {self._state}; create a new one")
        self._state = "open"
        try:
            await self._reader.open()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the files and save acknowledged positions (idempotent)."""
        if self._state == "closed":
            return
        self._state = "closed"
        with anyio.CancelScope(shield=True):  # positions must be saved even when cancelled
            await self._reader.close()

    async def __aenter__(self) -> Follower:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- iteration -------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Line]:
        if self._state == "new":  # plain ``async for``: the iterator opens and closes
            return self._owned_lines()
        return _Lines(self)

    def batches(self) -> AsyncIterator[LineBatch]:
        """Iterate :class:`LineBatch` objects: consecutive lines of one file per batch.

            async with follow("access.log", stop_at_eof=True) as follower:
                async for batch in follower.batches():
                    await ship(batch.data); batch.ack()
        """
        if self._state == "new":
            return self._owned_batches()
        return _Batches(self)

    # Inside ``async with``, iterators are plain objects whose ``__anext__`` may be cancelled
    # (``move_on_after`` around it) and called again. Without ``async with``, an async
    # generator owns the follower, so Python's async-generator finalizer closes it on ``break``.
    async def _owned_lines(self) -> AsyncIterator[Line]:
        async with self:
            async for line in _Lines(self):
                yield line

    async def _owned_batches(self) -> AsyncIterator[LineBatch]:
        async with self:
            async for batch in _Batches(self):
                yield batch

    async def _next_batch(self) -> LineBatch | None:
        if self._state != "open":
            raise RuntimeError("this follower is closed; create a new one")
        if not self._pieces:
            batch = await self._reader.next_batch()
            if batch is None:
                return None
            if self._throttle is None:
                return batch
            limit = self._throttle.limit
            self._pieces.extend(batch.split(limit.piece, limit.unit))
        if self._throttle is not None:
            piece = self._pieces[0]  # taken only after the wait, so a cancelled wait loses nothing
            unit = self._throttle.limit.unit
            await self._throttle.acquire(len(piece) if unit == "lines" else piece.bytes)
        return self._pieces.popleft()


class _Lines:
    """Cancel-safe iterator of the lines of an open follower."""

    def __init__(self, follower: Follower) -> None:
        self._follower = follower
        self._current: Iterator[Line] = iter(())

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> Line:
        line = next(self._current, None)
        while line is None:
            batch = await self._follower._next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._current = iter(batch)
            line = next(self._current, None)
        return line


class _Batches:
    """Cancel-safe iterator of the batches of an open follower."""

    def __init__(self, follower: Follower) -> None:
        self._follower = follower

    def __aiter__(self) -> _Batches:
        return self

    async def __anext__(self) -> LineBatch:
        batch = await self._follower._next_batch()
        if batch is None:
            raise StopAsyncIteration
        return batch


def follow(
    paths: PathArg | Sequence[PathArg],
    *,
    start: Start = "end",
    reopen: bool = True,
    must_exist: bool = False,
    notify: bool = True,
    poll_interval: float = 0.25,
    max_line_bytes: int = 1_048_576,
    long_lines: LongLinePolicy = "split",
    rate_limit: RateLimit | float | None = None,
    checkpoints: Checkpoints | PathArg | None = None,
    stop_at_eof: bool = False,
) -> Follower:
    """Follow files like ``tail -F``: rotation, truncation, globs, checkpoints, backpressure.

    ``paths`` is a path, a glob, or a list of them. ``start`` is ``"end"``, ``"beginning"`` or
    a byte offset, for files present at start-up without a checkpoint; files that appear later
    are read from their beginning. ``stop_at_eof`` ends iteration once every file is read.

        async for line in follow("/var/log/app/*.log", start="beginning"):
            print(line.path, line.text)
    """
    return Follower(
        paths,
        start=start,
        reopen=reopen,
        must_exist=must_exist,
        notify=notify,
        poll_interval=poll_interval,
        max_line_bytes=max_line_bytes,
        long_lines=long_lines,
        rate_limit=rate_limit,
        checkpoints=checkpoints,
        stop_at_eof=stop_at_eof,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
