"""The source: :func:`consume` fans every partition of one or more topics into one async stream.

Without ``group`` it assigns every partition itself (the tutorial's consumer) and picks up
partitions added later. With ``group`` it joins the consumer group and commits a partition's
offset only up to messages that are processed (at-least-once): finished by the loop body
(``ack="auto"``) or acknowledged (``ack="manual"``, bookkept by :mod:`._offsets`).
:meth:`MessageStream.run` hands each partition to its own worker task (:mod:`._workers`).

This module holds the stream's lifecycle and iteration; commits are made in :mod:`._commits`,
and partition discovery and start positions live in :mod:`._positions` (both base classes of
:class:`MessageStream`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

import anyio
from aiokafka.errors import KafkaError

from . import _client
from ._commits import Key, OffsetCommits, _ackable_class, _Listener
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError
from ._models import Message
from ._offsets import PartitionAcks
from ._positions import StartPositions
from ._validation import Start, check_topics, parse_start

ACK_MODES = ("auto", "manual")


def consume(
    topics: str | Iterable[str],
    *,
    bootstrap_servers: str | list[str] | None = None,
    start: Start = "end",
    group: str | None = None,
    ack: str = "auto",
    commit_interval: float = 1.0,
    revoke_timeout: float = 10.0,
    max_batch: int = 10_000,
    partition_refresh_interval: float = 5.0,
    session_timeout: float = 10.0,
    fetch_max_wait: float = 0.5,
    max_poll_interval: float = 300.0,
    connection: ConnectionConfig | None = None,
) -> MessageStream:
    """Stream messages from every partition of ``topics``.

    >>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
    ...     print(f"Partition:{msg.partition} Offset:{msg.offset} Value:{msg.text}")

    ``async with consume(...) as stream`` closes deterministically and, in a group, counts the
    last message as processed when the block exits without an exception. The bare ``async for``
    form closes on the next event-loop turns after ``break`` (asyncio.run() does not wait for
    that at exit, so a program that ends right after the loop should use ``async with``); in a
    group it re-delivers the
    message you broke on (it cannot tell a ``break`` from an exception).

    - ``start``: ``"end"`` (alias ``"latest"``, ``"newest"``), ``"beginning"`` (``"earliest"``,
      ``"oldest"``), an offset for every partition, or a ``datetime`` (first message at or after
      it). In a group, ``start`` applies only to partitions without a committed offset.
      Partitions that appear while running are read from their beginning.
    - ``group``: join this consumer group. A partition's committed offset is 1 + the last
      *contiguous* processed offset: no commit ever passes a message that is not processed.
      Commits happen every ``commit_interval`` seconds, when partitions are revoked, and on
      close (after in-flight work drained, at most ``revoke_timeout`` seconds).
    - ``ack``: ``"auto"`` — a message is processed when the loop body asks for the next one
      (or the ``async with`` block exits cleanly; for :meth:`~MessageStream.batches`, the whole
      batch when the next is requested; for :meth:`~MessageStream.run`, when the handler
      returns). ``"manual"`` — nothing is processed until acknowledged with ``msg.ack()`` or
      ``stream.ack(msg_or_batch)``, from any task and in any order::

          async with consume("logs", group="shipper", ack="manual") as stream:
              async for batch in stream.batches():
                  await queue.put(batch)       # a sink calls stream.ack(batch) when done

    - ``revoke_timeout``: when partitions are revoked (a rebalance) or the stream closes, wait
      this long for their in-flight messages (unfinished handlers, missing acks), commit what
      is processed, then let go. Unprocessed messages go to the partition's next owner.
    - ``session_timeout``: seconds without a heartbeat before the group evicts this member
      (brokers usually accept 6–1800). ``max_poll_interval``: seconds between two fetches
      before aiokafka gives up the membership. :meth:`~MessageStream.run` keeps fetching (and
      pauses busy partitions) while handlers are slow, so a slow handler does not cost the
      membership; a plain ``async for`` body that takes longer than this does.
    - ``fetch_max_wait``: how long the broker may hold a fetch while no data is there. Kafka
      answers as soon as data arrives; a broker that waits it out (the embedded one does, about
      half of it) adds up to this much latency — lower it for latency-sensitive consumers.
    """
    names = check_topics(topics)
    position = parse_start(start)
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise ConfigurationError("group must be a non-empty string")
    if ack not in ACK_MODES:
        raise ConfigurationError(f"ack must be 'auto' or 'manual' (got {ack!r})")
    if not commit_interval > 0:
        raise ConfigurationError(f"commit_interval must be > 0 seconds (got {commit_interval!r})")
    if not 0 < fetch_max_wait <= 30:
        raise ConfigurationError(f"fetch_max_wait must be > 0 and <= 30 seconds (got {fetch_max_wait!r})")
    if not 1 <= session_timeout <= 3600:
        raise ConfigurationError(f"session_timeout must be 1-3600 seconds (got {session_timeout!r})")
    if not 1 <= max_poll_interval <= 86_400:
        raise ConfigurationError(f"max_poll_interval must be 1-86400 seconds (got {max_poll_interval!r})")
    if not 0 <= revoke_timeout < max_poll_interval:
        raise ConfigurationError(
            f"revoke_timeout must be >= 0 and below max_poll_interval ({max_poll_interval:g}s) "
            f"(got {revoke_timeout!r})"
        )
    if not isinstance(max_batch, int) or max_batch < 1:
        raise ConfigurationError(f"max_batch must be an integer >= 1 (got {max_batch!r})")
    connection = ConnectionConfig.from_args(bootstrap_servers, connection)
    return MessageStream(
        names,
        connection=connection,
        start=position,
        group=group,
        ack=ack,
        commit_interval=commit_interval,
        revoke_timeout=revoke_timeout,
        max_batch=max_batch,
        partition_refresh_interval=partition_refresh_interval,
        session_timeout=session_timeout,
        max_poll_interval=max_poll_interval,
        fetch_max_wait=fetch_max_wait,
    )


Handler = Callable[[Any], Awaitable[Any]]


class MessageStream(OffsetCommits, StartPositions):
    """The stream :func:`consume` returns: an async iterator and an async context manager.

    >>> async with consume("logs", group="indexer") as stream:  # doctest: +SKIP
    ...     async for msg in stream:
    ...         await index(msg)          # committed once this returns and the next is asked for
    """

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
        ack: str = "auto",
        revoke_timeout: float = 10.0,
        max_poll_interval: float = 300.0,
        fetch_max_wait: float = 0.5,
    ) -> None:
        self.topics = topics
        self.group = group
        self.connection = connection
        self.ack_mode = ack
        self._start = start
        self._commit_interval = commit_interval
        self._revoke_timeout = revoke_timeout
        self._max_batch = max_batch
        self._refresh_interval = partition_refresh_interval
        self._session_timeout = session_timeout
        self._fetch_max_wait_ms = max(1, int(fetch_max_wait * 1000))
        self._max_poll_interval = max_poll_interval
        self._consumer: Any = None
        self._buffer: list[Message] = []  # the chunk handed out message by message
        self._index = 0
        self._chunks: deque[list[Message]] = deque()  # fetched, not handed out yet
        self._chunked = 0  # messages in _chunks
        self._pending: Message | None = None  # auto mode: handed out, not finished by the body
        self._processed: dict[Key, int] = {}  # auto mode: next offset to commit, per partition
        self._acks: dict[Key, PartitionAcks] | None = (
            {} if ack == "manual" and group is not None else None
        )
        self._track_pending = group is not None and ack == "auto"
        self._committed: dict[Key, int] = {}
        self._message_class: type[Message] = _ackable_class(self) if ack == "manual" else Message
        self._workers: Any = None  # the running PartitionWorkers of run(), if any
        self._draining = 0
        self._progress = asyncio.Event()
        self._next_commit = 0.0
        self._next_refresh = 0.0
        self._known: dict[str, set[int]] = {}
        self._initial_assignment_done = False
        self._assignments = 0
        self._entered = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> MessageStream:
        if self._entered:
            raise StreamlineError("a message stream can be entered only once")
        self._entered = True
        options: dict[str, Any] = {
            "enable_auto_commit": False,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "fetch_max_bytes": 32 * 1024 * 1024,
            "fetch_max_wait_ms": self._fetch_max_wait_ms,
            "request_timeout_ms": max(40_000, int(self.connection.connect_timeout * 1000) + 1000),
        }
        if self.group is not None:
            options["group_id"] = self.group
            options["session_timeout_ms"] = int(self._session_timeout * 1000)
            options["heartbeat_interval_ms"] = max(100, int(self._session_timeout * 1000 / 3))
            options["max_poll_interval_ms"] = int(self._max_poll_interval * 1000)
            # The group waits this long for members to re-join; a revoke may take revoke_timeout.
            options["rebalance_timeout_ms"] = int(max(self._session_timeout, self._revoke_timeout + 5) * 1000)
            options["auto_offset_reset"] = "latest" if self._start == "end" else "earliest"
        else:
            options["metadata_max_age_ms"] = int(self._refresh_interval * 1000)
        consumer = _client.new_consumer(self.connection, **options)
        await _client.start_bounded(consumer, self.connection)
        _client.build_records_as(consumer, self._message_class)  # else _fetch re-labels them
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
        consumer = self._consumer
        if consumer is None:
            return
        if self.group is None:
            self._buffer, self._index = [], 0  # nothing more is handed out after close
        try:
            if self.group is not None:
                try:
                    await self._release(set(consumer.assignment()))
                finally:  # also when the drain is cut short: commit what is processed now
                    with anyio.CancelScope(shield=True), anyio.move_on_after(self.connection.connect_timeout):
                        await self._commit(consumer, final=True)
        finally:
            self._consumer = None
            with anyio.CancelScope(shield=True):
                await consumer.stop()

    def assignment(self) -> set[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this stream reads now (empty while a group is joining)."""
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    @property
    def buffered(self) -> int:
        """Messages fetched from Kafka and not yet handed out (e.g. flush output when 0)."""
        return len(self._buffer) - self._index + self._chunked

    @property
    def rebalances(self) -> int:
        """How often the group re-assigned this member's partitions after the first assignment."""
        return max(0, self._assignments - 1)

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Message]:
        if self._entered:
            return self._messages()
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        # The bare `async for msg in consume(...)` form: an async generator, so leaving the loop
        # closes the consumer through the event loop's async-generator finaliser.
        async with self:
            async for msg in self._messages():
                yield msg

    async def _messages(self) -> AsyncIterator[Message]:
        """The per-message hot path: an async generator resumed once per message (a coroutine per
        message, as ``__anext__`` costs, is measurably slower). Without a group it walks each
        chunk as a plain list; in a group it walks the shared buffer and stops as soon as a revoke
        replaces it, so revoked messages are not handed out."""
        track = self._track_pending
        solo = self.group is None  # no group: nothing is ever revoked, nothing to track
        while not self._closed:
            buffer = self._buffer
            if solo:
                start, self._index = self._index, len(buffer)  # hand out the rest of this chunk
                for msg in buffer if start == 0 else buffer[start:]:
                    yield msg
            elif track:
                index = self._index
                if index < len(buffer):
                    self._index = index + 1
                    msg = self._pending = buffer[index]
                    yield msg
                    if self._pending is msg:
                        self._finish_pending()  # resumed: the loop body finished it
                    continue
            else:
                for index in range(self._index, len(buffer)):
                    if buffer is not self._buffer:
                        break  # a revoke replaced the buffer: stop handing this chunk out
                    self._index = index + 1
                    yield buffer[index]
                if buffer is not self._buffer or self._index < len(buffer):
                    continue
            if self._pending is not None:
                self._finish_pending()
            if self._chunks:
                self._buffer, self._index = self._chunks.popleft(), 0
                self._chunked -= len(self._buffer)
            else:
                self._queue(await self._fetch())

    async def __anext__(self) -> Message:
        if self._closed:
            raise StopAsyncIteration
        if self._pending is not None:
            self._finish_pending()
        while self._index >= len(self._buffer):
            if self._chunks:
                self._buffer, self._index = self._chunks.popleft(), 0
                self._chunked -= len(self._buffer)
            else:
                self._queue(await self._fetch())
        msg = self._buffer[self._index]
        self._index += 1
        if self._track_pending:
            self._pending = msg
        return msg

    async def batches(self) -> AsyncIterator[list[Message]]:
        """Yield lists of messages from one partition each, in offset order (the fast path).

        With ``ack="auto"`` in a group, a batch counts as processed when the next batch is
        requested; the batch in hand when the loop is left is not committed (it is delivered
        again). With ``ack="manual"`` nothing is marked: acknowledge with ``stream.ack(batch)``.

        >>> async with consume("logs") as stream:  # doctest: +SKIP
        ...     async for batch in stream.batches():
        ...         handle(batch)
        """
        if not self._entered:
            async with self:
                async for batch in self.batches():
                    yield batch
            return
        auto_group = self._track_pending
        while True:
            if self._pending is not None:
                self._finish_pending()
            if self._index < len(self._buffer):
                chunk = self._buffer[self._index :]
                self._buffer, self._index = [], 0
            elif self._chunks:
                chunk = self._chunks.popleft()
                self._chunked -= len(chunk)
            else:
                self._queue(await self._fetch())
                continue
            if auto_group:
                self._pending = chunk[-1]
            yield chunk

    async def run(self, handler: Handler, *, concurrency: int = 1, batches: bool = False) -> None:
        """Process every message with ``await handler(msg)``, up to ``concurrency`` partitions at once.

        Each partition has its own worker task, so a partition's messages are handled one after
        another, in offset order, while other partitions proceed. With ``batches=True`` the
        handler gets the lists :meth:`batches` yields. With ``ack="auto"`` a message is
        processed when the handler returns; with ``ack="manual"`` when it is acknowledged.

        A partition whose worker falls behind by ``max_batch`` messages is paused (not fetched)
        until its worker catches up; fetching goes on for the others, which also keeps the
        group membership alive however long a handler takes. Runs until cancelled or until a
        handler raises (that exception propagates; its message is not committed).

        >>> async def index(msg):  # doctest: +SKIP
        ...     await search.put(msg.key, msg.value)
        >>> async with consume("docs", group="indexer") as stream:  # doctest: +SKIP
        ...     await stream.run(index, concurrency=8)
        """
        from ._workers import PartitionWorkers

        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1 (got {concurrency!r})")
        if not callable(handler):
            raise ConfigurationError(f"handler must be an async callable (got {handler!r})")
        if not self._entered:
            async with self:
                await self.run(handler, concurrency=concurrency, batches=batches)
            return
        if self._workers is not None:
            raise StreamlineError("run() is already running on this stream")
        self._pending = None
        workers = PartitionWorkers(
            self, handler, concurrency=concurrency, batches=batches, pause_after=self._max_batch
        )
        self._workers = workers
        try:
            await workers.run()
        finally:
            self._workers = None

    def _queue(self, chunks: list[list[Message]]) -> None:
        for chunk in chunks:
            self._chunks.append(chunk)
            self._chunked += len(chunk)

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
        cls = self._message_class
        for batch in records.values():
            if batch and type(batch[-1]) is not cls:  # not built as ours (see _client.build_records_as)
                for record in batch:
                    record.__class__ = cls  # re-label aiokafka's record: no copy
        if self._acks is not None:
            for tp, batch in records.items():
                self._deliver(tp, batch)  # type: ignore[arg-type]
        return list(records.values())  # type: ignore[arg-type]

    def _running(self) -> Any:
        if self._consumer is None:
            state = "closed" if self._closed else "not open; use `async with consume(...)` or `async for`"
            raise StreamlineError(f"the stream is {state}")
        return self._consumer
