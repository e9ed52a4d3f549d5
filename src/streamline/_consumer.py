"""The source: :func:`consume` fans every partition of one or more topics into one async stream.

Without ``group`` it assigns every partition itself (the tutorial's consumer) and picks up
partitions added later. With ``group`` it joins the consumer group and commits a partition's
offset only up to messages that are processed (at-least-once): finished by the loop body
(``ack="auto"``) or acknowledged (``ack="manual"``, bookkept by :mod:`._offsets`).
:meth:`MessageStream.run` hands each partition to its own worker task (:mod:`._workers`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import weakref
from collections import deque
from datetime import datetime
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Sequence, Union

import anyio
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from . import _client
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError
from ._models import Message
from ._offsets import PartitionAcks
from ._validation import Start, check_topics, parse_start

log = logging.getLogger("streamline.consume")

ACK_MODES = ("auto", "manual")

#: ``(topic, partition)``; equal to (and hashes like) aiokafka's ``TopicPartition``.
Key = tuple  # type: ignore[type-arg]


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
    max_poll_interval: float = 300.0,
    connection: ConnectionConfig | None = None,
) -> "MessageStream":
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
    """
    names = check_topics(topics)
    position = parse_start(start)
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise ConfigurationError("group must be a non-empty string")
    if ack not in ACK_MODES:
        raise ConfigurationError(f"ack must be 'auto' or 'manual' (got {ack!r})")
    if not commit_interval > 0:
        raise ConfigurationError(f"commit_interval must be > 0 seconds (got {commit_interval!r})")
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
        ack=ack,
        commit_interval=commit_interval,
        revoke_timeout=revoke_timeout,
        max_batch=max_batch,
        partition_refresh_interval=partition_refresh_interval,
        session_timeout=session_timeout,
        max_poll_interval=max_poll_interval,
    )


Handler = Callable[[Any], Awaitable[Any]]


