"""typed: JSON messages decoded into msgspec Structs and pydantic models (issue 15 point 6).

``consume(topic, value=Order)`` against the same decoding done by hand on aiokafka ``getmany``
results (the same fetch sizes), in the same run, variants interleaved (every other run in
reverse). The clock starts once the consumer is assigned and stops at the last decoded value.
FastStream's pydantic subscriber on the same topic is the peer figure, when faststream is
installed (it reads at most ``FASTSTREAM_CAP`` messages, timed from its first one: its group
join is not the point).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
import pydantic

from ._support import Context, Row, fmt_rate, rate, verdict

NAME = "typed"
MAX_RUNS = None
PARTITIONS = 4
MAX_RECORDS = 10_000
TYPED_MESSAGES = 400_000
FASTSTREAM_CAP = 40_000
_runs = 0


class Line(msgspec.Struct):
    sku: str
    qty: int
    price: float


class Order(msgspec.Struct):
    id: int
    customer: str
    lines: list[Line]
    note: str | None = None
    paid: bool = False


class PLine(pydantic.BaseModel):
    sku: str
    qty: int
    price: float


class POrder(pydantic.BaseModel):
    id: int
    customer: str
    lines: list[PLine]
    note: str | None = None
    paid: bool = False


def order_json(i: int) -> bytes:
    return msgspec.json.encode(
        Order(i, f"Zoë Müller {i % 997}", [Line("A-1", 2, 9.99), Line("B-22", 1, 120.5)], None if i % 3 else "fragile", True)
    )


def _keep(value: bytes) -> bytes:
    return value


async def _getmany_consumer(bootstrap: str, topic: str) -> Any:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    return consumer


async def by_hand(bootstrap: str, topic: str, n: int, decode: Any) -> tuple[float, float]:
    """getmany, then the decoder on every value: what a careful hand-written consumer does.
    Wall seconds and this process's CPU seconds (the broker is another process)."""
    consumer = await _getmany_consumer(bootstrap, topic)
    try:
        count = 0
        started, cpu = time.perf_counter(), time.process_time()
        while count < n:
            records = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            for batch in records.values():
                for message in batch:
                    _order = decode(message.value)
                    count += 1
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await consumer.stop()


async def streamline_typed(bootstrap: str, topic: str, n: int, value: Any) -> tuple[float, float]:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning", value=value) as stream:
        started, cpu = time.perf_counter(), time.process_time()
        async for msg in stream:
            _order = msg.value
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started, time.process_time() - cpu


