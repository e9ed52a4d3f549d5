"""produce: ``Producer.send_many`` against aiokafka (per-message and raw batches) and confluent-kafka.

Every variant sends the same 100-byte values to a fresh 4-partition topic with ``acks=all`` and
is timed from the first record handed over to the last acknowledgement; the count is then read
back with a consumer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ._support import Context, Row, count_messages, fmt_rate, rate, verdict

NAME = "produce"
MAX_RUNS = None  # as many as --runs
PARTITIONS = 4
BATCH_BYTES = 512 * 1024  # streamline's default max_batch_bytes; the raw aiokafka variant uses it too


def values(n: int) -> list[bytes]:
    return [b"%0100d" % i for i in range(n)]


async def _aiokafka_producer(bootstrap: str) -> Any:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=BATCH_BYTES,
        max_request_size=BATCH_BYTES + 65536, enable_idempotence=False,
    )
    await producer.start()
    return producer


async def aiokafka_send_gathered(bootstrap: str, topic: str, data: list[bytes]) -> float:
    producer = await _aiokafka_producer(bootstrap)
    try:
        await (await producer.send(topic, b"warm-up"))
        started = time.perf_counter()
        send = producer.send
        futures = [await send(topic, value) for value in data]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def aiokafka_send_batch(bootstrap: str, topic: str, data: list[bytes]) -> float:
    producer = await _aiokafka_producer(bootstrap)
    try:
        await (await producer.send(topic, b"warm-up"))
        started = time.perf_counter()
        futures = []
        size = -(-len(data) // PARTITIONS)
        for partition in range(PARTITIONS):
            batch = producer.create_batch()
            for value in data[partition * size : (partition + 1) * size]:
                if batch.append(key=None, value=value, timestamp=None) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=None, value=value, timestamp=None)
            if batch.record_count():
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def streamline_send_many(bootstrap: str, topic: str, data: list[bytes]) -> float:
    from streamline import Producer

    async with Producer(bootstrap, acks="all") as producer:
        await producer.send(topic, b"warm-up")
        started = time.perf_counter()
        sent = await producer.send_many(topic, data)
        elapsed = time.perf_counter() - started
    assert sent == len(data), sent
    return elapsed


def confluent_produce(bootstrap: str, topic: str, data: list[bytes]) -> float:
    from confluent_kafka import Producer as ConfluentProducer

    producer = ConfluentProducer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": False,
         "queue.buffering.max.messages": 1_000_000}
    )
    producer.produce(topic, b"warm-up")
    producer.flush(30)
    started = time.perf_counter()
    produce = producer.produce
    for value in data:
        try:
            produce(topic, value)
        except BufferError:
            producer.poll(0.005)
            produce(topic, value)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining:
        raise RuntimeError(f"confluent-kafka: {remaining} messages not delivered")
    return elapsed


def _has_confluent() -> bool:
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


async def measure(ctx: Context) -> dict[str, float]:
    n = ctx.sizes.produce_messages
    data = values(n)
    variants: list[tuple[str, Any]] = [
        ("aiokafka_send", aiokafka_send_gathered),
        ("aiokafka_send_batch", aiokafka_send_batch),
        ("streamline_send_many", streamline_send_many),
    ]
    if _has_confluent():
        variants.append(("confluent", lambda b, t, d: asyncio.to_thread(confluent_produce, b, t, d)))
    result: dict[str, float] = {}
    for name, run in variants:
        topic = await ctx.new_topic(f"produce-{name.replace('_', '-')}", PARTITIONS)
        elapsed = await run(ctx.bootstrap, topic, data)
        arrived = await count_messages(ctx.bootstrap, topic, n + 1, timeout=60)  # + the warm-up
        if arrived < n + 1:
            raise RuntimeError(f"produce/{name}: only {arrived:,} of {n + 1:,} messages read back")
        result[f"{name}_msgs_per_s"] = rate(n, elapsed)
        ctx.log(f"  produce {name:22s} {rate(n, elapsed):>12,.0f} msg/s  ({n:,} in {elapsed:.3f} s, all read back)")
        await ctx.drop_topics()
    # Targets are ratios within one run; the table shows the median of these per-run ratios.
    ours = result["streamline_send_many_msgs_per_s"]
    for name in ("aiokafka_send", "aiokafka_send_batch", "confluent"):
        if f"{name}_msgs_per_s" in result:
            result[f"ratio_vs_{name}"] = ours / result[f"{name}_msgs_per_s"]
    return result


def rows(m: dict[str, float]) -> list[Row]:
    ours = m["streamline_send_many_msgs_per_s"]
    out = []
    per_message = m["aiokafka_send_msgs_per_s"]
    out.append(Row(NAME, "send_many vs aiokafka send() per message, gathered", fmt_rate(per_message),
                   fmt_rate(ours), f"{m['ratio_vs_aiokafka_send']:.2f}x", ">= 5x", verdict(m["ratio_vs_aiokafka_send"] >= 5)))
    raw = m["aiokafka_send_batch_msgs_per_s"]
    out.append(Row(NAME, "send_many vs aiokafka create_batch/send_batch", fmt_rate(raw),
                   fmt_rate(ours), f"{m['ratio_vs_aiokafka_send_batch']:.2f}x", ">= 0.6x", verdict(m["ratio_vs_aiokafka_send_batch"] >= 0.6)))
    if "confluent_msgs_per_s" in m:
        ref = m["confluent_msgs_per_s"]
        out.append(Row(NAME, "send_many vs confluent-kafka produce+flush", fmt_rate(ref),
                       fmt_rate(ours), f"{m['ratio_vs_confluent']:.2f}x", "reference", "info"))
    return out