class MessageStream:
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
            options["max_poll_interval_ms"] = int(self._max_poll_interval * 1000)
            # The group waits this long for members to re-join; a revoke may take revoke_timeout.
            options["rebalance_timeout_ms"] = int(max(self._session_timeout, self._revoke_timeout + 5) * 1000)
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
        consumer = self._consumer
        if consumer is None:
            return
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

    # -- processed messages --------------------------------------------------------------------

    def ack(self, item: Union[Message, Sequence[Message]]) -> None:
        """Acknowledge a message, or a list of messages of one partition (what :meth:`batches` yields).

        With ``ack="manual"`` the partition's committed offset advances over the contiguous
        prefix of acknowledged messages; acks may come in any order, from any task of this event
        loop. Acks for partitions this member no longer owns, and every ack with
        ``ack="auto"`` (where the loop itself marks progress) or without a group, are ignored.

        >>> stream.ack(batch)  # doctest: +SKIP
        """
        acks = self._acks
        if acks is None:
            return
        if isinstance(item, Message):
            tracker = acks.get((item.topic, item.partition))
            if tracker is not None:
                tracker.ack(item.offset)
        elif item:
            first = item[0]
            tracker = acks.get((first.topic, first.partition))
            if tracker is not None:
                if item[-1].partition != first.partition or item[-1].topic != first.topic:
                    raise StreamlineError("ack() takes messages of one partition (as batches() yields them)")
                tracker.ack_many(_OffsetsOf(item))
        if self._draining:
            self._progress.set()

    def _deliver(self, tp: Key, batch: list[Message]) -> None:
        assert self._acks is not None
        tracker = self._acks.get(tp)
        if tracker is None:
            tracker = self._acks[tp] = PartitionAcks()
        offsets = _OffsetsOf(batch)
        try:
            tracker.deliver(offsets)
        except ValueError:
            # Delivered again (a broker reset the position): the earlier copies no longer count.
            tracker.withdraw_from(batch[0].offset)
            tracker.deliver(offsets)

    def _mark(self, msg: Message) -> None:
        self._processed[(msg.topic, msg.partition)] = msg.offset + 1

    def _finish_pending(self) -> None:
        assert self._pending is not None
        self._mark(self._pending)
        self._pending = None
        if self._draining:
            self._progress.set()

    def _busy(self, partitions: set[Key]) -> bool:
        """True while a message of ``partitions`` is handed out and not processed."""
        pending = self._pending
        if pending is not None and (pending.topic, pending.partition) in partitions:
            return True
        if self._acks is not None:
            for tp in partitions:
                tracker = self._acks.get(tp)
                if tracker is not None and tracker.outstanding:
                    return True
        return self._workers is not None and self._workers.busy(partitions)

    async def _drain(self, partitions: set[Key], timeout: float) -> None:
        """Wait (at most ``timeout``) until the in-flight messages of ``partitions`` are processed."""
        deadline = time.monotonic() + timeout
        self._draining += 1
        try:
            while self._busy(partitions):
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning(
                        "%s: messages of %s still in flight after %gs; they go to the next owner",
                        self.group, _describe_keys(partitions), timeout,
                    )
                    break
                self._progress.clear()
                try:
                    await asyncio.wait_for(self._progress.wait(), min(left, 0.2))
                except asyncio.TimeoutError:
                    pass
        finally:
            self._draining -= 1

    async def _release(self, partitions: set[Key]) -> None:
        """Stop delivering ``partitions`` and wait (bounded) for their in-flight messages."""
        if not partitions:
            return
        # Fetched messages not handed out yet belong to the next owner.
        first_dropped: dict[Key, int] = {}
        kept: deque[list[Message]] = deque()
        for chunk in ([self._buffer[self._index :]] if self._index < len(self._buffer) else []) + list(self._chunks):
            tp = (chunk[0].topic, chunk[0].partition)
            if tp in partitions:
                first_dropped.setdefault(tp, chunk[0].offset)
            else:
                kept.append(chunk)
        self._buffer, self._index = [], 0
        self._chunks, self._chunked = kept, sum(len(c) for c in kept)
        if self._acks is not None:
            for tp, offset in first_dropped.items():
                tracker = self._acks.get(tp)
                if tracker is not None:
                    tracker.withdraw_from(offset)
        if self._workers is not None:
            self._workers.stop(partitions)
        await self._drain(partitions, self._revoke_timeout)
        if self._workers is not None:
            await self._workers.cancel_stragglers(partitions)

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

    def committable(self) -> dict[tuple[str, int], int]:
        """The offset each partition may commit now: 1 + its last contiguous processed offset."""
        offsets = dict(self._processed)
        if self._acks is not None:
            for tp, tracker in self._acks.items():
                position = tracker.committable
                if position is not None:
                    offsets[tp] = position
        return offsets

    async def _commit(self, consumer: Any, *, final: bool = False, only: Iterable[Key] | None = None) -> None:
        self._next_commit = time.monotonic() + self._commit_interval
        wanted = self.committable()
        owned = set(consumer.assignment())
        keys = wanted.keys() if only is None else set(only)
        offsets = {
            TopicPartition(*tp): wanted[tp]
            for tp in keys
            if tp in wanted and tp in owned and self._committed.get(tp) != wanted[tp]
        }
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
        await self._release(set(revoked))
        await self._commit(consumer, only=revoked)
        for tp in revoked:
            self._processed.pop(tp, None)
            self._committed.pop(tp, None)
            if self._acks is not None:
                self._acks.pop(tp, None)
        if self._pending is not None and (self._pending.topic, self._pending.partition) in revoked:
            self._pending = None

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assignments += 1
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


class _OffsetsOf:
    """The offsets of a list of messages, as a sequence, without building a list of ints."""

    __slots__ = ("_messages",)

    def __init__(self, messages: Sequence[Message]) -> None:
        self._messages = messages

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [m.offset for m in self._messages[i]]
        return self._messages[i].offset


def _ackable_class(stream: MessageStream) -> type[Message]:
    """A per-stream subclass of :class:`Message` whose ``ack()`` reaches the stream.

    Records are re-labelled to it exactly as to ``Message``, so ``msg.ack()`` costs nothing on
    the fetch path; the stream is held weakly (an ack after it is gone is ignored).
    """
    ref = weakref.ref(stream)

    def ack(self: Message) -> None:
        """Acknowledge this message (``consume(..., ack="manual")``): it is processed."""
        owner = ref()
        if owner is not None:
            owner.ack(self)

    def __reduce__(self: Message) -> Any:  # pickle as a plain Message
        return (Message, tuple(getattr(self, f.name) for f in dataclasses.fields(Message)))

    return type("Message", (Message,), {"ack": ack, "__reduce__": __reduce__, "__module__": Message.__module__})


def _describe(offsets: dict[TopicPartition, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(offsets.items()))


def _describe_keys(keys: Iterable[Key]) -> str:
    return ", ".join(f"{t}[{p}]" for t, p in sorted(keys))
