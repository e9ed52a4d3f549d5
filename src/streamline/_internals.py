"""Every use of a dependency's private names, in one place.

streamline reaches into aiokafka where its public API has no way to do something fast or at
all; each such use is here, with the shape it expects checked, and
``tests/unit/test_internals.py`` fails loudly when an aiokafka release changes that shape.

- the consumer's fetcher builds records as :class:`~streamline.Message` directly
  (``Fetcher._records``, ``PartitionRecords._consumer_record``): re-labelling afterwards costs
  ~8 % of consume throughput; on another shape the stream re-labels instead;
- fresh partition metadata for topics not assigned yet (``client._client.fetch_all_metadata``;
  the public ``consumer.topics()`` returns names only, ``partitions_for_topic`` a cache);
- decoding a group member's assignment (``aiokafka.coordinator.protocol``);
- the partition assignors (``aiokafka.coordinator.assignors``);
- failing a stopping producer's queued batches (``_message_accumulator``: aiokafka's ``stop()``
  waits for them without a limit);
- queueing a closed producer batch straight into the accumulator (``_append_batch``) when its
  partition has nothing queued: ``send_batch`` wraps the batch's answer in ``asyncio.shield``
  (a future and two callbacks per batch, and the answer reaches whoever waits one event-loop
  iteration later);
- DeleteGroups (``AIOKafkaAdminClient._send_request_to_node``: the admin client has no call for it);
- appending values and records (keys, headers) to a producer batch through aiokafka's compiled
  record builder (``BatchBuilder._builder``): the public ``append`` wrapper is half the
  per-line cost of ``ship``;
- watchfiles' ``RustNotify`` (``_follow/watch.py``): ``awatch`` is an async generator with one
  timeout for its whole life, while the follower waits with a different timeout per call.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import partial
from itertools import islice
from typing import Any

#: ``assignor=`` names and the aiokafka classes behind them.
ASSIGNORS = ("range", "roundrobin", "sticky")


def assignor_classes(names: Sequence[str]) -> tuple[type, ...]:
    """aiokafka's partition assignors for ``names`` (each one of :data:`ASSIGNORS`)."""
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    classes: dict[str, type] = {
        "range": RangePartitionAssignor,
        "roundrobin": RoundRobinPartitionAssignor,
        "sticky": StickyPartitionAssignor,
    }
    return tuple(classes[name] for name in names)


async def fetch_partitions(client_owner: Any, topics: Sequence[str]) -> dict[str, set[int]]:
    """Fresh partition sets for ``topics`` (empty for a topic the cluster does not have yet).

    ``client_owner`` is an aiokafka consumer or producer; this asks the cluster, not the cache.
    """
    cluster = await client_owner._client.fetch_all_metadata()
    return {t: set(cluster.partitions_for_topic(t) or ()) for t in topics}


def decode_member_assignment(data: bytes) -> list[tuple[str, int]]:
    """The ``(topic, partition)`` pairs of a group member's assignment as DescribeGroups returns it."""
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    decoded = ConsumerProtocolMemberAssignment.decode(data)
    return [(tp.topic, tp.partition) for tp in decoded.partitions()]


