"""The runner: source → stages → sinks over bounded channels, with end-to-end acknowledgements.

Every task belongs to a task group. Batches (not single values) cross the channels, so the cost
of a channel hop is paid once per ~1 MiB of input. Without stages there is no channel: the source
feeds the sinks in one task, and the sinks' back-pressure holds up reading directly. A batch is
acknowledged to its origin only after every sink delivered every value it led to.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import anyio
from anyio.abc import TaskGroup

from .. import _metrics
from .._alarm import Alarm
from .._backoff import backoff
from .._cleanup import finish
from .._errors import ConfigurationError, StreamlineError
from .._metrics import tracing as _tracing
from .._validation import check_number
from .batch import AckToken, Batch, FileOrigin
from .sinks import Sink, SinkLike, as_sink
from .sources import PipelineSource, Source
from .stages import DeadLetter, Stage, StageFunction, as_stage
from .stats import PipelineStats

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

log = logging.getLogger("streamline.pipeline")


class PipelineError(StreamlineError):
    """The pipeline could not finish cleanly (e.g. the grace period ran out while draining)."""


class Pipeline:
    """Wire a source, stages and sinks; ``await pipeline.run()``.

    >>> async with Producer() as producer:  # doctest: +SKIP
    ...     pipeline = Pipeline(
    ...         follow("access.log", checkpoints=".streamline/checkpoints"),
    ...         parse,                                 # def/async def: value -> value | None | list
    ...         to=to_topic(producer, "access-json"),  # or a list of sinks: fan out
    ...     )
    ...     await pipeline.run()

    ``capacity`` batches wait between two stages; ``max_in_flight`` batches may be submitted
    and not yet acknowledged. :meth:`stop` drains within ``grace`` seconds. ``on_tick(pipeline)``
    runs every ``tick_interval`` seconds; in a quiet spell (nothing read or delivered since the
    last tick, nothing in flight) every ``quiet_tick_interval`` (default: the same; ``math.inf``:
    not until values move again, so an idle pipeline does not wake up).
    """

    def __init__(
        self,
        source: PipelineSource,
        *stages: Stage[Any, Any] | StageFunction[Any, Any],
        to: SinkLike | Sequence[SinkLike],
        dead_letter: DeadLetter | None = None,
        capacity: int = 4,
        max_in_flight: int = 16,
        grace: float = 30.0,
        retry_backoff: float = 0.2,
        max_retry_backoff: float = 5.0,
        on_tick: Callable[[Pipeline], Any] | None = None,
        tick_interval: float = 1.0,
        quiet_tick_interval: float | None = None,
    ) -> None:
        check_number("capacity", capacity, minimum=1, integer=True)
        check_number("max_in_flight", max_in_flight, minimum=1, integer=True)
        check_number("grace", grace, above=0)
        check_number("retry_backoff", retry_backoff, above=0)
        check_number("max_retry_backoff", max_retry_backoff, minimum=retry_backoff)
        check_number("tick_interval", tick_interval, above=0)
        check_number("quiet_tick_interval", quiet_tick_interval, above=0, allow_none=True)
        self.source = Source(source)
        self.stages: list[Stage[Any, Any]] = [as_stage(s) for s in stages]
        sinks: Sequence[SinkLike] = to if isinstance(to, (list, tuple)) else [to]  # type: ignore[list-item]
        if not sinks:
            raise ConfigurationError("a pipeline needs at least one sink")
        self.sinks: list[Sink] = [as_sink(s) for s in sinks]
        for stage in self.stages:
            if stage.on_error.then == "dead_letter" and dead_letter is None:
                if stage.on_error.dead_letter_topic is None:
                    raise ConfigurationError(f"stage {stage.name!r} dead-letters but no topic is set")
        self.dead_letter = dead_letter
        self.capacity = capacity
        self.max_in_flight = max_in_flight
        self.grace = grace
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.on_tick = on_tick
        self.tick_interval = tick_interval
        self.quiet_tick_interval = tick_interval if quiet_tick_interval is None else quiet_tick_interval
        self.stats = PipelineStats()
        self._source_scope: anyio.CancelScope | None = None
        self._root: TaskGroup | None = None
        self._drain_scope: anyio.CancelScope | None = None
        self._stopping = False
        self._stop_requested = False
        self._submitting = False  # the source feeds the sinks directly and a batch is being submitted
        self._alarm = Alarm()  # the ticker's wait: acknowledgements and the end of a quiet spell end it
        self._next_tick = math.inf
        self._quiet = False  # the last tick saw nothing move: the next value read wakes the ticker

    # -- control -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Graceful stop: the source stops, in-flight batches drain (within ``grace``), origins
        are acknowledged, checkpoints and commits saved. Safe to call from a signal handler."""
        self._stop_requested = True
        if self._stopping:
            return
        self._stopping = True
        if self._source_scope is not None and not self._submitting:  # see _feed
            self._source_scope.cancel()
        if self._drain_scope is not None:
            self._drain_scope.deadline = anyio.current_time() + self.grace

    def abort(self) -> None:
        """Stop now: cancel every task; unacknowledged data is read again next time."""
        self._stop_requested = True
        if self._root is not None:
            self._root.cancel_scope.cancel()

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> PipelineStats:
        """Run until the source ends (or :meth:`stop`); return the final counters.

        A failure raises that one exception (e.g. :class:`StageError`), not an exception group.
        """
        try:
            return await self._run()
        except BaseExceptionGroup as group:
            raise _single(group) from None

    async def _run(self) -> PipelineStats:
        self.stats = PipelineStats()
        _metrics.track(self)
        dead_letter = self._dead_letter_writer()
        async with self.source.opened():
            async with anyio.create_task_group() as root:
                self._root = root
                root.start_soon(self._ticker)
                try:
                    with anyio.CancelScope() as drain:
                        self._drain_scope = drain
                        if self._stopping:
                            drain.deadline = anyio.current_time() + self.grace
                        if not self.stages:
                            # Nothing in between: the source feeds the sinks in one task, with
                            # no channel hop (a task switch and an event-loop trip per batch).
                            await self._run_sinks(None)
                        else:
                            async with anyio.create_task_group() as tg:
                                send, receive = anyio.create_memory_object_stream[Batch](self.capacity)
                                tg.start_soon(self._pump, send)
                                for stage in self.stages:
                                    next_send, next_receive = anyio.create_memory_object_stream[Batch](self.capacity)
                                    tg.start_soon(self._run_stage, stage, receive, next_send, dead_letter)
                                    receive = next_receive
                                tg.start_soon(self._run_sinks, receive)
                    if drain.cancelled_caught:
                        raise PipelineError(
                            f"stopped after the {self.grace:g}s grace period with "
                            f"{self.stats.in_flight} batch(es) undelivered; they will be read again"
                        )
                finally:
                    root.cancel_scope.cancel()
            # Saving checkpoints of what was acknowledged must finish, even under task.cancel().
            await finish(self._tick())
        return self.stats

    def _dead_letter_writer(self) -> DeadLetter | _PerStageDeadLetter | None:
        if self.dead_letter is not None:
            return self.dead_letter
        for stage in self.stages:
            if stage.on_error.then == "dead_letter":
                producer = next((getattr(s, "producer", None) for s in self.sinks if hasattr(s, "producer")), None)
                if producer is None:
                    raise ConfigurationError("dead-lettering needs a topic sink or dead_letter=DeadLetter(producer, topic)")
                return _PerStageDeadLetter(producer)
        return None

    async def _pump(self, send: Any) -> None:
        async with send:
            with anyio.CancelScope() as scope:
                self._source_scope = scope
                if self._stopping:
                    return
                async for batch in self.source.batches():
                    self._count(batch)
                    try:  # room in the channel: no trip through the event loop
                        send.send_nowait(batch)
                    except anyio.WouldBlock:
                        await send.send(batch)

    async def _run_stage(self, stage: Stage[Any, Any], receive: Any, send: Any, dead_letter: Any) -> None:
        async with receive, send:
            async for batch in receive:
                writer = dead_letter.for_stage(stage) if isinstance(dead_letter, _PerStageDeadLetter) else dead_letter
                if batch.trace is None:
                    await send.send(await stage.process(batch, self.stats, writer))
                    continue
                with _tracing.stage_span(batch.trace, stage.name):
                    out = await stage.process(batch, self.stats, writer)
                out.trace = batch.trace
                await send.send(out)

    def _count(self, batch: Batch) -> None:
        stats = self.stats
        stats.batches += 1
        stats.items += len(batch.values)
        stats.bytes += batch.size
        if self._quiet:  # the first batch after a quiet spell: ticks resume
            self._quiet = False
            self._next_tick = min(self._next_tick, anyio.current_time() + self.tick_interval)
            self._alarm.bring_forward(self._next_tick)

    async def _run_sinks(self, receive: Any | None) -> None:
        """Submit every batch to every sink; ``receive`` is the channel from the last stage, or
        ``None`` to read the source here (direct hand-off). Returns once every delivery settled."""
        watching = _Watching()
        try:
            async with anyio.create_task_group() as deliveries:
                submit = _Submission(self, deliveries, watching)
                if receive is None:
                    await self._feed(submit)
                else:
                    async with receive:
                        await self._take_from(receive, submit)
                await watching.wait()  # deliveries watched by callbacks are in flight too
        finally:
            watching.closed = True

    async def _feed(self, submit: _Submission) -> None:
        """Direct hand-off: read a batch, submit it, read the next. The sinks' back-pressure (a
        submit waiting for buffer space, the in-flight limit) holds up reading, as a full
        channel would. :meth:`stop` cancels only the wait for the next batch (a scope cancelled
        while this task waits in the source): a batch read is always submitted, also one the
        source handed out after stop() (called while it ran: a signal handler, the source)."""
        batches = self.source.batches()
        late: Batch | None = None  # handed out after stop(): submitted outside the cancelled scope
        try:
            with anyio.CancelScope() as scope:
                self._source_scope = scope
                while not self._stopping:
                    batch = await anext(batches, None)
                    if batch is None:
                        return
                    self._submitting = True
                    if scope.cancel_called:
                        late = batch
                        break
                    try:
                        self._count(batch)
                        await submit(batch)
                    finally:
                        self._submitting = False
            if late is not None:
                self._count(late)
                await submit(late)
        finally:
            self._submitting = False
            self._source_scope = None
            await batches.aclose()

    async def _take_from(self, receive: Any, submit: _Submission) -> None:
        """Submit the batches of the channel from the last stage until it is closed."""
        held: Batch | None = None  # taken from the channel, not mergeable with the one before
        while True:
            if held is not None:
                batch, held = held, None
            else:
                try:  # a batch already waiting is taken without a trip through the event loop
                    batch = receive.receive_nowait()
                except anyio.WouldBlock:
                    try:
                        batch = await receive.receive()
                    except anyio.EndOfStream:
                        return
                except anyio.EndOfStream:
                    return
            if batch.values:
                # Small batches that queued up while the sinks were busy go out as one.
                batch, held = merge_waiting(batch, receive)
            await submit(batch)

    def _answered(
        self, deliveries: TaskGroup, watching: _Watching, sink: Any, batch: Batch, pending: Any,
        limiter: anyio.Semaphore, remaining: list[int], failed: bool,
    ) -> None:
        """Every producer batch of a watched delivery has its answer (callback, in the loop)."""
        if not failed:
            self._delivered(batch, limiter, remaining)
        elif not watching.closed:  # the task retries what failed, as for any failed delivery
            deliveries.start_soon(self._await_delivery, sink, batch, pending, limiter, remaining)
        # else: the pipeline stopped (cancelled); the batch stays unacknowledged, read again

    async def _retrying(
        self, sink: Any, operation: Callable[[], Awaitable[Any]], failed: StreamlineError | None = None
    ) -> Any:
        """Run ``operation`` until it succeeds, backing off after each retriable error
        (``failed``: the first attempt, made by the caller, raised this retriable error)."""
        attempt = 0
        while True:
            if failed is not None:
                attempt += 1
                self.stats.delivery_retries += 1
                if self.stats.retrying_since is None:
                    self.stats.retrying_since = anyio.current_time()
                self.stats.last_error = str(failed)
                await self._backoff(attempt, sink, failed)
                failed = None
            try:
                result = await operation()
            except StreamlineError as exc:
                if not exc.retriable:
                    raise
                failed = exc
            else:
                if attempt:
                    self.stats.retrying_since = None
                    self.stats.last_error = None
                return result

    async def _await_delivery(
        self, sink: Any, batch: Batch, pending: Awaitable[Any], limiter: anyio.Semaphore, remaining: list[int]
    ) -> None:
        current: Awaitable[Any] = pending
        failure: BaseException | None = None

        async def delivered() -> None:
            nonlocal current, failure
            if failure is not None:  # the last attempt failed: send again what did not land
                resubmit = getattr(current, "resubmit", None)
                current = await resubmit(failure) if resubmit is not None else await sink.submit(batch)
                failure = None
            try:
                await current
            except StreamlineError as exc:
                failure = exc
                raise

        await self._retrying(sink, delivered)
        self._delivered(batch, limiter, remaining)

    def _delivered(self, batch: Batch, limiter: anyio.Semaphore, remaining: list[int]) -> None:
        """One sink delivered ``batch``: acknowledge it once every sink has."""
        batch.token.release()
        remaining[0] -= 1
        if remaining[0] == 0:
            self.stats.in_flight -= 1
            self.stats.delivered += len(batch.values)
            if batch.token.done:
                self.stats.acknowledged_batches += 1
            limiter.release()
            if batch.trace is not None:
                batch.trace.end()

    async def _backoff(self, attempt: int, sink: Any, exc: BaseException) -> None:
        delay = backoff(attempt, base=self.retry_backoff, cap=self.max_retry_backoff)
        if attempt == 1 or math.log2(attempt).is_integer():
            log.warning("delivery to %s failed (%s); retrying every %.1fs until it succeeds", sink.name, exc, delay)
        await anyio.sleep(delay)

    def _acknowledge(self, batch: Batch) -> None:
        batch.token.release()
        if batch.token.done:
            self.stats.acknowledged_batches += 1
        if batch.trace is not None:
            batch.trace.end()

    async def _ticker(self) -> None:
        """Save checkpoints when due and call ``on_tick``, waking only when there is work: a
        save is due ``flush_interval`` after an acknowledgement (the store tells the alarm, so
        a crash repeats at most about one interval of lines), a tick comes every
        ``tick_interval`` while values move and every ``quiet_tick_interval`` when they do not."""
        checkpoints = self.source.checkpoints
        stop_listening = None if checkpoints is None else checkpoints.on_acknowledged(self._alarm.bring_forward)
        self._quiet = False
        # Without on_tick there is nothing to tick for: the ticker only saves checkpoints.
        self._next_tick = math.inf if self.on_tick is None else anyio.current_time() + self.tick_interval
        seen = (-1, -1)  # (items, delivered) at the last tick: the first tick counts as moving
        retry_at = -math.inf  # a save that raised is tried again an interval later, not at once
        try:
            while True:
                save_at = _save_due_at(checkpoints, retry_at)
                await self._alarm.wait_until(min(save_at, self._next_tick))
                now = anyio.current_time()
                if checkpoints is not None and _save_due_at(checkpoints, retry_at) <= now:
                    await self._save_checkpoints()
                    if _save_due_at(checkpoints, retry_at) <= now:
                        retry_at = now + checkpoints.flush_interval
                if now >= self._next_tick:
                    stats = self.stats
                    moved = (stats.items, stats.delivered) != seen or stats.in_flight or stats.retrying_since is not None
                    seen = (stats.items, stats.delivered)
                    await self._call_on_tick()
                    interval = self.tick_interval if moved else self.quiet_tick_interval
                    self._quiet = not moved
                    self._next_tick += interval
                    if self._next_tick <= now:  # fell behind (a blocked loop): no burst of ticks
                        self._next_tick = now + interval
        finally:
            self._quiet = False
            if stop_listening is not None:
                stop_listening()

    async def _tick(self) -> None:
        await self._save_checkpoints()
        await self._call_on_tick()

    async def _save_checkpoints(self) -> None:
        checkpoints = self.source.checkpoints
        if checkpoints is not None:
            try:
                await checkpoints.flush_if_due()
            except Exception as exc:
                log.warning("saving checkpoints failed: %s", exc)

    async def _call_on_tick(self) -> None:
        if self.on_tick is not None:
            result = self.on_tick(self)
            if hasattr(result, "__await__"):
                await result


