"""Commits: which messages are processed, and the offsets a consumer group commits for them.

A partition's committed offset never passes a message that is not processed. With
``ack="auto"`` the stream marks a message processed when the loop body asks for the next one;
with ``ack="manual"`` :class:`._offsets.PartitionAcks` bookkeeps acknowledgements that come in
any order. :class:`OffsetCommits` commits every ``commit_interval`` seconds, when the group
revokes partitions (after their in-flight messages drained, at most ``revoke_timeout``) and on
close. It is a base class of :class:`._consumer.MessageStream` and shares its state, so the
fetch path pays no extra indirection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from ._errors import StreamlineError
from ._models import Message
from ._offsets import PartitionAcks

if TYPE_CHECKING:
    from ._consumer import MessageStream

log = logging.getLogger("streamline.consume")

#: ``(topic, partition)``; equal to (and hashes like) aiokafka's ``TopicPartition``.
Key = tuple  # type: ignore[type-arg]


class OffsetCommits:
    """Processed messages and offset commits of a :class:`._consumer.MessageStream` (its base class)."""

    if TYPE_CHECKING:  # state set up by MessageStream.__init__
        group: str | None
        _consumer: Any
        _commit_interval: float
        _revoke_timeout: float
        _buffer: list[Message]
        _index: int
        _chunks: deque[list[Message]]
        _chunked: int
        _pending: Message | None
        _processed: dict[Key, int]
        _acks: dict[Key, PartitionAcks] | None
        _committed: dict[Key, int]
        _workers: Any
        _draining: int
        _progress: asyncio.Event
        _next_commit: float

    # -- processed messages --------------------------------------------------------------------

    def ack(self, item: Message | Sequence[Message]) -> None:
        """Acknowledge a message, or a list of messages of one partition (what :meth:`batches` yields).

        With ``ack="manual"`` the partition's committed offset advances over the contiguous
        prefix of acknowledged messages; acks may come in any order, from any task of this event
        loop. Acks for partitions this member no longer owns, and every ack with
        ``ack="auto"`` (where the loop itself marks progress) or without a group, are ignored.

        >>> stream.ack(batch)  # doctest: +SKIP
        """
        acks = self._acks
        if acks is None:
            return
        if isinstance(item, Message):
            tracker = acks.get((item.topic, item.partition))
            if tracker is not None:
                tracker.ack(item.offset)
        elif item:
            first = item[0]
            tracker = acks.get((first.topic, first.partition))
            if tracker is not None:
                if item[-1].partition != first.partition or item[-1].topic != first.topic:
                    raise StreamlineError("ack() takes messages of one partition (as batches() yields them)")
                tracker.ack_many(_OffsetsOf(item))
        if self._draining:
            self._progress.set()

    def _deliver(self, tp: Key, batch: list[Message]) -> None:
        assert self._acks is not None
        tracker = self._acks.get(tp)
        if tracker is None:
            tracker = self._acks[tp] = PartitionAcks()
        offsets = _OffsetsOf(batch)
        try:
            tracker.deliver(offsets)
        except ValueError:
            # Delivered again (a broker reset the position): the earlier copies no longer count.
            tracker.withdraw_from(batch[0].offset)
            tracker.deliver(offsets)

    def _mark(self, msg: Message) -> None:
        self._processed[(msg.topic, msg.partition)] = msg.offset + 1

    def _finish_pending(self) -> None:
        assert self._pending is not None
        self._mark(self._pending)
        self._pending = None
        if self._draining:
            self._progress.set()

    def _busy(self, partitions: set[Key]) -> bool:
        """True while a message of ``partitions`` is handed out and not processed."""
        pending = self._pending
        if pending is not None and (pending.topic, pending.partition) in partitions:
            return True
        if self._acks is not None:
            for tp in partitions:
                tracker = self._acks.get(tp)
                if tracker is not None and tracker.outstanding:
                    return True
        return self._workers is not None and self._workers.busy(partitions)

    async def _drain(self, partitions: set[Key], timeout: float) -> None:
        """Wait (at most ``timeout``) until the in-flight messages of ``partitions`` are processed."""
        deadline = time.monotonic() + timeout
        self._draining += 1
        try:
            while self._busy(partitions):
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning(
                        "%s: messages of %s still in flight after %gs; they go to the next owner",
                        self.group, _describe_keys(partitions), timeout,
                    )
                    break
                self._progress.clear()
                try:
                    await asyncio.wait_for(self._progress.wait(), min(left, 0.2))
                except asyncio.TimeoutError:
                    pass
        finally:
            self._draining -= 1

    async def _release(self, partitions: set[Key]) -> None:
        """Stop delivering ``partitions`` and wait (bounded) for their in-flight messages."""
        if not partitions:
            return
        # Fetched messages not handed out yet belong to the next owner.
        first_dropped: dict[Key, int] = {}
        kept: deque[list[Message]] = deque()
        for chunk in ([self._buffer[self._index :]] if self._index < len(self._buffer) else []) + list(self._chunks):
            tp = (chunk[0].topic, chunk[0].partition)
            if tp in partitions:
                first_dropped.setdefault(tp, chunk[0].offset)
            else:
                kept.append(chunk)
        self._buffer, self._index = [], 0
        self._chunks, self._chunked = kept, sum(len(c) for c in kept)
        if self._acks is not None:
            for tp, offset in first_dropped.items():
                tracker = self._acks.get(tp)
                if tracker is not None:
                    tracker.withdraw_from(offset)
        if self._workers is not None:
            self._workers.stop(partitions)
        await self._drain(partitions, self._revoke_timeout)
        if self._workers is not None:
            await self._workers.cancel_stragglers(partitions)

    # -- commits -------------------------------------------------------------------------------

    def committable(self) -> dict[tuple[str, int], int]:
        """The offset each partition may commit now: 1 + its last contiguous processed offset."""
        offsets = dict(self._processed)
        if self._acks is not None:
            for tp, tracker in self._acks.items():
                position = tracker.committable
                if position is not None:
                    offsets[tp] = position
        return offsets

    async def _commit(self, consumer: Any, *, final: bool = False, only: Iterable[Key] | None = None) -> None:
        self._next_commit = time.monotonic() + self._commit_interval
        wanted = self.committable()
        owned = set(consumer.assignment())
        keys = wanted.keys() if only is None else set(only)
        offsets = {
            TopicPartition(*tp): wanted[tp]
            for tp in keys
            if tp in wanted and tp in owned and self._committed.get(tp) != wanted[tp]
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Not fatal: the messages are processed, only their commit is late, so a new owner may
            # see them again (at-least-once). The next commit retries.
            log.warning("commit of %s failed (%s); will retry", _describe(offsets), exc)
            return
        self._committed.update(offsets)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        await self._release(set(revoked))
        await self._commit(consumer, only=revoked)
        for tp in revoked:
            self._processed.pop(tp, None)
            self._committed.pop(tp, None)
            if self._acks is not None:
                self._acks.pop(tp, None)
        if self._pending is not None and (self._pending.topic, self._pending.partition) in revoked:
            self._pending = None


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the group's rebalances to the stream: commit on revoke, seek start positions on assign."""

    def __init__(self, stream: MessageStream) -> None:
        self._stream = stream

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._stream._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._stream._on_assigned(set(assigned))


