"""The source: :func:`consume` fans every partition of one or more topics into one async stream.

Without ``group`` it assigns every partition itself (the tutorial's consumer) and picks up
partitions added later. With ``group`` it joins the consumer group and commits a partition's
offset only up to messages the loop body has finished with (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from types import TracebackType
from typing import Any, AsyncIterator, Iterable

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from . import _client
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError
from ._models import Message
from ._validation import Start, check_topics, parse_start

log = logging.getLogger("streamline.consume")


def consume(
    topics: str | Iterable[str],
    *,
    bootstrap_servers: str | list[str] | None = None,
    start: Start = "end",
    group: str | None = None,
    commit_interval: float = 1.0,
    max_batch: int = 10_000,
    partition_refresh_interval: float = 5.0,
    session_timeout: float = 10.0,
    connection: ConnectionConfig | None = None,
) -> "MessageStream":
    """Stream messages from every partition of ``topics``.

    >>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
    ...     print(f"Partition:{msg.partition} Offset:{msg.offset} Value:{msg.text}")

    ``async with consume(...) as stream`` closes deterministically and, in a group, counts the
    last message as processed when the block exits without an exception. The bare ``async for``
    form closes on the next event-loop tick after ``break``; in a group it re-delivers the
    message you broke on (it cannot tell a ``break`` from an exception).

    - ``start``: ``"end"`` (alias ``"latest"``, ``"newest"``), ``"beginning"`` (``"earliest"``,
      ``"oldest"``), an offset for every partition, or a ``datetime`` (first message at or after
      it). In a group, ``start`` applies only to partitions without a committed offset.
      Partitions that appear while running are read from their beginning.
    - ``group``: join this consumer group; commits happen every ``commit_interval`` seconds,
      when partitions are revoked, and on close — never past an unfinished message.
    - ``session_timeout``: seconds without a heartbeat before the group evicts this member
      (brokers usually accept 6–1800).
    """
    names = check_topics(topics)
    position = parse_start(start)
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise ConfigurationError("group must be a non-empty string")
    if not commit_interval > 0:
        raise ConfigurationError(f"commit_interval must be > 0 seconds (got {commit_interval!r})")
    if not 1 <= session_timeout <= 3600:
        raise ConfigurationError(f"session_timeout must be 1-3600 seconds (got {session_timeout!r})")
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigurationError(f"max_batch must be an integer >= 1 (got {max_batch!r})")
    if connection is None:
        connection = ConnectionConfig.resolve(bootstrap_servers)
    elif bootstrap_servers is not None:
        servers = bootstrap_servers if isinstance(bootstrap_servers, str) else ",".join(bootstrap_servers)
        connection = connection.with_overrides(bootstrap_servers=servers)
    return MessageStream(
        names,
        connection=connection,
        start=position,
        group=group,
        commit_interval=commit_interval,
        max_batch=max_batch,
        partition_refresh_interval=partition_refresh_interval,
        session_timeout=session_timeout,
    )


class MessageStream:
    """The stream :func:`consume` returns: an async iterator and an async context manager."""

    def __init__(
        self,
        topics: list[str],
        *,
        connection: ConnectionConfig,
        start: str | int | datetime,
        group: str | None,
        commit_interval: float,
        max_batch: int,
        partition_refresh_interval: float,
        session_timeout: float = 10.0,
    ) -> None:
        self.topics = topics
        self.group = group
        self.connection = connection
        self._start = start
        self._commit_interval = commit_interval
        self._max_batch = max_batch
        self._refresh_interval = partition_refresh_interval
        self._session_timeout = session_timeout
        self._consumer: Any = None
        self._buffer: list[Message] = []
        self._index = 0
        self._pending: Message | None = None  # yielded, not yet finished by the loop body
        self._processed: dict[TopicPartition, int] = {}  # next offset to commit, per partition
        self._committed: dict[TopicPartition, int] = {}
        self._next_commit = 0.0
        self._next_refresh = 0.0
        self._known: dict[str, set[int]] = {}
        self._initial_assignment_done = False
        self._entered = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> "MessageStream":
        if self._entered:
            raise StreamlineError("a message stream can be entered only once")
        self._entered = True
        options: dict[str, Any] = {
            "enable_auto_commit": False,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "fetch_max_bytes": 32 * 1024 * 1024,
            "request_timeout_ms": max(40_000, int(self.connection.connect_timeout * 1000) + 1000),
        }
        if self.group is not None:
            options["group_id"] = self.group
            options["session_timeout_ms"] = int(self._session_timeout * 1000)
            options["heartbeat_interval_ms"] = max(100, int(self._session_timeout * 1000 / 3))
            options["auto_offset_reset"] = "latest" if self._start == "end" else "earliest"
        else:
            options["metadata_max_age_ms"] = int(self._refresh_interval * 1000)
        consumer = _client.new_consumer(self.connection, **options)
        await _client.start_bounded(consumer, self.connection)
        self._consumer = consumer
        try:
            if self.group is not None:
                consumer.subscribe(self.topics, listener=_Listener(self))
            else:
                await self._assign_new_partitions()
        except BaseException:
            await self._close()
            raise
        self._next_commit = time.monotonic() + self._commit_interval
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._pending is not None:
            self._mark(self._pending)  # the block ended normally: the loop body finished it
        self._pending = None
        await self._close()

    async def aclose(self) -> None:
        """Close without counting the current message as processed."""
        self._pending = None
        await self._close()

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            if self.group is not None:
                await self._commit(consumer, final=True)
        finally:
            await consumer.stop()

    def assignment(self) -> set[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this stream reads now (empty while a group is joining)."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    @property
    def buffered(self) -> int:
        """Messages fetched from Kafka and not yet handed out (e.g. flush output when 0)."""
        return len(self._buffer) - self._index

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Message]:
        if self._entered:
            return self
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        # The bare `async for msg in consume(...)` form: an async generator, so leaving the loop
        # closes the consumer through the event loop's async-generator finaliser.
        async with self:
            while True:
                yield await self.__anext__()

    async def __anext__(self) -> Message:
        if self._closed:
            raise StopAsyncIteration
        if self._pending is not None:
            self._mark(self._pending)
            self._pending = None
        if self._index >= len(self._buffer):
            await self._fill()
        msg = self._buffer[self._index]
        self._index += 1
        if self.group is not None:
            self._pending = msg
        return msg

    async def batches(self) -> AsyncIterator[list[Message]]:
        """Yield lists of messages from one partition each, in offset order (the fast path).

        In a group, a batch counts as processed when the next batch is requested; the batch in
        hand when the loop is left is not committed (it is delivered again).

        >>> async with consume("logs") as stream:  # doctest: +SKIP
        ...     async for batch in stream.batches():
        ...         handle(batch)
        """
        if not self._entered:
            async with self:
                async for batch in self.batches():
                    yield batch
            return
        while True:
            if self._pending is not None:
                self._mark(self._pending)
                self._pending = None
            if self._index < len(self._buffer):
                rest = self._buffer[self._index :]
                self._index = len(self._buffer)
                chunks = _split_by_partition(rest)
            else:
                chunks = await self._fetch()
            for chunk in chunks:
                yield chunk
                # Resumed: the caller asked for more, so it finished this batch.
                if self.group is not None:
                    self._mark(chunk[-1])

    async def _fill(self) -> None:
        while True:
            chunks = await self._fetch()
            if chunks:
                self._buffer = [m for chunk in chunks for m in chunk] if len(chunks) > 1 else chunks[0]
                self._index = 0
                return

    async def _fetch(self) -> list[list[Message]]:
        """One poll: lists of messages per partition (possibly none)."""
        consumer = self._running()
        now = time.monotonic()
        if self.group is not None and now >= self._next_commit:
            await self._commit(consumer)
        if self.group is None and now >= self._next_refresh:
            await self._assign_new_partitions()
        if self.group is None and not consumer.assignment():
            await asyncio.sleep(min(0.5, self._refresh_interval))
            return []
        try:
            records = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
        except KafkaError as exc:
            raise StreamlineError(f"consuming {', '.join(self.topics)} failed: {exc}") from None
        chunks = []
        for batch in records.values():
            for record in batch:
                record.__class__ = Message  # re-label aiokafka's record: no copy
            chunks.append(batch)
        return chunks  # type: ignore[return-value]

    def _running(self) -> Any:
        if self._consumer is None:
            state = "closed" if self._closed else "not open; use `async with consume(...)` or `async for`"
            raise StreamlineError(f"the stream is {state}")
        return self._consumer

    # -- positions and commits ---------------------------------------------------------------

    async def _assign_new_partitions(self) -> None:
        consumer = self._running()
        self._next_refresh = time.monotonic() + self._refresh_interval
        current = await _client.bounded(
            _client.fetch_partitions(consumer, self.topics), self.connection, "a metadata request"
        )
        first, self._initial_assignment_done = not self._initial_assignment_done, True
        new = [
            TopicPartition(t, p)
            for t, parts in current.items()
            for p in sorted(parts - self._known.get(t, set()))
        ]
        if not new:
            return
        for t, parts in current.items():
            self._known.setdefault(t, set()).update(parts)
        consumer.assign(sorted(set(consumer.assignment()) | set(new)))
        if first:
            await self._seek_start(consumer, new)
        else:
            # Partitions (or topics) that appeared while running hold only new data.
            await consumer.seek_to_beginning(*new)

    async def _seek_start(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        start = self._start
        if not partitions:
            return
        if start == "end":
            await consumer.seek_to_end(*partitions)
            # Resolve now: "end" means the end when the stream was opened, not at the first fetch.
            for tp in partitions:
                await consumer.position(tp)
        elif start == "beginning":
            await consumer.seek_to_beginning(*partitions)
        elif isinstance(start, int):
            for tp in partitions:
                consumer.seek(tp, start)
        else:
            assert isinstance(start, datetime)
            millis = int(start.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: millis for tp in partitions})
            past_end = [tp for tp, ot in found.items() if ot is None]
            for tp, ot in found.items():
                if ot is not None:
                    consumer.seek(tp, ot.offset)
            if past_end:
                await consumer.seek_to_end(*past_end)

    def _mark(self, msg: Message) -> None:
        self._processed[TopicPartition(msg.topic, msg.partition)] = msg.offset + 1

    async def _commit(self, consumer: Any, *, final: bool = False, only: Iterable[TopicPartition] | None = None) -> None:
        self._next_commit = time.monotonic() + self._commit_interval
        wanted = self._processed if only is None else {tp: self._processed[tp] for tp in only if tp in self._processed}
        offsets = {tp: o for tp, o in wanted.items() if self._committed.get(tp) != o}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Not fatal: the messages are processed, only their commit is late, so a new owner may
            # see them again (at-least-once). The next commit retries.
            log.warning("commit of %s failed (%s); will retry", _describe(offsets), exc)
            return
        self._committed.update(offsets)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        await self._commit(consumer, only=revoked)
        for tp in revoked:
            self._processed.pop(tp, None)
            self._committed.pop(tp, None)
        # Buffered messages of revoked partitions belong to the new owner now.
        rest = self._buffer[self._index :]
        kept = [m for m in rest if TopicPartition(m.topic, m.partition) not in revoked]
        self._buffer, self._index = kept, 0
        if self._pending is not None and TopicPartition(self._pending.topic, self._pending.partition) in revoked:
            self._pending = None

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or not isinstance(self._start, (int, datetime)):
            return
        fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
        await self._seek_start(consumer, fresh)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, stream: MessageStream) -> None:
        self._stream = stream

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._stream._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._stream._on_assigned(set(assigned))


def _split_by_partition(messages: list[Message]) -> list[list[Message]]:
    chunks: dict[tuple[str, int], list[Message]] = {}
    for m in messages:
        chunks.setdefault((m.topic, m.partition), []).append(m)
    return list(chunks.values())


def _describe(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(offsets.items()))
