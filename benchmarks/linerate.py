"""Lines appended at a fixed rate, and the append→consumer latency of each one.

Shared by the peer latency rows (``peers/cases.py``) and the latency-against-rate curve
(``curves.py``). A :class:`Writer` thread appends ``rate`` lines/s to a file, each carrying
``time.time_ns()`` of its write; :func:`latencies` reads the topic with a raw aiokafka consumer
that asks the broker to wait at most 5 ms per fetch (the embedded broker answers a waiting fetch
only after about half of the wait, see docs/performance.md) and returns receive-minus-write in ms.
Warm-up lines (10/s until the consumer sees the first one) are not counted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

PAD = b"x" * 80  # lines of ~127 bytes, like the access log


def stamped(kind: bytes, n: int, now_ns: int | None = None) -> bytes:
    """``kind write_time_ns n padding\\n``: what the shippers carry to Kafka unchanged."""
    return b"%s %d %08d %s\n" % (kind, time.time_ns() if now_ns is None else now_ns, n, PAD)


class Writer(threading.Thread):
    """Appends ``rate`` lines/s for ``seconds`` once :attr:`go` is set (warm-up lines before).

    Every millisecond it writes the lines due so far in one ``write``; at high rates the lines of
    one write share a timestamp (taken just before it).
    """

    def __init__(self, path: str, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.seconds = path, rate, seconds
        self.total = int(rate * seconds)
        self.go = threading.Event()
        self.stop = threading.Event()
        self.written = 0
        #: seconds from the first measured line to the last write: well above ``seconds`` means the
        #: writer itself could not keep the rate (the machine is saturated), not only the shipper.
        self.write_seconds = 0.0

    def run(self) -> None:
        with open(self.path, "ab", buffering=0) as f:
            warm = 0
            while not self.go.wait(0.1):
                if self.stop.is_set():
                    return
                f.write(stamped(b"warm", warm))
                warm += 1
            started = time.perf_counter()
            while self.written < self.total and not self.stop.is_set():
                due = min(self.total, int((time.perf_counter() - started) * self.rate) + 1)
                if due > self.written:
                    now = time.time_ns()
                    f.write(b"".join([stamped(b"line", i, now) for i in range(self.written, due)]))
                    self.written = due
                time.sleep(0.001)
            self.write_seconds = time.perf_counter() - started


async def _fast_batches(
    bootstrap: str, topic: str, partitions: int, deadline: float
) -> AsyncGenerator[list[Any], None]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        while time.monotonic() < deadline:
            records = await consumer.getmany(timeout_ms=100)
            for batch in records.values():
                yield batch
    finally:
        await consumer.stop()


async def latencies(
    bootstrap: str, topic: str, writer: Writer, *, partitions: int, timeout: float, produced: list[float] | None = None
) -> list[float]:
    """Latency in ms of every measured line, until all ``writer.total`` arrived or ``timeout`` passed.

    ``produced``, when given, gets the first part of each latency: append → the record's timestamp
    (CreateTime: set by the shipper's Kafka client when the record was handed to it; ms resolution).
    The rest is the produce round trip, the broker and the consumer.
    """
    seen: list[float] = []
    source = _fast_batches(bootstrap, topic, partitions, time.monotonic() + timeout)
    try:
        async for batch in source:
            now = time.time_ns()
            for message in batch:
                kind, written, _ = message.value.split(b" ", 2)
                if kind == b"line":
                    seen.append((now - int(written)) / 1e6)
                    if produced is not None:
                        produced.append(message.timestamp - int(written) / 1e6)
                elif not writer.go.is_set():
                    writer.go.set()
            if len(seen) >= writer.total:
                break
    finally:
        await source.aclose()
    return seen


def handed_over(produced: list[float]) -> dict[str, float]:
    """p50 / p99 of append → record timestamp, NaN when the timestamps cannot say it.

    rsyslog's omkafka stamps records with the message's time at whole seconds: some land before
    their own append (more than the 1 ms a CreateTime can round down).
    """
    if not produced or min(produced) < -1.0:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    return {"p50_ms": percentile(produced, 0.50), "p99_ms": percentile(produced, 0.99)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / max in ms."""
    return {
        "p50_ms": percentile(values, 0.50),
        "p90_ms": percentile(values, 0.90),
        "p99_ms": percentile(values, 0.99),
        "max_ms": max(values) if values else float("nan"),
    }


async def run_in_thread_until(writer: Writer, coro: Any) -> Any:
    """Start ``writer``, await ``coro``, then stop and join the writer whatever happened."""
    writer.start()
    try:
        return await coro
    finally:
        writer.stop.set()
        await asyncio.to_thread(writer.join, 5)
