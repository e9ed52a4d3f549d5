"""Interop with librdkafka (confluent-kafka): same partitions for the same keys, and every
message it produces is read by consume()."""

import asyncio

import pytest

from streamline import Producer, consume, partition_for_key

confluent_kafka = pytest.importorskip("confluent_kafka")

KEYS = [f"user-{i}".encode() for i in range(300)] + [b"", b"\x00\xff", "ключ".encode()]


def produce_with_librdkafka(bootstrap: str, topic: str) -> dict[bytes, int]:
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5}
    )
    placed: dict[bytes, int] = {}

    def delivered(err, msg) -> None:  # type: ignore[no-untyped-def]
        assert err is None, err
        placed[msg.key()] = msg.partition()

    for key in KEYS:
        producer.produce(topic, key=key, value=b"v:" + key, on_delivery=delivered)
    assert producer.flush(30) == 0
    return placed


async def test_librdkafka_keys_land_where_our_hash_puts_them(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=6)
    placed = await asyncio.to_thread(produce_with_librdkafka, kafka_bootstrap, topic)
    assert len(placed) == len(KEYS)
    for key, partition in placed.items():
        if key:  # librdkafka's murmur2_random treats an empty key like no key (random)
            assert partition == partition_for_key(key, 6), key

    # consume() reads every one of them, from all six partitions.
    got = {}
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async for msg in stream:
            got[msg.key] = (msg.partition, msg.value)
            if len(got) == len(KEYS):
                break
    assert {k: p for k, (p, _) in got.items()} == placed
    assert all(v == b"v:" + k for k, (_, v) in got.items())

    # And our Producer with the default "hash" partitioner agrees, key by key.
    async with Producer(kafka_bootstrap) as producer:
        for key in KEYS[:50]:
            assert (await producer.send(topic, b"again", key=key)).partition == placed[key]
