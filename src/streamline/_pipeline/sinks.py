"""Sinks: where batches end. A Kafka topic through a :class:`~streamline.Producer`, or any
async callable."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, Union, cast, runtime_checkable

from .. import _metrics
from .._errors import ConfigurationError, StreamlineError
from .._models import Message, Record
from .batch import Batch


@runtime_checkable
class Sink(Protocol):
    """Takes a batch; returns an awaitable that completes when the batch is durably delivered.

    ``submit`` may wait (that is backpressure); the returned awaitable raising an exception with
    ``retriable = True`` makes the pipeline submit the batch again after a backoff.

    >>> class Printer:  # doctest: +SKIP
    ...     name = "printer"
    ...     async def submit(self, batch: Batch) -> Awaitable[None]:
    ...         print(batch.values)
    ...         return asyncio.sleep(0)
    """

    name: str

    async def submit(self, batch: Batch) -> Awaitable[Any]: ...


#: What ``Pipeline(to=...)`` takes: a :class:`Sink`, or a function (``def`` or ``async def``)
#: called with each batch's list of values (wrapped in :class:`CallableSink`).
SinkLike: TypeAlias = Union[Sink, Callable[[list[Any]], object]]  # noqa: UP007


class TopicSink:
    """Produce every value to ``topic``; delivered means acknowledged by the broker (the
    producer's ``acks``, ``"all"`` by default).

    Values may be bytes, str, ``(key, value)`` pairs, :class:`Record` or :class:`Message`
    (re-produced with its key and headers, as read), or typed values encoded by ``value=`` (a
    type or :class:`~streamline.Codec`, as for :func:`consume`; ``key_codec=`` for keys) or
    else by the producer's codec. ``key`` computes a key from each value; ``where``
    keeps only the values this sink wants (for routing when several sinks fan out).

    >>> to_topic(producer, "access-json", key=lambda v: v.split(b" ", 1)[0])  # doctest: +SKIP
    """

    def __init__(
        self,
        producer: Any,
        topic: str,
        *,
        key: Callable[[Any], Any] | None = None,
        where: Callable[[Any], bool] | None = None,
        items: Callable[[Batch], list[Any]] | None = None,
        value: Any = None,
        key_codec: Any = None,
    ) -> None:
        from .._codecs import as_codec
        from .._validation import check_topic

        self.producer = producer
        self.topic = check_topic(topic)
        # The sink's own codecs, when given; otherwise the producer's.
        self._codecs: dict[str, Any] = {}
        if value is not None:
            self._codecs["codec"] = as_codec(value, "value")
        if key_codec is not None:
            self._codecs["key_codec"] = as_codec(key_codec, "key_codec")
        self.name = f"topic:{topic}"
        self._key = key
        self._where = where
        self._items = items
        self._failed = False  # the last submit raised: the pipeline's next one sends again

    def _prepare(self, batch: Batch) -> list[Any]:
        if self._items is not None:
            return self._items(batch)
        values = batch.values
        if self._where is not None:
            values = [v for v in values if self._where(v)]
        if self._key is not None:
            key = self._key
            return [(key(v), v.value if isinstance(v, Message) else v) for v in values]
        if values and isinstance(values[0], Message):
            # Re-produced as read: a typed message's original bytes, not its decoded value.
            return [
                Record(m.raw_value, key=m.raw_key, headers=list(m.headers) or None) if isinstance(m, Message) else m
                for m in values
            ]
        return values

    async def submit(self, batch: Batch) -> Awaitable[Any]:
        items = self._prepare(batch)
        if not items:
            return _done()
        if self._failed:  # the pipeline submits one batch at a time: this is that batch again
            _metrics.record_delivery_retry(self.topic, len(items))
        try:
            delivery = await self.producer.submit_many(self.topic, items, **self._codecs)
        except StreamlineError:
            self._failed = True
            raise
        self._failed = False
        return TopicDelivery(self, items, delivery)


class TopicDelivery:
    """A :class:`TopicSink` delivery in flight; after a failure :meth:`resubmit` sends again only
    the items the broker did not acknowledge (so a retry duplicates nothing that landed)."""

    __slots__ = ("_delivery", "_items", "_sink")

    def __init__(self, sink: TopicSink, items: list[Any], delivery: Awaitable[Any]) -> None:
        self._sink = sink
        self._items = items
        self._delivery = delivery

    def __await__(self) -> Any:
        return self._delivery.__await__()

    def when_answered(self, listener: Callable[[bool], None]) -> bool:
        """Call ``listener(failed)`` once the broker answered every batch (the producer's
        :meth:`~streamline.Delivery.when_answered`); False if it cannot tell (await it instead)."""
        when_answered = getattr(self._delivery, "when_answered", None)
        return when_answered is not None and bool(when_answered(listener))

    async def resubmit(self, error: BaseException) -> TopicDelivery:
        """Submit again what ``error`` (a DeliveryError) names as unacknowledged (all if unknown)."""
        failed = getattr(error, "unacknowledged", None)
        items = self._items if not failed else [self._items[i] for i in failed]
        sink = self._sink
        _metrics.record_delivery_retry(sink.topic, len(items))
        return TopicDelivery(sink, items, await sink.producer.submit_many(sink.topic, items, **sink._codecs))


class CallableSink:
    """Hand each batch's values to ``fn(values)`` (sync or async); delivered when it returns."""

    def __init__(self, fn: Callable[[list[Any]], object], *, name: str | None = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "callable"))

    async def submit(self, batch: Batch) -> Awaitable[Any]:
        result = self.fn(batch.values)
        if inspect.isawaitable(result):
            await result
        return _done()


async def _done() -> None:
    return None


def to_topic(
    producer: Any,
    topic: str,
    *,
    key: Callable[[Any], Any] | None = None,
    where: Callable[[Any], bool] | None = None,
    value: Any = None,
    key_codec: Any = None,
) -> TopicSink:
    """A sink producing to ``topic`` (see :class:`TopicSink`).

    >>> to_topic(producer, "errors", where=lambda line: b'" 5' in line)  # doctest: +SKIP
    >>> to_topic(producer, "invoices", value=Invoice)  # typed: encoded as JSON  # doctest: +SKIP
    """
    return TopicSink(producer, topic, key=key, where=where, value=value, key_codec=key_codec)


def as_sink(obj: SinkLike) -> Sink:
    """A sink as is, or an async/sync callable of a list of values wrapped in :class:`CallableSink`."""
    if hasattr(obj, "submit"):
        return cast(Sink, obj)
    if callable(obj):
        return CallableSink(obj)
    raise ConfigurationError(f"a sink must have submit() or be callable (got {type(obj).__name__})")
