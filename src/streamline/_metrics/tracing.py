"""Automatic OpenTelemetry tracing: W3C trace context in Kafka headers, spans per batch.

On when ``opentelemetry-api`` is installed **and** a tracer provider is configured
(``trace.set_tracer_provider(...)``, ``OTEL_PYTHON_TRACER_PROVIDER`` or ``opentelemetry-instrument``);
off otherwise, and off when the provider hands out no-op tracers (``OTEL_SDK_DISABLED=true``).
:func:`tracer` is the one check the hot paths make — once per batch, never per message — and
answers ``None`` at the cost of a function call when tracing is off.

Spans (OTel messaging semantic conventions, ``messaging.system=kafka``):

- ``send {topic}`` (PRODUCER): one per ``Producer.send`` and one per ``send_many``/``submit_many``
  call, ended when the broker answered every batch. Its context goes into every record's headers
  (``traceparent``, plus ``tracestate``/``baggage`` when set), replacing trace headers a record
  already had — the send span descends from the current context, so the chain holds.
- ``process {topic}`` (CONSUMER): one per fetched batch (one partition's messages) handed out by
  ``consume()``; current while the loop body or handler runs over that batch. Its parent is the
  context of the first message that carries one; every distinct producer context of the batch is
  a link (up to :data:`MAX_LINKS`).
- In pipelines, the same ``process`` span per batch (``read {source}`` for followed files), a
  ``stage {name}`` child per stage and batch, and the sink's ``send`` span below it.

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())   # streamline now traces what it sends and reads
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

#: Distinct producer contexts linked from one ``process`` span at most (a batch of 10,000
#: messages from 10,000 single sends would otherwise carry 10,000 links).
MAX_LINKS = 32

#: Header names the default propagators write (W3C trace context and baggage).
TRACE_HEADERS = frozenset({"traceparent", "tracestate", "baggage"})

_api: Any = None  # opentelemetry.trace once imported; False when OpenTelemetry is not installed
_provider: Any = None  # the provider _tracer came from
_tracer: Any = None  # streamline's tracer, or None when the provider is a no-op
#: OTEL_PYTHON_TRACER_PROVIDER is set: read at the first check (reading the environment per
#: batch cost ~1/10 of ship's own calls per batch; OpenTelemetry reads it once too).
_named_provider: bool | None = None


def _load() -> Any:
    global _api
    try:
        from opentelemetry import trace
    except ImportError:
        _api = False
    else:
        _api = trace
    return _api


def tracer() -> Any:
    """streamline's OTel tracer when tracing is on, else ``None`` (the per-batch check)."""
    global _named_provider
    api = _api
    if api is None:
        # No tracer provider can be set before OpenTelemetry's trace API is imported (or named
        # by OTEL_PYTHON_TRACER_PROVIDER): until then it is not imported (~0.3 MB, ~5 ms).
        if "opentelemetry.trace" not in sys.modules:
            if _named_provider is None:
                _named_provider = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
            if not _named_provider:
                return None
        api = _load()
    if api is False:
        return None
    provider = api.get_tracer_provider()
    if provider is not _provider:
        _remember(api, provider)
    return _tracer


def _remember(api: Any, provider: Any) -> None:
    global _provider, _tracer
    found = None
    if not isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
        from .. import __version__

        candidate = provider.get_tracer("streamline", __version__)
        if not isinstance(candidate, (api.NoOpTracer, api.ProxyTracer)):
            found = candidate
    _provider, _tracer = provider, found


# -- producing -------------------------------------------------------------------------------


def _base_attributes(topic: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
    }


def start_send(tracer: Any, topic: str, count: int, partition: int | None = None) -> Any:
    """Start the ``send {topic}`` span of one send call (``count`` records)."""
    from opentelemetry.trace import SpanKind

    attributes = _base_attributes(topic)
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    return tracer.start_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes)


def traced_send(topic: str, partition: int, headers: list[tuple[str, bytes]] | None) -> tuple[Any, Any]:
    """For ``Producer.send``: ``(span, headers with its context)``, or ``(None, headers)`` when off."""
    tracer_ = tracer()
    if tracer_ is None:
        return None, headers
    span = start_send(tracer_, topic, 1, partition)
    return span, with_trace(headers, headers_of(span))


def sent(span: Any, offset: int | None = None, error: BaseException | None = None) -> None:
    """End a ``send`` span: the broker stored the record at ``offset``, or ``error`` happened."""
    if offset is not None and offset >= 0:
        span.set_attribute("messaging.kafka.offset", offset)
    end_span(span, error)


def headers_of(span: Any) -> list[tuple[str, bytes]]:
    """The trace headers carrying ``span``'s context (what the global propagator writes)."""
    from opentelemetry import propagate, trace

    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return [(name, value.encode("latin-1")) for name, value in carrier.items()]