def build_records_as(consumer: Any, cls: type) -> bool:
    """Have a started consumer's fetcher build every record it parses as ``cls`` (a subclass
    of aiokafka's ``ConsumerRecord`` with the same fields) instead of ``ConsumerRecord``.

    aiokafka builds each record in ``PartitionRecords._consumer_record(tp, record)``, looked
    up on the instance for every record; the fetcher keeps one ``PartitionRecords`` per
    partition in ``Fetcher._records``. Giving each new one our builder as an instance attribute
    makes the records ``Message`` from the start — re-labelling them afterwards costs ~8% of
    consume throughput — and touches nothing outside this consumer (no global patch).
    aiokafka 0.11–0.14 share that shape; on anything else this returns False, changes nothing,
    and the caller re-labels.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    records = getattr(fetcher, "_records", None)
    if type(records) is not OrderedDict or not _builds_per_instance():
        return False
    building = _BuildingRecords(record_builder(cls))
    building.update(records)
    fetcher._records = building  # type: ignore[union-attr]
    return True


def record_builder(cls: type) -> Callable[[Any, Any], Any]:
    """``build(tp, record)``: what aiokafka's ``PartitionRecords._consumer_record`` does
    without deserializers (streamline sets none), building ``cls``."""

    def build(tp: Any, record: Any) -> Any:
        key = record.key
        value = record.value
        return cls(
            tp.topic, tp.partition, record.offset, record.timestamp, record.timestamp_type,
            key, value, record.checksum, -1 if key is None else len(key),
            -1 if value is None else len(value), tuple(record.headers),
        )

    return build


class _BuildingRecords(OrderedDict):  # type: ignore[type-arg]
    """The fetcher's per-partition results; hands each new one the record builder."""

    def __init__(self, build: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self._build = build

    def __setitem__(self, tp: Any, result: Any) -> None:
        partition_records = getattr(result, "_partition_records", None)  # a FetchError has none
        if partition_records is not None:
            partition_records._consumer_record = self._build
        super().__setitem__(tp, result)


def _builds_per_instance() -> bool:
    from aiokafka.consumer import fetcher

    records = getattr(fetcher, "PartitionRecords", None)
    build = getattr(getattr(records, "_consumer_record", None), "__code__", None)
    unpack = getattr(getattr(records, "_unpack_records", None), "__code__", None)
    return (
        build is not None and unpack is not None
        and build.co_varnames[:3] == ("self", "tp", "record")
        and "_consumer_record" in unpack.co_names
    )


def fail_queued_batches(producer: Any, error: BaseException) -> None:
    """Fail every batch an aiokafka producer still holds (queued or in flight) with ``error``."""
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is None:
        return
    batches = [b for queue in accumulator._batches.values() for b in queue]
    batches += list(accumulator._pending_batches)
    accumulator.fail_all(error)
    for batch in batches:  # failed on purpose: asyncio must not report them as forgotten
        for future in (getattr(batch, "future", None), getattr(batch, "_drain_waiter", None)):
            if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
                future.exception()


def queue_batch(producer: Any, batch: Any, topic: str, partition: int) -> asyncio.Future[Any] | None:
    """Queue a closed ``batch`` for ``topic``/``partition`` in a started aiokafka producer, as
    ``send_batch`` does, and return the batch's own answer (a future aiokafka's sender resolves
    with the batch's ``RecordMetadata`` or fails); ``None`` when ``send_batch`` must do it.

    ``send_batch`` checks the topic's metadata, waits while the partition still has a batch
    queued (aiokafka queues one per partition at a time), then ``add_batch`` appends it and
    returns ``asyncio.shield(batch.future)``. Here only the common case is taken: the producer
    open and healthy, the partition known to the metadata and with nothing queued; the batch
    goes through ``_append_batch`` like any other (the sender numbers idempotent batches when
    it takes them, as always). The answer is not shielded: cancelling it would cancel the
    batch's answer, so callers must only add callbacks or ``asyncio.wait`` on it.

        future = queue_batch(producer, batch, "logs", 0) or await producer.send_batch(batch, "logs", partition=0)
    """
    from aiokafka.structs import TopicPartition  # (a module, not a package: no Python call once loaded)

    accumulator: Any = getattr(producer, "_message_accumulator", None)
    append = getattr(accumulator, "_append_batch", None)
    if append is None or accumulator._closed or accumulator._exception is not None:
        return None
    txn = producer._txn_manager
    if txn is not None and txn.transactional_id is not None:  # (streamline never sends in transactions)
        return None
    partitions = producer.client.cluster.partitions_for_topic(topic)
    if not partitions or partition not in partitions:
        return None
    tp = TopicPartition(topic, partition)
    if accumulator._batches.get(tp):
        return None
    future: asyncio.Future[Any] = append(batch, tp).future
    return future


async def send_delete_groups(admin: Any, group: str) -> dict[str, int]:
    """DeleteGroups for one group, sent to its coordinator: the error code per group id."""
    from aiokafka.protocol.admin import DeleteGroupsRequest

    node = await admin.find_coordinator(group)
    response = await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
    return {entry["group_id"]: entry["error_code"] for entry in response.to_object()["results"]}


def rust_notify() -> Any:
    """watchfiles' ``RustNotify`` class, or None when watchfiles is not importable."""
    try:
        from watchfiles._rust_notify import RustNotify
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    return RustNotify


def values_appender(
    batch: Any, headers: list[tuple[str, bytes]] | None = None
) -> Callable[[Sequence[bytes], int, int], int]:
    """``append(values, start, timestamp_ms)`` for an aiokafka ``BatchBuilder``: appends
    keyless ``values[start:]`` (each with ``headers``, default none) until the batch is full and
    returns the index of the first value that did not fit (``len(values)`` if all did); a full
    batch is closed.

    The public ``BatchBuilder.append`` is a Python wrapper (keyword arguments, serializer
    checks) around the compiled ``DefaultRecordBatchBuilder.append``: calling the latter
    directly, with one timestamp per call instead of a clock read per record, halves the
    per-line cost of shipping (~1.0 → ~0.45 µs). It needs the builder's shape aiokafka
    0.11–0.14 have (``_builder``, ``_relative_offset``, ``_closed``, no serializers); on any
    other shape this falls back to the public ``append``.
    """
    pairs = list(headers) if headers else []
    if not _compiled_shape(batch):
        return partial(_append_public, batch, pairs)
    return partial(_append_compiled, batch, batch._builder.append, pairs)


def records_appender(batch: Any) -> Callable[[Sequence[Any], int, int], int]:
    """``append(records, start, timestamp_ms)`` like :func:`values_appender`, for checked
    records ``(key, value, headers, timestamp_ms, partition)`` (``headers`` a list of
    ``(str, bytes)`` or None; a record's own timestamp wins over ``timestamp_ms``).

    The same compiled builder as :func:`values_appender`: the public ``append`` costs about
    as much again per record, and records with headers (the agent's metadata, content types,
    trace context) are most of what an agent sends.
    """
    if not _compiled_shape(batch):
        return partial(_append_records_public, batch)
    return partial(_append_records_compiled, batch, batch._builder.append)


def _compiled_shape(batch: Any) -> bool:
    return not (
        getattr(batch, "_builder", None) is None
        or type(getattr(batch, "_relative_offset", None)) is not int
        or getattr(batch, "_closed", True)
        or getattr(batch, "_key_serializer", 0) is not None
        or getattr(batch, "_value_serializer", 0) is not None
    )


def _append_compiled(
    batch: Any,
    append: Callable[..., Any],
    headers: list[tuple[str, bytes]],
    values: Sequence[bytes],
    start: int,
    timestamp_ms: int,
) -> int:
    offset = batch._relative_offset
    index = start
    try:
        for value in islice(values, start, None):
            if append(offset, timestamp_ms, None, value, headers) is None:
                batch.close()
                break
            offset += 1
            index += 1
    finally:
        batch._relative_offset = offset
    return index


def _append_public(
    batch: Any, headers: list[tuple[str, bytes]], values: Sequence[bytes], start: int, timestamp_ms: int
) -> int:
    append = batch.append
    index = start
    for value in islice(values, start, None):
        if append(key=None, value=value, timestamp=timestamp_ms, headers=headers) is None:
            break
        index += 1
    return index


def _append_records_compiled(
    batch: Any, append: Callable[..., Any], records: Sequence[Any], start: int, timestamp_ms: int
) -> int:
    offset = batch._relative_offset
    index = start
    no_headers: list[Any] = []
    try:
        for key, value, headers, timestamp, _ in islice(records, start, None):
            if append(
                offset, timestamp_ms if timestamp is None else timestamp, key, value, headers or no_headers
            ) is None:
                batch.close()
                break
            offset += 1
            index += 1
    finally:
        batch._relative_offset = offset
    return index


def _append_records_public(batch: Any, records: Sequence[Any], start: int, timestamp_ms: int) -> int:
    append = batch.append
    index = start
    for key, value, headers, timestamp, _ in islice(records, start, None):
        stamp = timestamp_ms if timestamp is None else timestamp
        if append(key=key, value=value, timestamp=stamp, headers=headers or []) is None:
            break
        index += 1
    return index


def columns_appender(
    batch: Any,
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None,
    headers: list[tuple[str, bytes]],
    slot: int,
    name: str,
    varying: Sequence[bytes],
) -> Callable[[Sequence[int], int, int], int]:
    """``append(indices, start, timestamp_ms)`` like :func:`values_appender`, for records given
    as columns (checked): record ``i`` is ``values[i]`` with ``keys[i]`` (if keys) and
    ``headers``, in which ``headers[slot]`` is ``(name, varying[i])`` (if ``slot >= 0``).
    Returns the position in ``indices`` of the first record that did not fit.

    ``headers`` is one list, its per-record entry replaced before each append: the compiled
    builder encodes a record when it is appended, so no list, tuple or record object is made
    per record (their allocation and garbage collection are most of what headers cost).
    """
    columns = (values, keys, list(headers), slot, name, varying)
    if not _compiled_shape(batch):
        return partial(_append_columns_public, batch, *columns)
    return partial(_append_columns_compiled, batch, batch._builder.append, *columns)


def _append_columns_compiled(
    batch: Any,
    append: Callable[..., Any],
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None,
    template: list[tuple[str, bytes]],
    slot: int,
    name: str,
    varying: Sequence[bytes],
    indices: Sequence[int],
    start: int,
    timestamp_ms: int,
) -> int:
    offset = batch._relative_offset
    position = start
    try:
        for i in islice(indices, start, None):
            if slot >= 0:
                template[slot] = (name, varying[i])
            if append(offset, timestamp_ms, None if keys is None else keys[i], values[i], template) is None:
                batch.close()
                break
            offset += 1
            position += 1
    finally:
        batch._relative_offset = offset
    return position


def _append_columns_public(
    batch: Any,
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None,
    template: list[tuple[str, bytes]],
    slot: int,
    name: str,
    varying: Sequence[bytes],
    indices: Sequence[int],
    start: int,
    timestamp_ms: int,
) -> int:
    append = batch.append
    position = start
    for i in islice(indices, start, None):
        if slot >= 0:
            template[slot] = (name, varying[i])
        key = None if keys is None else keys[i]
        if append(key=key, value=values[i], timestamp=timestamp_ms, headers=template) is None:
            break
        position += 1
    return position
