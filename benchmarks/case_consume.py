"""consume: ``consume()`` fan-in against raw aiokafka ``getmany`` over the same 4 partitions.

One topic is filled once per run; every variant then reads all of it from the beginning. The
clock starts once the consumer is connected and assigned (start-up is not the point here) and
stops when the last message was handed to the loop body.
"""

from __future__ import annotations

import time
from typing import Any

from ._support import Context, Row, fmt_rate, rate, verdict

NAME = "consume"
MAX_RUNS = None
PARTITIONS = 4
MAX_RECORDS = 10_000
_runs = 0


async def _aiokafka_consumer(bootstrap: str, topic: str) -> Any:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    # The same fetch sizes streamline's consume() uses, so only the iteration differs.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer


async def aiokafka_getmany(bootstrap: str, topic: str, n: int) -> float:
    consumer = await _aiokafka_consumer(bootstrap, topic)
    try:
        count = 0
        started = time.perf_counter()
        while count < n:
            records = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            for batch in records.values():
                for _message in batch:  # touch every message, as a loop body would
                    count += 1
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def aiokafka_async_for(bootstrap: str, topic: str, n: int) -> float:
    consumer = await _aiokafka_consumer(bootstrap, topic)
    try:
        count = 0
        started = time.perf_counter()
        async for _message in consumer:
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def streamline_messages(bootstrap: str, topic: str, n: int) -> float:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        started = time.perf_counter()
        async for _message in stream:
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started


async def streamline_batches(bootstrap: str, topic: str, n: int) -> float:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        started = time.perf_counter()
        async for batch in stream.batches():
            for _message in batch:
                count += 1
            if count >= n:
                break
        return time.perf_counter() - started


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Producer

    n = ctx.sizes.consume_messages
    topic = await ctx.new_topic("consume", PARTITIONS)
    async with Producer(ctx.bootstrap) as producer:
        await producer.send_many(topic, [b"%0100d" % i for i in range(n)])
    result: dict[str, float] = {}
    variants = [
        ("aiokafka_getmany", aiokafka_getmany),
        ("streamline_consume", streamline_messages),
        ("streamline_batches", streamline_batches),
        ("aiokafka_async_for", aiokafka_async_for),
    ]
    global _runs
    _runs += 1
    if _runs % 2 == 0:  # every other run in reverse, so going first or last favours no one
        variants.reverse()
    for name, run in variants:
        elapsed = await run(ctx.bootstrap, topic, n)
        result[f"{name}_msgs_per_s"] = rate(n, elapsed)
        ctx.log(f"  consume {name:22s} {rate(n, elapsed):>12,.0f} msg/s  ({n:,} in {elapsed:.3f} s)")
    await ctx.drop_topics()
    # Targets are ratios within one run; the table shows the median of these per-run ratios.
    base = result["aiokafka_getmany_msgs_per_s"]
    result["ratio_consume_vs_getmany"] = result["streamline_consume_msgs_per_s"] / base
    result["ratio_batches_vs_getmany"] = result["streamline_batches_msgs_per_s"] / base
    result["ratio_consume_vs_async_for"] = (
        result["streamline_consume_msgs_per_s"] / result["aiokafka_async_for_msgs_per_s"]
    )
    return result


def rows(m: dict[str, float]) -> list[Row]:
    base = m["aiokafka_getmany_msgs_per_s"]
    ours = m["streamline_consume_msgs_per_s"]
    batches = m["streamline_batches_msgs_per_s"]
    getone = m["aiokafka_async_for_msgs_per_s"]
    return [
        Row(NAME, "async for msg in consume() vs aiokafka getmany", fmt_rate(base), fmt_rate(ours),
            f"{m['ratio_consume_vs_getmany']:.2f}x", ">= 0.9x", verdict(m["ratio_consume_vs_getmany"] >= 0.9)),
        Row(NAME, "consume().batches() vs aiokafka getmany", fmt_rate(base), fmt_rate(batches),
            f"{m['ratio_batches_vs_getmany']:.2f}x", "reference", "info"),
        Row(NAME, "async for msg in consume() vs async for msg in AIOKafkaConsumer", fmt_rate(getone),
            fmt_rate(ours), f"{m['ratio_consume_vs_async_for']:.2f}x", "reference", "info"),
    ]
