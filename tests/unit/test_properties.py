"""Property tests that complement test_framing, test_checkpoints, test_offsets and test_partitioner:
they go through the real follower (its own read chunks, its checkpoint files) and compare the
partitioner with a transcription of Kafka's Java code.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamline import Checkpoints, follow, murmur2, partition_for_key
from streamline._follow import files as follow_files
from streamline._consume.offsets import PartitionAcks
from streamline._partitioner import HashPartitioner, RoundRobinPartitioner

# Bytes rich in line endings, \r, NUL and broken UTF-8.
line_bytes = st.lists(
    st.one_of(st.sampled_from([b"\n", b"\r\n", b"\r", b"x", b"\x00", b"\xff", b"\xe2\x82"]), st.binary(max_size=9)),
    max_size=60,
).map(b"".join)


def plain_split(data: bytes) -> list[bytes]:
    """Lines as a reader of the whole file sees them: CRLF and LF endings removed, the final
    unterminated line included."""
    parts = data.split(b"\n")
    tail = parts.pop()
    lines = [p[:-1] if p.endswith(b"\r") else p for p in parts]
    return lines + ([tail] if tail else [])


async def follow_all(path: Path, checkpoints: Path | None = None) -> list[bytes]:
    async with follow(path, start="beginning", stop_at_eof=True,
                      checkpoints=Checkpoints(checkpoints) if checkpoints else None) as lines:
        return [line.data async for line in lines]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=line_bytes, chunk=st.integers(min_value=1, max_value=16), appends=st.lists(st.integers(0, 400), max_size=6))
def test_follower_frames_lines_the_same_for_any_read_chunk_and_append_pattern(
    monkeypatch: pytest.MonkeyPatch, data: bytes, chunk: int, appends: list[int]
) -> None:
    """The follower reads ``chunk`` bytes at a time (instead of 1 MiB), so lines and CRLF pairs
    straddle read boundaries; the file is written in pieces cut at ``appends``."""
    monkeypatch.setattr(follow_files, "CHUNK_BYTES", chunk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.log"
        cuts = sorted({c % (len(data) + 1) for c in appends} | {0, len(data)})
        with open(path, "wb") as f:
            for low, high in zip(cuts, cuts[1:]):
                f.write(data[low:high])
                f.flush()
        got = asyncio.run(asyncio.wait_for(follow_all(path), 120))
    assert got == plain_split(data)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_checkpoint_after_acks_in_any_order_resumes_at_the_first_unacknowledged_line(count: int, data: st.DataObject) -> None:
    lines = [b"line %d %s" % (i, b"x" * (i % 7)) for i in range(count)]
    acked = data.draw(st.sets(st.integers(0, count - 1)), label="acknowledged")
    order = data.draw(st.permutations(sorted(acked)), label="order")

    async def scenario(path: Path, store: Path) -> list[bytes]:
        async with follow(path, start="beginning", stop_at_eof=True, checkpoints=Checkpoints(store)) as follower:
            got = [line async for line in follower]
            for i in order:
                got[i].ack()
        return await follow_all(path, store)  # a restart: resumes at the saved checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.log"
        path.write_bytes(b"".join(l + b"\n" for l in lines))
        again = asyncio.run(asyncio.wait_for(scenario(path, Path(tmp) / "ck"), 120))
    first_unacked = next((i for i in range(count) if i not in acked), count)
    assert again == lines[first_unacked:]  # nothing lost; re-sent only from the first gap


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.lists(st.integers(1, 3), min_size=1, max_size=8), min_size=1, max_size=8),
    data=st.data(),
)
def test_partition_acks_equal_the_contiguous_prefix_after_every_ack(batches: list[list[int]], data: st.DataObject) -> None:
    """Offsets with gaps (steps of 1-3), delivered in batches, acknowledged one by one or as
    whole lists in any order: ``committable`` is always 1 + the end of the acknowledged prefix."""
    acks = PartitionAcks()
    offsets: list[int] = []
    position = data.draw(st.integers(0, 1000), label="first offset")
    for batch in batches:
        run = []
        for step in batch:
            run.append(position)
            position += step
        acks.deliver(run)
        offsets += run
    order = data.draw(st.permutations(offsets), label="ack order")
    done: set[int] = set()
    i = 0
    while i < len(order):
        size = data.draw(st.integers(1, 4), label="group")
        group = order[i : i + size]
        acks.ack_many(group) if size > 1 else acks.ack(group[0])
        done.update(group)
        i += size
        prefix = 0
        while prefix < len(offsets) and offsets[prefix] in done:
            prefix += 1
        expected = offsets[prefix - 1] + 1 if prefix else None
        assert acks.committable == expected


def java_murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2, transcribed with Java's signed 32-bit ints."""

    def i32(x: int) -> int:
        x &= 0xFFFFFFFF
        return x - (1 << 32) if x & 0x80000000 else x

    def ushr(x: int, n: int) -> int:  # Java's >>>
        return (x & 0xFFFFFFFF) >> n

    length = len(data)
    seed, m, r = i32(0x9747B28C), 0x5BD1E995, 24
    h = i32(seed ^ length)
    for i in range(length // 4):
        i4 = i * 4
        k = (data[i4] & 0xFF) + ((data[i4 + 1] & 0xFF) << 8) + ((data[i4 + 2] & 0xFF) << 16) + ((data[i4 + 3] & 0xFF) << 24)
        k = i32(k * m)
        k = i32(k ^ ushr(k, r))
        k = i32(k * m)
        h = i32(h * m)
        h = i32(h ^ k)
    rest = length % 4
    base = length & ~3
    if rest == 3:
        h = i32(h ^ ((data[base + 2] & 0xFF) << 16))
    if rest >= 2:
        h = i32(h ^ ((data[base + 1] & 0xFF) << 8))
    if rest >= 1:
        h = i32(h ^ (data[base] & 0xFF))
        h = i32(h * m)
    h = i32(h ^ ushr(h, 13))
    h = i32(h * m)
    h = i32(h ^ ushr(h, 15))
    return h


@settings(max_examples=500)
@given(key=st.binary(max_size=80), partitions=st.integers(1, 10_000))
def test_key_partition_matches_kafkas_java_default_partitioner(key: bytes, partitions: int) -> None:
    java_hash = java_murmur2(key)
    assert murmur2(key) == java_hash & 0xFFFFFFFF
    expected = (java_hash & 0x7FFFFFFF) % partitions  # Utils.toPositive(murmur2(key)) % numPartitions
    assert partition_for_key(key, partitions) == expected
    partitioner = HashPartitioner()
    assert partitioner(key, partitions) == partitioner(key, partitions) == expected  # also from the cache


@settings(max_examples=200)
@given(partitions=st.integers(1, 64), count=st.integers(0, 2000), keys=st.lists(st.none() | st.binary(max_size=4), max_size=5))
def test_keyless_hash_and_round_robin_spread_within_one(partitions: int, count: int, keys: list) -> None:
    for partitioner in (HashPartitioner(), RoundRobinPartitioner()):
        if isinstance(partitioner, HashPartitioner):
            picks = [partitioner(None, partitions) for _ in range(count)]
        else:  # round-robin ignores keys
            picks = [partitioner(keys[i % len(keys)] if keys else None, partitions) for i in range(count)]
        counts = Counter(picks)
        assert all(0 <= p < partitions for p in counts)
        spread = [counts.get(p, 0) for p in range(partitions)]
        assert max(spread) - min(spread) <= 1
