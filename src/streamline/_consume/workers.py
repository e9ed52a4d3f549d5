"""Ordered concurrency for :meth:`MessageStream.run`: one worker task per partition.

The stream's fetch loop never waits for a handler: it hands each fetched batch to its
partition's queue and fetches again. That keeps aiokafka's ``max_poll_interval`` clock
(measured between fetches, not by the heartbeat task) from expiring however long a handler
takes. A partition whose queue reaches ``pause_after`` messages is paused — not fetched — until
its worker has taken the queued batches, so memory stays bounded. At most ``concurrency``
partitions run their handler at the same time; within a partition, order is kept.

A synchronous handler runs in a worker thread, one hop per batch (not per message), so
CPU-heavy code does not stop the event loop — heartbeats and fetches go on meanwhile.

Workers use the stream's :class:`.progress.Progress` (mark processed, withdraw what they will
not process, wake a waiting revoke) and :class:`.progress.Flow` (pause, resume); nothing else
of the stream.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from .._metrics import tracing as _tracing
from .._metrics.registry import Histogram
from .._models import Message
from .failures import FailurePolicy
from .port import Key
from .progress import Flow, Progress

log = logging.getLogger("streamline.consume")

Handler = Callable[[Any], Any]


def is_async(handler: Handler) -> bool:
    """True for ``async def`` functions (also behind ``functools.partial`` or ``__call__``)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 -- a callable object's async __call__
    )


class _Partition:
    """One partition's queue of fetched batches and the state of its worker."""

    __slots__ = ("chunk", "done", "handed", "queue", "running", "scope", "stopping", "waiting")

    def __init__(self) -> None:
        self.queue: deque[list[Message]] = deque()
        self.waiting = 0  # messages queued, not yet taken by the worker
        self.running = False
        self.stopping = False  # revoked: take no further message
        self.scope: anyio.CancelScope | None = None
        self.chunk: list[Message] = []  # the batch the worker is in
        self.done = 0  # chunk[:done] are finished (the handler returned)
        self.handed = 0  # chunk[:handed] were given to the handler

    def first_undone(self) -> int | None:
        """The offset of the first message not finished here (None: nothing left)."""
        offset: int | None = None
        if self.done < len(self.chunk):
            offset = self.chunk[self.done].offset
        elif self.queue:
            offset = self.queue[0][0].offset
        return offset

    def first_unhanded(self) -> int | None:
        """The offset of the first message not given to the handler yet."""
        offset: int | None = None
        if self.handed < len(self.chunk):
            offset = self.chunk[self.handed].offset
        elif self.queue:
            offset = self.queue[0][0].offset
        return offset


