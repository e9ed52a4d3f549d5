"""Progress: which offsets are processed per partition, and the commits a group makes for them.

A partition's committed offset never passes a message that is not processed. With
``ack="auto"`` the stream (or a worker) marks a partition processed up to an offset; with
``ack="manual"`` :class:`.offsets.PartitionAcks` bookkeeps acknowledgements that come in any
order, from any task. :class:`Progress` keeps offsets only — never messages — so what a stream
remembers does not grow with message sizes. The stream, its workers and its rebalance listener
share one :class:`Progress` and use it through its methods; it wakes whoever waits for
in-flight work (:meth:`Progress.settle`) whenever something is processed or withdrawn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

import anyio

from .._errors import StreamlineError
from .._models import Message
from .offsets import PartitionAcks
from .port import CommitFailedError, Key

log = logging.getLogger("streamline.consume")


class Committer(Protocol):
    """What :meth:`Progress.commit` needs from a consumer."""

    def assignment(self) -> set[Key]: ...

    async def commit(self, offsets: Mapping[Key, int]) -> None: ...


class Progress:
    """Processed offsets and commits of one stream (see the module docstring)."""

    def __init__(self, *, manual: bool) -> None:
        self.manual = manual
        self._processed: dict[Key, int] = {}  # auto: next offset to commit, per partition
        self._acks: dict[Key, PartitionAcks] = {}  # manual: delivered and acknowledged offsets
        self._committed: dict[Key, int] = {}
        # auto: where the processed position jumps over messages that count as processed
        # without being handed out (decode failures): {tp: {from offset: to offset}}
        self._skips: dict[Key, dict[int, int]] = {}
        self._changed = asyncio.Event()
        self._waiting = 0

    # -- processed messages ----------------------------------------------------------------------

    def mark(self, tp: Key, next_offset: int) -> None:
        """Auto mode: ``tp`` is processed up to (not including) ``next_offset``."""
        self._processed[tp] = next_offset
        if self._waiting:
            self._changed.set()

    def skip(self, tp: Key, at: int, to: int) -> None:
        """Auto mode: once ``tp`` is processed up to ``at``, it is processed up to ``to`` (the
        messages between were dealt with without being handed out). Resolved at commit time, so
        the per-message :meth:`mark` stays one dict store."""
        self._skips.setdefault(tp, {})[at] = to
        if self._waiting:
            self._changed.set()

    def deliver(self, tp: Key, batch: list[Message]) -> None:
        """Manual mode: ``batch`` (one partition, offset order) is handed out; it counts as in
        flight until acknowledged or withdrawn. Only its offsets are kept."""
        tracker = self._acks.get(tp)
        if tracker is None:
            tracker = self._acks[tp] = PartitionAcks()
        offsets = cast(Sequence[int], _OffsetsOf(batch))
        try:
            tracker.deliver(offsets, token=id(batch))
        except ValueError:
            # Delivered again (the position was reset): the earlier copies no longer count.
            tracker.withdraw_from(batch[0].offset)
            tracker.deliver(offsets, token=id(batch))

    def ack(self, item: Message | Sequence[Message]) -> None:
        """Manual mode: acknowledge a message or a list of messages of one partition."""
        if not self.manual:
            return
        if isinstance(item, Message):
            tracker = self._acks.get((item.topic, item.partition))
            if tracker is not None:
                tracker.ack(item.offset)
        elif item:
            first, last = item[0], item[-1]
            tracker = self._acks.get((first.topic, first.partition))
            if tracker is not None:
                if last.partition != first.partition or last.topic != first.topic:
                    raise StreamlineError("ack() takes messages of one partition (as batches() yields them)")
                tracker.ack_many(cast(Sequence[int], _OffsetsOf(item)), token=id(item))
        if self._waiting:
            self._changed.set()

    def withdraw(self, tp: Key, offset: int) -> None:
        """Messages of ``tp`` from ``offset`` on will not be processed here (never handed out, or
        dropped by a stopped worker): they no longer count as in flight."""
        tracker = self._acks.get(tp)
        if tracker is not None:
            tracker.withdraw_from(offset)
        if self._waiting:
            self._changed.set()

    def unacked_partitions(self, at_least: int) -> set[Key]:
        """Partitions with ``at_least`` unacknowledged messages."""
        return {tp for tp, tracker in self._acks.items() if tracker.outstanding >= at_least}

    def busy(self, partitions: Iterable[Key]) -> bool:
        """True while a message of ``partitions`` is handed out and not acknowledged."""
        acks = self._acks
        return any((t := acks.get(tp)) is not None and t.outstanding for tp in partitions)

    def notify(self) -> None:
        """Something in flight finished: wake :meth:`settle`."""
        if self._waiting:
            self._changed.set()

    async def settle(self, busy: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``busy()`` is false, at most ``timeout`` seconds; True when it is."""
        self._waiting += 1
        try:
            with anyio.move_on_after(timeout):
                while busy():
                    self._changed.clear()
                    if not busy():
                        break
                    await self._changed.wait()
            return not busy()
        finally:
            self._waiting -= 1

    # -- commits ---------------------------------------------------------------------------------

    def committable(self) -> dict[Key, int]:
        """The offset each partition may commit now: 1 + its last contiguous processed offset."""
        if self._skips:
            self._resolve_skips()
        offsets = dict(self._processed)
        for tp, tracker in self._acks.items():
            position = tracker.committable
            if position is not None:
                offsets[tp] = position
        return offsets

    def _resolve_skips(self) -> None:
        for tp, skips in list(self._skips.items()):
            position = self._processed.get(tp)
            while position is not None and position in skips:
                position = skips.pop(position)
            if position is not None:
                self._processed[tp] = position
                for at in [at for at in skips if at < position]:
                    del skips[at]
            if not skips:
                del self._skips[tp]

    @property
    def committed(self) -> dict[Key, int]:
        """The offset last committed per owned partition (after the broker accepted it)."""
        return dict(self._committed)

    async def commit(self, consumer: Committer, *, only: Iterable[Key] | None = None) -> None:
        """Commit what is processed and not committed yet, for partitions ``consumer`` owns.

        A refused commit is not fatal — the messages are processed, only their commit is late
        (at-least-once) — so it is logged and retried by the next commit.
        """
        wanted = self.committable()
        owned = consumer.assignment()
        keys = wanted.keys() if only is None else set(only)
        offsets = {
            tp: wanted[tp]
            for tp in keys
            if tp in wanted and tp in owned and self._committed.get(tp) != wanted[tp]
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except CommitFailedError as exc:
            log.warning("commit of %s failed (%s); will retry", _describe(offsets), exc)
            return
        self._committed.update(offsets)

    def forget(self, partitions: Iterable[Key]) -> None:
        """``partitions`` are no longer ours: drop everything known about them."""
        for tp in partitions:
            self._processed.pop(tp, None)
            self._skips.pop(tp, None)
            self._committed.pop(tp, None)
            self._acks.pop(tp, None)
        self.notify()


class _OffsetsOf:
    """The offsets of a list of messages, as a sequence, without building a list of ints."""

    __slots__ = ("_messages",)

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = messages

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, i: int) -> int:
        offset: int = self._messages[i].offset
        return offset


