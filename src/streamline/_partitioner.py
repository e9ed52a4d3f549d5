"""Choosing a partition: Kafka's murmur2 for keys (as the Java client and librdkafka's
``murmur2_random`` do), and even spreading for keyless records."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Protocol

from ._validation import PARTITIONERS, check_choice

_M = 0x5BD1E995
_SEED = 0x9747B28C


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


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key``: ``toPositive(murmur2) % n``."""
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions


class Partitioner(Protocol):
    """Picks a partition for one record."""

    def __call__(self, key: bytes | None, num_partitions: int) -> int: ...


class HashPartitioner:
    """murmur2 for keyed records; keyless records go round-robin so they spread evenly.

    A small cache keeps repeated keys cheap (keys repeat in most real streams).
    """

    def __init__(self) -> None:
        self._next = itertools.count(random.randrange(1 << 16))
        self._cache: dict[bytes, int] = {}

    def __call__(self, key: bytes | None, num_partitions: int) -> int:
        if key is None:
            return next(self._next) % num_partitions
        h = self._cache.get(key)
        if h is None:
            if len(self._cache) >= 65536:
                self._cache.clear()
            h = self._cache[key] = murmur2(key) & 0x7FFFFFFF
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


_FACTORIES: dict[str, Callable[[], Partitioner]] = {
    "hash": HashPartitioner,
    "random": RandomPartitioner,
    "round_robin": RoundRobinPartitioner,
}


def make_partitioner(name: str) -> Partitioner:
    """Build a partitioner by name: ``"hash"``, ``"random"`` or ``"round_robin"``."""
    return _FACTORIES[check_choice("partitioner", name, PARTITIONERS)]()
