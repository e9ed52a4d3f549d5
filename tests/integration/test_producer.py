"""Producer against the real broker: acknowledgements, partitioning, batching, errors."""

from collections import Counter

import pytest

from streamline import (
    DeliveryError,
    Producer,
    Record,
    RecordMetadata,
    TopicError,
    consume,
    partition_for_key,
)


async def read_all(bootstrap: str, topic: str, count: int) -> list:
    out = []
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for msg in stream:
            out.append(msg)
            if len(out) == count:
                break
    return out


@pytest.mark.parametrize("acks", [1, "all"])
async def test_send_returns_partition_and_offset(kafka_bootstrap, new_topic, acks) -> None:
    topic = new_topic(partitions=3)
    async with Producer(kafka_bootstrap, acks=acks) as producer:
        first = await producer.send(topic, "hello", key="k", headers={"h": "v"})
        second = await producer.send(topic, b"again", key=b"k")
    assert isinstance(first, RecordMetadata) and first.topic == topic
    assert first.partition == second.partition == partition_for_key(b"k", 3)
    assert second.offset == first.offset + 1
    assert first.timestamp > 0
    [m1, m2] = await read_all(kafka_bootstrap, topic, 2)
    assert (m1.value, m1.key, list(m1.headers)) == (b"hello", b"k", [("h", b"v")])
    assert (m1.partition, m1.offset) == (first.partition, first.offset)
    assert m2.text == "again"


async def test_acks_zero_returns_no_offset_but_delivers(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, acks=0) as producer:
        md = await producer.send(topic, "fire-and-forget")
        await producer.flush()
    assert md.partition == 0 and md.offset == -1
    [msg] = await read_all(kafka_bootstrap, topic, 1)
    assert msg.value == b"fire-and-forget"


async def test_explicit_partition_wins_and_missing_partition_is_clear(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap, partitioner="round_robin") as producer:
        for _ in range(3):
            assert (await producer.send(topic, "x", key="k", partition=1)).partition == 1
        with pytest.raises(TopicError, match=r"partitions 0\.\.1; partition 5 does not exist"):
            await producer.send(topic, "x", partition=5)


@pytest.mark.parametrize("partitioner", ["hash", "random", "round_robin"])
async def test_keyless_records_reach_every_partition(kafka_bootstrap, new_topic, partitioner) -> None:
    topic = new_topic(partitions=4)
    async with Producer(kafka_bootstrap, partitioner=partitioner) as producer:
        parts = [(await producer.send(topic, f"v{i}")).partition for i in range(40)]
    assert set(parts) == {0, 1, 2, 3}


async def test_send_many_mixed_items_all_arrive_where_they_should(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=4)
    values = [f"plain-{i}".encode() for i in range(5000)]
    keyed = [(f"user-{i % 50}", f"keyed-{i}") for i in range(5000)]
    records = [Record(f"rec-{i}", headers={"n": str(i)}, partition=3) for i in range(100)]
    async with Producer(kafka_bootstrap) as producer:
        assert await producer.send_many(topic, values) == 5000
        assert await producer.send_many(topic, keyed) == 5000
        assert await producer.send_many(topic, records) == 100
        assert await producer.send_many(topic, ["text-a", "text-b"]) == 2
    got = await read_all(kafka_bootstrap, topic, 10102)
    assert len({(m.partition, m.offset) for m in got}) == 10102
    by_value = {m.value: m for m in got}
    for key, value in keyed:
        assert by_value[value.encode()].partition == partition_for_key(key.encode(), 4)
    assert {by_value[f"rec-{i}".encode()].partition for i in range(100)} == {3}
    assert list(by_value[b"rec-7"].headers) == [("n", b"7")]
    spread = Counter(by_value[v].partition for v in values)
    assert set(spread) == {0, 1, 2, 3} and max(spread.values()) - min(spread.values()) <= 1250 // 4 + 2
    # Per partition, a send_many keeps the order of its items.
    plain = [m for m in sorted(got, key=lambda m: (m.partition, m.offset)) if m.value.startswith(b"plain-")]
    for p in range(4):
        seq = [int(m.value.split(b"-")[1]) for m in plain if m.partition == p]
        assert seq == sorted(seq)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_compression_round_trip(kafka_bootstrap, new_topic, codec) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, compression=codec) as producer:
        await producer.send_many(topic, [b"compress me " * 20] * 200)
    got = await read_all(kafka_bootstrap, topic, 200)
    assert {m.value for m in got} == {b"compress me " * 20}


async def test_oversized_record_is_a_clear_error_and_others_still_arrive(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap, max_batch_bytes=4096) as producer:
        # Bigger than a batch but within the request limit: it travels alone.
        assert await producer.send_many(topic, [b"small", b"x" * 10_000, b"small"]) == 3
        with pytest.raises(DeliveryError, match="too large"):
            await producer.send_many(topic, [b"y" * (3 * 1024 * 1024)])
        with pytest.raises(DeliveryError, match="too large"):
            await producer.send(topic, b"y" * (3 * 1024 * 1024))
    got = await read_all(kafka_bootstrap, topic, 3)
    assert [len(m.value) for m in got] == [5, 10_000, 5]


async def test_submit_many_returns_before_acknowledgement(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap) as producer:
        deliveries = [await producer.submit_many(topic, [b"a"] * 1000) for _ in range(5)]
        assert [await d for d in deliveries] == [1000] * 5
        assert all(d.done() for d in deliveries)
