"""Start positions: which partitions a stream reads, and where in each it starts reading.

Without a group the stream assigns every partition of its topics itself and re-reads the
metadata every ``partition_refresh_interval`` seconds to pick up partitions added later (read
from their beginning). ``start`` places the first assignment, or in a group the partitions
without a committed offset, at the end, the beginning, an offset, or a time.
:class:`StartPositions` is a base class of :class:`._consumer.MessageStream`.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition

from . import _client

if TYPE_CHECKING:
    from ._config import ConnectionConfig


class StartPositions:
    """Partition discovery and start positions of a :class:`._consumer.MessageStream` (its base class)."""

    if TYPE_CHECKING:  # state set up by MessageStream.__init__
        topics: list[str]
        connection: ConnectionConfig
        _consumer: Any
        _start: str | int | datetime
        _refresh_interval: float
        _next_refresh: float
        _known: dict[str, set[int]]
        _initial_assignment_done: bool
        _assignments: int

        def _running(self) -> Any: ...

    async def _assign_new_partitions(self) -> None:
        consumer = self._running()
        self._next_refresh = time.monotonic() + self._refresh_interval
        current = await _client.bounded(
            _client.fetch_partitions(consumer, self.topics), self.connection, "a metadata request"
        )
        first, self._initial_assignment_done = not self._initial_assignment_done, True
        new = [
            TopicPartition(t, p)
            for t, parts in current.items()
            for p in sorted(parts - self._known.get(t, set()))
        ]
        if not new:
            return
        for t, parts in current.items():
            self._known.setdefault(t, set()).update(parts)
        consumer.assign(sorted(set(consumer.assignment()) | set(new)))
        if first:
            await self._seek_start(consumer, new)
        else:
            # Partitions (or topics) that appeared while running hold only new data.
            await consumer.seek_to_beginning(*new)

    async def _seek_start(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        start = self._start
        if not partitions:
            return
        if start == "end":
            await consumer.seek_to_end(*partitions)
            # Resolve now: "end" means the end when the stream was opened, not at the first fetch.
            for tp in partitions:
                await consumer.position(tp)
        elif start == "beginning":
            await consumer.seek_to_beginning(*partitions)
        elif isinstance(start, int):
            for tp in partitions:
                consumer.seek(tp, start)
        else:
            assert isinstance(start, datetime)
            millis = int(start.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: millis for tp in partitions})
            past_end = [tp for tp, ot in found.items() if ot is None]
            for tp, ot in found.items():
                if ot is not None:
                    consumer.seek(tp, ot.offset)
            if past_end:
                await consumer.seek_to_end(*past_end)

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assignments += 1
        consumer = self._consumer
        if consumer is None or not isinstance(self._start, (int, datetime)):
            return
        fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
        await self._seek_start(consumer, fresh)
