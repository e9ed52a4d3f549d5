"""``consume(topic, start={partition: start})`` against the broker: only the partitions named,
each from its own start (an offset, the beginning, the end)."""

from __future__ import annotations

import anyio

from streamline import Producer, consume

LONG = 60  # seconds: a bound for waiting, never reached on a healthy run


async def test_each_partition_from_its_own_start_and_no_other(kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=3)
    async with Producer(kafka_bootstrap) as producer:
        for p in range(3):
            for i in range(4):
                await producer.send(topic, f"old-{p}-{i}", partition=p)
    seen: list[tuple[int, int, str]] = []
    with anyio.fail_after(LONG):
        async with consume(topic, start={0: 2, 1: "beginning", 2: "end"}, bootstrap_servers=kafka_bootstrap) as stream:
            async for msg in stream:
                seen.append((msg.partition, msg.offset, msg.text))
                if len(seen) == 6:
                    # Messages arrive only once every start is placed (the end of partition 2
                    # included): what is written now comes after that end.
                    async with Producer(kafka_bootstrap) as producer:
                        await producer.send(topic, "new-2", partition=2)
                if len(seen) == 7:
                    break
    by_partition = {p: [(o, v) for q, o, v in seen if q == p] for p in range(3)}
    assert by_partition[0] == [(2, "old-0-2"), (3, "old-0-3")]
    assert by_partition[1] == [(i, f"old-1-{i}") for i in range(4)]
    assert by_partition[2] == [(4, "new-2")]


async def test_only_the_named_partitions_are_read(kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=4)
    async with Producer(kafka_bootstrap) as producer:
        for p in range(4):
            await producer.send(topic, f"m{p}", partition=p)
        await producer.send(topic, "last", partition=3)
    got: list[tuple[int, int]] = []
    with anyio.fail_after(LONG):
        async with consume(topic, start={3: "beginning", 1: 0}, bootstrap_servers=kafka_bootstrap) as stream:
            async for batch in stream.batches():
                got += [(m.partition, m.offset) for m in batch]
                if len(got) == 3:
                    assert stream.assignment() == {(topic, 1), (topic, 3)}
                    break
    assert sorted(got) == [(1, 0), (3, 0), (3, 1)]
