"""How send_many splits keyless values over partitions (pure logic: no broker)."""

from __future__ import annotations

from collections import Counter

from streamline._producer import MIN_KEYLESS_SLICE, Producer


def plan(producer: Producer, items: list, partitions: int = 4) -> dict[int, list]:
    prepared = producer._prepare(items)
    return {p: list(records) for p, (records, _) in producer._plan("t", items, prepared, partitions).items()}


def test_a_few_lines_make_one_batch_on_one_partition_and_partitions_take_turns() -> None:
    producer = Producer("localhost:9092")
    used = []
    for call in range(8):
        lines = [b"line %d-%d" % (call, i) for i in range(3)]
        got = plan(producer, lines)
        assert list(got.values()) == [lines]  # one partition, in order
        used.append(next(iter(got)))
    assert Counter(used) == {0: 2, 1: 2, 2: 2, 3: 2}


def test_many_lines_are_spread_over_every_partition_in_contiguous_slices() -> None:
    producer = Producer("localhost:9092")
    lines = [b"%d" % i for i in range(1000)]
    got = plan(producer, lines)
    assert sorted(got) == [0, 1, 2, 3]
    assert sorted(len(v) for v in got.values()) == [250, 250, 250, 250]
    assert sorted(v for records in got.values() for v in records) == sorted(lines)


def test_twenty_lines_still_reach_several_partitions() -> None:
    producer = Producer("localhost:9092")
    got = plan(producer, [b"%d" % i for i in range(20)])
    assert MIN_KEYLESS_SLICE == 8
    assert sorted(len(v) for v in got.values()) == [4, 8, 8]  # three partitions


def test_keyless_values_mixed_with_keys_use_the_same_slices() -> None:
    producer = Producer("localhost:9092")
    items = [b"a", (b"k", b"v"), b"b", b"c"]
    got = plan(producer, items)
    keyless = [r for records in got.values() for r in records if r[0] is None]
    assert len({p for p, records in got.items() if any(r[0] is None for r in records)}) == 1
    assert [r[1] for r in keyless] == [b"a", b"b", b"c"]