async def faststream_pydantic(bootstrap: str, topic: str, n: int) -> float | None:
    """FastStream's subscriber with a pydantic model argument; None when faststream is missing."""
    try:
        from faststream.kafka import KafkaBroker
    except ImportError:
        return None
    import logging

    n = min(n, FASTSTREAM_CAP)
    count = 0
    first: list[float] = []
    done = asyncio.Event()
    broker = KafkaBroker(bootstrap, logger=logging.getLogger("bench.faststream.silent"))
    logging.getLogger("bench.faststream.silent").disabled = True

    @broker.subscriber(topic, group_id=f"bench-fs-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest")
    async def handle(order: POrder) -> None:
        nonlocal count
        if not first:
            first.append(time.perf_counter())
        count += 1
        if count >= n:
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 600)
        return (time.perf_counter() - first[0]) * n / max(1, n - 1)
    finally:
        await broker.stop()


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Producer

    n = min(ctx.sizes.consume_messages, TYPED_MESSAGES)
    topic = await ctx.new_topic("typed", PARTITIONS)
    async with Producer(ctx.bootstrap) as producer:
        for start in range(0, n, 50_000):
            await producer.send_many(topic, [order_json(i) for i in range(start, min(n, start + 50_000))])
    struct_decode = msgspec.json.Decoder(Order).decode
    variants = [
        # The untyped pair: how close consume() and getmany are in this run without decoding,
        # so the typed ratios can be read against the machine's noise.
        ("hand_raw", lambda: by_hand(ctx.bootstrap, topic, n, _keep)),
        ("streamline_raw", lambda: streamline_typed(ctx.bootstrap, topic, n, None)),
        ("hand_struct", lambda: by_hand(ctx.bootstrap, topic, n, struct_decode)),
        ("streamline_struct", lambda: streamline_typed(ctx.bootstrap, topic, n, Order)),
        ("hand_pydantic", lambda: by_hand(ctx.bootstrap, topic, n, POrder.model_validate_json)),
        ("streamline_pydantic", lambda: streamline_typed(ctx.bootstrap, topic, n, POrder)),
    ]
    global _runs
    _runs += 1
    if _runs % 2 == 0:
        variants.reverse()
    result: dict[str, float] = {}
    for name, run in variants:
        elapsed, cpu = await run()
        result[f"{name}_msgs_per_s"] = rate(n, elapsed)
        result[f"{name}_cpu_us"] = cpu / n * 1e6
        ctx.log(f"  typed {name:22s} {rate(n, elapsed):>12,.0f} msg/s  ({n:,} in {elapsed:.3f} s, "
                f"{cpu / n * 1e6:.2f} CPU µs/msg)")
    # The peer once per session (it is slow; its group join alone takes seconds), not in smoke runs.
    if _runs == 1 and n >= 100_000:
        elapsed_fs = await faststream_pydantic(ctx.bootstrap, topic, n)
        if elapsed_fs is not None:
            result["faststream_pydantic_msgs_per_s"] = rate(min(n, FASTSTREAM_CAP), elapsed_fs)
            ctx.log(f"  typed {'faststream_pydantic':22s} {result['faststream_pydantic_msgs_per_s']:>12,.0f} msg/s")
        else:
            ctx.log("  typed faststream_pydantic: skipped (faststream is not installed)")
    await ctx.drop_topics()
    result["ratio_raw"] = result["streamline_raw_msgs_per_s"] / result["hand_raw_msgs_per_s"]
    result["ratio_struct"] = result["streamline_struct_msgs_per_s"] / result["hand_struct_msgs_per_s"]
    result["ratio_pydantic"] = result["streamline_pydantic_msgs_per_s"] / result["hand_pydantic_msgs_per_s"]
    # The same comparison in this process's CPU per message (hand / streamline, so higher is
    # better like the throughput ratio): steadier than wall time on a shared machine.
    for kind in ("raw", "struct", "pydantic"):
        result[f"cpu_ratio_{kind}"] = result[f"hand_{kind}_cpu_us"] / result[f"streamline_{kind}_cpu_us"]
    return result


def rows(m: dict[str, float]) -> list[Row]:
    out = [
        Row(NAME, "consume(value=Struct) vs getmany + msgspec decode", fmt_rate(m["hand_struct_msgs_per_s"]),
            fmt_rate(m["streamline_struct_msgs_per_s"]), f"{m['ratio_struct']:.2f}x", ">= 0.9x",
            verdict(m["ratio_struct"] >= 0.9)),
        Row(NAME, "consume(value=Model) vs getmany + pydantic validate", fmt_rate(m["hand_pydantic_msgs_per_s"]),
            fmt_rate(m["streamline_pydantic_msgs_per_s"]), f"{m['ratio_pydantic']:.2f}x", ">= 0.9x",
            verdict(m["ratio_pydantic"] >= 0.9)),
    ]
    for kind, what in (("struct", "Struct"), ("pydantic", "Model")):
        key = f"cpu_ratio_{kind}"
        if key in m:
            out.append(Row(NAME, f"the same for value={what} in CPU per message (hand / consume())",
                           f"{m[f'hand_{kind}_cpu_us']:.2f} µs", f"{m[f'streamline_{kind}_cpu_us']:.2f} µs",
                           f"{m[key]:.2f}x", "reference", "info"))
    out.append(
        Row(NAME, "reference: consume() vs getmany, no decoding (same run)", fmt_rate(m["hand_raw_msgs_per_s"]),
            fmt_rate(m["streamline_raw_msgs_per_s"]), f"{m['ratio_raw']:.2f}x", "reference", "info")
    )
    fs = m.get("faststream_pydantic_msgs_per_s")
    if fs:
        out.append(Row(NAME, "consume(value=Model) vs FastStream pydantic subscriber", fmt_rate(fs),
                       fmt_rate(m["streamline_pydantic_msgs_per_s"]),
                       f"{m['streamline_pydantic_msgs_per_s'] / fs:.1f}x", "peer", "info"))
    else:
        out.append(Row(NAME, "FastStream pydantic subscriber (skipped: not installed, or a smoke run)",
                       "-", fmt_rate(m["streamline_pydantic_msgs_per_s"]), "-", "peer", "info"))
    return out
