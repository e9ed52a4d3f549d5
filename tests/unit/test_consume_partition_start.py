"""``consume(topic, start={partition: start})``: only the partitions named, each from its own start
(no network: the fake consumer of tests/support/fake_consumer.py)."""

from __future__ import annotations

import anyio
import pytest
from fake_consumer import FakeCluster, open_stream

from streamline import ConfigurationError, consume
from streamline._consume.api import partition_starts

LONG = 60  # seconds: a bound for waiting on a condition, never reached on a healthy run


async def read_until(stream, want: int) -> tuple[list[tuple[int, int]], set[tuple[str, int]]]:
    """(partition, offset) of the first ``want`` messages, and the assignment then."""
    seen: list[tuple[int, int]] = []
    with anyio.fail_after(LONG):
        async with stream:
            async for batch in stream.batches():
                seen += [(m.partition, m.offset) for m in batch]
                if len(seen) >= want:
                    return seen, stream.assignment()
    raise AssertionError("the stream ended")


async def test_each_named_partition_starts_at_its_own_start_and_no_other_is_read() -> None:
    cluster = FakeCluster({("t", 0): 10, ("t", 1): 10, ("t", 2): 10})
    stream, _ = open_stream(cluster, start={0: 7, 2: "beginning"})
    seen, assigned = await read_until(stream, 13)
    assert sorted(seen) == [(0, o) for o in range(7, 10)] + [(2, o) for o in range(10)]
    assert assigned == {("t", 0), ("t", 2)}


async def test_end_reads_only_what_comes_later() -> None:
    cluster = FakeCluster({("t", 0): 10, ("t", 1): 10})
    stream, _ = open_stream(cluster, start={0: "end", 1: 9})
    seen: list[tuple[int, int]] = []
    with anyio.fail_after(LONG):
        async with stream:
            async for batch in stream.batches():
                seen += [(m.partition, m.offset) for m in batch]
                if seen == [(1, 9)]:
                    cluster.produce(("t", 0), [b"late"])  # after the start: read
                if len(seen) == 2:
                    break
    assert seen == [(1, 9), (0, 10)]


async def test_a_named_partition_that_appears_later_starts_at_its_own_start() -> None:
    cluster = FakeCluster({("t", 0): 3})
    stream, _ = open_stream(cluster, start={0: "beginning", 1: 4}, partition_refresh_interval=0.01)
    seen: list[tuple[int, int]] = []
    with anyio.fail_after(LONG):
        async with stream:
            async for batch in stream.batches():
                seen += [(m.partition, m.offset) for m in batch]
                if len(seen) == 3:
                    # The topic grows: partition 1 (named, from offset 4) and 2 (not named).
                    cluster.produce(("t", 1), [b"%d" % i for i in range(6)])
                    cluster.produce(("t", 2), [b"x"] * 6)
                if len(seen) == 5:
                    break
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 4), (1, 5)]


def test_starts_are_normalised_and_bad_ones_are_one_clear_error() -> None:
    assert partition_starts({0: "5", 1: "oldest", 2: "latest"}) == {0: 5, 1: "beginning", 2: "end"}
    for bad, words in [
        ({}, "names no partition"),
        ({-1: 0}, "partition numbers >= 0"),
        ({"0": 0}, "partition numbers >= 0"),
        ({True: 0}, "partition numbers >= 0"),
        ({0: -3}, "offset must be >= 0"),
        ({0: "soon"}, "start must be one of"),
    ]:
        with pytest.raises(ConfigurationError, match=words):
            consume("t", bootstrap_servers="localhost:1", start=bad)
    with pytest.raises(ConfigurationError, match="without a group"):
        consume("t", bootstrap_servers="localhost:1", start={0: 0}, group="g")
