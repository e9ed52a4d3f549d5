"""The tutorial's Go programs (examples/go, sarama) next to streamline: what one writes, the
other reads at the partition and offset the writer was told, and a key lands on one partition
whichever side produced it when both use sarama's hash (``partitioner="fnv1a"``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from goclients import GoConsumer, GoPrograms, go_produce, streamline

from streamline import Producer, partition_for_key

_PRINTED = re.compile(r"Partition:(\d+) Offset:(\d+) Key:(.*) Value:(.*)")


def printed(lines: list[str]) -> list[tuple[int, int, str, str]]:
    """The tutorial's ``Partition:%d Offset:%d Key:%s Value:%s`` lines, parsed."""
    found = []
    for line in lines:
        match = _PRINTED.fullmatch(line)
        if match:
            found.append((int(match[1]), int(match[2]), match[3], match[4]))
    return found


def test_go_producer_messages_arrive_in_streamline_consume(
    go_programs: GoPrograms, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)
    sent = {go_produce(go_programs, kafka_bootstrap, topic, f"go-{i}"): f"go-{i}" for i in range(6)}
    assert len(sent) == 6  # six distinct (partition, offset) pairs

    out = streamline(kafka_bootstrap, "consume", topic, "--from", "beginning", "--max", "6",
                     "--timeout", "60", "--format", "json")
    got = {(m["partition"], m["offset"]): m["value"] for m in map(json.loads, out.splitlines())}
    assert got == sent


def test_streamline_produce_arrives_in_the_go_consumer(
    go_consumer: Callable[[str], GoConsumer], kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=4)
    consumer = go_consumer(topic)  # started: every partition consumer has its newest offset

    keyed = {}
    for i in range(4):  # murmur2 puts user-0..3 on partitions 3, 0, 0, 3
        out = streamline(kafka_bootstrap, "produce", topic, "--key", f"user-{i}", "--value", f"keyed-{i}")
        match = re.fullmatch(r"partition: (\d+), offset: (\d+)", out.strip())
        assert match, out
        keyed[int(match[1]), int(match[2])] = (f"user-{i}", f"keyed-{i}")
    keyless = [f"keyless-{i}" for i in range(20)]
    streamline(kafka_bootstrap, "produce", topic, input="\n".join(keyless) + "\n")

    lines = consumer.wait_for(lambda lines: len(printed(lines)) >= len(keyed) + len(keyless))
    messages = printed(lines)
    assert {(p, o): (k, v) for p, o, k, v in messages if v.startswith("keyed-")} == keyed
    assert {p for p, _ in keyed} == {0, 3}
    plain = [(p, k, v) for p, _, k, v in messages if v.startswith("keyless-")]
    assert sorted(v for _, _, v in plain) == sorted(keyless)
    assert all(k == "" for _, k, _ in plain)
    assert len({p for p, _, _ in plain}) > 1  # spread over several partitions
    assert len(messages) == len(keyed) + len(keyless)  # nothing twice


async def test_a_key_lands_on_one_partition_from_go_and_from_streamline(
    go_programs: GoPrograms, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=7)
    keys = [f"user-{i}" for i in range(12)] + ["1468509572224"]  # the last hashes to int32 min

    def go_side(key: str) -> int:
        return go_produce(go_programs, kafka_bootstrap, topic, "from go", "-partitioner", "hash", "-key", key)[0]

    with ThreadPoolExecutor(4) as pool:
        by_go = dict(zip(keys, pool.map(go_side, keys), strict=True))
    async with Producer(kafka_bootstrap, partitioner="fnv1a") as producer:
        ours = {key: (await producer.send(topic, "from py", key=key)).partition for key in keys}
    assert ours == by_go
    for key in keys[-2:]:  # and the CLI's --partitioner fnv1a
        out = streamline(kafka_bootstrap, "produce", topic, "--partitioner", "fnv1a", "--key", key, "--value", "cli")
        assert out.startswith(f"partition: {by_go[key]}, "), (key, out)
    assert by_go == {key: partition_for_key(key.encode(), 7, partitioner="fnv1a") for key in keys}
    assert len(set(by_go.values())) > 3  # the keys are spread, so agreement is not luck
