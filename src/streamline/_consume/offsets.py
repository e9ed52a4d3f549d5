"""Which offset of a partition may be committed, when messages are acknowledged out of order.

:class:`PartitionAcks` is pure bookkeeping (no I/O, no clock): the consumer tells it which
offsets it handed out (:meth:`~PartitionAcks.deliver`, one call per fetched batch) and which the
application finished (:meth:`~PartitionAcks.ack`, :meth:`~PartitionAcks.ack_many`, from any task,
in any order). :attr:`~PartitionAcks.committable` is 1 + the last offset of the longest prefix of
*delivered* messages that are all acknowledged. Offsets can have gaps (compaction, transaction
markers), so contiguity is over the delivered offsets, never integer adjacency.

It keeps offsets, never messages: a batch without gaps is remembered as a ``range`` (O(1)
memory whatever its size), one with gaps as an ``array`` of 8-byte ints.

>>> acks = PartitionAcks()
>>> acks.deliver([10, 11, 13])
>>> acks.ack(11)
True
>>> acks.committable is None  # 10 is not acknowledged yet
True
>>> acks.ack(10)
True
>>> acks.committable  # 12 is not an offset that was delivered: the gap does not block
12
>>> acks.ack_many([13]), acks.committable, acks.outstanding
(1, 14, 0)
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence


def compact(offsets: Sequence[int]) -> Sequence[int]:
    """Ascending offsets as a ``range`` when they have no gap (O(1): first, last and length
    tell), else as an ``array`` — never the caller's sequence, which may hold messages."""
    first, last, count = offsets[0], offsets[-1], len(offsets)
    if last - first + 1 == count:
        return range(first, last + 1)
    return array("q", offsets)


class _Run:
    """One delivered batch: its offsets (ascending) and which of them are acknowledged."""

    __slots__ = ("acked", "count", "done", "first", "last", "offsets", "scan", "token")

    def __init__(self, offsets: Sequence[int], token: int) -> None:
        self.offsets = compact(offsets)
        self.first = offsets[0]
        self.last = offsets[-1]
        self.count = len(offsets)
        self.acked: set[int] = set()
        self.done = False
        self.scan = 0  # offsets[:scan] are known to be acknowledged
        self.token = token  # id() of the list that was delivered (0: none)


class PartitionAcks:
    """Delivered and acknowledged offsets of one partition; see the module docstring."""

    def __init__(self) -> None:
        self._runs: list[_Run] = []
        self._firsts: list[int] = []
        self._head = 0  # runs before it are fully acknowledged and forgotten
        self._position: int | None = None
        self._last_delivered = -1
        self._outstanding = 0

    def __repr__(self) -> str:
        return (
            f"PartitionAcks(committable={self.committable}, outstanding={self._outstanding}, "
            f"delivered_to={self._last_delivered})"
        )

    @property
    def outstanding(self) -> int:
        """Delivered messages not acknowledged yet."""
        return self._outstanding

    @property
    def last_delivered(self) -> int:
        """The highest offset delivered so far (-1 before the first)."""
        return self._last_delivered

    def deliver(self, offsets: Sequence[int], *, token: int = 0) -> None:
        """Record a batch handed out: ascending offsets, all above every offset delivered before.

        ``offsets`` is any sequence of ints (a list, or a view over messages); only its offsets
        are kept. ``token`` (the ``id()`` of the delivered list) lets :meth:`ack_many` recognise
        that very list in O(1).
        """
        if not len(offsets):
            return
        if offsets[0] <= self._last_delivered:
            raise ValueError(
                f"offset {offsets[0]} delivered again (already delivered up to {self._last_delivered})"
            )
        run = _Run(offsets, token)
        self._runs.append(run)
        self._firsts.append(run.first)
        self._last_delivered = run.last
        self._outstanding += run.count

    def _find(self, offset: int) -> _Run | None:
        i = bisect_right(self._firsts, offset, self._head) - 1
        if i < self._head:
            return None
        run = self._runs[i]
        return run if offset <= run.last else None

    def ack(self, offset: int) -> bool:
        """Acknowledge one delivered offset; False when it is not outstanding (ignored)."""
        run = self._find(offset)
        if run is None or run.done or offset in run.acked:
            return False
        offsets = run.offsets
        i = bisect_left(offsets, offset)
        if i == run.count or offsets[i] != offset:
            return False  # inside the batch's range but never delivered (a gap)
        run.acked.add(offset)
        self._outstanding -= 1
        if len(run.acked) == run.count:
            run.done, run.acked = True, set()
        return True

    def ack_many(self, offsets: Sequence[int], *, token: int = 0) -> int:
        """Acknowledge several offsets of this partition; returns how many were outstanding.

        A whole delivered batch is O(1) when ``token`` is the one it was delivered with (the
        very list ``stream.batches()`` yielded: same identity, length, first and last offset).
        """
        n = len(offsets)
        if not n:
            return 0
        run = self._find(offsets[0])
        if (
            run is not None and not run.done and not run.acked and n == run.count
            and ((token and token == run.token and offsets[-1] == run.last) or _same(offsets, run.offsets))
        ):
            run.done = True
            self._outstanding -= n
            return n
        return sum(1 for o in offsets if self.ack(o))

    @property
    def committable(self) -> int | None:
        """1 + the last offset of the acknowledged prefix of delivered offsets (None: nothing yet)."""
        runs = self._runs
        while self._head < len(runs):
            run = runs[self._head]
            if run.done:
                self._position = run.last + 1
                self._head += 1
                continue
            # A partly acknowledged batch: extend the prefix through it as far as it goes.
            offsets, acked = run.offsets, run.acked
            while run.scan < run.count and offsets[run.scan] in acked:
                self._position = offsets[run.scan] + 1
                run.scan += 1
            break
        if self._head > 64 and self._head * 2 > len(runs):
            del runs[: self._head], self._firsts[: self._head]
            self._head = 0
        return self._position

    def withdraw_from(self, offset: int) -> int:
        """Forget delivered offsets ``>= offset`` (fetched but never handed out); returns how many.

        Their acknowledgements no longer count; they can be delivered again afterwards.
        """
        removed = 0
        runs = self._runs
        while len(runs) > self._head and runs[-1].last >= offset:
            run = runs[-1]
            if run.first >= offset:
                runs.pop()
                self._firsts.pop()
                removed += run.count
                self._outstanding -= 0 if run.done else run.count - len(run.acked)
                continue
            keep = bisect_left(run.offsets, offset)
            dropped = run.offsets[keep:]
            for o in dropped:
                if not run.done and o not in run.acked:
                    self._outstanding -= 1
            if run.done:
                run.done = False
                run.acked = set(run.offsets[:keep])
            else:
                run.acked.difference_update(dropped)
            run.offsets = run.offsets[:keep]
            run.token = 0
            run.count, run.last = keep, run.offsets[keep - 1]
            run.scan = min(run.scan, keep)
            if len(run.acked) == run.count:
                run.done, run.acked = True, set()
            removed += len(dropped)
            break
        self._last_delivered = runs[-1].last if len(runs) > self._head else max(
            self._last_delivered if self._last_delivered < offset else offset - 1,
            (self._position or 0) - 1,
        )
        return removed


def _same(offsets: Sequence[int], delivered: Sequence[int]) -> bool:
    return all(a == b for a, b in zip(offsets, delivered, strict=False))
