"""Stages: a user's function applied to every value of a batch, with its error policy."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeAlias, TypeVar, Union

import anyio
import anyio.to_thread

from .. import _metrics
from .._backoff import backoff
from .._errors import ConfigurationError
from .batch import Batch, NoOrigin
from .errors import OnError, StageError, describe, original_bytes
from .stats import PipelineStats

In = TypeVar("In")
Out = TypeVar("Out")

#: What a stage function may return for one value: a value, ``None`` (drop it) or a list (fan out).
# typing.Union: subscripting a ``X | Y`` alias that holds type variables needs Python 3.11.
StageResult: TypeAlias = Union[Out, list[Out], None]  # noqa: UP007
#: A stage function: ``def`` or ``async def`` of one value (or of the batch's list with ``batch=True``).
StageFunction: TypeAlias = Union[  # noqa: UP007
    Callable[[In], StageResult[Out]], Callable[[In], Awaitable[StageResult[Out]]]
]


class DeadLetter:
    """Where values that keep failing go: a topic, written with ``acks="all"``.

    The record carries the original bytes and headers ``streamline.error``,
    ``streamline.stage`` and the origin (``streamline.origin.file``/``.offset`` or
    ``streamline.origin.topic``/``.partition``/``.offset``).
    """

    #: Backoff while Kafka refuses the dead letter (it waits, never drops): base and cap, seconds.
    retry_backoff = 0.1
    max_retry_backoff = 5.0

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic

    async def send(self, value: Any, headers: list[tuple[str, bytes]]) -> None:
        from .._errors import DeliveryError

        attempt = 0
        while True:
            try:
                await self.producer.send(self.topic, original_bytes(value), headers=headers)
                return
            except DeliveryError as exc:
                if not getattr(exc, "retriable", False):
                    raise
                attempt += 1
                await anyio.sleep(backoff(attempt, base=self.retry_backoff, cap=self.max_retry_backoff))
                _metrics.record_delivery_retry(self.topic)


class Stage(Generic[In, Out]):
    """A function applied to each value: return a value, ``None`` to drop it (it is acknowledged),
    or a list to fan out. ``batch=True`` passes the whole list of values instead.

    A plain (``def``) function runs off the event loop, in a worker thread, once per batch
    (``thread=True``, the default for synchronous functions): a CPU-heavy stage cannot starve
    the consumer's heartbeats and fetches. The hop costs tens to hundreds of microseconds per batch (more on a loaded machine): pass
    ``thread=False`` for trivial functions on tiny batches, or for functions that must run on
    the event loop's thread. ``async def`` functions always run on the loop.

    Typed by its function: ``Stage(parse)`` with ``def parse(line: bytes) -> dict | None`` is a
    ``Stage[bytes, dict]``.

    >>> Stage(parse_line, name="parse", on_error=OnError(retries=2, then="skip"))  # doctest: +SKIP
    """

    fn: StageFunction[In, Out]

    def __init__(
        self,
        fn: StageFunction[In, Out],
        *,
        name: str | None = None,
        on_error: OnError | None = None,
        batch: bool = False,
        thread: bool | None = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"a stage must be callable (got {type(fn).__name__})")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__)
        self.on_error = on_error or OnError()
        self.batch = batch
        # Decided once: ``async def`` (or an object with ``async def __call__``) is awaited;
        # a plain function's result is used as it is.
        self._is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 -- the method itself, not callability
        )
        if thread and self._is_async:
            raise ConfigurationError(f"stage {self.name!r} is async: it runs on the event loop, not in a thread")
        #: A synchronous function runs in a worker thread, once per batch.
        self.thread = not self._is_async if thread is None else bool(thread)

    def __repr__(self) -> str:
        return f"Stage({self.name!r})"

    async def _call(self, value: Any) -> Any:
        if self.thread:
            return await anyio.to_thread.run_sync(self.fn, value)
        result: Any = self.fn(value)
        return await result if self._is_async else result

    async def _retry(self, value: Any, first_error: Exception) -> tuple[bool, Any, Exception]:
        """After a failure: retry with backoff; (ok, result, last error)."""
        error = first_error
        for attempt in range(1, self.on_error.retries + 1):
            await anyio.sleep(self.on_error.delay(attempt))
            try:
                return True, await self._call(value), error
            except Exception as exc:
                error = exc
        return False, None, error

    async def process(
        self, batch: Batch, stats: PipelineStats, dead_letter: DeadLetter | None
    ) -> Batch:
        """Apply the stage to a batch; returns the output batch (same acknowledgement)."""
        if self.batch:
            return await self._process_whole(batch, stats, dead_letter)
        if self.thread:
            return await self._process_in_thread(batch, stats, dead_letter)
        fn: Any = self.fn  # per value: the result is awaited only when the function is async
        is_async = self._is_async
        out: list[Any] = []
        index: list[int] = []
        source_index = batch.index
        for position, value in enumerate(batch.values):
            try:  # the common case: one direct call, no extra coroutine per value
                result = fn(value)
                if is_async:
                    result = await result
            except Exception as exc:
                ok, result, error = await self._retry(value, exc)
                if not ok:
                    await self._fail(batch, position, value, error, stats, dead_letter)
                    continue
            origin = source_index[position] if source_index is not None else position
            if result is None:
                stats.dropped += 1
            elif isinstance(result, list):
                out.extend(result)
                index.extend([origin] * len(result))
            else:
                out.append(result)
                index.append(origin)
        return Batch(out, batch.token, batch.origin, index, batch.size)

    async def _process_in_thread(
        self, batch: Batch, stats: PipelineStats, dead_letter: DeadLetter | None
    ) -> Batch:
        """One thread hop applies the function to the batch; a failing value is retried (in the
        thread too) and handled by the policy before the values after it are called, as on the loop."""
        values = batch.values
        out: list[Any] = []
        index: list[int] = []
        source_index = batch.index

        def emit(position: int, result: Any) -> None:
            origin = source_index[position] if source_index is not None else position
            if result is None:
                stats.dropped += 1
            elif isinstance(result, list):
                out.extend(result)
                index.extend([origin] * len(result))
            else:
                out.append(result)
                index.append(origin)

        start = 0
        while start < len(values):
            results, error = await anyio.to_thread.run_sync(self._apply_from, values, start)
            for offset, result in enumerate(results):
                emit(start + offset, result)
            if error is None:
                break
            position = start + len(results)
            ok, result, error = await self._retry(values[position], error)
            if ok:
                emit(position, result)
            else:
                await self._fail(batch, position, values[position], error, stats, dead_letter)
            start = position + 1
        return Batch(out, batch.token, batch.origin, index, batch.size)

    def _apply_from(self, values: list[Any], start: int) -> tuple[list[Any], Exception | None]:
        """In the worker thread: results for ``values[start:]`` up to the first failure."""
        fn: Any = self.fn
        results: list[Any] = []
        append = results.append
        try:
            for position in range(start, len(values)):
                append(fn(values[position]))
        except Exception as exc:
            return results, exc
        return results, None

    async def _process_whole(self, batch: Batch, stats: PipelineStats, dead_letter: DeadLetter | None) -> Batch:
        try:
            result = await self._call(batch.values)
        except Exception as exc:
            ok, result, error = await self._retry(batch.values, exc)
            if not ok:
                for position, value in enumerate(batch.values):
                    await self._fail(batch, position, value, error, stats, dead_letter)
                return Batch([], batch.token, batch.origin, [], batch.size)
        values = list(result) if result is not None else []
        if len(values) == len(batch.values):
            return Batch(values, batch.token, batch.origin, batch.index, batch.size)
        # Values were added or removed as a whole: which output came from which input is unknown.
        return Batch(values, batch.token, NoOrigin(), None, batch.size)

    async def _fail(
        self,
        batch: Batch,
        position: int,
        value: Any,
        error: BaseException,
        stats: PipelineStats,
        dead_letter: DeadLetter | None,
    ) -> None:
        origin = batch.origin_headers(position)
        where = ", ".join(f"{k.rsplit('.', 1)[-1]}={v.decode(errors='replace')}" for k, v in origin)
        policy = self.on_error
        if policy.then == "skip":
            stats.skipped += 1
            return
        if policy.then == "dead_letter" and dead_letter is not None:
            headers = [
                ("streamline.error", describe(error).encode("utf-8", "replace")),
                ("streamline.stage", str(self.name).encode()),
                *origin,
            ]
            original = batch.original(position)  # a typed source: the bytes it was decoded from
            await dead_letter.send(value if original is None else original, headers)
            stats.dead_lettered += 1
            return
        raise StageError(
            f"stage {self.name!r} failed after {policy.retries + 1} attempt(s) on the value at "
            f"{where or 'an unknown origin'}: {describe(error)}"
        )


def as_stage(obj: Stage[Any, Any] | StageFunction[Any, Any]) -> Stage[Any, Any]:
    """A :class:`Stage` as is, or a plain function wrapped in one."""
    return obj if isinstance(obj, Stage) else Stage(obj)
