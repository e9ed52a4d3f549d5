"""The source: :func:`consume` fans every partition of one or more topics into one async stream.

Without ``group`` it assigns every partition itself (the tutorial's consumer) and picks up
partitions added later. With ``group`` it joins the consumer group and commits a partition's
offset only up to messages that are processed (at-least-once).

:class:`MessageStream` owns its parts and talks to each through a small interface: a consumer
(:class:`.port.ConsumerPort`, aiokafka's in :mod:`.kafka`), the processed offsets and commits
(:class:`.progress.Progress`), pauses (:class:`.progress.Flow`), start positions
(:mod:`.positions`) and, for :meth:`~MessageStream.run`, per-partition workers
(:mod:`.workers`). ``async for``, :meth:`~MessageStream.batches` and
:meth:`~MessageStream.run` share one core: take the next fetched batch (:meth:`_take`) or fetch
(:meth:`_fetch`: commit timer, reachability probe, pauses, then one ``fetch``).
"""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import attrgetter, length_hint
from types import TracebackType
from typing import Any, Generic, cast

import anyio

from .._backoff import backoff
from .._codecs import Codec
from .._config import ConnectionConfig
from .._errors import BrokerUnavailableError, ConfigurationError, StreamlineError
from .._metrics import registry as _metrics
from .._metrics import tracing as _tracing
from .._models import K, Message, V
from .._pipeline.errors import OnError
from .._validation import check_number
from .decoding import Decoding
from .failures import FailurePolicy
from .iterators import Restartable
from .port import ConsumerPort, Key
from .positions import StartPositions
from .progress import Flow, Progress, ackable_class, describe_keys
from .workers import Handler, PartitionWorkers

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found]

log = logging.getLogger("streamline.consume")

#: Builds the stream's consumer for its message class (tests pass a fake).
ConsumerFactory = Callable[[type[Message]], ConsumerPort]


