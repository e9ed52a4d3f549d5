"""Key hashes against each client's own test vectors (Java's murmur2, Go's FNV-1a and sarama's
partitioner, zlib's CRC-32 as librdkafka uses it), and the partitioners' spreading."""

import zlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamline import murmur2, partition_for_key
from streamline._errors import ConfigurationError
from streamline._partitioner import (
    HashPartitioner,
    RandomPartitioner,
    RoundRobinPartitioner,
    fnv1a_32,
    make_partitioner,
)

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints)
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("data,expected", JAVA_VECTORS.items())
def test_murmur2_matches_java_client(data: bytes, expected: int) -> None:
    assert murmur2(data) == expected & 0xFFFFFFFF


def test_partition_for_key_is_positive_modulo() -> None:
    for data, signed in JAVA_VECTORS.items():
        assert partition_for_key(data, 6) == (signed & 0x7FFFFFFF) % 6


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=1000))
def test_hash_partitioner_is_deterministic_and_in_range(key: bytes, n: int) -> None:
    p = HashPartitioner()(key, n)
    assert 0 <= p < n
    assert p == partition_for_key(key, n) == HashPartitioner()(key, n)


@given(st.binary(max_size=64))
def test_murmur2_agrees_with_aiokafka(key: bytes) -> None:
    from aiokafka.partitioner import murmur2 as reference

    assert murmur2(key) == reference(key) & 0xFFFFFFFF


def test_keyless_records_spread_evenly() -> None:
    hashing = HashPartitioner()
    counts = Counter(hashing(None, 4) for _ in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_round_robin_cycles_even_with_keys() -> None:
    rr = RoundRobinPartitioner()
    assert [rr(b"same", 3) for _ in range(6)] == [0, 1, 2, 0, 1, 2]


def test_random_uses_every_partition() -> None:
    rnd = RandomPartitioner()
    assert set(rnd(b"k", 5) for _ in range(500)) == set(range(5))


def test_unknown_partitioner_lists_choices() -> None:
    with pytest.raises(ConfigurationError, match="hash, murmur2, consistent_random, fnv1a, random, round_robin"):
        make_partitioner("sticky")


# FNV-1a 32-bit: the published test vectors (Fowler/Noll/Vo, and Go's hash/fnv tests).
FNV1A_VECTORS = {
    b"": 0x811C9DC5,
    b"a": 0xE40C292C,
    b"ab": 0x4D2505CA,
    b"abc": 0x1A47E90B,
    b"foobar": 0xBF9CF968,
}


@pytest.mark.parametrize("data,expected", FNV1A_VECTORS.items())
def test_fnv1a_matches_published_vectors(data: bytes, expected: int) -> None:
    assert fnv1a_32(data) == expected


def go_sarama_partition(key: bytes, n: int) -> int:
    """sarama 1.22's hashPartitioner.Partition, transcribed literally with Go's int32 semantics."""
    h = fnv1a_32(key)
    signed = h - (1 << 32) if h & 0x80000000 else h  # int32(p.hasher.Sum32())
    remainder = abs(signed) % n * (1 if signed >= 0 else -1)  # Go's %: truncated, sign of dividend
    return -remainder if remainder < 0 else remainder  # if partition < 0 { partition = -partition }


# librdkafka's rdfnv1a.c unit test: abs(int32(fnv1a)) for keys hashed by Go (its "fnv1a" partitioner
# is documented as sarama's default).
@pytest.mark.parametrize(
    "key,positive", [(b"kafka", 0xD33C4E1), (b"giberish123456789", 0x77A58295), (b"", 0x7EE3623B)]
)
def test_fnv1a_partitioner_matches_librdkafkas_sarama_vectors(key: bytes, positive: int) -> None:
    assert partition_for_key(key, 1 << 31, partitioner="fnv1a") == positive  # n larger than any hash


def test_sarama_min_int32_key() -> None:
    # sarama's TestHashPartitionerMinInt32: this key hashes to 2147483648, int32 min.
    assert fnv1a_32(b"1468509572224") == 1 << 31
    assert partition_for_key(b"1468509572224", 50, partitioner="fnv1a") == (1 << 31) % 50 == 48


def test_sarama_is_not_the_java_style_abs() -> None:
    # Keys whose hash has the top bit set: sarama's default (abs) and its "reference" variant
    # (& 0x7fffffff) disagree; we must give sarama's default.
    differ = [
        k for k in (f"k{i}".encode() for i in range(200))
        if (fnv1a_32(k) & 0x7FFFFFFF) % 7 != partition_for_key(k, 7, partitioner="fnv1a")
    ]
    assert differ
    for key in differ:
        assert partition_for_key(key, 7, partitioner="fnv1a") == go_sarama_partition(key, 7)


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=10_000))
def test_fnv1a_partitioner_matches_sarama_transcription(key: bytes, n: int) -> None:
    p = make_partitioner("fnv1a")(key, n)
    assert p == go_sarama_partition(key, n) == partition_for_key(key, n, partitioner="fnv1a")
    assert 0 <= p < n


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=10_000))
def test_consistent_random_is_crc32_mod_n(key: bytes, n: int) -> None:
    # librdkafka rd_kafka_msg_partitioner_consistent: rd_crc32(key, keylen) % partition_cnt
    assert make_partitioner("consistent_random")(key, n) == zlib.crc32(key) % n
    assert partition_for_key(key, n, partitioner="consistent_random") == zlib.crc32(key) % n


