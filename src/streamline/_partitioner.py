"""Choosing a partition: the key hash of the client the rest of your shop uses, and even
spreading for keyless records.

Three key hashes, named after the clients whose default they are:

- ``"hash"`` / ``"murmur2"``: Kafka's Java client (and librdkafka's ``murmur2_random``):
  ``toPositive(murmur2(key)) % n``.
- ``"consistent_random"``: librdkafka's default (confluent-kafka, kcat, rsyslog, syslog-ng):
  ``crc32(key) % n``; an empty key counts as no key.
- ``"fnv1a"``: sarama's default ``NewHashPartitioner`` (Go): ``abs(int32(fnv1a_32(key)) % n)``.

Keyless records are not placed by any key, so every hashing partitioner spreads them evenly
(the clients pick at random or stick to a batch; either way no reader can rely on where they go).
"""

from __future__ import annotations

import itertools
import random
import zlib
from collections.abc import Callable
from typing import Protocol

from ._validation import PARTITIONERS, check_choice

_M = 0x5BD1E995
_SEED = 0x9747B28C
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 hash of ``data`` (as an unsigned int).

    Same as ``org.apache.kafka.common.utils.Utils.murmur2`` (masked to 32 bits).

    >>> murmur2(b"21")
    3321034988
    """
    length = len(data)
    h = (_SEED ^ length) & 0xFFFFFFFF
    nblocks = length // 4
    for i in range(0, nblocks * 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    tail = length & 3
    base = nblocks * 4
    if tail >= 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash of ``data`` (Go's ``hash/fnv.New32a``), as an unsigned int.

    >>> hex(fnv1a_32(b"foobar"))
    '0xbf9cf968'
    """
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return h


# Every client's key placement is `positive_hash(key) % n`; these are the positive hashes.


def _murmur2_positive(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF  # Java: Utils.toPositive(Utils.murmur2(key))


def _crc32_positive(key: bytes) -> int:
    return zlib.crc32(key)  # librdkafka: rd_crc32(key, keylen) % partition_cnt, all unsigned


def _sarama_positive(key: bytes) -> int:
    # sarama's NewHashPartitioner: int32(Sum32()) % n in Go (the remainder takes the dividend's
    # sign), negated when negative — which equals abs(int32(hash)) % n. Not Java's `& 0x7fffffff`
    # (that is sarama's NewReferenceHashPartitioner): they differ whenever the top bit is set.
    h = fnv1a_32(key)
    return (1 << 32) - h if h >= 1 << 31 else h


# Per name: the positive key hash, and whether an empty key counts as "no key".
_KEY_HASHES: dict[str, tuple[Callable[[bytes], int], bool]] = {
    "hash": (_murmur2_positive, False),
    "murmur2": (_murmur2_positive, False),
    "consistent_random": (_crc32_positive, True),
    "fnv1a": (_sarama_positive, False),
}


def partition_for_key(key: bytes, num_partitions: int, *, partitioner: str = "murmur2") -> int:
    """The partition a client's key hash picks for ``key`` among ``num_partitions``.

    ``partitioner``: ``"murmur2"`` (= ``"hash"``, Java's default), ``"consistent_random"``
    (librdkafka's default; an empty key is placed at random there, so it has no fixed answer
    here either — it is hashed like any other) or ``"fnv1a"`` (sarama's default).

    >>> [partition_for_key(b"user-3", 6, partitioner=p) for p in ("murmur2", "consistent_random", "fnv1a")]
    [5, 0, 2]
    """
    name = check_choice("partitioner", partitioner, tuple(_KEY_HASHES))
    return _KEY_HASHES[name][0](key) % num_partitions


class Partitioner(Protocol):
    """Picks a partition for one record."""

    def __call__(self, key: bytes | None, num_partitions: int) -> int: ...


class HashPartitioner:
    """A client's key hash for keyed records (murmur2 by default); keyless records go
    round-robin so they spread evenly.

    A small cache keeps repeated keys cheap (keys repeat in most real streams).
    """

    def __init__(self, name: str = "murmur2") -> None:
        self._hash, self._empty_is_keyless = _KEY_HASHES[name]
        self._next = itertools.count(random.randrange(1 << 16))
        self._cache: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, num_partitions: int) -> int:
        if key is None or (not key and self._empty_is_keyless):
            return next(self._next) % num_partitions
        h = self._cache.get(key)
        if h is None:
            if len(self._cache) >= 65536:
                self._cache.clear()
            h = self._cache[key] = self._hash(key)
        return h % num_partitions


class RandomPartitioner:
    """Every record to a uniformly random partition, key or not."""

    def __call__(self, key: bytes | None, num_partitions: int) -> int:
        return random.randrange(num_partitions)


class RoundRobinPartitioner:
    """Records cycle through the partitions in turn, key or not."""

    def __init__(self) -> None:
        self._next = itertools.count()

    def __call__(self, key: bytes | None, num_partitions: int) -> int:
        return next(self._next) % num_partitions


def make_partitioner(name: str) -> Partitioner:
    """Build a partitioner by name (see :data:`PARTITIONERS`): ``"hash"`` (= ``"murmur2"``),
    ``"consistent_random"``, ``"fnv1a"``, ``"random"`` or ``"round_robin"``."""
    name = check_choice("partitioner", name, PARTITIONERS)
    if name in _KEY_HASHES:
        return HashPartitioner(name)
    return RandomPartitioner() if name == "random" else RoundRobinPartitioner()
