"""Ordered concurrency for :meth:`MessageStream.run`: one worker task per partition.

The poll loop never waits for a handler: it hands each fetched batch to its partition's queue
and goes back to ``getmany``. That keeps aiokafka's ``max_poll_interval`` clock (measured
between fetches, not by the heartbeat task) from expiring however long a handler takes. A
partition whose queue reaches ``pause_after`` messages is paused — not fetched — until its
worker has taken the last queued batch, so memory stays bounded. At most ``concurrency``
partitions run their handler at the same time; within a partition, order is kept.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

if TYPE_CHECKING:
    from ._consumer import MessageStream
    from ._models import Message

log = logging.getLogger("streamline.consume")

Key = tuple  # type: ignore[type-arg]


class _Partition:
    """One partition's queue of fetched batches and the state of its worker."""

    __slots__ = ("paused", "queue", "running", "scope", "stopping", "waiting")

    def __init__(self) -> None:
        self.queue: deque[list[Message]] = deque()
        self.waiting = 0  # messages queued, not yet taken by the worker
        self.paused = False
        self.running = False
        self.stopping = False  # revoked: take no further message
        self.scope: anyio.CancelScope | None = None


class PartitionWorkers:
    """Runs ``handler`` over a stream's messages, one task per busy partition (see the module doc)."""

    def __init__(
        self,
        stream: MessageStream,
        handler: Callable[[Any], Awaitable[Any]],
        *,
        concurrency: int,
        batches: bool,
        pause_after: int,
    ) -> None:
        self._stream = stream
        self._handler = handler
        self._batches = batches
        self._pause_after = pause_after
        self._limit = anyio.Semaphore(concurrency)
        self._auto = stream.ack_mode == "auto" and stream.group is not None
        self._partitions: dict[Key, _Partition] = {}
        self._tg: Any = None

    async def run(self) -> None:
        stream = self._stream
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                while True:
                    for chunk in await stream._fetch():
                        self._dispatch(chunk)
        except BaseExceptionGroup as group:
            # One failing handler is the usual case: raise its own exception, not a group.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._tg = None
            consumer = stream._consumer
            for tp, part in self._partitions.items():
                if part.paused and consumer is not None:
                    self._set_paused(tp, part, False)
            self._partitions.clear()

    def _dispatch(self, chunk: list[Message]) -> None:
        first = chunk[0]
        tp = (first.topic, first.partition)
        part = self._partitions.get(tp)
        if part is None or part.stopping:
            part = self._partitions[tp] = _Partition()
        part.queue.append(chunk)
        part.waiting += len(chunk)
        if part.waiting >= self._pause_after and not part.paused:
            self._set_paused(tp, part, True)
        if not part.running:
            part.running = True
            self._tg.start_soon(self._work, tp, part, name=f"streamline worker {tp[0]}[{tp[1]}]")

    def _set_paused(self, tp: Key, part: _Partition, paused: bool) -> None:
        consumer = self._stream._consumer
        part.paused = paused
        if consumer is None:
            return
        try:
            if paused:
                consumer.pause(TopicPartition(*tp))
            else:
                consumer.resume(TopicPartition(*tp))
        except IllegalStateError:
            pass  # no longer assigned: a new assignment starts unpaused

    async def _work(self, tp: Key, part: _Partition) -> None:
        processed = self._stream._processed
        handler = self._handler
        try:
            with anyio.CancelScope() as scope:
                part.scope = scope
                while part.queue and not part.stopping:
                    chunk = part.queue.popleft()
                    part.waiting -= len(chunk)
                    if part.paused and not part.queue:
                        self._set_paused(tp, part, False)  # fetch the next batch while this one runs
                    async with self._limit:
                        if self._batches:
                            if part.stopping:
                                break
                            await handler(chunk)
                            if self._auto:
                                processed[tp] = chunk[-1].offset + 1
                            continue
                        for msg in chunk:
                            if part.stopping:
                                break
                            await handler(msg)
                            if self._auto:
                                processed[tp] = msg.offset + 1
        finally:
            part.running = False
            part.scope = None
            self._stream._progress.set()

    # -- rebalance: called by the stream while partitions are revoked -------------------------

    def stop(self, partitions: set[Key]) -> None:
        """Take no new message of ``partitions``; queued ones are dropped (the next owner reads them)."""
        for tp in partitions:
            part = self._partitions.get(tp)
            if part is not None:
                part.stopping = True
                part.queue.clear()
                part.waiting = 0

    def busy(self, partitions: set[Key]) -> bool:
        """True while a worker of ``partitions`` is still inside its handler."""
        return any(
            part.running for tp, part in self._partitions.items() if tp in partitions
        )

    async def cancel_stragglers(self, partitions: set[Key]) -> None:
        """Cancel handlers of ``partitions`` that outlived the revoke grace; wait until they exit."""
        for tp in partitions:
            part = self._partitions.get(tp)
            if part is not None and part.running and part.scope is not None:
                log.warning("cancelling the handler of %s[%s]: revoke grace expired", *tp)
                part.scope.cancel()
        with anyio.move_on_after(5):
            while self.busy(partitions):  # noqa: ASYNC110 -- replaced in the consumer recomposition
                await anyio.sleep(0.01)
        for tp in partitions:
            part = self._partitions.get(tp)
            if part is not None and not part.running:
                del self._partitions[tp]
