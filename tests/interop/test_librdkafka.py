"""librdkafka (confluent-kafka) next to streamline: every codec both ways with only the core
dependencies, and its default partitioner (``consistent_random``) matched key by key."""

from __future__ import annotations

import asyncio
import importlib.metadata
import re
from collections.abc import Callable
from typing import Any

import pytest

from streamline import Producer, consume, partition_for_key

confluent_kafka: Any = pytest.importorskip("confluent_kafka")

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def test_the_codec_library_is_a_core_dependency() -> None:
    # A default install (no extras) must read the usual codecs of production topics.
    requirements = importlib.metadata.requires("streamline") or []
    core = [r for r in requirements if "extra ==" not in r]
    assert any(re.match(r"cramjam\b", r) for r in core), core
    from aiokafka import codec

    assert codec.has_snappy() and codec.has_lz4() and codec.has_zstd() and codec.has_gzip()


def librdkafka_produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes]], **config: Any) -> dict[bytes, int]:
    """Produce with confluent-kafka; return the partition librdkafka chose for each value."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    placed: dict[bytes, int] = {}
    errors: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            placed[msg.value()] = msg.partition()

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    assert producer.flush(60) == 0 and not errors, errors
    return placed


def librdkafka_read(bootstrap: str, topic: str, partitions: int, count: int) -> list[Any]:
    """Read ``count`` messages from the beginning of every partition (assigned, no group join)."""
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "streamline-interop-reader", "enable.auto.commit": False}
    )
    try:
        consumer.assign(
            [confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(partitions)]
        )
        got: list[Any] = []
        for _ in range(600):  # each poll waits up to 0.5 s: 300 s at most
            if len(got) >= count:
                break
            msg = consumer.poll(0.5)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.append(msg)
        return got
    finally:
        consumer.close()


async def read_all(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes | None, bytes | None]]:
    got = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for msg in stream:
            got.append((msg.partition, msg.key, msg.value))
            if len(got) == count:
                break
    return got


@pytest.mark.parametrize("codec", CODECS)
async def test_consume_reads_every_codec_librdkafka_writes(
    codec: str, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    # Compressible values, several per batch, so librdkafka really compresses them.
    records: list[tuple[bytes | None, bytes]] = [(f"k{i}".encode(), f"{codec}-{i}-".encode() * 50) for i in range(40)]
    await asyncio.to_thread(librdkafka_produce, kafka_bootstrap, topic, records, **{"compression.type": codec})
    got = await read_all(kafka_bootstrap, topic, len(records))
    assert sorted((k, v) for _, k, v in got) == sorted(records)


@pytest.mark.parametrize("codec", CODECS)
async def test_librdkafka_reads_every_codec_streamline_writes(
    codec: str, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    records = [(f"k{i}".encode(), f"{codec}-{i}-".encode() * 50) for i in range(40)]
    async with Producer(kafka_bootstrap, compression=codec) as producer:
        assert await producer.send_many(topic, records) == len(records)
        await producer.send(topic, b"one more " * 20, key=b"single")
    got = await asyncio.to_thread(librdkafka_read, kafka_bootstrap, topic, 2, len(records) + 1)
    assert sorted((m.key(), m.value()) for m in got) == sorted([*records, (b"single", b"one more " * 20)])


KEYS = [f"user-{i}".encode() for i in range(300)] + [b"\x00\xff", "ключ".encode(), b"1468509572224"]


def test_librdkafka_default_partitioner_is_consistent_random(kafka_bootstrap: str, new_topic: Callable[..., str]) -> None:
    topic = new_topic(partitions=7)
    # No "partitioner" setting: librdkafka's default.
    placed = librdkafka_produce(kafka_bootstrap, topic, [(key, key) for key in KEYS])  # value = key
    assert placed == {key: partition_for_key(key, 7, partitioner="consistent_random") for key in KEYS}
    # ... which is not murmur2: a Python producer on "hash" would split these keys' records.
    assert sum(placed[key] != partition_for_key(key, 7) for key in KEYS) > len(KEYS) // 2


@pytest.mark.parametrize("theirs,ours", [("fnv1a_random", "fnv1a"), ("murmur2_random", "murmur2")])
def test_librdkafka_named_partitioners_match_ours(
    theirs: str, ours: str, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    # librdkafka's fnv1a_random is its port of sarama's default partitioner: a second,
    # independent implementation to check "fnv1a" against (the Go test is the first).
    topic = new_topic(partitions=7)
    keyed = [key for key in KEYS if key]  # librdkafka treats an empty key as no key in some of these
    placed = librdkafka_produce(kafka_bootstrap, topic, [(key, key) for key in keyed], partitioner=theirs)
    assert placed == {key: partition_for_key(key, 7, partitioner=ours) for key in keyed}


async def test_streamline_consistent_random_puts_keys_with_librdkafkas(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=7)
    await asyncio.to_thread(librdkafka_produce, kafka_bootstrap, topic, [(key, b"rdkafka") for key in KEYS])
    async with Producer(kafka_bootstrap, partitioner="consistent_random") as producer:
        assert await producer.send_many(topic, [(key, b"streamline") for key in KEYS]) == len(KEYS)
        for key in KEYS[:20]:  # send() goes through the same partitioner
            await producer.send(topic, b"streamline", key=key)
    got = await read_all(kafka_bootstrap, topic, 2 * len(KEYS) + 20)
    partitions_per_key: dict[bytes | None, set[int]] = {}
    for partition, got_key, _ in got:
        partitions_per_key.setdefault(got_key, set()).add(partition)
    assert partitions_per_key == {key: {partition_for_key(key, 7, partitioner="consistent_random")} for key in KEYS}
