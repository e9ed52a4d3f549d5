"""latency: a line appended to a followed file → the message seen by a consumer.

A writer thread appends ``latency_rate`` lines/s to a file (every millisecond, the lines due,
each carrying ``time.time_ns()`` of its write); ``streamline ship`` (follow mode, a subprocess)
ships them; ``consume()`` in this process reads the topic and records receive-minus-write per
message. Warm-up lines (sent until the first one is seen) are not counted.

Baseline for contrast: the same path measured with a raw aiokafka producer writing each line
directly (no file, no follower) — the floor the broker and consumer set.
"""

from __future__ import annotations

import asyncio
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


async def receive(bootstrap: str, topic: str, writer: Writer, expected: int, timeout: float) -> list[float]:
    """Latencies in ms of the measured lines, received with ``consume()``."""
    from streamline import consume

    from ._support import batches_until

    latencies: list[float] = []
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for batch in batches_until(stream, deadline):
            now = time.time_ns()
            for message in batch:
                kind, written, _ = message.value.split(b" ", 2)
                if kind == b"line":
                    latencies.append((now - int(written)) / 1e6)
                elif not writer.go.is_set():
                    writer.go.set()
            if len(latencies) >= expected:
                break
    return latencies


async def direct_produce(bootstrap: str, topic: str, rate: int, seconds: float) -> list[float]:
    """The floor: aiokafka ``send_and_wait`` of each line straight to the broker, same consumer."""
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
    floor = await direct_produce(ctx.bootstrap, direct_topic, sizes.latency_rate, sizes.latency_seconds)

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
        latencies = await receive(ctx.bootstrap, topic, writer, total, timeout=sizes.latency_seconds + 60)
    finally:
        writer.stop.set()
        writer.join(5)
        ship.send_signal(signal.SIGTERM)
        try:
            _, err = ship.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            ship.kill()
            _, err = ship.communicate()
    if len(latencies) < total:
        raise RuntimeError(
            f"latency: only {len(latencies)} of {total} lines arrived; ship said: "
            f"{err.decode(errors='replace').strip()[-300:]}"
        )
    await ctx.drop_topics()
    result = {
        "p50_ms": median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "direct_p50_ms": median(floor),
        "direct_p99_ms": percentile(floor, 0.99),
        "direct_max_ms": max(floor),
        "lines": float(total),
    }
    ctx.log(
        f"  latency file->ship->consumer p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"max {result['max_ms']:.1f} ms ({total:,} lines at {sizes.latency_rate:,}/s); "
        f"direct produce->consumer p50 {result['direct_p50_ms']:.1f}  p99 {result['direct_p99_ms']:.1f}  "
        f"max {result['direct_max_ms']:.1f} ms"
    )
    return result


def rows(m: dict[str, float]) -> list[Row]:
    def triple(prefix: str) -> str:
        return f"p50 {m[prefix + 'p50_ms']:.1f} / p99 {m[prefix + 'p99_ms']:.1f} / max {m[prefix + 'max_ms']:.1f} ms"

    return [
        Row(NAME, "append -> consumer at 1,000 lines/s (baseline: aiokafka send straight to the broker)",
            triple("direct_"), triple(""), f"{m['p99_ms'] / m['direct_p99_ms']:.1f}x p99",
            "p99 <= 25 ms", verdict(m["p99_ms"] <= TARGET_P99_MS)),
    ]
