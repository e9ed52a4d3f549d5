"""``follow()``: tail -F for asyncio, without losing or repeating a line."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Union

import anyio

from .. import _metrics
from .._errors import ConfigurationError
from .._validation import check_number
from .checkpoints import Checkpoints
from .events import ChainedGrouper, ContainerFormat, ContainerGrouper, Grouper, multiline_grouper
from .framing import LONG_LINE_POLICIES, Framed, LongLinePolicy
from .lines import FollowerStats, Line, LineBatch
from .ratelimit import RateLimit, Throttle
from .reader import Reader, ReaderOptions, Start
from .watch import BUSY_GAP

if TYPE_CHECKING:
    from .._ingest.spec import Multiline

PathArg = Union[str, "os.PathLike[str]"]

#: Seconds a renamed or deleted file must be quiet before it is closed. Writers keep writing
#: to a renamed file until they reopen (logrotate ``create`` then a postrotate signal,
#: containerd after kubelet's rename): usually well under a second, sometimes seconds. The
#: clock restarts at every write, so only the quiet time after the last write counts. 30 s is
#: 6x Fluent Bit's ``rotate_wait`` (5 s) for slow reopeners, at the cost of one descriptor and
#: the renamed file's disk space for 30 s per rotation; Filebeat's 5 min suits rare writers.
ROTATE_WAIT = 30.0


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
        rotate_wait: float = ROTATE_WAIT,
        max_open_files: int | None = None,
        max_partial_bytes: int = 64 << 20,
        exclude: Sequence[str] = (),
        multiline: Multiline | None = None,
        container: ContainerFormat | None = None,
        linger: float = BUSY_GAP,
    ) -> None:
        path_list = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not path_list:
            raise ConfigurationError("follow() needs at least one path or glob")
        self.paths = [os.fspath(p) for p in path_list]
        if not (start in ("end", "beginning") or (_is_int(start) and int(start) >= 0)):
            raise ConfigurationError(
                f"start must be 'end', 'beginning' or a byte offset >= 0 (got {start!r})"
            )
        check_number("poll_interval", poll_interval, above=0)
        check_number("max_line_bytes", max_line_bytes, minimum=1, integer=True)
        check_number("rotate_wait", rotate_wait, minimum=0)
        check_number("linger", linger, minimum=0)
        if max_open_files is None:
            max_open_files = default_max_open_files()
        check_number("max_open_files", max_open_files, minimum=1, integer=True)
        check_number("max_partial_bytes", max_partial_bytes, minimum=0, integer=True)
        if isinstance(exclude, str):
            exclude = [exclude]
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
            start,
            reopen,
            must_exist,
            notify,
            poll_interval,
            max_line_bytes,
            long_lines,
            stop_at_eof,
            rotate_wait=float(rotate_wait),
            max_open_files=max_open_files,
            max_partial_bytes=max_partial_bytes,
            exclude=list(exclude),
            linger=float(linger),
        )
        options.events, options.event_timeout = _event_grouping(multiline, container, max_line_bytes)
        self._reader = Reader(self.paths, options, self.stats, checkpoints)
        self._throttle = Throttle(rate_limit) if rate_limit is not None else None
        self._pieces: deque[LineBatch] = deque()
        # Lines of a batch not handed out yet: state of the follower, not of one iterator, so
        # iterators used in turn (``break``, then ``async for`` again) see every line once.
        self._current: Iterator[Line] = iter(())
        self._state = "new"  # -> "open" -> "closed"

    def status_parts(self) -> list[str]:
        """Figures worth showing in a status line: long lines split or skipped, files skipped,
        warnings, a failing checkpoint save (only those that are not zero/none)."""
        parts = self.stats.status_parts()
        error = getattr(self.checkpoints, "last_error", None)
        if error:
            parts.append(f"checkpoints not saved: {error}")
        return parts

    @property
    def warnings(self) -> list[str]:
        """Problems with paths, one line each (missing, unreadable, a directory, compressed).

            for warning in follower.warnings: print(warning)
        """
        return list(self._reader.warnings)

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
        rest = list(self._current)
        if rest:  # lines a line iterator left: hand them out first, as a batch
            self._current = iter(())
            return _rest_batch(rest)
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

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> Line:
        follower = self._follower
        line = next(follower._current, None)
        while line is None:
            batch = await follower._next_batch()
            if batch is None:
                raise StopAsyncIteration
            follower._current = iter(batch)
            line = next(follower._current, None)
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


def _rest_batch(lines: list[Line]) -> LineBatch:
    """A batch of the lines a line iterator did not take (consecutive lines of one file)."""
    first = lines[0]
    framed = Framed(
        [line.data for line in lines],
        first.offset,
        lines[-1].end_offset,
        [line.offset for line in lines],
        [line.end_offset for line in lines],
    )
    return LineBatch(first.path, first.identity, framed, first._checkpoint)


def _event_grouping(
    multiline: Multiline | None, container: ContainerFormat | None, max_line_bytes: int
) -> tuple[Callable[[], Grouper] | None, float]:
    """The grouper factory for ``multiline=`` or ``container=`` (checked once, here), and the
    event timeout. An event is capped at ``max_line_bytes``: it must fit in one record."""
    if multiline is not None:
        check_number("multiline max_lines", multiline.max_lines, minimum=1, integer=True)
        check_number("multiline max_bytes", multiline.max_bytes, minimum=1, integer=True)
        check_number("multiline timeout", multiline.timeout, above=0)
        settings = dict(
            negate=multiline.negate,
            match=multiline.match,
            preset=multiline.preset,
            max_lines=multiline.max_lines,
            max_bytes=min(multiline.max_bytes, max_line_bytes),
            content=container,
        )
        multiline_grouper(multiline.pattern, **settings)  # type: ignore[arg-type]  # bad settings fail now

        def grouper() -> Grouper:
            lines = multiline_grouper(multiline.pattern, **settings)  # type: ignore[arg-type]
            if container is None:
                return lines
            return ChainedGrouper(ContainerGrouper(container, max_bytes=max_line_bytes), lines)

        return grouper, float(multiline.timeout)
    if container is not None:
        ContainerGrouper(container)
        return (lambda: ContainerGrouper(container, max_bytes=max_line_bytes)), CONTAINER_TIMEOUT
    return None, 0.0


#: Seconds a container's partial line waits for its end (a runtime writes the rest at once).
CONTAINER_TIMEOUT = 5.0


def default_max_open_files() -> int:
    """Half the process's open-file limit (at least 16): room is left for sockets and the rest."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 512
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 4096
    return max(16, soft // 2)


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
    rotate_wait: float = ROTATE_WAIT,
    max_open_files: int | None = None,
    max_partial_bytes: int = 64 << 20,
    exclude: Sequence[str] = (),
    multiline: Multiline | None = None,
    container: ContainerFormat | None = None,
    linger: float = BUSY_GAP,
) -> Follower:
    """Follow files like ``tail -F``: rotation, truncation, globs, checkpoints, backpressure.

    ``paths`` is a path, a glob, or a list of them. ``start`` is ``"end"``, ``"beginning"`` or
    a byte offset, for files present at start-up without a checkpoint; files that appear later
    are read from their beginning. ``stop_at_eof`` ends iteration once every file is read.

    A renamed or deleted file is read while it grows and closed after ``rotate_wait`` quiet
    seconds. At most ``max_open_files`` descriptors are held (default: half the process
    limit); idle files are closed and reopened when they grow. Partial last lines held in
    memory across files are capped at ``max_partial_bytes`` (idle files' partial lines are
    dropped and read again from the file once it grows). ``exclude`` patterns (full path or
    file name) remove glob matches.

    ``multiline`` joins continuation lines into one event (:class:`~streamline.Multiline`);
    ``container="cri"`` or ``"docker"`` reassembles container runtimes' partial lines. Either
    way an item is a whole event, and a checkpoint never falls inside one.

    ``linger`` is the file's ``linger.ms``, in seconds: a change after a quiet spell is read at
    once, but while lines keep coming, reads are at least ``linger`` apart (where change
    notification works), so a file written line by line is handed over in small batches.
    Each read becomes a produce request downstream: a shorter linger lowers latency and costs
    CPU (following 1,000 lines/s: about 10 % of a core at the default 5 ms, 15 % at 3 ms).

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
        rotate_wait=rotate_wait,
        max_open_files=max_open_files,
        max_partial_bytes=max_partial_bytes,
        exclude=exclude,
        multiline=multiline,
        container=container,
        linger=linger,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
