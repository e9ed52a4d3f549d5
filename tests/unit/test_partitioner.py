"""murmur2 against the Java client's own test vectors, and the partitioners' spreading."""

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamline import murmur2, partition_for_key
from streamline._partitioner import HashPartitioner, RandomPartitioner, RoundRobinPartitioner, make_partitioner
from streamline._errors import ConfigurationError

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
    with pytest.raises(ConfigurationError, match="hash, random, round_robin"):
        make_partitioner("sticky")