def with_trace(headers: Sequence[tuple[str, bytes]] | None, trace_headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``headers`` with their trace headers replaced by ``trace_headers``."""
    if not headers:
        return trace_headers
    names = {name for name, _ in trace_headers}
    return [h for h in headers if h[0] not in names] + trace_headers


def end_span(span: Any, error: BaseException | None = None) -> None:
    """End ``span``, marked as failed with ``error`` if given."""
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, str(error) or type(error).__name__))
    span.end()


def end_when_answered(span: Any, futures: Sequence[Any]) -> None:
    """End ``span`` once every future (a batch's acknowledgement) is done; failed if one failed."""
    remaining = [len(futures)]
    failure: list[BaseException | None] = [None]

    def answered(future: Any) -> None:
        if future.cancelled():
            failure[0] = failure[0] or TimeoutError("cancelled")
        elif future.exception() is not None:
            failure[0] = failure[0] or future.exception()
        remaining[0] -= 1
        if remaining[0] == 0:
            end_span(span, failure[0])

    if not futures:
        span.end()
    for future in futures:
        future.add_done_callback(answered)


# -- consuming --------------------------------------------------------------------------------


def _contexts(messages: Sequence[Any]) -> list[Any]:
    """The distinct producer contexts carried by ``messages`` (first seen first, at most MAX_LINKS)."""
    from opentelemetry import propagate

    seen: dict[tuple[bytes, ...], Any] = {}
    for msg in messages:
        headers = msg.headers
        if not headers:
            continue
        carried = tuple(value for name, value in headers if name in TRACE_HEADERS and value is not None)
        if not carried or carried in seen:
            continue
        carrier = {name: value.decode("latin-1") for name, value in headers if name in TRACE_HEADERS and value is not None}
        seen[carried] = propagate.extract(carrier)
        if len(seen) >= MAX_LINKS:
            break
    return list(seen.values())


def start_process(tracer: Any, messages: Sequence[Any], *, group: str | None = None) -> Any:
    """Start the ``process {topic}`` span of one batch of messages of one partition."""
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    first = messages[0]
    contexts = _contexts(messages)
    links = []
    for context in contexts:
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": first.topic,
        "messaging.destination.partition.id": str(first.partition),
        "messaging.kafka.offset": first.offset,
        "messaging.batch.message_count": len(messages),
    }
    if group is not None:
        attributes["messaging.consumer.group.name"] = group
    parent = contexts[0] if links else None
    return tracer.start_span(
        f"process {first.topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes, links=links
    )


def start_read(tracer: Any, path: str, lines: int) -> Any:
    """Start the ``read {file}`` span of a batch of lines read from a followed file."""
    import os

    from opentelemetry.trace import SpanKind

    return tracer.start_span(
        f"read {os.path.basename(path)}",
        kind=SpanKind.INTERNAL,
        attributes={"file.path": path, "streamline.lines": lines},
    )


def attach(span: Any) -> Any:
    """Make ``span`` current in this task; returns the token for :func:`detach`."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def detach(token: Any) -> None:
    """Undo :func:`attach`; quietly nothing when called from another task (a stream closed
    elsewhere: that task's context is not ours to reset)."""
    if isinstance(token, contextvars.Token):
        try:
            token.var.reset(token)
        except (ValueError, RuntimeError):
            pass
        return
    from opentelemetry import context  # pragma: no cover - a non-contextvars runtime context

    context.detach(token)  # pragma: no cover


class ProcessSpans:
    """The ``process`` span of the batch a stream's loop is in (``consume()``'s ``async for``
    and ``batches()``): :meth:`switch` ends the previous batch's span and starts the next."""

    __slots__ = ("_group", "_span", "_token")

    def __init__(self, group: str | None) -> None:
        self._group = group
        self._span: Any = None
        self._token: Any = None

    def switch(self, messages: Sequence[Any] | None) -> None:
        """End the current span; start (and make current) one for ``messages`` if tracing is on."""
        if self._span is not None:
            self.end()
        if messages:
            tracer_ = tracer()
            if tracer_ is not None:
                self._span = start_process(tracer_, messages, group=self._group)
                self._token = attach(self._span)

    def end(self) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        if token is not None:
            detach(token)
        if span is not None:
            span.end()


@contextlib.contextmanager
def processing(messages: Sequence[Any], group: str | None = None) -> Iterator[None]:
    """The ``process`` span of one batch around a handler (``stream.run()``'s workers)."""
    tracer_ = tracer()
    if tracer_ is None or not messages:
        yield
        return
    with _running(start_process(tracer_, messages, group=group)):
        yield


@contextlib.contextmanager
def _running(span: Any) -> Iterator[None]:
    """``span`` current inside the block and ended after it (failed if the block raised)."""
    token = attach(span)
    error: Exception | None = None
    try:
        yield
    except Exception as exc:
        error = exc
        raise
    finally:  # a cancellation ends the span too, without marking it failed
        detach(token)
        end_span(span, error)


@contextlib.contextmanager
def current(span: Any) -> Iterator[None]:
    """``span`` current inside the block (``None``: nothing changes)."""
    if span is None:
        yield
        return
    token = attach(span)
    try:
        yield
    finally:
        detach(token)


@contextlib.contextmanager
def stage_span(parent: Any, name: str | None) -> Iterator[None]:
    """A ``stage {name}`` span, child of the batch span ``parent``, current inside the block."""
    from opentelemetry import trace

    tracer_ = tracer()
    if tracer_ is None:
        with current(parent):
            yield
        return
    with _running(tracer_.start_span(f"stage {name or '?'}", context=trace.set_span_in_context(parent))):
        yield