def test_crc32_is_the_ieee_polynomial() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value librdkafka's rd_crc32 shares


def test_consistent_random_treats_an_empty_key_as_keyless() -> None:
    part = make_partitioner("consistent_random")
    assert {part(b"", 4) for _ in range(8)} == {0, 1, 2, 3}
    # ... while murmur2 and sarama hash the empty key like Java and sarama do.
    assert {make_partitioner("murmur2")(b"", 4) for _ in range(8)} == {partition_for_key(b"", 4)}
    assert {make_partitioner("fnv1a")(b"", 4) for _ in range(8)} == {go_sarama_partition(b"", 4)}


@pytest.mark.parametrize("name", ["hash", "murmur2", "consistent_random", "fnv1a"])
def test_key_hashers_spread_keyless_records_evenly(name: str) -> None:
    part = make_partitioner(name)
    counts = Counter(part(None, 5) for _ in range(5000))
    assert set(counts) == set(range(5))
    assert max(counts.values()) - min(counts.values()) <= 1


def test_murmur2_is_an_alias_of_hash() -> None:
    keys = [f"user-{i}".encode() for i in range(300)]
    hash_, murmur = make_partitioner("hash"), make_partitioner("murmur2")
    assert [hash_(k, 7) for k in keys] == [murmur(k, 7) for k in keys]


def test_the_three_key_hashes_really_differ() -> None:
    keys = [f"user-{i}".encode() for i in range(300)]
    placements = {
        name: [partition_for_key(k, 7, partitioner=name) for k in keys]
        for name in ("murmur2", "consistent_random", "fnv1a")
    }
    assert len({tuple(p) for p in placements.values()}) == 3


def test_a_cached_key_follows_the_partition_count() -> None:
    part = make_partitioner("fnv1a")
    assert part(b"user-9", 7) == partition_for_key(b"user-9", 7, partitioner="fnv1a")
    assert part(b"user-9", 13) == partition_for_key(b"user-9", 13, partitioner="fnv1a")


def test_partition_for_key_rejects_an_unknown_partitioner() -> None:
    with pytest.raises(ConfigurationError, match="partitioner must be one of"):
        partition_for_key(b"k", 3, partitioner="round_robin")


def test_docstring_examples_hold() -> None:
    import doctest

    from streamline import _partitioner

    assert doctest.testmod(_partitioner).failed == 0