class _Submission:
    """Hands one batch to every sink (``await submit(batch)``): waits for a free in-flight slot,
    then for each sink's ``submit`` (its wait for buffer space is the back-pressure), and settles
    each delivery by callbacks on its answers, or by a task when there are none or one failed."""

    __slots__ = ("_deliveries", "_limiter", "_pipeline", "_watching")

    def __init__(self, pipeline: Pipeline, deliveries: TaskGroup, watching: _Watching) -> None:
        self._pipeline = pipeline
        self._deliveries = deliveries
        self._watching = watching
        self._limiter = anyio.Semaphore(pipeline.max_in_flight)

    async def __call__(self, batch: Batch) -> None:
        pipeline = self._pipeline
        if not batch.values:
            pipeline._acknowledge(batch)
            return
        limiter = self._limiter
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            await limiter.acquire()
        pipeline.stats.in_flight += 1
        sinks = pipeline.sinks
        if len(sinks) > 1:
            batch.token.retain(len(sinks) - 1)
        remaining = [len(sinks)]
        if batch.trace is None:
            for sink in sinks:
                await self._submit(sink, batch, remaining)
            return
        with _tracing.current(batch.trace):  # a sink's send span is a child of the batch's
            for sink in sinks:
                await self._submit(sink, batch, remaining)

    async def _submit(self, sink: Sink, batch: Batch, remaining: list[int]) -> None:
        pipeline = self._pipeline
        try:  # the common case first: no retry loop (and no coroutine for it) per batch
            pending = await sink.submit(batch)
        except StreamlineError as exc:
            if not exc.retriable:
                raise
            pending = await pipeline._retrying(sink, partial(sink.submit, batch), failed=exc)
        limiter = self._limiter
        when_answered = getattr(pending, "when_answered", None)
        if when_answered is not None:
            # Without a task per batch: told when every answer came, the delivery is finished
            # if it succeeded; one that failed gets the task (and its retries) as below.
            done = partial(pipeline._answered, self._deliveries, self._watching, sink, batch, pending, limiter, remaining)
            if self._watching.watch(when_answered, done):
                return
        self._deliveries.start_soon(pipeline._await_delivery, sink, batch, pending, limiter, remaining)


