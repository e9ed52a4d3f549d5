"""The sink: :class:`Producer` sends records to Kafka and reports where they landed.

Two paths: :meth:`Producer.send` for one record (waits for the broker's acknowledgement), and
:meth:`Producer.send_many` / :meth:`Producer.submit_many` for throughput, which choose partitions
themselves and hand aiokafka whole per-partition batches (``create_batch``/``send_batch``) — the
per-message path costs about 15x more CPU (see ``shared/NOTES.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from . import _client, _metrics
from ._config import ConnectionConfig
from ._errors import ConfigurationError, DeliveryError, StreamlineError, TopicError
from ._models import Record, RecordMetadata
from ._partitioner import HashPartitioner, make_partitioner
from ._validation import (
    Acks,
    Bytesish,
    check_acks,
    check_compression,
    check_headers,
    check_partition,
    check_topic,
    to_bytes,
)

#: What :meth:`Producer.send_many` accepts per item.
Item = Bytesish | tuple[Bytesish | None, Bytesish | None] | Record

_Prepared = tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None, int | None]


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
    - ``connection``: a :class:`ConnectionConfig` for TLS/SASL (otherwise ``STREAMLINE_*`` variables).
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
        connection: ConnectionConfig | None = None,
    ) -> None:
        self.acks: Acks = check_acks(acks)
        self.compression = check_compression(compression)
        self._partitioner_name = partitioner
        self._partitioner = make_partitioner(partitioner)
        if not isinstance(linger_ms, int) or linger_ms < 0:
            raise ConfigurationError(f"linger_ms must be an integer >= 0 (got {linger_ms!r})")
        if not isinstance(max_batch_bytes, int) or max_batch_bytes < 1024:
            raise ConfigurationError(f"max_batch_bytes must be an integer >= 1024 (got {max_batch_bytes!r})")
        if not isinstance(max_message_bytes, int) or max_message_bytes < 1024:
            raise ConfigurationError(
                f"max_message_bytes must be an integer >= 1024 (got {max_message_bytes!r})"
            )
        #: The largest record batch holding one record that this producer sends (Kafka's
        #: ``max.request.size``; the broker's ``message.max.bytes`` must allow it too).
        self.max_message_bytes = max_message_bytes
        if not delivery_timeout > 0:
            raise ConfigurationError(f"delivery_timeout must be > 0 seconds (got {delivery_timeout!r})")
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
        self._delivery_timeout = delivery_timeout
        self._producer: Any = None
        self._keyless_turn = 0

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
        producer = _client.new_producer(self.connection, **self._options)
        await _client.start_bounded(producer, self.connection)
        self._producer = producer
        _metrics.track(self)

    async def stop(self) -> None:
        """Flush what is buffered and disconnect."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

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

    def _running(self) -> Any:
        if self._producer is None:
            raise StreamlineError("the producer is not started; use `async with Producer(...)`")
        return self._producer

    async def partition_count(self, topic: str) -> int:
        """Number of partitions of ``topic`` (auto-created by the broker if it allows that)."""
        producer = self._running()
        try:
            partitions = await producer.partitions_for(check_topic(topic))
        except KafkaTimeoutError:
            raise TopicError(
                f"topic {topic!r} has no metadata at {self.connection.bootstrap_servers} "
                f"after {self._delivery_timeout:g}s (does it exist?)"
            ) from None
        return len(partitions)

    async def send(
        self,
        topic: str,
        value: Bytesish | None,
        *,
        key: Bytesish | None = None,
        partition: int | None = None,
        headers: dict[str, Bytesish] | Sequence[tuple[str, Bytesish]] | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordMetadata:
        """Send one record and return where the broker stored it.

        >>> md = await producer.send("logs", "hello", key="k")  # doctest: +SKIP
        >>> md.partition, md.offset  # doctest: +SKIP
        (2, 41)
        """
        check_topic(topic)
        key_b = to_bytes(key, "key")
        value_b = to_bytes(value, "value")
        hdrs = check_headers(headers)
        partition = check_partition(partition)
        producer = self._running()
        count = await self.partition_count(topic)
        if partition is None:
            partition = self._partitioner(key_b, count)
        elif partition >= count:
            raise TopicError(_no_partition(topic, partition, count))
        try:
            future = await producer.send(
                topic, value_b, key=key_b, partition=partition, headers=hdrs, timestamp_ms=timestamp_ms
            )
            md = await future
        except KafkaError as exc:
            raise self._delivery_error(topic, exc) from None
        if md is None:  # acks=0: the broker sends no answer, so there is no offset to report
            return RecordMetadata(topic, partition, -1, -1)
        return RecordMetadata(md.topic, md.partition, md.offset, md.timestamp)

    async def send_many(self, topic: str, items: Iterable[Item]) -> int:
        """Send many records in per-partition batches; return how many the broker acknowledged.

        Items are values, ``(key, value)`` pairs or :class:`Record` objects.

        >>> await producer.send_many("logs", [b"a", b"b", (b"user-1", b"c")])  # doctest: +SKIP
        3
        """
        return await (await self.submit_many(topic, items))

    async def submit_many(self, topic: str, items: Iterable[Item]) -> Delivery:
        """Queue records for sending; return an awaitable that resolves when all are acknowledged.

        Returns once the batches are handed to the producer's buffer, which waits when that buffer
        is full — so a pipeline can keep reading while earlier batches are in flight, and still stop
        reading when Kafka is slow.

        >>> done = await producer.submit_many("logs", lines)  # doctest: +SKIP
        >>> await done  # every line acknowledged  # doctest: +SKIP
        """
        check_topic(topic)
        producer = self._running()
        count = await self.partition_count(topic)
        buckets, plain = self._bucket(topic, items, count)
        futures: list[asyncio.Future[Any]] = []
        total = 0
        try:
            for partition in sorted(buckets.keys() | plain.keys()):
                records = buckets.get(partition, ())
                values = plain.get(partition, ())
                total += len(records) + len(values)
                await self._enqueue(producer, topic, partition, records, values, futures)
        except KafkaError as exc:
            raise self._delivery_error(topic, exc) from None
        return Delivery(self, topic, futures, total)

    def _bucket(
        self, topic: str, items: Iterable[Item], count: int
    ) -> tuple[dict[int, list[_Prepared]], dict[int, list[bytes]]]:
        """Group items by partition: prepared tuples, and bare keyless values (the fast path)."""
        buckets: dict[int, list[_Prepared]] = {}
        keyless: list[_Prepared] = []
        spread_keyless = isinstance(self._partitioner, HashPartitioner)
        choose = self._partitioner
        for item in items:
            kind = type(item)
            if kind is bytes and spread_keyless:
                keyless.append(item)  # the hot path: a bare value, no tuple
                continue
            if kind is bytes:
                record: _Prepared = (None, item, None, None)  # type: ignore[assignment]
            elif kind is str:
                record = (None, item.encode("utf-8"), None, None)  # type: ignore[union-attr]
            elif kind is tuple:
                try:
                    k, v = item  # type: ignore[misc]
                except ValueError:
                    raise ConfigurationError("a (key, value) item must have exactly two elements") from None
                record = (to_bytes(k, "key"), to_bytes(v, "value"), None, None)
            elif kind is Record:
                rec: Record = item  # type: ignore[assignment]
                p = check_partition(rec.partition)
                if p is not None and p >= count:
                    raise TopicError(_no_partition(topic, p, count))
                record = (to_bytes(rec.key, "key"), to_bytes(rec.value, "value"), check_headers(rec.headers), rec.timestamp_ms)
                if p is not None:
                    buckets.setdefault(p, []).append(record)
                    continue
            elif isinstance(item, (bytes, bytearray, memoryview)):
                record = (None, bytes(item), None, None)
            else:
                raise ConfigurationError(
                    f"send_many items must be bytes, str, (key, value) pairs or Record (got {kind.__name__})"
                )
            key = record[0]
            if key is None and spread_keyless and record[2] is None and record[3] is None:
                keyless.append(record[1])
            else:
                buckets.setdefault(choose(key, count), []).append(record)
        plain: dict[int, list[bytes]] = {}
        if keyless:
            # Contiguous slices, one per partition, starting where the last call stopped: as
            # even as per-record round robin, without a partitioner call per record.
            size = -(-len(keyless) // count)
            for i in range(0, len(keyless), size):
                partition = self._keyless_turn % count
                self._keyless_turn += 1
                plain.setdefault(partition, []).extend(keyless[i : i + size])
        return buckets, plain

    async def _enqueue(
        self,
        producer: Any,
        topic: str,
        partition: int,
        records: Sequence[_Prepared],
        values: Sequence[bytes],
        futures: list[Any],
    ) -> None:
        batch = producer.create_batch()
        append = batch.append
        for key, value, headers, ts in records:
            if append(key=key, value=value, timestamp=ts, headers=headers) is None:
                futures.append(await self._send_batch(producer, batch, topic, partition))
                batch = producer.create_batch()
                append = batch.append
                append(key=key, value=value, timestamp=ts, headers=headers)  # an empty batch takes any record
        for value in values:  # keyless, headerless: the shipping hot path
            if append(key=None, value=value, timestamp=None, headers=None) is None:
                futures.append(await self._send_batch(producer, batch, topic, partition))
                batch = producer.create_batch()
                append = batch.append
                append(key=None, value=value, timestamp=None, headers=None)
        if batch.record_count():
            futures.append(await self._send_batch(producer, batch, topic, partition))

    async def _send_batch(self, producer: Any, batch: Any, topic: str, partition: int) -> Any:
        # Only a lone record appended to an empty batch can outgrow the batch; one check per batch.
        limit = self.max_message_bytes
        if batch.size() > limit:
            raise DeliveryError(
                f"a record of about {batch.size()} bytes for topic {topic!r} is too large "
                f"(the limit is {limit} bytes: max_message_bytes, --max-message-bytes on the command line)"
            )
        # A closed batch is complete: the sender takes it at once instead of lingering linger_ms
        # for records that will never come (and send() cannot append to it).
        batch.close()
        return await producer.send_batch(batch, topic, partition=partition)

    def _delivery_error(self, topic: str, exc: KafkaError) -> DeliveryError:
        if isinstance(exc, KafkaTimeoutError):
            return DeliveryError(
                f"no acknowledgement from Kafka at {self.connection.bootstrap_servers} for topic "
                f"{topic!r} within {self._delivery_timeout:g}s",
                retriable=True,
            )
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, MessageSizeTooLargeError):
            return DeliveryError(f"a record for topic {topic!r} is too large: {text}")
        return DeliveryError(
            f"Kafka refused records for topic {topic!r}: {text}", retriable=bool(getattr(exc, "retriable", False))
        )


class Delivery:
    """The acknowledgement of records queued by :meth:`Producer.submit_many`; await it for the count.

    >>> delivery = await producer.submit_many("logs", [b"a", b"b"])  # doctest: +SKIP
    >>> await delivery  # doctest: +SKIP
    2
    """

    def __init__(self, producer: Producer, topic: str, futures: list[Any], count: int) -> None:
        self._producer = producer
        self._topic = topic
        self._futures = futures
        #: How many records this delivery covers.
        self.count = count

    def done(self) -> bool:
        """True once the broker answered for every batch (successfully or not)."""
        return all(f.done() for f in self._futures)

    def __await__(self) -> Any:
        return self._wait().__await__()

    async def _wait(self) -> int:
        try:
            await asyncio.gather(*self._futures)
        except KafkaError as exc:
            raise self._producer._delivery_error(self._topic, exc) from None
        return self.count


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
