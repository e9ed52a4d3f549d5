"""The sink: :class:`Producer` sends records to Kafka and reports where they landed.

Two paths: :meth:`Producer.send` for one record (waits for the broker's acknowledgement), and
:meth:`Producer.send_many` / :meth:`Producer.submit_many` for throughput, which choose partitions
themselves and hand aiokafka whole per-partition batches (``create_batch``/``send_batch``) — the
per-message path costs about 15x more CPU (see ``shared/NOTES.md``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, NoReturn

from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from . import _client, _metrics
from ._cleanup import finish
from ._codecs import CONTENT_TYPE_HEADER, Codec, EncodeError, as_codec, describe_codec
from ._config import ConnectionConfig
from ._errors import ConfigurationError, DeliveryError, StreamlineError, TopicError
from ._internals import columns_appender, queue_batch, records_appender, values_appender
from ._metrics import tracing as _tracing
from ._models import Record, RecordMetadata
from ._partitioner import HashPartitioner, make_partitioner
from ._validation import (
    Acks,
    Bytesish,
    check_acks,
    check_compression,
    check_headers,
    check_number,
    check_partition,
    check_topic,
    to_bytes,
)

log = logging.getLogger("streamline.producer")

#: What :meth:`Producer.send_many` accepts per item (with a codec, values of its type).
Item = Bytesish | tuple[Bytesish | None, Bytesish | None] | Record | Any

#: ``codec=``/``key_codec=`` left out: the producer's own.
_PRODUCER: Any = object()

#: A checked record: key, value, headers, timestamp (ms), explicit partition.
_Prepared = tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None, int | None, int | None]
#: What :meth:`Producer._prepare` found: prepared records by input index, and whether bare values exist.
_Prepared_plan = tuple[dict[int, _Prepared], bool]

_ONLY_BYTES = {bytes}

#: Keyless values of one call go to one partition per at least this many (a few lines shipped
#: as they are written make one record batch, not one per partition): aiokafka sends at most
#: one batch per partition in each request and one request per broker at a time, so a few
#: lines spread over every partition would wait for as many round trips as partitions.
#: Partitions still take turns from call to call (Kafka's sticky partitioner does the same).
MIN_KEYLESS_SLICE = 8

#: Bytes a one-record batch adds around key, value and headers (batch header 61, record framing
#: up to ~30): the size check is an upper bound of what aiokafka's batch would measure.
_RECORD_OVERHEAD = 96
#: What a value codec's fast path may hand on unchanged: encoded values and tombstones (None
#: where the item was None, not where the codec returned None).
_BYTES = frozenset({bytes})
_ENCODED = frozenset({bytes, type(None)})

#: How long :meth:`Producer.stop` waits for acknowledgements by default when ``timeout`` is None:
#: the producer's ``delivery_timeout``.



async def _unsent(delivery: Delivery, span: Any, exc: KafkaError, planned: list[int]) -> NoReturn:
    """A batch could not be queued: end the send span and fail ``delivery``, naming exactly
    which of the ``planned`` items landed (some batches may already be on their way)."""
    if span is not None:
        _tracing.end_span(span, exc)
    queued = delivery.queued()
    delivery.unsent(exc, [i for i in planned if i not in queued])
    await delivery
    raise AssertionError("unreachable: a delivery with unsent items raises") from None

class Producer:
    """Send records to Kafka; each send returns once the broker acknowledged it.

    >>> async with Producer("localhost:9092") as producer:  # doctest: +SKIP
    ...     md = await producer.send("access-log", "GET / 200", key="10.0.0.1")
    ...     print(f"partition: {md.partition}, offset: {md.offset}")
    ...     await producer.send_many("access-log", [b"line 1", b"line 2"])

    Options (keyword-only, checked here, before any network call):

    - ``acks``: ``"all"`` (default, safest), ``1`` (leader only) or ``0`` (fire and forget:
      ``send`` returns once the record is handed to the connection; its metadata has the chosen
      partition and ``offset=-1``, ``timestamp=-1``, since the broker sends no answer).
    - ``partitioner``: ``"hash"`` (= ``"murmur2"``, the Java client's key hash),
      ``"consistent_random"`` (librdkafka's), ``"fnv1a"`` (sarama's) — keyless records spread
      evenly — or ``"random"``, ``"round_robin"``. An explicit ``partition=`` always wins.
    - ``compression``: ``None``, ``"gzip"``, ``"snappy"``, ``"lz4"`` or ``"zstd"``.
    - ``linger_ms`` / ``max_batch_bytes``: how long and how large the per-partition batches grow.
    - ``max_message_bytes``: the largest single record (as a one-record batch) sent; default 1 MiB,
      Kafka's ``max.request.size``. Larger records are a :class:`DeliveryError` before sending.
    - ``delivery_timeout``: seconds to wait for buffer space or an acknowledgement before
      :class:`DeliveryError`.
    - ``idempotent``: ``None`` (default) sends idempotently — no duplicates from the producer's
      own retries, order kept — when ``acks="all"`` and the broker supports it (checked at
      start; otherwise it sends without and logs that), ``True`` requires it, ``False`` never.
    - ``value`` / ``key``: encode values (keys) with a codec: a msgspec ``Struct`` type or a
      pydantic model class (JSON), ``str``/``"text"``, ``"json"`` or the ``json`` module, or
      a :class:`~streamline.Codec` (see :func:`consume`); default raw bytes/str, as always.
      ``send``, ``send_many`` and ``submit_many`` take ``codec=``/``key_codec=`` per call. A
      value that does not encode raises :class:`~streamline.EncodeError` before anything is
      sent; None (a tombstone) is never encoded.
    - ``content_type``: write the codec's ``content_type`` as a ``content-type`` header.
      Default (None): when a value codec is used (never for raw bytes); True: always, an error
      for raw bytes; False: never.
    - ``connection``: a :class:`ConnectionConfig` for TLS/SASL (otherwise ``STREAMLINE_*`` variables).

    >>> async with Producer(value=Invoice) as producer:  # doctest: +SKIP
    ...     await producer.send("invoices", Invoice(order=7, total=9.5))
    """

    def __init__(
        self,
        bootstrap_servers: str | list[str] | None = None,
        *,
        acks: Acks | str = "all",
        partitioner: str = "hash",
        compression: str | None = None,
        linger_ms: int = 5,
        max_batch_bytes: int = 512 * 1024,
        max_message_bytes: int = 1_048_576,
        delivery_timeout: float = 30.0,
        idempotent: bool | None = None,
        value: Any = None,
        key: Any = None,
        content_type: bool | None = None,
        connection: ConnectionConfig | None = None,
    ) -> None:
        self.acks: Acks = check_acks(acks)
        #: The codecs of values and keys (None: raw bytes or str, as given).
        self.value_codec: Codec[Any] | None = as_codec(value, "value")
        self.key_codec: Codec[Any] | None = as_codec(key, "key")
        if content_type not in (None, True, False):
            raise ConfigurationError(f"content_type must be True, False or None (got {content_type!r})")
        if content_type and self.value_codec is not None and not _content_type_of(self.value_codec):
            raise ConfigurationError(f"content_type=True, but the codec {self.value_codec!r} has no content_type")
        self._content_type = content_type
        self.compression = check_compression(compression)
        self._partitioner_name = partitioner
        self._partitioner = make_partitioner(partitioner)
        check_number("linger_ms", linger_ms, minimum=0, integer=True)
        check_number("max_batch_bytes", max_batch_bytes, minimum=1024, integer=True)
        check_number("max_message_bytes", max_message_bytes, minimum=1024, integer=True)
        check_number("delivery_timeout", delivery_timeout, above=0)
        #: The largest record batch holding one record that this producer sends (Kafka's
        #: ``max.request.size``; the broker's ``message.max.bytes`` must allow it too).
        self.max_message_bytes = max_message_bytes
        self.connection = ConnectionConfig.from_args(bootstrap_servers, connection)
        self._options: dict[str, Any] = {
            "acks": self.acks,
            "compression_type": self.compression,
            "linger_ms": linger_ms,
            "max_batch_size": max_batch_bytes,
            "max_request_size": max(max_message_bytes, max_batch_bytes + 65536),
            "request_timeout_ms": int(delivery_timeout * 1000),
            "enable_idempotence": False,
        }
        if idempotent not in (None, True, False):
            raise ConfigurationError(f"idempotent must be True, False or None (got {idempotent!r})")
        if idempotent and self.acks != "all":
            raise ConfigurationError(f'idempotent=True needs acks="all" (got acks={self.acks!r})')
        self._idempotent = idempotent
        self._delivery_timeout = delivery_timeout
        self._producer: Any = None
        self._keyless_turn = 0
        self._checked_topic: str | None = None  # the last topic submit_many found legal
        # Read by the metrics endpoint at scrape time; updated once per batch answered.
        self._delivered: dict[str, list[int]] = {}  # topic -> [records, bytes, failed records]
        self._in_flight = 0  # batches sent and not answered yet

    def __repr__(self) -> str:
        return (
            f"Producer(bootstrap_servers={self.connection.bootstrap_servers!r}, acks={self.acks!r}, "
            f"partitioner={self._partitioner_name!r}, compression={self.compression!r})"
        )

    async def start(self) -> None:
        """Connect (bounded by the connect timeout). ``async with`` calls this for you."""
        if self._producer is not None:
            return
        if self.compression in ("snappy", "lz4", "zstd"):
            _require_codec(self.compression)
        if self._idempotent is not False and self.acks == "all":
            options = {**self._options, "enable_idempotence": True}
            producer = _client.new_producer(self.connection, **options)
            try:
                await _client.start_idempotent(producer, self.connection)
            except _client.IdempotenceRefused as exc:
                if self._idempotent:
                    raise
                log.info("%s: sending without idempotence", exc)
            else:
                self._options = options
                self._producer = producer
                _metrics.track(self)
                return
        producer = _client.new_producer(self.connection, **self._options)
        await _client.start_bounded(producer, self.connection)
        self._producer = producer
        _metrics.track(self)

    async def stop(self, *, timeout: float | None = None) -> None:
        """Flush what is buffered and disconnect, within ``timeout`` seconds (default: the
        ``delivery_timeout``) whatever the broker does.

        Records not acknowledged by then fail: a :class:`Delivery` awaiting them raises
        :class:`DeliveryError` naming them. A native ``task.cancel()`` does not cut this short
        (the wait is bounded, so it is always allowed to finish).

        >>> await producer.stop(timeout=5)  # doctest: +SKIP
        """
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if timeout is None:
            timeout = self._delivery_timeout
        else:
            check_number("timeout", timeout, minimum=0)
        try:
            await finish(_client.stop_producer(producer, timeout))
        finally:
            _metrics.retire_producer(self)

    async def flush(self) -> None:
        """Wait until every buffered record has been sent."""
        await self._running().flush()

    async def __aenter__(self) -> Producer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def idempotent(self) -> bool:
        """True when the started producer sends idempotently (the broker accepted it)."""
        return bool(self._options.get("enable_idempotence"))

    def _running(self) -> Any:
        if self._producer is None:
            raise StreamlineError("the producer is not started; use `async with Producer(...)`")
        return self._producer

    async def partition_count(self, topic: str) -> int:
        """Number of partitions of ``topic`` (auto-created by the broker if it allows that)."""
        return await self._partition_count(self._running(), check_topic(topic))

    async def _partition_count(self, producer: Any, topic: str) -> int:
        """:meth:`partition_count` of a checked topic: from the metadata at hand when it has the
        topic (every send after the first), else waiting for it."""
        known = producer.client.cluster.partitions_for_topic(topic)
        if known:
            return len(known)
        try:
            partitions = await producer.partitions_for(topic)
        except KafkaTimeoutError:
            raise TopicError(
                f"topic {topic!r} has no metadata at {self.connection.bootstrap_servers} "
                f"after {self._delivery_timeout:g}s (does it exist?)"
            ) from None
        return len(partitions)

    async def send(
        self,
        topic: str,
        value: Bytesish | Any | None,
        *,
        key: Bytesish | Any | None = None,
        partition: int | None = None,
        headers: dict[str, Bytesish] | Sequence[tuple[str, Bytesish]] | None = None,
        timestamp_ms: int | None = None,
        codec: Any = _PRODUCER,
        key_codec: Any = _PRODUCER,
    ) -> RecordMetadata:
        """Send one record and return where the broker stored it.

        ``value`` (and ``key``) are bytes or str, or values of the producer's codec (``codec=``
        for this call). ``value=None`` sends a null value: a tombstone with a key; without one
        a null record as Kafka takes it (a compacted topic refuses records without a key).

        >>> md = await producer.send("logs", "hello", key="k")  # doctest: +SKIP
        >>> md.partition, md.offset  # doctest: +SKIP
        (2, 41)
        """
        check_topic(topic)
        value_codec, keys = self._codecs(codec, key_codec)
        if keys is not None and key is not None:
            key = _encode(keys, key, "key", None)
        key_b = to_bytes(key, "key")
        hdrs = check_headers(headers)
        if value_codec is not None and value is not None:
            value = _encode(value_codec, value, "value", None)
            ctype = self._content_type_header(value_codec)
            if ctype is not None and not _has_content_type(hdrs):
                hdrs = [*(hdrs or ()), ctype]
        value_b = to_bytes(value, "value")
        partition = check_partition(partition)
        size = _record_size((key_b, value_b, hdrs, timestamp_ms, partition))
        if size > self.max_message_bytes - _RECORD_OVERHEAD:
            raise self._too_large(0, size)
        producer = self._running()
        count = await self.partition_count(topic)
        if partition is None:
            partition = self._partitioner(key_b, count)
        elif partition >= count:
            raise TopicError(_no_partition(topic, partition, count))
        span, hdrs = _tracing.traced_send(topic, partition, hdrs)  # (None, hdrs) unless tracing
        try:
            if value_b is None and key_b is None:
                md = await self._send_null(producer, topic, partition, hdrs, timestamp_ms)
            else:
                future = await producer.send(
                    topic, value_b, key=key_b, partition=partition, headers=hdrs, timestamp_ms=timestamp_ms
                )
                md = await future
        except KafkaError as exc:
            self._count(topic)[2] += 1
            if span is not None:
                _tracing.sent(span, error=exc)
            raise self._delivery_error(topic, exc) from None
        row = self._count(topic)
        row[0] += 1
        row[1] += size
        if span is not None:
            _tracing.sent(span, md.offset if md is not None else None)
        if md is None:  # acks=0: the broker sends no answer, so there is no offset to report
            return RecordMetadata(topic, partition, -1, -1)
        return RecordMetadata(md.topic, md.partition, md.offset, md.timestamp)

    async def _send_null(
        self, producer: Any, topic: str, partition: int, headers: list[tuple[str, bytes]] | None, timestamp_ms: int | None
    ) -> Any:
        """A record with neither key nor value, as a one-record batch: Kafka takes it (a topic
        that is compacted refuses records without a key), aiokafka's ``send`` asserts it away.
        The batch's answer is the record's: its base offset, the broker's time (-1: ours)."""
        stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        batch = producer.create_batch()
        batch.append(key=None, value=None, timestamp=stamp, headers=headers or [])
        batch.close()
        md = await (await producer.send_batch(batch, topic, partition=partition))
        if md is not None and md.timestamp == -1:
            return RecordMetadata(md.topic, md.partition, md.offset, stamp)
        return md

    async def send_many(
        self, topic: str, items: Iterable[Item], *, codec: Any = _PRODUCER, key_codec: Any = _PRODUCER
    ) -> int:
        """Send many records in per-partition batches; return how many the broker acknowledged.

        Items are values, ``(key, value)`` pairs or :class:`Record` objects; with a codec
        (the producer's, or ``codec=``/``key_codec=`` here) values and keys are encoded by it
        (a tuple is still a ``(key, value)`` pair). Every item is checked (encoding, type, size
        against ``max_message_bytes``) before anything is sent: a bad item sends nothing. Within a partition, records keep the order of ``items``. When some batches fail,
        the :class:`DeliveryError` says which items were not acknowledged
        (``error.unacknowledged``, indices into ``items``), so a retry sends only those.

        >>> await producer.send_many("logs", [b"a", b"b", (b"user-1", b"c")])  # doctest: +SKIP
        3
        """
        acknowledged: int = await (await self.submit_many(topic, items, codec=codec, key_codec=key_codec))
        return acknowledged

    async def submit_many(
        self, topic: str, items: Iterable[Item], *, codec: Any = _PRODUCER, key_codec: Any = _PRODUCER
    ) -> Delivery:
        """Queue records for sending; return an awaitable that resolves when all are acknowledged.

        Returns once the batches are handed to the producer's buffer, which waits when that buffer
        is full — so a pipeline can keep reading while earlier batches are in flight, and still stop
        reading when Kafka is slow.

        >>> done = await producer.submit_many("logs", lines)  # doctest: +SKIP
        >>> await done  # every line acknowledged  # doctest: +SKIP
        """
        if topic is not self._checked_topic:  # a sink sends to one topic: its name checked once
            self._checked_topic = check_topic(topic)
        value_codec, keys = self._codecs(codec, key_codec)
        if type(items) is RecordColumns and value_codec is None and keys is None:
            columns = items.checked(self.max_message_bytes)  # as _record_size counts, overhead included
            if columns is not None:  # otherwise record by record, which names what is wrong
                return await self._submit_columns(topic, items, columns)
        batch_items: Sequence[Item] = items if isinstance(items, (list, tuple)) else list(items)
        if value_codec is not None or keys is not None:
            batch_items = self._encode_items(batch_items, value_codec, keys)
        prepared = self._prepare(batch_items)  # types and sizes: before any network call
        producer = self._running()
        count = await self._partition_count(producer, topic)
        plan = self._plan(topic, batch_items, prepared, count)
        delivery = Delivery(self, topic, len(batch_items))
        tracer = _tracing.tracer()  # the one tracing check of a send_many call
        span = trace = None
        if tracer is not None and plan:
            span, trace, plan = _traced_plan(tracer, topic, len(batch_items), plan)
        try:
            for partition in sorted(plan):
                records, indices = plan[partition]
                await self._enqueue(producer, topic, partition, records, indices, delivery, trace)
        except KafkaError as exc:
            await _unsent(delivery, span, exc, [i for p in sorted(plan) for i in plan[p][1]])
        except BaseException as exc:
            if span is not None:
                _tracing.end_span(span, exc)
            raise
        if span is not None:
            _tracing.end_when_answered(span, [future for future, _, _ in delivery._batches])
        return delivery

    async def _submit_columns(self, topic: str, columns: RecordColumns, template: _Template) -> Delivery:
        """:meth:`submit_many` for checked :class:`RecordColumns`: no object per record."""
        producer = self._running()
        count = await self._partition_count(producer, topic)
        delivery = Delivery(self, topic, len(columns))
        total = len(columns)
        plan: dict[int, Sequence[int]] = {}
        if columns.keys is None and isinstance(self._partitioner, HashPartitioner):
            size = max(-(-total // count), MIN_KEYLESS_SLICE)  # contiguous slices, as for values
            for start in range(0, total, size):
                plan[self._keyless_turn % count] = range(start, min(total, start + size))
                self._keyless_turn += 1
        else:
            choose = self._partitioner
            buckets: dict[int, list[int]] = {}
            for index, key in enumerate(columns.keys or [None] * total):
                bucket = buckets.get(partition := choose(key, count))
                if bucket is None:
                    bucket = buckets[partition] = []
                bucket.append(index)
            plan = dict(buckets)
        tracer = _tracing.tracer()
        span = None
        if tracer is not None and plan:
            span = _tracing.start_send(tracer, topic, total, next(iter(plan)) if len(plan) == 1 else None)
            template = _traced_template(template, _tracing.headers_of(span))
        now = int(time.time() * 1000)
        try:
            for partition in sorted(plan):
                indices = plan[partition]
                position, end = 0, len(indices)
                while position < end:
                    batch = producer.create_batch()
                    stop = columns_appender(batch, columns.values, columns.keys, *template)(indices, position, now)
                    if stop == position:
                        raise AssertionError("aiokafka refused a record for an empty batch")
                    await self._send_batch(producer, batch, topic, partition, delivery, indices[position:stop])
                    position = stop
        except KafkaError as exc:
            await _unsent(delivery, span, exc, [i for p in sorted(plan) for i in plan[p]])
        except BaseException as exc:
            if span is not None:
                _tracing.end_span(span, exc)
            raise
        if span is not None:
            _tracing.end_when_answered(span, [future for future, _, _ in delivery._batches])
        return delivery

    def _codecs(self, codec: Any, key_codec: Any) -> tuple[Codec[Any] | None, Codec[Any] | None]:
        """The value and key codecs of one call: the producer's unless given."""
        value = self.value_codec if codec is _PRODUCER else as_codec(codec, "codec")
        key = self.key_codec if key_codec is _PRODUCER else as_codec(key_codec, "key_codec")
        return value, key

    def _content_type_header(self, codec: Codec[Any]) -> tuple[str, bytes] | None:
        if self._content_type is False:
            return None
        ctype = _content_type_of(codec)
        if ctype is None:
            if self._content_type:
                raise ConfigurationError(f"content_type=True, but the codec {codec!r} has no content_type")
            return None
        return (CONTENT_TYPE_HEADER, ctype.encode("utf-8"))

    def _encode_items(
        self, items: Sequence[Item], codec: Codec[Any] | None, keys: Codec[Any] | None
    ) -> list[Item]:
        """Every item with its value (and key) encoded, all before anything is sent; an item that
        does not encode raises :class:`EncodeError` naming it."""
        ctype = self._content_type_header(codec) if codec is not None else None
        encode = codec.encode if codec is not None else None
        if encode is not None and keys is None and ctype is None:
            # Bare values only: one call per value, no tuple or Record per item.
            try:
                encoded = [encode(v) if type(v) not in (tuple, Record) and v is not None else v for v in items]
            except Exception:
                pass  # find the item and the reason below
            else:
                # Pairs and Records (whose values still need encoding), or a codec that returned
                # something other than bytes: item by item below, which says which and why.
                kinds = set(map(type, encoded))
                if kinds == _BYTES or (
                    kinds <= _ENCODED and all(e is not None or v is None for e, v in zip(encoded, items, strict=True))
                ):
                    return encoded
        ctype_headers = [ctype] if ctype is not None else None  # never mutated
        out: list[Item] = []
        append = out.append
        entry: Any
        for index, entry in enumerate(items):
            item = entry
            kind = type(item)
            if kind is Record:
                rec: Record = item
                value = _encode(codec, rec.value, "value", index) if codec is not None and rec.value is not None else rec.value
                key = _encode(keys, rec.key, "key", index) if keys is not None and rec.key is not None else rec.key
                headers = rec.headers
                if ctype is not None and value is not None:
                    pairs = check_headers(headers) or []
                    headers = pairs if _has_content_type(pairs) else [*pairs, ctype]
                append(Record(value, key=key, headers=headers, partition=rec.partition, timestamp_ms=rec.timestamp_ms))
                continue
            if kind is tuple and len(item) == 2:
                k, v = item
            else:
                k, v = None, item
            if codec is not None and v is not None:
                v = _encode(codec, v, "value", index)
            if keys is not None and k is not None:
                k = _encode(keys, k, "key", index)
            if ctype_headers is not None and v is not None:
                append(Record(v, key=k, headers=ctype_headers))  # one list for all: checked once
            elif kind is tuple:
                append((k, v))
            else:
                append(v)
        return out

    def _prepare(self, items: Sequence[Item]) -> _Prepared_plan:
        """Check every item; return ``(keyed, bare)``: the prepared non-bare items by input
        index, and whether bare keyless values exist. Raises before anything is sent."""
        keyed: dict[int, _Prepared] = {}
        spread_keyless = isinstance(self._partitioner, HashPartitioner)
        limit = self.max_message_bytes - _RECORD_OVERHEAD
        if spread_keyless and items and set(map(type, items)) == _ONLY_BYTES:
            # The shipping hot path, checked in C: bare keyless values only, sizes in bulk.
            longest = max(map(len, items))  # type: ignore[arg-type]
            if longest > limit:
                index = next(i for i, v in enumerate(items) if len(v) == longest)  # type: ignore[arg-type]
                raise self._too_large(index, longest + _RECORD_OVERHEAD)
            return keyed, True
        longest = 0
        bare = False
        last_headers: Any = None  # the headers list of the previous record and its checked form
        checked: list[tuple[str, bytes]] | None = None
        headers_size = 0
        index = -1
        try:
            for index, item in enumerate(items):
                kind = type(item)
                if kind is bytes and spread_keyless:
                    bare = True  # the hot path: a bare value, no tuple; sizes checked below in bulk
                    continue
                if kind is Record:
                    # The path of records with headers (the agent's metadata, content types): bytes
                    # and a list of (str, bytes) pairs are checked and measured here, inline;
                    # anything else takes the general path below (conversions, error messages).
                    rec: Record = item  # type: ignore[assignment]
                    key, value, headers = rec.key, rec.value, rec.headers
                    if (
                        (type(value) is bytes or value is None)
                        and (key is None or type(key) is bytes)
                        and rec.partition is None
                        and rec.timestamp_ms is None
                        and (headers is None or type(headers) is list)
                    ):
                        if headers is not last_headers:  # a list shared by records is checked once
                            checked, headers_size = _checked_headers(headers)
                            last_headers = headers
                        if headers_size >= 0:
                            size = _RECORD_OVERHEAD + headers_size + (len(value) if value is not None else 0)
                            if key is not None:
                                size += len(key)
                            if size > self.max_message_bytes:  # size counts the overhead
                                raise self._too_large(index, size)
                            keyed[index] = (key, value, checked, None, None)
                            continue
                if kind is bytes:
                    record: _Prepared = (None, item, None, None, None)  # type: ignore[assignment]
                elif kind is str:
                    record = (None, item.encode("utf-8"), None, None, None)  # type: ignore[union-attr]
                elif kind is tuple:
                    try:
                        k, v = item  # type: ignore[misc,str-unpack]
                    except ValueError:
                        raise ConfigurationError(
                            f"item {index}: a (key, value) item must have exactly two elements"
                        ) from None
                    record = (to_bytes(k, "key"), to_bytes(v, "value"), None, None, None)  # type: ignore[arg-type]
                elif kind is Record:
                    rec = item  # type: ignore[assignment]  # (Record: the fast branch above declares it)
                    record = (
                        to_bytes(rec.key, "key"), to_bytes(rec.value, "value"), check_headers(rec.headers),
                        rec.timestamp_ms, check_partition(rec.partition),
                    )
                elif isinstance(item, (bytes, bytearray, memoryview)):
                    record = (None, bytes(item), None, None, None)
                else:
                    raise ConfigurationError(
                        f"send_many items must be bytes, str, (key, value) pairs or Record "
                        f"(item {index} is {kind.__name__})"
                    )
                size = _record_size(record)  # with the overhead: against the limit itself
                if size > self.max_message_bytes:
                    raise self._too_large(index, size)
                keyed[index] = record
        except ConfigurationError as exc:
            if index < 0 or f"item {index}" in str(exc):
                raise
            raise ConfigurationError(f"item {index}: {exc}; nothing was sent") from None
        if bare:
            if keyed:
                longest = max((len(v) for v in items if type(v) is bytes), default=0)
            else:
                longest = max(map(len, items))  # type: ignore[arg-type]
            if longest > limit:
                index = next(i for i, v in enumerate(items) if type(v) is bytes and len(v) == longest)
                raise self._too_large(index, longest + _RECORD_OVERHEAD)
        return keyed, bare

    def _too_large(self, index: int, size: int) -> DeliveryError:
        return DeliveryError(
            f"item {index} is too large: a record of about {size:,} bytes, over the {self.max_message_bytes:,}-byte "
            "limit (max_message_bytes=, --max-message-bytes on the command line); nothing was sent"
        )

    def _plan(
        self, topic: str, items: Sequence[Item], prepared: _Prepared_plan, count: int
    ) -> dict[int, tuple[Sequence[Any], Sequence[int]]]:
        """Per partition: the records (bare values or prepared tuples) in input order, and the
        input index of each."""
        keyed, _ = prepared
        spread_keyless = isinstance(self._partitioner, HashPartitioner)
        choose = self._partitioner
        plan: dict[int, tuple[Sequence[Any], Sequence[int]]] = {}
        if not keyed:  # the hot path: bare keyless values only, contiguous slices
            total = len(items)
            if not total:
                return plan
            size = max(-(-total // count), MIN_KEYLESS_SLICE)
            for start in range(0, total, size):
                partition = self._keyless_turn % count
                self._keyless_turn += 1
                plan[partition] = (items[start : start + size], range(start, min(total, start + size)))
            return plan
        buckets: dict[int, list[tuple[int, Any]]] = {}
        keyless: list[int] = []
        for index in range(len(items)):
            record = keyed.get(index)
            if record is None:  # a bare value (hash partitioner)
                keyless.append(index)
                continue
            explicit = record[4]
            if explicit is not None:
                if explicit >= count:
                    raise TopicError(_no_partition(topic, explicit, count))
                buckets.setdefault(explicit, []).append((index, record))
            elif record[0] is None and spread_keyless:
                keyless.append(index)
            else:
                buckets.setdefault(choose(record[0], count), []).append((index, record))
        if keyless:
            # Contiguous slices, one per partition, starting where the last call stopped: as
            # even as per-record round robin, without a partitioner call per record.
            size = max(-(-len(keyless) // count), MIN_KEYLESS_SLICE)
            for start in range(0, len(keyless), size):
                partition = self._keyless_turn % count
                self._keyless_turn += 1
                bucket = buckets.setdefault(partition, [])
                for index in keyless[start : start + size]:
                    record = keyed.get(index)
                    bucket.append((index, record if record is not None else (None, items[index], None, None, None)))
        for partition, bucket in buckets.items():
            bucket.sort(key=_first)  # input order within the partition, whatever the mix
            plan[partition] = ([r for _, r in bucket], [i for i, _ in bucket])
        return plan

    async def _enqueue(
        self,
        producer: Any,
        topic: str,
        partition: int,
        records: Sequence[Any],
        indices: Sequence[int],
        delivery: Delivery,
        trace: list[tuple[str, bytes]] | None = None,
    ) -> None:
        # One timestamp per call: the records are appended within the same millisecond or so.
        now = int(time.time() * 1000)
        appender: Callable[[Any], Callable[[Sequence[Any], int, int], int]]
        if records and type(records[0]) is bytes:  # bare values (with the send span's trace headers)
            appender = partial(values_appender, headers=trace)
        else:  # checked (key, value, headers, timestamp, partition) records
            appender = records_appender
        position, total = 0, len(records)
        while position < total:
            batch = producer.create_batch()
            # An empty batch takes any record (one too large for it is refused in _send_batch).
            end = appender(batch)(records, position, now)
            if end == position:
                raise AssertionError("aiokafka refused a record for an empty batch")
            await self._send_batch(producer, batch, topic, partition, delivery, indices[position:end])
            position = end

    async def _send_batch(
        self, producer: Any, batch: Any, topic: str, partition: int, delivery: Delivery, indices: Sequence[int]
    ) -> None:
        """Hand ``batch`` (the records ``indices`` of ``delivery``) to aiokafka."""
        # Only a lone record appended to an empty batch can outgrow the batch; one check per batch.
        limit = self.max_message_bytes
        if batch.size() > limit:
            raise DeliveryError(
                f"a record of about {batch.size()} bytes for topic {topic!r} is too large "
                f"(the limit is {limit} bytes: max_message_bytes, --max-message-bytes on the command line)"
            )
        # A closed batch is complete: the sender takes it at once instead of lingering linger_ms
        # for records that will never come (and send() cannot append to it).
        records, size = batch.record_count(), batch.size()
        batch.close()
        # Its partition idle (the common case when following): queued as send_batch would,
        # without its shield around the answer (see _internals.queue_batch).
        future = queue_batch(producer, batch, topic, partition)
        if future is None:
            future = await producer.send_batch(batch, topic, partition=partition)
        delivery.add(future, partition, indices, records, size)

    def _answered(self, topic: str, records: int, size: int, failed: bool) -> None:
        """A batch got its answer: count it for the metrics endpoint."""
        self._in_flight -= 1
        row = self._count(topic)
        if failed:
            row[2] += records
        else:
            row[0] += records
            row[1] += size

    def _count(self, topic: str) -> list[int]:
        row = self._delivered.get(topic)
        if row is None:
            row = self._delivered[topic] = [0, 0, 0]
        return row

    def metrics(self) -> dict[str, Any]:
        """Figures for the metrics endpoint: ``topics`` maps a topic to ``[records, bytes,
        failed records]`` answered since the last stop; ``in_flight`` counts unanswered batches.

        >>> producer.metrics()["topics"]["logs"]  # doctest: +SKIP
        [1000, 51234, 0]
        """
        return {"topics": {t: list(row) for t, row in dict(self._delivered).items()}, "in_flight": self._in_flight}

    def take_metrics(self) -> dict[str, list[int]]:
        """Hand the per-topic counters over (to the registry, at stop) and start again from 0."""
        taken, self._delivered = self._delivered, {}
        return taken

    def _delivery_error(self, topic: str, exc: KafkaError) -> DeliveryError:
        if isinstance(exc, KafkaTimeoutError):
            return DeliveryError(
                f"no acknowledgement from Kafka at {self.connection.bootstrap_servers} for topic "
                f"{topic!r} within {self._delivery_timeout:g}s",
                retriable=True,
            )
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, MessageSizeTooLargeError):
            return DeliveryError(
                f"Kafka refused a record for topic {topic!r} as too large (the broker's "
                "message.max.bytes or the topic's max.message.bytes is lower than this producer's "
                f"max_message_bytes={self.max_message_bytes:,})"
            )
        return DeliveryError(
            f"Kafka refused records for topic {topic!r}: {text}", retriable=bool(getattr(exc, "retriable", False))
        )


#: Checked :class:`RecordColumns` headers: the list every record carries, the index of the
#: per-record header in it (-1: none), its name and its values.
_Template = tuple[list[tuple[str, bytes]], int, str, Sequence[bytes]]


class RecordColumns(Sequence[Record]):
    """Many records given as columns, for :meth:`Producer.send_many`: the same records as
    ``[Record(values[i], key=keys[i], headers=...)]`` without an object per record.

    ``headers`` are the headers every record carries; ``varying=(name, values, position)``
    adds one header whose value differs per record (``values[i]`` for record ``i``) at
    ``position`` among them. A log agent's records (a line, the file's host and path, the
    line's offset) are these; sent this way they cost little more than bare values.
    Everything is checked as for records before anything is sent (the columns must not change
    until :meth:`Producer.submit_many` returns). Indexing gives a :class:`Record` (what a
    retry of some of them sends).

    >>> columns = RecordColumns([b"a", b"b"], headers=[("host", b"web-1")],
    ...                         varying=("offset", [b"0", b"2"], 1))
    >>> columns[1].headers
    [('host', b'web-1'), ('offset', b'2')]
    """

    __slots__ = ("headers", "keys", "values", "varying")

    def __init__(
        self,
        values: Sequence[bytes],
        *,
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        varying: tuple[str, Sequence[bytes], int] | None = None,
    ) -> None:
        if keys is not None and len(keys) != len(values):
            raise ConfigurationError(f"RecordColumns: {len(keys)} keys for {len(values)} values")
        if varying is not None and len(varying[1]) != len(values):
            raise ConfigurationError(f"RecordColumns: {len(varying[1])} {varying[0]!r} headers for {len(values)} values")
        self.values = values
        self.keys = keys
        self.headers = list(headers)
        self.varying = varying

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> Record:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("RecordColumns take an integer index")
        headers = list(self.headers)
        if self.varying is not None:
            name, values, position = self.varying
            headers.insert(position, (name, values[index]))
        key = self.keys[index] if self.keys is not None else None
        return Record(self.values[index], key=key, headers=headers or None)

    def __repr__(self) -> str:
        return f"RecordColumns({len(self.values)} records, headers={self.headers!r}, varying={self.varying is not None})"

    def checked(self, limit: int) -> _Template | None:
        """The header template to send these with, when every record is bytes, has a valid
        key and headers and is at most ``limit`` bytes (as :func:`_record_size` counts);
        None otherwise: the caller checks record by record, which names what is wrong."""
        values, keys = self.values, self.keys
        if not values:
            return None
        if set(map(type, values)) != _ONLY_BYTES:
            return None
        if keys is not None and not set(map(type, keys)) <= _KEY_TYPES:
            return None
        headers, fixed = _checked_headers(self.headers)
        if fixed < 0:
            return None
        template = headers or []
        longest = max(map(len, values)) + fixed + _RECORD_OVERHEAD
        slot, name = -1, ""
        varying: Sequence[bytes] = ()
        if self.varying is not None:
            name, varying, slot = self.varying
            if (
                type(name) is not str or not name or type(slot) is not int or not 0 <= slot <= len(template)
                or set(map(type, varying)) != _ONLY_BYTES
            ):
                return None
            longest += len(name.encode()) + 10 + max(map(len, varying))
            template.insert(slot, (name, b""))
        if keys is not None:
            longest += max((len(k) for k in keys if k is not None), default=0)
        if longest > limit:
            return None  # at least one may be too large: the record-by-record check finds which
        return template, slot, name, varying


_KEY_TYPES = {bytes, type(None)}


def _traced_template(template: _Template, trace: list[tuple[str, bytes]]) -> _Template:
    """``template`` with its trace headers replaced by ``trace`` (the per-record one kept)."""
    headers, slot, name, varying = template
    names = {n for n, _ in trace}
    marker = headers[slot] if slot >= 0 else None
    kept = [h for h in headers if h is marker or h[0] not in names] + trace
    return kept, (next(i for i, h in enumerate(kept) if h is marker) if marker is not None else -1), name, varying


class Delivery:
    """The acknowledgement of records queued by :meth:`Producer.submit_many`; await it for the count.

    Awaiting it raises :class:`DeliveryError` if any batch failed, after every batch has an
    answer, naming the items that were not acknowledged. Cancelling the await does not cancel
    the sending.

    >>> delivery = await producer.submit_many("logs", [b"a", b"b"])  # doctest: +SKIP
    >>> await delivery  # doctest: +SKIP
    2
    """

    def __init__(self, producer: Producer, topic: str, count: int) -> None:
        self._producer = producer
        self._topic = topic
        self._batches: list[tuple[asyncio.Future[Any], int, Sequence[int]]] = []
        self._unsent: tuple[BaseException, list[int]] | None = None
        self._unanswered = 0  # batches queued and not answered yet
        self._failed = False  # some batch's answer was a failure
        self._listener: Callable[[bool], None] | None = None
        #: How many records this delivery covers.
        self.count = count

    def add(self, future: asyncio.Future[Any], partition: int, indices: Sequence[int], records: int, size: int) -> None:
        """Track one queued batch: its partition and the input indices of its records (``records``
        records, ``size`` bytes, counted for the producer's metrics once answered)."""
        self._batches.append((future, partition, indices))
        self._unanswered += 1
        self._producer._in_flight += 1
        # One callback per batch: the producer's metrics and this delivery's own bookkeeping.
        future.add_done_callback(partial(self._answered, records, size))

    def _answered(self, records: int, size: int, future: asyncio.Future[Any]) -> None:
        # Whoever awaits the Delivery sees a failure; if nobody does (a stopped pipeline), asyncio
        # must not print "Future exception was never retrieved" (hence exception() here).
        failed = future.cancelled() or future.exception() is not None
        self._producer._answered(self._topic, records, size, failed)
        self._failed = self._failed or failed
        self._unanswered -= 1
        if not self._unanswered and self._listener is not None:
            listener, self._listener = self._listener, None
            listener(self._failed)

    def queued(self) -> set[int]:
        """Input indices of every record handed to the producer so far."""
        return {i for _, _, indices in self._batches for i in indices}

    def unsent(self, exc: BaseException, indices: list[int]) -> None:
        """Records that were never queued because queueing failed with ``exc``."""
        self._unsent = (exc, indices)

    def futures(self) -> list[asyncio.Future[Any]] | None:
        """The answers of the queued batches, shielded (cancelling one leaves the send alone);
        ``None`` if some records were never queued (awaiting it then raises)."""
        if self._unsent is not None:
            return None
        return [asyncio.shield(future) for future, _, _ in self._batches]

    def when_answered(self, listener: Callable[[bool], None]) -> bool:
        """Call ``listener(failed)`` once the broker answered every batch (at once if it has),
        ``failed`` True if any answer was a failure (await the delivery for which records);
        one listener per delivery. False, and no call, if some records were never queued
        (awaiting the delivery raises).

        >>> delivery.when_answered(lambda failed: print("failed" if failed else "delivered"))  # doctest: +SKIP
        """
        if self._unsent is not None:
            return False
        if self._unanswered:
            self._listener = listener
        else:
            listener(self._failed)
        return True

    def done(self) -> bool:
        """True once the broker answered for every batch (successfully or not)."""
        return all(f.done() for f, _, _ in self._batches)

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> int:
        pending = [f for f, _, _ in self._batches if not f.done()]
        if pending:
            await asyncio.wait(pending)  # not gather: cancelling this wait must not cancel sends
        failed = [b for b in self._batches if b[0].cancelled() or b[0].exception() is not None]
        if not failed and self._unsent is None:
            return self.count
        raise self._error(failed)

    def _error(self, failed: list[tuple[asyncio.Future[Any], int, Sequence[int]]]) -> DeliveryError:
        unacknowledged = [i for _, _, indices in failed for i in indices]
        partitions = {p for _, p, _ in failed}
        cause: BaseException | None = None
        for future, _, _ in failed:
            cause = KafkaTimeoutError("cancelled") if future.cancelled() else future.exception()
            break
        if self._unsent is not None:
            cause = cause or self._unsent[0]
            unacknowledged.extend(self._unsent[1])
        unacknowledged.sort()
        first = (
            self._producer._delivery_error(self._topic, cause)
            if isinstance(cause, KafkaError)
            else DeliveryError(f"delivery to topic {self._topic!r} failed: {cause}")
        )
        acknowledged = self.count - len(unacknowledged)
        where = f" (partition{'s' if len(partitions) != 1 else ''} {', '.join(map(str, sorted(partitions)))})" if partitions else ""
        return DeliveryError(
            f"{first}; {acknowledged:,} of {self.count:,} records acknowledged, "
            f"{len(unacknowledged):,} not{where}",
            retriable=first.retriable,
            acknowledged=acknowledged,
            unacknowledged=unacknowledged,
            partitions=sorted(partitions),
        )


def _traced_plan(
    tracer: Any, topic: str, count: int, plan: dict[int, tuple[Sequence[Any], Sequence[int]]]
) -> tuple[Any, list[tuple[str, bytes]], dict[int, tuple[Sequence[Any], Sequence[int]]]]:
    """Tracing is on: start the call's ``send`` span; its trace headers go on every record (bare
    values take them in ``_enqueue``; prepared records get them merged into their own here)."""
    span = _tracing.start_send(tracer, topic, count, next(iter(plan)) if len(plan) == 1 else None)
    trace = _tracing.headers_of(span)
    with_trace = _tracing.with_trace
    traced: dict[int, tuple[Sequence[Any], Sequence[int]]] = {}
    for partition, (records, indices) in plan.items():
        if records and type(records[0]) is not bytes:
            records = [(k, v, with_trace(h, trace), ts, p) for k, v, h, ts, p in records]
        traced[partition] = (records, indices)
    return span, trace, traced


def _checked_headers(headers: list[Any] | None) -> tuple[list[tuple[str, bytes]] | None, int]:
    """``(a copy of headers, their size as _record_size counts it)`` when every header is a
    ``(non-empty str, bytes)`` tuple; ``(None, -1)`` otherwise (the general path decides)."""
    if not headers:
        return None, 0
    size = 0
    for pair in headers:
        if type(pair) is not tuple or len(pair) != 2:
            return None, -1
        name, data = pair
        if type(name) is not str or not name or type(data) is not bytes:
            return None, -1
        size += (len(name) if name.isascii() else len(name.encode())) + len(data) + 10
    return list(headers), size


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


def _content_type_of(codec: Codec[Any]) -> str | None:
    ctype = getattr(codec, "content_type", None)
    return ctype if isinstance(ctype, str) and ctype else None


def _has_content_type(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    return bool(headers) and any(name.lower() == CONTENT_TYPE_HEADER for name, _ in headers or ())


def _encode(codec: Codec[Any], value: Any, what: str, index: int | None) -> bytes:
    """``codec.encode(value)``, checked: bytes, or :class:`EncodeError` naming the item."""
    try:
        data = codec.encode(value)
    except Exception as exc:
        where = f"item {index}: " if index is not None else ""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EncodeError(
            f"{where}the {what} does not encode as {describe_codec(codec)}: {text}; nothing was sent"
        ) from None
    if type(data) is not bytes:
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        where = f"item {index}: " if index is not None else ""
        raise EncodeError(f"{where}the codec {codec!r} returned {type(data).__name__}, not bytes; nothing was sent")
    return data


def _record_size(record: _Prepared) -> int:
    """An upper bound of the one-record batch size aiokafka would build for ``record``."""
    key, value, headers, _, _ = record
    size = _RECORD_OVERHEAD + (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
    if headers:
        size += sum(len(name.encode()) + len(data) + 10 for name, data in headers)
    return size


def _no_partition(topic: str, partition: int, count: int) -> str:
    return f"topic {topic!r} has partitions 0..{count - 1}; partition {partition} does not exist"


def _require_codec(name: str) -> None:
    try:
        import cramjam  # noqa: F401
    except ImportError:
        modules = {"snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}
        raise ConfigurationError(
            f"compression {name!r} needs a codec: pip install cramjam (or {modules[name]})"
        ) from None