class _Watching:
    """Deliveries finished when their sink says every answer came (``when_answered``, no task
    each): how many are still unanswered, so the sinks' loop can wait for them at the end like
    for its tasks."""

    __slots__ = ("_idle", "closed", "count")

    def __init__(self) -> None:
        self.count = 0
        self.closed = False  # the sinks' loop is gone: a failed answer starts no task
        self._idle: anyio.Event | None = None

    def watch(self, when_answered: Callable[[Callable[[bool], None]], bool], done: Callable[[bool], None]) -> bool:
        """Have ``done(failed)`` called once the delivery was answered (``when_answered(listener)``
        calls the listener then, at once if it has been); False if the delivery cannot tell
        (then nothing is called: await it)."""
        self.count += 1

        def answered(failed: bool) -> None:
            self.count -= 1
            try:
                done(failed)
            finally:
                if self.count == 0 and self._idle is not None:
                    self._idle.set()

        if when_answered(answered):
            return True
        self.count -= 1
        return False

    async def wait(self) -> None:
        """Until every watched delivery was answered."""
        while self.count:
            self._idle = anyio.Event()
            await self._idle.wait()
        self._idle = None


def _save_due_at(checkpoints: Any, not_before: float) -> float:
    """When the ticker next saves ``checkpoints`` (``math.inf``: nothing waits to be saved).
    Checkpoints count in ``time.monotonic()``, the ticker in ``anyio.current_time()``: on
    asyncio (the only backend streamline runs on) both are the loop's monotonic clock."""
    due = None if checkpoints is None else checkpoints.save_due_at
    return math.inf if due is None else max(due, not_before)


