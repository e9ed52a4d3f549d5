"""Records with keys and headers through send_many's compiled-builder paths (Records and
RecordColumns), read back from the broker: every header byte-exact, in order, per partition in
input order; a tombstone with a key arrives as a null value."""

from __future__ import annotations

import asyncio
import time

from streamline import Producer, Record, consume
from streamline._producer import RecordColumns


async def read_messages(bootstrap: str, topic: str, count: int, timeout: float = 90.0) -> list:
    messages: list = []
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        iterator = stream.batches().__aiter__()
        while len(messages) < count and time.monotonic() < deadline:
            try:
                messages.extend(await asyncio.wait_for(iterator.__anext__(), deadline - time.monotonic()))
            except (asyncio.TimeoutError, StopAsyncIteration):
                break
    return messages


def in_input_order_per_partition(messages: list, number: object) -> bool:
    by_partition: dict[int, list] = {}
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        by_partition.setdefault(m.partition, []).append(number(m))  # type: ignore[operator]
    return all(numbers == sorted(numbers) for numbers in by_partition.values())


async def test_records_with_headers_arrive_byte_exact(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    shared = [("host", b"web-1"), ("path", "/var/log/\u00e4pp.log".encode())]
    records = []
    for n in range(600):
        headers = [*shared, ("offset", b"%d" % (n * 127)), ("\u00fcn\u00efcode-\u540d", bytes([n % 256, 0, 255]))]
        if n % 5 == 0:
            headers = shared  # a list shared by records
        elif n % 7 == 0:
            headers.append(("empty", b""))
        key = b"user-%d" % (n % 11) if n % 2 else None
        records.append(Record(b"value %d" % n, key=key, headers=headers))
    records.append(Record(None, key=b"gone", headers=[("reason", b"deleted")]))
    async with Producer(kafka_bootstrap) as producer:
        assert await producer.send_many(topic, records) == len(records)
    messages = await read_messages(kafka_bootstrap, topic, len(records))
    assert len(messages) == len(records)
    sent = {(r.value, r.key): r for r in records}
    for m in messages:
        record = sent.pop((m.value, m.key))
        assert list(m.headers) == list(record.headers)
    assert not sent
    values = [m for m in messages if m.value is not None]
    assert in_input_order_per_partition(values, lambda m: int(m.value.split()[1]))


async def test_record_columns_arrive_as_the_records_they_stand_for(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=4)
    count = 3000
    values = [b"line %d" % n for n in range(count)]
    offsets = [b"%d" % (n * 127) for n in range(count)]
    fixed = [("host", b"web-1"), ("path", b"/var/log/app.log"), ("input", b"web")]
    keyless = RecordColumns(values, headers=fixed, varying=("offset", offsets, 2))
    keyed = RecordColumns(
        [b"keyed %d" % n for n in range(count)], keys=[b"k%d" % (n % 13) for n in range(count)], headers=fixed,
        varying=("offset", offsets, 0),
    )
    async with Producer(kafka_bootstrap) as producer:
        assert await producer.send_many(topic, keyless) == count
        assert await producer.send_many(topic, keyed) == count
    messages = await read_messages(kafka_bootstrap, topic, 2 * count)
    assert len(messages) == 2 * count
    expected = {(r.value, r.key): r.headers for r in [*keyless, *keyed]}
    assert {(m.value, m.key): list(m.headers) for m in messages} == expected
    assert len({m.partition for m in messages if m.key is None}) == 4  # keyless spread over every partition
    partitions_of_key: dict[bytes, set[int]] = {}
    for m in messages:
        if m.key is not None:
            partitions_of_key.setdefault(m.key, set()).add(m.partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())  # the key decides, as for any keyed record
    assert in_input_order_per_partition(messages, lambda m: (m.key is not None, int(m.value.split()[1])))


async def test_null_values_with_and_without_a_key_arrive_as_null(kafka_bootstrap, new_topic) -> None:
    # aiokafka's send() asserts a record has a key or a value; Kafka does not ask that (only a
    # compacted topic refuses records without a key): send and send_many both send it.
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        first = await producer.send(topic, "before")
        null = await producer.send(topic, None, headers={"why": "deleted"}, timestamp_ms=1_700_000_000_123)
        keyed = await producer.send(topic, None, key="user-1")
        assert await producer.send_many(topic, [Record(None), (None, None), Record(None, key=b"user-2")]) == 3
    assert (null.partition, null.offset, null.timestamp) == (0, first.offset + 1, 1_700_000_000_123)
    assert keyed.offset == first.offset + 2
    messages = sorted(await read_messages(kafka_bootstrap, topic, 6), key=lambda m: m.offset)
    assert [(m.key, m.value) for m in messages] == [
        (None, b"before"), (None, None), (b"user-1", None), (None, None), (None, None), (b"user-2", None)
    ]
    assert list(messages[1].headers) == [("why", b"deleted")] and messages[1].timestamp == 1_700_000_000_123