class MessageStream(Generic[V, K]):
    """The stream :func:`consume` returns: an async iterator and an async context manager.

    >>> async with consume("logs", group="indexer") as stream:  # doctest: +SKIP
    ...     async for msg in stream:
    ...         await index(msg)          # committed once this returns and the next is asked for

    Generic in the value and key types its messages carry (``MessageStream[Order, bytes]`` for
    ``consume("orders", value=Order)``).
    """

    def __init__(
        self,
        topics: list[str],
        *,
        connection: ConnectionConfig,
        start: str | int | datetime | Mapping[int, str | int | datetime] = "end",
        group: str | None = None,
        commit_interval: float = 1.0,
        max_batch: int = 10_000,
        max_unacked: int = 100_000,
        partition_refresh_interval: float = 5.0,
        session_timeout: float = 10.0,
        ack: str = "auto",
        revoke_timeout: float = 10.0,
        max_poll_interval: float = 300.0,
        fetch_max_wait: float = 0.5,
        assignor: Sequence[str] = ("roundrobin",),
        unreachable_timeout: float | None = None,
        consumer_factory: ConsumerFactory | None = None,
        value_codec: Codec[Any] | None = None,
        key_codec: Codec[Any] | None = None,
        on_decode_error: OnError | None = None,
    ) -> None:
        self.topics = topics
        self.group = group
        self.connection = connection
        self.ack_mode = ack
        self._start = start
        self._commit_interval = commit_interval
        self._revoke_timeout = revoke_timeout
        self._max_batch = max_batch
        self._max_unacked = max_unacked
        self._refresh_interval = partition_refresh_interval
        self._session_timeout = session_timeout
        self._fetch_max_wait_ms = max(1, int(fetch_max_wait * 1000))
        self._max_poll_interval = max_poll_interval
        self._assignor = tuple(assignor)
        self._unreachable_timeout = unreachable_timeout
        self._factory = consumer_factory
        self._track_pending = group is not None and ack == "auto"
        self._track_acks = group is not None and ack == "manual"
        self._progress = Progress(manual=self._track_acks)
        self._message_class: type[Message] = ackable_class(self._progress) if ack == "manual" else Message
        self._positions = StartPositions(topics, start)
        self._consumer: ConsumerPort | None = None
        self._flow: Flow | None = None
        self._workers: PartitionWorkers | None = None
        self._buffer: list[Message] = []  # the batch handed out message by message
        self._index = 0
        #: Without a group: the batch being walked by ``async for`` and the walk's iterator.
        self._solo: tuple[list[Message], Iterator[Message]] | None = None
        self._chunks: deque[list[Message]] = deque()  # fetched, not handed out yet
        self._chunked = 0  # messages in _chunks
        self._pending: Message | None = None  # auto mode: handed out, not finished by the body
        self._pending_batch: list[Message] | None = None  # auto mode: the batch in hand
        self._revoking: set[Key] = set()  # being released: what is fetched of them is dropped
        self._failures: FailurePolicy | None = None  # process()'s, created on first use
        self._next_commit = 0.0
        self._next_probe = 0.0
        self._fetched_since_probe = False
        self._unreachable_since: float | None = None
        self._probe_failures = 0
        self._assignments = 0
        self._revocations = 0
        # Figures read by the metrics endpoint at scrape time (one dict update per fetched batch).
        self._fetched: dict[Key, int] = {}  # next offset after the last fetched message
        self._consumed: dict[Key, int] = {}  # messages fetched and handed to the stream
        self._consumed_bytes = 0  # their value bytes
        self._handler_seconds = _metrics.Histogram()  # one observation per run() handler call
        self._failed = [0, 0]  # skipped, dead-lettered by policies that are closed
        self._run_failures: FailurePolicy | None = None
        #: The codecs of values and keys (None: raw bytes, nothing decoded).
        self.value_codec = value_codec
        self.key_codec = key_codec
        self._on_decode_error = on_decode_error
        self._run_on_error: OnError | None = None  # run()'s policy, for decode failures too
        self._decoding = (
            Decoding(
                value_codec, key_codec, progress=self._progress, manual=self._track_acks,
                policy=self._decode_policy, failures=self._failure_policy,
            )
            if value_codec is not None or key_codec is not None
            else None
        )
        #: The ``process`` span of the batch the loop is in (OpenTelemetry; see docs/metrics.md).
        #: A pipeline sets it to None: it traces its batches itself.
        self._spans: _tracing.ProcessSpans | None = _tracing.ProcessSpans(group)
        self._entered = False
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def _kafka_consumer(self, message_class: type[Message]) -> ConsumerPort:
        from .kafka import KafkaConsumer

        options: dict[str, Any] = {
            "enable_auto_commit": False,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "fetch_max_bytes": 32 * 1024 * 1024,
            "fetch_max_wait_ms": self._fetch_max_wait_ms,
            "request_timeout_ms": max(40_000, int(self.connection.connect_timeout * 1000) + 1000),
        }
        if self.group is not None:
            options["session_timeout_ms"] = int(self._session_timeout * 1000)
            options["heartbeat_interval_ms"] = max(100, int(self._session_timeout * 1000 / 3))
            options["max_poll_interval_ms"] = int(self._max_poll_interval * 1000)
            # The group waits this long for members to re-join; a revoke may take revoke_timeout.
            options["rebalance_timeout_ms"] = int(max(self._session_timeout, self._revoke_timeout + 5) * 1000)
            options["auto_offset_reset"] = "latest" if self._start == "end" else "earliest"
        else:
            options["metadata_max_age_ms"] = int(self._refresh_interval * 1000)
        return KafkaConsumer(
            self.connection, message_class, group=self.group, assignors=self._assignor, **options
        )

    async def __aenter__(self) -> MessageStream[V, K]:
        if self._entered:
            raise StreamlineError("a message stream can be entered only once")
        self._entered = True
        consumer = (self._factory or self._kafka_consumer)(self._message_class)
        await consumer.start()
        self._consumer = consumer
        self._flow = Flow(consumer)
        try:
            if self.group is not None:
                consumer.subscribe(self.topics, _Rebalance(self))
            else:
                await self._positions.assign_new(consumer)
                self._next_probe = time.monotonic() + self._refresh_interval
        except BaseException:
            await self._close()
            raise
        self._next_commit = time.monotonic() + self._commit_interval
        _metrics.track(self, "consumer")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self._pending is not None:
            self._finish_pending()  # the block ended normally: the loop body finished it
        self._drop_pending()
        await self._close()

    async def aclose(self) -> None:
        """Close without counting the message in hand as processed; a loop over the stream ends."""
        self._drop_pending()
        await self._close()

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._buffer.clear()  # in place: a loop walking it stops (nothing more is handed out)
        self._pending_batch = None  # the loop over it was left: not processed, not waited for
        self._trace(None)
        consumer = self._consumer
        if consumer is None:
            return
        try:
            if self.group is not None:
                try:
                    await self._release(consumer.assignment())
                finally:  # also when the drain is cut short: commit what is processed now
                    with anyio.CancelScope(shield=True), anyio.move_on_after(self.connection.connect_timeout):
                        await self._commit(consumer)
        finally:
            self._consumer = None
            if self._failures is not None:
                self._count_failures(self._failures)
                await self._failures.aclose()
                self._failures = None
            _metrics.retire_consumer(self)
            self._buffer, self._index = [], 0
            self._chunks.clear()
            self._chunked = 0
            with anyio.CancelScope(shield=True):
                await consumer.stop()

    def assignment(self) -> set[tuple[str, int]]:
        """The ``(topic, partition)`` pairs this stream reads now (empty while a group is joining)."""
        if self._consumer is None:
            return set()
        return {(t, p) for t, p in self._consumer.assignment()}

    @property
    def buffered(self) -> int:
        """Messages fetched from Kafka and not yet handed out (e.g. flush output when 0)."""
        return len(self._buffer) - self._index + self._chunked

    @property
    def rebalances(self) -> int:
        """How often the group re-assigned this member's partitions after the first assignment."""
        return max(0, self._assignments - 1)

    @property
    def unreachable_for(self) -> float | None:
        """Seconds since the cluster stopped answering (None while it answers)."""
        since = self._unreachable_since
        return None if since is None else time.monotonic() - since

    @property
    def joined(self) -> bool:
        """True once the group gave this member its first assignment (possibly an empty one)."""
        return self._assignments > 0

    # -- figures for the metrics endpoint (read at scrape time, never on the hot path) ---------

    def metrics(self) -> dict[str, Any]:
        """The stream's figures as the metrics endpoint reports them.

        ``partitions`` maps ``(topic, partition)`` to ``(consumed, position, log end or None,
        committed or None)``; ``position`` is the offset after the last fetched message.

        >>> stream.metrics()["partitions"][("logs", 0)]  # doctest: +SKIP
        (1000, 1000, 1200, 990)
        """
        consumer = self._consumer
        highwater = getattr(consumer, "highwater", None)
        committed = self._progress.committed
        positions = dict(self._fetched)
        partitions: dict[Key, tuple[int, int | None, int | None, int | None]] = {}
        for tp, count in dict(self._consumed).items():
            position = positions.get(tp)
            end = highwater(tp) if highwater is not None and position is not None else None
            partitions[tp] = (count, position, end, committed.get(tp))
        skipped, dead_lettered = self._failed
        for policy in (self._failures, self._run_failures):
            if policy is not None:
                skipped += policy.skipped
                dead_lettered += policy.dead_lettered
        return {
            "partitions": partitions,
            "bytes": self._consumed_bytes,
            "assignments": self._assignments,
            "revocations": self._revocations,
            "rebalances": self.rebalances,
            "skipped": skipped,
            "dead_lettered": dead_lettered,
            "handler_seconds": self._handler_seconds,
        }

    def _count_failures(self, policy: FailurePolicy) -> None:
        self._failed[0] += policy.skipped
        self._failed[1] += policy.dead_lettered

    async def check_connection(self) -> None:
        """Ask the cluster about this stream's topics now; :class:`~streamline.BrokerUnavailableError`
        when it does not answer within the connect timeout.

        >>> await stream.check_connection()  # doctest: +SKIP
        """
        await self._running().partitions_for(self.topics)

    # -- processed messages ----------------------------------------------------------------

    def ack(self, item: Message[Any, Any] | Sequence[Message[Any, Any]]) -> None:
        """Acknowledge a message, or a list of messages of one partition (what :meth:`batches` yields).

        With ``ack="manual"`` the partition's committed offset advances over the contiguous
        prefix of acknowledged messages; acks may come in any order, from any task of this event
        loop. Acks for partitions this member no longer owns, and every ack with
        ``ack="auto"`` (where the loop itself marks progress) or without a group, are ignored.

        >>> stream.ack(batch)  # doctest: +SKIP
        """
        self._progress.ack(item)

    async def process(
        self, item: Message | list[Message], handler: Handler, *, on_error: OnError | None = None
    ) -> None:
        """Call ``handler(item)`` for a message or a batch under :meth:`run`'s failure policy:
        retries with jittered backoff, then skip, dead-letter or stop (raise). A skipped or
        dead-lettered item counts as processed (with ``ack="manual"`` it is acknowledged).

        >>> async for msg in stream:  # doctest: +SKIP
        ...     await stream.process(msg, index, on_error=OnError(retries=3, then="skip"))
        """
        if on_error is not None and not isinstance(on_error, OnError):
            raise ConfigurationError(f"on_error must be an OnError (got {on_error!r})")

        async def call() -> None:
            result = handler(item)
            if inspect.isawaitable(result):
                await result

        try:
            await call()
        except Exception as exc:
            await self._failure_policy().handle(item, exc, call, on_error)

    def _failure_policy(self) -> FailurePolicy:
        """The policy object of :meth:`process` and of decode failures, created on first use."""
        if self._failures is None:
            self._failures = FailurePolicy(
                None, progress=self._progress, connection=self.connection, auto=not self._track_acks
            )
        return self._failures

    def _decode_policy(self) -> OnError | None:
        """What a decode failure does: ``on_decode_error``, else run()'s ``on_error`` while it
        runs, else stop."""
        return self._on_decode_error or self._run_on_error

    def committable(self) -> dict[tuple[str, int], int]:
        """The offset each partition may commit now: 1 + its last contiguous processed offset."""
        self._mark_in_hand()
        return self._progress.committable()

    def _finish_pending(self) -> None:
        msg = self._pending
        assert msg is not None
        self._pending = None
        self._progress.mark((msg.topic, msg.partition), msg.offset + 1)

    def _mark_in_hand(self) -> None:
        """Mark the messages handed out before the one in hand as processed: the per-message
        loop marks progress once per batch (the message in hand itself is not processed yet)."""
        msg = self._pending
        if msg is not None:
            self._progress.mark((msg.topic, msg.partition), msg.offset)

    def _drop_pending(self) -> None:
        """The message in hand will not count as processed; the ones before it do."""
        self._mark_in_hand()
        self._pending = None

    async def _commit(self, consumer: ConsumerPort, *, only: set[Key] | None = None) -> None:
        self._mark_in_hand()
        await self._progress.commit(consumer, only=only)

    def _put_back(self) -> None:
        """A new iteration starts while a batch is in hand (the loop over it was left): hand it
        out again rather than count it as processed."""
        solo, self._solo = self._solo, None
        if solo is not None and solo[0] is self._buffer:
            # A per-message loop without a group was left mid-batch: what it did not hand out
            # is handed out next.
            self._index = len(solo[0]) - length_hint(solo[1])
        batch, self._pending_batch = self._pending_batch, None
        if batch is not None:
            self._chunks.appendleft(batch)
            self._chunked += len(batch)

    # -- iteration -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Message[V, K]]:
        if self._entered:
            return Restartable(self._messages if self._decoding is None else self._typed_messages)
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message[V, K]]:
        # The bare `async for msg in consume(...)` form: an async generator, so leaving the loop
        # closes the consumer through the event loop's async-generator finaliser.
        async with self:
            async for msg in Restartable(self._messages if self._decoding is None else self._typed_messages):
                yield msg

    async def _typed_messages(self, it: Restartable[Message[V, K]]) -> AsyncGenerator[Message[V, K], None]:
        """``async for`` over a stream that decodes: each message is decoded as it is handed out
        and its slot in the batch is cleared, so a value the loop body drops dies young (held in
        a fetched batch, decoded objects would live until the batch is done and cost the cyclic
        collector a walk over them: measured at 0.4-0.7x of decoding by hand)."""
        decoding = self._decoding
        assert decoding is not None
        decode_one = decoding.decode_one
        # The common case inlined: a value codec alone (no key codec, no content-type choice).
        fast = decoding.value.decode if decoding.value is not None and decoding.simple else None
        track = self._track_pending
        solo = fast is not None and self.group is None  # nothing revoked, nothing to track
        self._put_back()
        while True:
            buffer = self._buffer  # re-read each time: a revoke replaces it
            if solo:
                # The no-group walk of _messages, decoding as it goes: a list iterator keeps the
                # position (a loop left with break resumes after the message it broke on, see
                # _put_back), and each slot is cleared as its message is handed out.
                rest = iter(buffer)
                position = self._index
                if position:
                    cast(Any, rest).__setstate__(position)
                self._index = len(buffer)
                self._solo = (buffer, rest)
                for msg in rest:
                    buffer[position] = None  # type: ignore[call-overload]  # handed out: not ours to keep
                    position += 1
                    raw = msg.value
                    try:
                        value = fast(raw) if raw is not None else _NULL  # type: ignore[misc]
                    except Exception:
                        value = _NULL
                    if value is _NULL:
                        error = decode_one(msg)  # again, for the reason (a rare path)
                        if error is not None:
                            await decoding.failed_one(msg, error, mark=False)
                            continue
                    else:
                        msg._raw_value = raw
                        msg.value = value
                    yield msg
                index = len(buffer)
            else:
                index = self._index
            if index < len(buffer):
                self._index = index + 1
                msg = buffer[index]
                buffer[index] = None  # type: ignore[call-overload]  # handed out: not ours to keep
                error = None
                if fast is not None:
                    raw = msg.value
                    try:
                        value = fast(raw) if raw is not None else _NULL
                    except Exception:
                        value = _NULL
                    if value is _NULL:
                        error = decode_one(msg)  # again, for the reason (a rare path)
                    else:
                        msg._raw_value = raw
                        msg.value = value
                else:
                    error = decode_one(msg)
                if error is not None:
                    await decoding.failed_one(msg, error, mark=track)
                    continue
                if track:
                    self._pending = msg
                    yield msg
                    if self._pending is msg:
                        self._finish_pending()  # resumed: the loop body finished it
                else:
                    yield msg
                continue
            if self._pending is not None:
                self._finish_pending()
            if self._chunks:
                self._buffer, self._index = self._chunks.popleft(), 0
                self._chunked -= len(self._buffer)
                continue
            if self._closed:
                return
            try:
                self._queue(await self._fetch(decode=False))
            except BaseException:
                it.broke()  # cancelled or failed while fetching: the next anext() resumes
                raise

    async def _messages(self, it: Restartable[Message[V, K]]) -> AsyncGenerator[Message[V, K], None]:
        """The per-message hot path: an async generator resumed once per message (a coroutine per
        message, as ``__anext__`` costs, is measurably slower). Without a group it walks each
        batch as a plain list; in a group it walks the shared buffer and stops as soon as a revoke
        replaces it, so revoked messages are not handed out."""
        track = self._track_pending
        solo = self.group is None  # no group: nothing is ever revoked, nothing to track
        self._put_back()
        while True:
            buffer = self._buffer
            if solo:
                # Hand out the rest of this batch as a plain list walk. The list iterator keeps
                # the position: a loop left with ``break`` and started again resumes after the
                # message it broke on (see _put_back), not after the whole batch.
                rest = iter(buffer)
                if self._index:
                    cast(Any, rest).__setstate__(self._index)
                self._index = len(buffer)
                self._solo = (buffer, rest)
                for msg in rest:
                    yield msg  # (close() empties the list in place: the loop stops)
            elif track:
                # Handing out the next message says the loop body finished the one before, so
                # progress is marked once per batch, not per message; whatever reads progress
                # meanwhile marks the message in hand's predecessors first (_mark_in_hand).
                index = self._index
                if index < len(buffer):
                    while True:
                        index += 1
                        self._index = index
                        msg = self._pending = buffer[index - 1]
                        yield msg
                        if self._pending is not msg or buffer is not self._buffer or index >= len(buffer):
                            break  # taken over (dropped by aclose or a revoke), buffer replaced, or done
                    if self._pending is msg:
                        self._finish_pending()  # resumed: the loop body finished it
                    continue
            else:
                for index in range(self._index, len(buffer)):
                    if buffer is not self._buffer:
                        break  # a revoke replaced the buffer: stop handing this batch out
                    self._index = index + 1
                    yield buffer[index]
                if buffer is not self._buffer or self._index < len(buffer):
                    continue
            if self._pending is not None:
                self._finish_pending()
            if self._chunks:
                self._buffer, self._index = self._chunks.popleft(), 0
                self._chunked -= len(self._buffer)
                self._trace(self._buffer)
                continue
            if self._closed:
                return
            self._trace(None)
            try:
                self._queue(await self._fetch())
            except BaseException:
                it.broke()  # cancelled or failed while fetching: the next anext() resumes
                raise

    async def __anext__(self) -> Message[V, K]:
        decoding = self._decoding
        while True:
            if self._pending is not None:
                self._finish_pending()
            while self._index >= len(self._buffer):
                if self._chunks:
                    self._buffer, self._index = self._chunks.popleft(), 0
                    self._chunked -= len(self._buffer)
                    self._trace(self._buffer)
                elif self._closed:
                    raise StopAsyncIteration
                else:
                    self._trace(None)
                    self._queue(await self._fetch(decode=False))
            msg = self._buffer[self._index]
            self._index += 1
            if decoding is not None:
                error = decoding.decode_one(msg)
                if error is not None:
                    await decoding.failed_one(msg, error, mark=self._track_pending)
                    continue
            if self._track_pending:
                self._pending = msg
            return msg

    def batches(self) -> AsyncIterator[list[Message[V, K]]]:
        """Yield lists of messages from one partition each, in offset order (the fast path).

        With ``ack="auto"`` in a group, a batch counts as processed when the next batch is
        requested; the batch in hand when the loop is left is not committed: the next loop over
        this stream (or the partition's next owner) gets it again. With ``ack="manual"``
        nothing is marked: acknowledge with ``stream.ack(batch)``.

        >>> async with consume("logs") as stream:  # doctest: +SKIP
        ...     async for batch in stream.batches():
        ...         handle(batch)
        """
        if not self._entered:
            return self._batches_opened()
        return Restartable(self._batches)

    async def _batches_opened(self) -> AsyncIterator[list[Message[V, K]]]:
        async with self:
            async for batch in Restartable(self._batches):
                yield batch

    async def _batches(
        self, it: Restartable[list[Message[V, K]]]
    ) -> AsyncGenerator[list[Message[V, K]], None]:
        auto = self._track_pending
        if self._pending is not None:
            self._finish_pending()  # the message in hand of an earlier `async for`
        self._put_back()
        while True:
            batch = self._pending_batch
            if batch is not None:
                self._pending_batch = None
                last = batch[-1]
                self._progress.mark((last.topic, last.partition), last.offset + 1)
            chunk = self._take()
            if chunk is not None and self._decoding is not None and not _decoded(chunk):
                chunk = await self._decode_leftover(chunk)  # fetched for `async for`
            if chunk is None:
                if self._closed:
                    return
                self._trace(None)
                try:
                    self._queue(await self._fetch())
                except BaseException:
                    it.broke()
                    raise
                continue
            if auto:
                self._pending_batch = chunk
            self._trace(chunk)
            yield chunk

    async def run(
        self,
        handler: Handler,
        *,
        concurrency: int = 1,
        batches: bool = False,
        on_error: OnError | None = None,
    ) -> None:
        """Process every message with ``handler(msg)``, up to ``concurrency`` partitions at once.

        Each partition has its own worker task, so a partition's messages are handled one after
        another, in offset order, while other partitions proceed. With ``batches=True`` the
        handler gets the lists :meth:`batches` yields. With ``ack="auto"`` a message is
        processed when the handler returns; with ``ack="manual"`` when it is acknowledged.
        A synchronous (``def``) handler runs in a worker thread, one hop per batch, so CPU-heavy
        code does not starve the group's heartbeats.

        A partition whose worker falls behind by ``max_batch`` messages is paused (not fetched)
        until its worker catches up; fetching goes on for the others, which also keeps the
        group membership alive however long a handler takes. ``on_error`` is the pipeline's
        :class:`~streamline.OnError`: retries with jittered backoff, then skip, dead-letter or
        stop. Without it (or with ``then="stop"``) the handler's exception ends ``run()`` and
        its message is not committed. Runs until cancelled or the stream is closed.

        >>> async def index(msg):  # doctest: +SKIP
        ...     await search.put(msg.key, msg.value)
        >>> async with consume("docs", group="indexer") as stream:  # doctest: +SKIP
        ...     await stream.run(index, concurrency=8, on_error=OnError(retries=3, then="skip"))
        """
        check_number("concurrency", concurrency, minimum=1, integer=True)
        if not callable(handler):
            raise ConfigurationError(f"handler must be callable (got {handler!r})")
        if on_error is not None and not isinstance(on_error, OnError):
            raise ConfigurationError(f"on_error must be an OnError (got {on_error!r})")
        if not self._entered:
            async with self:
                await self.run(handler, concurrency=concurrency, batches=batches, on_error=on_error)
            return
        if self._workers is not None:
            raise StreamlineError("run() is already running on this stream")
        self._running()
        assert self._flow is not None
        self._drop_pending()
        self._put_back()
        failures = FailurePolicy(on_error, progress=self._progress, connection=self.connection, auto=self._track_pending)
        workers = PartitionWorkers(
            self._progress, self._flow, handler, concurrency=concurrency, batches=batches,
            pause_after=self._max_batch, auto=self._track_pending, failures=failures,
            durations=self._handler_seconds, group=self.group,
        )
        self._workers = workers
        self._run_failures = failures
        self._run_on_error = on_error
        try:
            async with anyio.create_task_group() as tg:
                workers.start(tg)
                while True:
                    chunk = self._take()
                    if chunk is not None and self._decoding is not None and not _decoded(chunk):
                        chunk = await self._decode_leftover(chunk)  # fetched for `async for`
                        if chunk is None:
                            continue
                    if chunk is not None:
                        workers.dispatch(chunk)
                    elif self._closed:
                        tg.cancel_scope.cancel()
                        break
                    else:
                        self._queue(await self._fetch())
        except BaseExceptionGroup as group:
            # One failing handler is the usual case: raise its own exception, not a group.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
        finally:
            self._workers = None
            self._run_failures = None
            self._run_on_error = None
            self._count_failures(failures)
            workers.abandon()  # what the workers did not finish is not in flight any more
            await failures.aclose()

    # -- the core: batches in hand, and fetching -----------------------------------------------

    async def _decode_leftover(self, chunk: list[Message]) -> list[Message] | None:
        """Decode a batch fetched undecoded (for ``async for``) and taken by :meth:`batches` or
        :meth:`run`; None when nothing of it is left."""
        assert self._decoding is not None
        tp = (chunk[0].topic, chunk[0].partition)
        # The message before it was marked processed at chunk[0].offset (offsets without gaps);
        # with a gap the commit waits for the next processed message: never too far.
        chunks = await self._decoding.apply({tp: chunk}, {tp: chunk[0].offset})
        return chunks[0] if chunks else None

    def _trace(self, batch: list[Message] | None) -> None:
        """A new batch is handed out (``None``: none is): move the ``process`` span along.
        Once per batch; with tracing off it costs a check."""
        spans = self._spans
        if spans is not None:
            spans.switch(batch)

    def _take(self) -> list[Message] | None:
        """The next batch not handed out yet, if one is fetched."""
        if self._index < len(self._buffer):
            buffer = self._buffer
            chunk = buffer if self._index == 0 else buffer[self._index :]
            self._buffer, self._index = [], 0
            return chunk
        if self._chunks:
            chunk = self._chunks.popleft()
            self._chunked -= len(chunk)
            return chunk
        return None

    def _queue(self, chunks: list[list[Message]]) -> None:
        for chunk in chunks:
            self._chunks.append(chunk)
            self._chunked += len(chunk)

    async def _fetch(self, decode: bool = True) -> list[list[Message]]:
        """One poll: lists of messages per partition (possibly none), decoded by the stream's
        codecs unless ``decode`` is False (``async for`` decodes each message as it hands it out)."""
        consumer = self._running()
        if self._decoding is not None and self._decoding.error is not None:
            raise self._decoding.error  # on_decode_error stopped the stream
        now = time.monotonic()
        if self.group is not None and now >= self._next_commit:
            self._next_commit = now + self._commit_interval
            await self._commit(consumer)
        if now >= self._next_probe:
            await self._probe(consumer)
        if self._track_acks:
            self._limit_unacked()
        if self.group is None and not consumer.assignment():
            await anyio.sleep(min(0.5, self._refresh_interval))
            return []
        records = await consumer.fetch(0.5, self._max_batch)
        if not records:
            return []
        if self._revoking:  # fetched while their revoke drains: they belong to the next owner
            records = {tp: batch for tp, batch in records.items() if tp not in self._revoking}
        self._fetched_since_probe = True
        if self._unreachable_since is not None:
            self._reachable_again()
        fetched, consumed, size = self._fetched, self._consumed, _value_size
        decoding = self._decoding if decode else None
        previous = {tp: fetched.get(tp) for tp in records} if decoding is not None else {}
        for tp, batch in records.items():
            fetched[tp] = batch[-1].offset + 1
            consumed[tp] = consumed.get(tp, 0) + len(batch)
            self._consumed_bytes += sum(map(size, batch))
        if self._track_acks:
            for tp, batch in records.items():
                self._progress.deliver(tp, batch)
        if decoding is not None:
            return await decoding.apply(records, previous)
        return list(records.values())

    async def _probe(self, consumer: ConsumerPort) -> None:
        """Every ``partition_refresh_interval``: without a group, look for new partitions; in a
        group, when nothing arrived since the last probe, check the cluster answers. While it
        does not, retry with backoff; give up after ``unreachable_timeout`` (if set)."""
        idle, self._fetched_since_probe = not self._fetched_since_probe, False
        try:
            if self.group is None:
                await self._positions.assign_new(consumer)
            elif idle:
                await consumer.partitions_for(self.topics)
        except BrokerUnavailableError as exc:
            now = time.monotonic()
            self._probe_failures += 1
            if self._unreachable_since is None:
                self._unreachable_since = now
                log.warning("%s; retrying", exc)
            down = now - self._unreachable_since
            if self._unreachable_timeout is not None and down >= self._unreachable_timeout:
                raise BrokerUnavailableError(
                    f"cannot reach Kafka at {self.connection.bootstrap_servers}: "
                    f"no answer for {down:.0f}s (unreachable_timeout={self._unreachable_timeout:g})"
                ) from None
            self._next_probe = now + backoff(self._probe_failures, base=0.5, cap=self._refresh_interval)
            return
        if self._unreachable_since is not None:
            self._reachable_again()
        self._next_probe = time.monotonic() + self._refresh_interval

    def _reachable_again(self) -> None:
        log.warning("Kafka at %s answers again", self.connection.bootstrap_servers)
        self._unreachable_since = None
        self._probe_failures = 0

    def _limit_unacked(self) -> None:
        """Pause partitions with ``max_unacked`` messages waiting for acks; resume the others."""
        flow = self._flow
        assert flow is not None
        full = self._progress.unacked_partitions(self._max_unacked)
        held = flow.held("unacked")
        for tp in full - held:
            flow.hold(tp, "unacked")
        for tp in held - full:
            flow.release(tp, "unacked")

    def _running(self) -> ConsumerPort:
        if self._consumer is None:
            state = "closed" if self._closed else "not open; use `async with consume(...)` or `async for`"
            raise StreamlineError(f"the stream is {state}")
        return self._consumer

    # -- rebalances ------------------------------------------------------------------------

    def _busy(self, partitions: set[Key]) -> bool:
        """True while a message of ``partitions`` is handed out and not processed."""
        msg = self._pending
        if msg is not None and (msg.topic, msg.partition) in partitions:
            return True
        batch = self._pending_batch
        if batch is not None and (batch[0].topic, batch[0].partition) in partitions:
            return True
        if self._progress.busy(partitions):
            return True
        return self._workers is not None and self._workers.busy(partitions)

    async def _release(self, partitions: set[Key]) -> None:
        """Stop handing out ``partitions`` and wait (bounded) for their in-flight messages."""
        if not partitions:
            return
        self._revoking |= partitions
        # Fetched messages not handed out yet belong to the next owner.
        first_dropped: dict[Key, int] = {}
        kept: deque[list[Message]] = deque()
        rest = [self._buffer[self._index :]] if self._index < len(self._buffer) else []
        for chunk in rest + list(self._chunks):
            tp = (chunk[0].topic, chunk[0].partition)
            if tp in partitions:
                first_dropped.setdefault(tp, chunk[0].offset)
            else:
                kept.append(chunk)
        self._buffer, self._index = [], 0
        self._chunks, self._chunked = kept, sum(len(c) for c in kept)
        for tp, offset in first_dropped.items():
            self._progress.withdraw(tp, offset)
        workers = self._workers
        if workers is not None:
            workers.stop(partitions)
        if not await self._progress.settle(lambda: self._busy(partitions), self._revoke_timeout):
            log.warning(
                "%s: messages of %s still in flight after %gs; they go to the next owner",
                self.group, describe_keys(partitions), self._revoke_timeout,
            )
        if workers is not None:
            await workers.cancel_stragglers(partitions)

    async def _on_revoked(self, revoked: set[Key]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        self._revocations += 1
        try:
            await self._release(revoked)
            await self._commit(consumer, only=revoked)
        finally:
            self._revoking -= revoked
        self._progress.forget(revoked)
        for tp in revoked:
            self._fetched.pop(tp, None)
        if self._flow is not None:
            self._flow.forget(revoked)
        msg = self._pending
        if msg is not None and (msg.topic, msg.partition) in revoked:
            self._pending = None
        batch = self._pending_batch
        if batch is not None and (batch[0].topic, batch[0].partition) in revoked:
            self._pending_batch = None

    async def _on_assigned(self, assigned: set[Key]) -> None:
        self._assignments += 1
        consumer = self._consumer
        if consumer is not None:
            await self._positions.on_assigned(consumer, assigned)


_value_size = attrgetter("serialized_value_size")


#: "No value decoded" in the inlined decode of :meth:`MessageStream._typed_messages`.
_NULL: Any = object()


def _decoded(chunk: list[Message]) -> bool:
    """True when the stream's codecs decoded ``chunk`` already (decoding keeps the bytes)."""
    kept = vars(chunk[0])
    return "_raw_value" in kept or "_raw_key" in kept


class _Rebalance:
    """The stream's :class:`.port.RebalanceListener`."""

    __slots__ = ("_stream",)

    def __init__(self, stream: MessageStream[Any, Any]) -> None:
        self._stream = stream

    async def on_revoked(self, partitions: set[Key]) -> None:
        await self._stream._on_revoked(partitions)

    async def on_assigned(self, partitions: set[Key]) -> None:
        await self._stream._on_assigned(partitions)