def ackable_class(progress: Progress) -> type[Message]:
    """A per-stream subclass of :class:`Message` whose ``ack()`` reaches ``progress``.

    aiokafka builds the records as this class exactly as it would ``Message``, so ``msg.ack()``
    costs nothing on the fetch path; ``progress`` is held weakly (an ack after the stream is
    gone is ignored).
    """
    ref = weakref.ref(progress)

    def ack(self: Message) -> None:
        """Acknowledge this message (``consume(..., ack="manual")``): it is processed."""
        owner = ref()
        if owner is not None:
            owner.ack(self)

    def __reduce__(self: Message) -> Any:  # pickle as a plain Message
        return (Message, tuple(getattr(self, f.name) for f in dataclasses.fields(Message)))

    return type("Message", (Message,), {"ack": ack, "__reduce__": __reduce__, "__module__": Message.__module__})


def _describe(offsets: Mapping[Key, int]) -> str:
    return ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(offsets.items()))


def describe_keys(keys: Iterable[Key]) -> str:
    """``t[0], t[1]`` for log lines."""
    return ", ".join(f"{t}[{p}]" for t, p in sorted(keys))


class Flow:
    """Which partitions are paused, and why: a worker's queue is full, too many messages are
    unacknowledged. A partition is fetched again when no reason is left."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        self._holds: dict[Key, set[str]] = {}

    def hold(self, tp: Key, reason: str) -> None:
        reasons = self._holds.get(tp)
        if reasons is None:
            reasons = self._holds[tp] = set()
            self._consumer.pause([tp])
        reasons.add(reason)

    def release(self, tp: Key, reason: str) -> None:
        reasons = self._holds.get(tp)
        if reasons is None or reason not in reasons:
            return
        reasons.discard(reason)
        if not reasons:
            del self._holds[tp]
            self._consumer.resume([tp])

    def held(self, reason: str) -> set[Key]:
        return {tp for tp, reasons in self._holds.items() if reason in reasons}

    def forget(self, partitions: Iterable[Key]) -> None:
        """Revoked: a new assignment of these partitions starts unpaused."""
        for tp in partitions:
            if self._holds.pop(tp, None) is not None:
                self._consumer.resume([tp])
