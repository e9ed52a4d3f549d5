"""latency: a line appended to a followed file → the message seen by a consumer.

A writer thread appends ``latency_rate`` lines/s to a file (every millisecond, the lines due,
each carrying ``time.time_ns()`` of its write); ``streamline ship`` (follow mode, a subprocess)
ships them; two consumers in this process read the topic at the same time and record
receive-minus-write per message: a raw aiokafka consumer with a 5 ms fetch wait (the target is
judged on it) and ``consume()`` with its defaults (see :func:`receive` for why both). Warm-up
lines (sent until the first one is seen) are not counted.

Baseline for contrast: the same consumers, with a raw aiokafka producer sending each line straight
to the broker at the same rate (no file, no follower) — the floor the broker and consumers set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time

from ._support import STREAMLINE, Context, Row, median, verdict

NAME = "latency"
MAX_RUNS = None
PARTITIONS = 4
TARGET_P99_MS = 25.0
PAD = b"x" * 80  # lines of ~127 bytes, like the access log


def stamped(kind: bytes, n: int) -> bytes:
    return b"%s %d %08d %s\n" % (kind, time.time_ns(), n, PAD)


class Writer(threading.Thread):
    """Appends ``rate`` lines/s for ``seconds`` once :attr:`go` is set (warm-up lines before)."""

    def __init__(self, path: str, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.seconds = path, rate, seconds
        self.go = threading.Event()
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        with open(self.path, "ab", buffering=0) as f:
            warm = 0
            while not self.go.wait(0.1):  # warm-up: 10 lines/s until the consumer saw one
                if self.stop.is_set():
                    return
                f.write(stamped(b"warm", warm))
                warm += 1
            total = int(self.rate * self.seconds)
            started = time.perf_counter()
            while self.written < total and not self.stop.is_set():
                due = min(total, int((time.perf_counter() - started) * self.rate) + 1)
                if due > self.written:
                    f.write(b"".join([stamped(b"line", i) for i in range(self.written, due)]))
                    self.written = due
                time.sleep(0.001)


async def _fast_batches(bootstrap: str, topic: str, deadline: float):
    """Batches from a raw aiokafka consumer that asks the broker to wait at most 5 ms per fetch."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while time.monotonic() < deadline:
            records = await consumer.getmany(timeout_ms=100)
            for batch in records.values():
                yield batch
    finally:
        await consumer.stop()


async def _consume_batches(bootstrap: str, topic: str, deadline: float):
    """Batches from ``consume()`` with its defaults."""
    from streamline import consume

    from ._support import batches_until

    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for batch in batches_until(stream, deadline):
            yield batch


async def receive(bootstrap: str, topic: str, writer: Writer, expected: int, timeout: float) -> dict[str, list[float]]:
    """Latencies in ms of the measured lines, as seen by two consumers reading at the same time.

    ``fast``: raw aiokafka with ``fetch_max_wait_ms=5``. ``consume``: streamline's ``consume()``
    (aiokafka's default 500 ms fetch wait). The embedded broker does not answer a waiting fetch
    when data arrives — it answers within about half the fetch wait — so with the default wait a
    consumer on it adds up to ~250 ms by itself; the fast consumer shows what the shipping path costs.
    """
    deadline = time.monotonic() + timeout
    seen: dict[str, list[float]] = {"fast": [], "consume": []}

    async def read(name: str, source) -> None:
        latencies = seen[name]
        async with contextlib.aclosing(source):
            async for batch in source:
                now = time.time_ns()
                for message in batch:
                    kind, written, _ = message.value.split(b" ", 2)
                    if kind == b"line":
                        latencies.append((now - int(written)) / 1e6)
                    elif not writer.go.is_set():
                        writer.go.set()
                if len(latencies) >= expected:
                    break

    await asyncio.gather(
        read("fast", _fast_batches(bootstrap, topic, deadline)),
        read("consume", _consume_batches(bootstrap, topic, deadline)),
    )
    return seen


