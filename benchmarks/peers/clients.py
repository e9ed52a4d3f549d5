"""Client-library peers for produce and consume: confluent-kafka and FastStream.

Produce is timed the way ``case_produce`` times streamline: from the first record handed over to
the last acknowledgement (``acks=all``, 100-byte values, batches of up to 512 KiB). Consume reads
assigned partitions (no group: no join) and is timed from the first message (or batch) received
to the last one, counting only the messages after that first delivery: librdkafka takes about a
second from ``assign()`` to its first message on the embedded broker, which says nothing about
its throughput. The batch APIs are asked for at most 1,000 messages at a time, so the first delivery
is a small part of the total. Every consume function returns ``(messages counted, seconds, seconds
from ready)``: the last is all ``n`` messages from the moment the consumer was ready (started and
assigned) to the last one, start-up delays included.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time

from . import Unavailable

BATCH_BYTES = 512 * 1024
#: Values per ``publish_batch`` call: 100-byte values plus record overhead and the headers FastStream
#: adds to every message (correlation id, ...) stay well under BATCH_BYTES (3,236 did not fit).
FASTSTREAM_CHUNK = 2000
#: Messages per batch asked of the consumers with a batch API.
BATCH_RECORDS = 1000


def require(distribution: str, module: str, install: str) -> str:
    """The installed version of ``distribution``, or :class:`Unavailable` with the install hint."""
    try:
        __import__(module)
        return importlib.metadata.version(distribution)
    except ImportError:
        raise Unavailable(f"{distribution} not installed (pip install '{install}')") from None
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


async def streamline_consume(bootstrap: str, topic: str, n: int) -> tuple[int, float, float]:
    """``async for message in consume(...)`` (per message)."""
    from streamline import consume

    count = 0
    started = 0.0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        ready = time.perf_counter()
        async for _message in stream:
            count += 1
            if count == 1:
                started = time.perf_counter()
            elif count >= n:
                break
        end = time.perf_counter()
        return count - 1, end - started, end - ready


def confluent_consume(bootstrap: str, topic: str, n: int, partitions: int, timeout: float = 120.0) -> tuple[int, float, float]:
    """confluent-kafka ``Consumer.consume(num_messages=1000)`` over assigned partitions."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "streamline-bench-unused", "enable.auto.commit": False,
        "max.partition.fetch.bytes": 4 * 1024 * 1024, "fetch.max.bytes": 32 * 1024 * 1024,
    })
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        count = first = 0
        started = 0.0
        ready = time.perf_counter()
        deadline = time.monotonic() + timeout
        while count < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"confluent-kafka consume: {count:,} of {n:,} messages in {timeout:.0f} s")
            for message in consumer.consume(num_messages=BATCH_RECORDS, timeout=0.5):
                if message.error() is None:
                    message.value()  # touch every message, as a loop body would
                    count += 1
            if count and not first:
                first, started = count, time.perf_counter()
        end = time.perf_counter()
        return count - first, end - started, end - ready
    finally:
        consumer.close()


async def faststream_publish_batch(bootstrap: str, topic: str, data: list[bytes], partitions: int) -> float:
    """FastStream ``broker.publish_batch(...)`` per chunk of 2,000 values, partitions in turn, gathered."""
    from faststream.kafka import KafkaBroker

    broker = KafkaBroker(
        bootstrap, acks="all", enable_idempotence=False, linger_ms=5, max_batch_size=BATCH_BYTES,
        max_request_size=BATCH_BYTES + 65536, logger=None,
    )
    await broker.connect()
    try:
        await broker.publish(b"warm-up", topic)
        started = time.perf_counter()
        futures = []
        for i, start in enumerate(range(0, len(data), FASTSTREAM_CHUNK)):
            chunk = data[start : start + FASTSTREAM_CHUNK]
            futures.append(await broker.publish_batch(*chunk, topic=topic, partition=i % partitions, no_confirm=True))
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await broker.stop()


async def faststream_consume_batches(
    bootstrap: str, topic: str, n: int, partitions: int, timeout: float = 120.0
) -> tuple[int, float, float]:
    """A FastStream batch subscriber (``batch=True, max_records=1000``) on assigned partitions."""
    from faststream.kafka import KafkaBroker, TopicPartition

    broker = KafkaBroker(bootstrap, logger=None)
    done = asyncio.Event()
    count = first = 0
    started = 0.0

    @broker.subscriber(
        partitions=[TopicPartition(topic, p) for p in range(partitions)], batch=True, max_records=BATCH_RECORDS,
        auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )
    async def handle(messages: list[bytes]) -> None:
        nonlocal count, first, started
        count += len(messages)
        if not first:
            first, started = count, time.perf_counter()
        if count >= n:
            done.set()

    await broker.start()
    ready = time.perf_counter()
    try:
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except asyncio.TimeoutError:
            raise RuntimeError(f"FastStream consume: {count:,} of {n:,} messages in {timeout:.0f} s") from None
        end = time.perf_counter()
        return count - first, end - started, end - ready
    finally:
        await broker.stop()