#: Queued batches are merged into one submission up to this many values (larger ones, e.g. the
#: ~8,000 lines of one 1 MiB read, are sent as they are: merging would only copy them).
MERGE_MAX_VALUES = 4096
#: ... and up to this many bytes (at the origin), so a merged batch holds no more than one read
#: of a file would: what is in flight stays bounded as before.
MERGE_MAX_BYTES = 256 * 1024


def merge_waiting(batch: Batch, receive: Any) -> tuple[Batch, Batch | None]:
    """``batch`` merged with the small batches waiting behind it in the channel, and the first
    waiting batch that could not be merged (``None`` if none was taken).

    Only lines of the same file merge (what a key template reads from ``batch.origin`` stays
    true), in their order; the merged batch acknowledges every original one when delivered.
    While the producer is busy (an ``acks=all`` round trip, aiokafka's one queued batch per
    partition), the few lines read meanwhile then cost one submission, not one each: adaptive
    batching, with nothing added to the latency of a line that finds the sinks idle.
    """
    if len(batch.values) >= MERGE_MAX_VALUES or batch.size >= MERGE_MAX_BYTES or not _mergeable_origin(batch):
        return batch, None
    merged: list[Batch] = [batch]
    count, size = len(batch.values), batch.size
    held: Batch | None = None
    while count < MERGE_MAX_VALUES:
        try:
            waiting = receive.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
        if (
            not waiting.values
            or count + len(waiting.values) > MERGE_MAX_VALUES
            or size + waiting.size > MERGE_MAX_BYTES
            or type(waiting.origin) is not type(batch.origin)
            or waiting.origin.path != batch.origin.path  # type: ignore[attr-defined]
            or waiting.index is not None
        ):
            held = waiting
            break
        merged.append(waiting)
        count += len(waiting.values)
        size += waiting.size
    if len(merged) == 1:
        return batch, held
    tokens = [b.token for b in merged]

    def acknowledge_all() -> None:
        for token in tokens:
            token.release()

    values = [value for b in merged for value in b.values]
    return Batch(values, AckToken(acknowledge_all), batch.origin, None, sum(b.size for b in merged)), held


def _mergeable_origin(batch: Batch) -> bool:
    return batch.index is None and isinstance(batch.origin, FileOrigin)


def _single(group: BaseExceptionGroup) -> BaseException:
    """The one meaningful error inside (nested) task-group exception groups."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    meaningful = [e for e in leaves if not isinstance(e, anyio.get_cancelled_exc_class())]
    return (meaningful or leaves)[0]


class _PerStageDeadLetter:
    """Dead letters to each stage's own ``dead_letter_topic`` through the sink's producer."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self._writers: dict[str, DeadLetter] = {}

    def for_stage(self, stage: Stage[Any, Any]) -> DeadLetter | None:
        topic = stage.on_error.dead_letter_topic
        if topic is None:
            return None
        if topic not in self._writers:
            self._writers[topic] = DeadLetter(self.producer, topic)
        return self._writers[topic]