class _OffsetsOf:
    """The offsets of a list of messages, as a sequence, without building a list of ints."""

    __slots__ = ("_messages",)

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = messages

    def same_batch(self, other: object) -> bool:
        """True when both views are over the very list of messages that was delivered."""
        return isinstance(other, _OffsetsOf) and other._messages is self._messages

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [m.offset for m in self._messages[i]]
        return self._messages[i].offset


def _ackable_class(stream: MessageStream) -> type[Message]:
    """A per-stream subclass of :class:`Message` whose ``ack()`` reaches the stream.

    aiokafka builds the records as this class exactly as it would ``Message``, so ``msg.ack()``
    costs nothing on the fetch path; the stream is held weakly (an ack after it is gone is ignored).
    """
    ref = weakref.ref(stream)

    def ack(self: Message) -> None:
        """Acknowledge this message (``consume(..., ack="manual")``): it is processed."""
        owner = ref()
        if owner is not None:
            owner.ack(self)

    def __reduce__(self: Message) -> Any:  # pickle as a plain Message
        return (Message, tuple(getattr(self, f.name) for f in dataclasses.fields(Message)))

    return type("Message", (Message,), {"ack": ack, "__reduce__": __reduce__, "__module__": Message.__module__})


def _describe(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(offsets.items()))


def _describe_keys(keys: Iterable[Key]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in sorted(keys))