class PartitionWorkers:
    """Runs ``handler`` over a stream's batches, one task per busy partition (see the module doc)."""

    def __init__(
        self,
        progress: Progress,
        flow: Flow,
        handler: Handler,
        *,
        concurrency: int,
        batches: bool,
        pause_after: int,
        auto: bool,
        failures: FailurePolicy,
        durations: Histogram | None = None,
        group: str | None = None,
    ) -> None:
        self._progress = progress
        self._flow = flow
        self._handler = handler
        self._sync = not is_async(handler)
        self._batches = batches
        self._pause_after = pause_after
        self._limit = anyio.Semaphore(concurrency)
        self._auto = auto
        self._failures = failures
        #: One observation (seconds) per handler call, retries included.
        self.durations = durations if durations is not None else Histogram()
        self._partitions: dict[Key, _Partition] = {}
        self._tg: Any = None
        self._group = group  # for the batch's OpenTelemetry ``process`` span

    def start(self, tg: Any) -> None:
        self._tg = tg

    def dispatch(self, chunk: list[Message]) -> None:
        """Queue a fetched batch for its partition's worker (starting one if none runs)."""
        first = chunk[0]
        tp = (first.topic, first.partition)
        part = self._partitions.get(tp)
        if part is None or part.stopping:
            part = self._partitions[tp] = _Partition()
        part.queue.append(chunk)
        part.waiting += len(chunk)
        if part.waiting >= self._pause_after:
            self._flow.hold(tp, "queue")
        if not part.running:
            part.running = True
            self._tg.start_soon(self._work, tp, part, name=f"streamline worker {tp[0]}[{tp[1]}]")

    async def _work(self, tp: Key, part: _Partition) -> None:
        try:
            with anyio.CancelScope() as scope:
                part.scope = scope
                while part.queue and not part.stopping:
                    chunk = part.queue.popleft()
                    part.waiting -= len(chunk)
                    part.chunk, part.done, part.handed = chunk, 0, 0
                    if not part.queue:
                        self._flow.release(tp, "queue")  # fetch the next batch while this one runs
                    async with self._limit:
                        with _tracing.processing(chunk, self._group):  # a no-op unless tracing
                            if self._batches:
                                await self._whole(tp, part, chunk)
                            elif self._sync:
                                await self._each_in_thread(tp, part, chunk)
                            else:
                                await self._each(tp, part, chunk)
        finally:
            part.running = False
            part.scope = None
            self._progress.notify()

    async def _timed(self, call: Callable[[], Any]) -> None:
        started = time.perf_counter()
        try:
            await call()
        finally:
            self.durations.observe(time.perf_counter() - started)

    async def _each(self, tp: Key, part: _Partition, chunk: list[Message]) -> None:
        handler, auto, progress, observe = self._handler, self._auto, self._progress, self.durations.observe
        clock = time.perf_counter
        for i, msg in enumerate(chunk):
            if part.stopping:
                return
            part.handed = i + 1
            started = clock()
            try:
                await handler(msg)
            except Exception as exc:
                observe(clock() - started)
                await self._failures.handle(msg, exc, partial(self._timed, partial(handler, msg)))
            else:
                observe(clock() - started)
            part.done = i + 1
            if auto:
                progress.mark(tp, msg.offset + 1)

    async def _whole(self, tp: Key, part: _Partition, chunk: list[Message]) -> None:
        if part.stopping:
            return
        part.handed = len(chunk)
        handler = self._handler
        if self._sync:

            async def call() -> None:
                await anyio.to_thread.run_sync(handler, chunk)
        else:

            async def call() -> None:
                await handler(chunk)

        try:
            await self._timed(call)
        except Exception as exc:
            await self._failures.handle(chunk, exc, partial(self._timed, call))
        part.done = len(chunk)
        if self._auto:
            self._progress.mark(tp, chunk[-1].offset + 1)

    async def _each_in_thread(self, tp: Key, part: _Partition, chunk: list[Message]) -> None:
        """A synchronous handler: the rest of the batch in one thread hop; a failure comes back
        here for the failure policy, then the thread goes on with the message after it."""
        handler = self._handler
        clock = time.perf_counter
        durations = Histogram()  # this hop's own: threads of other partitions run meanwhile

        def rest() -> Exception | None:
            observe = durations.observe
            for i in range(part.done, len(chunk)):
                if part.stopping:
                    return None
                part.handed = i + 1
                started = clock()
                try:
                    handler(chunk[i])
                except Exception as exc:
                    observe(clock() - started)
                    return exc
                observe(clock() - started)
                part.done = i + 1
            return None

        def timed(msg: Message) -> None:
            started = clock()
            try:
                handler(msg)
            finally:
                durations.observe(clock() - started)

        while part.done < len(chunk) and not part.stopping:
            try:
                failed = await anyio.to_thread.run_sync(rest)
            finally:
                self.durations.merge(durations)
                durations.clear()
            if self._auto and part.done:
                self._progress.mark(tp, chunk[part.done - 1].offset + 1)
            if failed is None:
                continue
            msg = chunk[part.done]
            try:
                await self._failures.handle(msg, failed, partial(anyio.to_thread.run_sync, timed, msg))
            finally:
                self.durations.merge(durations)
                durations.clear()
            part.done += 1
            if self._auto:
                self._progress.mark(tp, msg.offset + 1)

    # -- rebalance and shutdown: called by the stream ---------------------------------------------

    def stop(self, partitions: Iterable[Key]) -> None:
        """Take no new message of ``partitions``: what is queued or not handed to the handler yet
        is withdrawn (the next owner reads it); a handler running now may finish."""
        for tp in partitions:
            part = self._partitions.get(tp)
            if part is None:
                continue
            part.stopping = True
            first = part.first_unhanded()
            part.queue.clear()
            part.waiting = 0
            if first is not None:
                self._progress.withdraw(tp, first)

    def busy(self, partitions: Iterable[Key]) -> bool:
        """True while a worker of ``partitions`` is still inside its handler."""
        parts = self._partitions
        return any((p := parts.get(tp)) is not None and p.running for tp in partitions)

    async def cancel_stragglers(self, partitions: set[Key]) -> None:
        """Cancel handlers of ``partitions`` that outlived the revoke grace; wait until they exit."""
        for tp in partitions:
            part = self._partitions.get(tp)
            if part is not None and part.running and part.scope is not None:
                log.warning("cancelling the handler of %s[%s]: revoke grace expired", *tp)
                part.scope.cancel()
        await self._progress.settle(lambda: self.busy(partitions), 5)
        self.abandon(partitions)

    def abandon(self, partitions: Iterable[Key] | None = None) -> None:
        """The workers of ``partitions`` (default: all) are gone: what they did not finish is
        withdrawn — it is not processed here — and their pauses end."""
        for tp in list(self._partitions if partitions is None else partitions):
            part = self._partitions.get(tp)
            if part is None or part.running:
                continue
            first = part.first_undone()
            if first is not None:
                self._progress.withdraw(tp, first)
            self._flow.release(tp, "queue")
            del self._partitions[tp]
