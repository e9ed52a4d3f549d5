"""Start positions: which partitions a stream reads, and where in each it starts reading.

Without a group the stream assigns every partition of its topics itself and re-reads the
metadata every ``partition_refresh_interval`` seconds to pick up partitions added later (read
from their beginning). ``start`` places the first assignment, or in a group the partitions
without a committed offset, at the end, the beginning, an offset, or a time. A mapping
``{partition: start}`` (no group) reads only the partitions it names, each from its own start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from .port import ConsumerPort, Key

#: A start position: "end", "beginning", an offset or a time.
Position = str | int | datetime


class StartPositions:
    """Partition discovery and start positions for one stream."""

    def __init__(self, topics: Sequence[str], start: Position | Mapping[int, Position]) -> None:
        self._topics = topics
        self._start = start
        self._known: dict[str, set[int]] = {}
        self._first = True

    async def assign_new(self, consumer: ConsumerPort) -> None:
        """No group: read partitions that appeared since the last call (all, the first time)."""
        current = await consumer.partitions_for(self._topics)
        if isinstance(self._start, Mapping):  # only the partitions named (each topic's)
            current = {t: parts & self._start.keys() for t, parts in current.items()}
        first, self._first = self._first, False
        new = [(t, p) for t, parts in current.items() for p in sorted(parts - self._known.get(t, set()))]
        if not new:
            return
        for t, parts in current.items():
            self._known.setdefault(t, set()).update(parts)
        consumer.assign(set(consumer.assignment()) | set(new))
        if first or isinstance(self._start, Mapping):  # a named partition has its own start
            await self.seek_start(consumer, new)
        else:
            # Partitions (or topics) that appeared while running hold only new data.
            await consumer.seek_to_beginning(new)

    async def seek_start(self, consumer: ConsumerPort, partitions: Sequence[Key]) -> None:
        if isinstance(self._start, Mapping):
            by_start: dict[Position, list[Key]] = {}
            for tp in partitions:
                by_start.setdefault(self._start[tp[1]], []).append(tp)
            for start, keys in by_start.items():
                await _seek(consumer, keys, start)
        else:
            await _seek(consumer, partitions, self._start)

    async def on_assigned(self, consumer: ConsumerPort, assigned: set[Key]) -> None:
        """In a group: partitions without a committed offset start at ``start`` (the group's
        ``auto_offset_reset`` covers "end" and "beginning")."""
        if not isinstance(self._start, (int, datetime)):
            return
        fresh = [tp for tp in sorted(assigned) if await consumer.committed(tp) is None]
        await self.seek_start(consumer, fresh)


async def _seek(consumer: ConsumerPort, partitions: Sequence[Key], start: Position) -> None:
    """Place ``partitions`` at ``start``."""
    if not partitions:
        return
    if start == "end":
        await consumer.seek_to_end(partitions)
    elif start == "beginning":
        await consumer.seek_to_beginning(partitions)
    elif isinstance(start, int):
        for tp in partitions:
            consumer.seek(tp, start)
    else:
        assert isinstance(start, datetime)
        found = await consumer.offsets_for_times(partitions, int(start.timestamp() * 1000))
        past_end = [tp for tp, offset in found.items() if offset is None]
        for tp, offset in found.items():
            if offset is not None:
                consumer.seek(tp, offset)
        if past_end:
            await consumer.seek_to_end(past_end)