async def direct_produce(bootstrap: str, topic: str, rate: int, seconds: float) -> dict[str, list[float]]:
    """The floor: aiokafka ``send`` of each line straight to the broker, the same consumers."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False)
    await producer.start()
    fake = Writer("", rate, seconds)
    try:
        total = int(rate * seconds)

        async def produce() -> None:
            while not fake.go.is_set():
                await producer.send_and_wait(topic, stamped(b"warm", 0)[:-1])
                await asyncio.sleep(0.1)
            started = time.perf_counter()
            sent = 0
            while sent < total:
                due = min(total, int((time.perf_counter() - started) * rate) + 1)
                while sent < due:
                    await producer.send(topic, stamped(b"line", sent)[:-1])
                    sent += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(produce())
        latencies = await receive(bootstrap, topic, fake, total, timeout=seconds + 30)
        await task
        return latencies
    finally:
        await producer.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(ctx: Context) -> dict[str, float]:
    sizes = ctx.sizes
    total = int(sizes.latency_rate * sizes.latency_seconds)

    direct_topic = await ctx.new_topic("latency-direct", PARTITIONS)
    direct = await direct_produce(ctx.bootstrap, direct_topic, sizes.latency_rate, sizes.latency_seconds)

    topic = await ctx.new_topic("latency", PARTITIONS)
    path = os.path.join(ctx.workdir, f"latency-{topic}.log")
    open(path, "wb").close()
    ship = subprocess.Popen(
        [STREAMLINE, "-b", ctx.bootstrap, "ship", path, "--topic", topic, "--from", "beginning",
         "--checkpoints", os.path.join(ctx.workdir, f"latency-checkpoints-{topic}"), "-q"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    writer = Writer(path, sizes.latency_rate, sizes.latency_seconds)
    writer.start()
    try:
        shipped = await receive(ctx.bootstrap, topic, writer, total, timeout=sizes.latency_seconds + 60)
    finally:
        writer.stop.set()
        writer.join(5)
        ship.send_signal(signal.SIGTERM)
        try:
            _, err = ship.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            ship.kill()
            _, err = ship.communicate()
    for name, latencies in [*shipped.items(), *(("direct " + k, v) for k, v in direct.items())]:
        if len(latencies) < total:
            raise RuntimeError(
                f"latency: only {len(latencies)} of {total} lines reached the {name} consumer; ship said: "
                f"{err.decode(errors='replace').strip()[-300:]}"
            )
    await ctx.drop_topics()
    result: dict[str, float] = {"lines": float(total), "rate": float(sizes.latency_rate)}
    for path_name, seen in (("ship", shipped), ("direct", direct)):
        for consumer, latencies in seen.items():
            prefix = f"{path_name}_{consumer}_"
            result[prefix + "p50_ms"] = median(latencies)
            result[prefix + "p99_ms"] = percentile(latencies, 0.99)
            result[prefix + "max_ms"] = max(latencies)
    ctx.log(
        f"  latency ({total:,} lines at {sizes.latency_rate:,}/s) "
        + "; ".join(f"{p} {c}: {triple(result, f'{p}_{c}_')}" for p in ("ship", "direct") for c in ("fast", "consume"))
    )
    return result


def triple(m: dict[str, float], prefix: str) -> str:
    return f"p50 {m[prefix + 'p50_ms']:.1f} / p99 {m[prefix + 'p99_ms']:.1f} / max {m[prefix + 'max_ms']:.1f} ms"


def rows(m: dict[str, float]) -> list[Row]:
    rate = f"{int(m['rate']):,}"
    return [
        Row(NAME, f"append -> ship -> consumer (fetch wait 5 ms) at {rate} lines/s "
                  "(baseline: aiokafka send straight to the broker, same consumer)",
            triple(m, "direct_fast_"), triple(m, "ship_fast_"),
            f"{m['ship_fast_p99_ms'] / m['direct_fast_p99_ms']:.1f}x p99",
            "p99 <= 25 ms", verdict(m["ship_fast_p99_ms"] <= TARGET_P99_MS)),
        Row(NAME, f"the same, seen by consume() (default 500 ms fetch wait; the embedded broker holds "
                  "a fetch ~half of it)",
            triple(m, "direct_consume_"), triple(m, "ship_consume_"),
            f"{m['ship_consume_p99_ms'] / m['direct_consume_p99_ms']:.1f}x p99",
            "reference", "info"),
    ]
