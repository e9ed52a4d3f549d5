"""An in-memory consumer for unit tests of ``MessageStream``: no network, milliseconds per test.

It implements ``streamline._consume.port.ConsumerPort`` — the same narrow protocol the aiokafka
adapter implements — over a :class:`FakeCluster` of partition logs and committed offsets that
outlives streams (a restarted member sees what the last one committed). Tests drive what a
broker would decide: assignments and revokes (:meth:`FakeConsumer.rebalance`, called from a
task of the test while the stream runs, as aiokafka's coordinator does), refused commits
(``cluster.fail_commits``) and an unreachable cluster (``cluster.unreachable``).

    cluster = FakeCluster({("t", 0): 10})
    stream, consumers = open_stream(cluster, group="g", ack="manual")
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from streamline import BrokerUnavailableError, ConnectionConfig, Message
from streamline._consume.port import CommitFailedError, Key, RebalanceListener
from streamline._consume.stream import MessageStream


class FakeCluster:
    """Partition logs (values), committed offsets and failure switches shared by fake consumers."""

    def __init__(self, partitions: Mapping[Key, int] | None = None, *, value_size: int = 0) -> None:
        self.logs: dict[Key, list[bytes]] = {}
        self.committed: dict[Key, int] = {}
        self.commits: list[dict[Key, int]] = []
        self.fail_commits = 0
        self.unreachable = False
        self.changed = asyncio.Event()
        for tp, count in (partitions or {}).items():
            self.produce(tp, [(b"x" * value_size) if value_size else f"{tp[0]}-{tp[1]}-{i}".encode() for i in range(count)])

    def produce(self, tp: Key, values: Iterable[bytes]) -> None:
        self.logs.setdefault(tp, []).extend(values)
        self.changed.set()

    def topics(self) -> set[str]:
        return {t for t, _ in self.logs}


class FakeConsumer:
    """One member's consumer over a :class:`FakeCluster` (see the module docstring)."""

    def __init__(self, cluster: FakeCluster, message_class: type[Message], *, group: str | None) -> None:
        self.cluster = cluster
        self.cls = message_class
        self.group = group
        self.assigned: set[Key] = set()
        self.positions: dict[Key, int] = {}
        self.paused: set[Key] = set()
        self.listener: RebalanceListener | None = None
        self.topics: Sequence[str] = ()
        self.started = False
        self.stopped = False
        self.fetches = 0
        self.pauses: list[Key] = []  # every pause() call, in order
        self.fetch_threads: set[int] = set()

    # -- ConsumerPort ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True
        self.assigned = set()

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        self.topics, self.listener = topics, listener

    def assign(self, partitions: Iterable[Key]) -> None:
        self.assigned = set(partitions)
        for tp in self.assigned:
            self.positions.setdefault(tp, 0)

    def assignment(self) -> set[Key]:
        return set(self.assigned)

    async def partitions_for(self, topics: Sequence[str]) -> dict[str, set[int]]:
        await asyncio.sleep(0)
        if self.cluster.unreachable:
            raise BrokerUnavailableError("cannot reach Kafka at fake:9092: no answer")
        return {t: {p for tt, p in self.cluster.logs if tt == t} for t in topics}

    async def fetch(self, timeout: float, max_records: int) -> Mapping[Key, list[Message]]:
        self.fetches += 1
        if self.listener is not None and not self.assigned and self.group is not None and not self._joined:
            self._joined = True
            await self.rebalance({tp for tp in self.cluster.logs if tp[0] in self.topics})
        out = self._available(max_records)
        if not out:
            self.cluster.changed.clear()
            try:
                await asyncio.wait_for(self.cluster.changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            out = self._available(max_records)
        return out

    _joined = False

    def _available(self, max_records: int) -> dict[Key, list[Message]]:
        out: dict[Key, list[Message]] = {}
        left = max_records
        for tp in sorted(self.assigned - self.paused):
            log = self.cluster.logs.get(tp, [])
            position = self.positions.get(tp, 0)
            if position >= len(log) or left <= 0:
                continue
            end = min(len(log), position + left)
            out[tp] = [self.cls.create(tp[0], tp[1], o, value=log[o]) for o in range(position, end)]
            self.positions[tp] = end
            left -= end - position
        return out

    async def commit(self, offsets: Mapping[Key, int]) -> None:
        await asyncio.sleep(0)
        if self.cluster.fail_commits:
            self.cluster.fail_commits -= 1
            raise CommitFailedError("the group is rebalancing")
        self.cluster.committed.update(offsets)
        self.cluster.commits.append(dict(offsets))

    async def committed(self, partition: Key) -> int | None:
        return self.cluster.committed.get(partition)

    def pause(self, partitions: Iterable[Key]) -> None:
        for tp in partitions:
            if tp in self.assigned:
                self.paused.add(tp)
                self.pauses.append(tp)

    def resume(self, partitions: Iterable[Key]) -> None:
        for tp in partitions:
            self.paused.discard(tp)
        self.cluster.changed.set()

    def seek(self, partition: Key, offset: int) -> None:
        self.positions[partition] = offset

    async def seek_to_beginning(self, partitions: Sequence[Key]) -> None:
        for tp in partitions:
            self.positions[tp] = 0

    async def seek_to_end(self, partitions: Sequence[Key]) -> None:
        for tp in partitions:
            self.positions[tp] = len(self.cluster.logs.get(tp, []))

    async def offsets_for_times(self, partitions: Sequence[Key], millis: int) -> dict[Key, int | None]:
        return {tp: None for tp in partitions}

    # -- what the broker decides ------------------------------------------------------------------

    async def rebalance(self, assigned: set[Key]) -> None:
        """The group moves this member to ``assigned``: revoke what it loses (the listener runs
        to completion first, as in Kafka's eager protocol), then assign and start each new
        partition at its committed offset."""
        assert self.listener is not None
        lost = self.assigned - assigned
        if lost:
            await self.listener.on_revoked(lost)
        new = assigned - self.assigned
        self.assigned = set(assigned)
        self.paused &= self.assigned
        for tp in lost:
            self.positions.pop(tp, None)
        for tp in new:
            self.positions[tp] = self.cluster.committed.get(tp, 0)
        await self.listener.on_assigned(set(assigned))
        self.cluster.changed.set()


def open_stream(
    cluster: FakeCluster, topics: Sequence[str] = ("t",), **options: Any
) -> tuple[MessageStream, list[FakeConsumer]]:
    """A stream over ``cluster`` (``consume()``'s options; ``start`` defaults to "beginning")
    and the list its fake consumer is appended to when the stream opens."""
    consumers: list[FakeConsumer] = []

    def factory(cls: type[Message]) -> FakeConsumer:
        consumer = FakeConsumer(cluster, cls, group=options.get("group"))
        consumers.append(consumer)
        return consumer

    options.setdefault("start", "beginning")
    stream = MessageStream(
        list(topics), connection=ConnectionConfig.from_args("fake:9092", None), consumer_factory=factory, **options
    )
    return stream, consumers
