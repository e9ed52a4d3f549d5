"""OpenTelemetry (optional extra ``otel``): the same metrics through the OTel API, and W3C trace
context in Kafka headers.

Metrics: :func:`install_otel_metrics` registers observable instruments whose callbacks read the
registry at export time, exactly as a Prometheus scrape does (no hot-path cost). Histograms
cannot be observable in OTel, so the handler-duration histogram is Prometheus-only.

Traces: producers, ``consume()`` and pipelines propagate trace context on their own once a
tracer provider is configured (:mod:`.tracing`). For code that produces or consumes by other
means, :func:`inject_trace_context` adds ``traceparent`` (and ``tracestate``/``baggage`` when
set) of the current span to a record's headers; :func:`extract_trace_context` turns a consumed
message's headers back into a parent context.

    with tracer.start_as_current_span("read line"):
        await producer.send("logs", line, headers=inject_trace_context())
    ...
    with tracer.start_as_current_span("handle", context=extract_trace_context(msg.headers)):
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._errors import ConfigurationError
from .registry import REGISTRY, Registry

#: Header names the W3C trace-context (and baggage) propagators read and write.
TRACE_HEADERS = ("traceparent", "tracestate", "baggage")


def _require_otel() -> None:
    try:
        import opentelemetry  # noqa: F401
    except ImportError:
        raise ConfigurationError("OpenTelemetry needs opentelemetry-api: pip install 'streamline[otel]'") from None


def inject_trace_context(headers: Sequence[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """``headers`` plus the current span's ``traceparent`` (unchanged when no span is active)."""
    _require_otel()
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    out = [(name, value) for name, value in (headers or ()) if name not in carrier]
    out.extend((name, value.encode("ascii")) for name, value in carrier.items())
    return out


def extract_trace_context(headers: Iterable[tuple[str, bytes | None]]) -> Any:
    """The OTel ``Context`` carried by a message's headers (an empty context when there is none)."""
    _require_otel()
    from opentelemetry import propagate

    carrier = {
        name: value.decode("latin-1")
        for name, value in headers
        if name in TRACE_HEADERS and value is not None
    }
    return propagate.extract(carrier)


class _Snapshot:
    """One collection shared by the instruments' callbacks during one export.

    Each instrument's callback runs once per export: a callback asking again for a family it
    was already served starts the next export's collection.
    """

    def __init__(self, registry: Registry) -> None:
        from .collector import StreamlineCollector

        self._collector = StreamlineCollector(registry)
        self._families: dict[str, Any] | None = None
        self._served: set[str] = set()

    def families(self) -> dict[str, Any]:
        """A fresh collection (also used to discover the instruments)."""
        self._families, self._served = None, set()
        return {family.name: family for family in self._collector.collect()}

    def family(self, name: str) -> Any:
        if self._families is None or name in self._served:
            self._families = {family.name: family for family in self._collector.collect()}
            self._served = set()
        self._served.add(name)
        return self._families.get(name)


def install_otel_metrics(meter_provider: Any = None, *, registry: Registry = REGISTRY) -> list[Any]:
    """Expose streamline's counters and gauges as OTel observable instruments; returns them.

        from opentelemetry.sdk.metrics import MeterProvider
        install_otel_metrics(MeterProvider(metric_readers=[reader]))

    Counter names lose Prometheus' ``_total`` (OTel exporters add it back); units stay in names.
    """
    _require_otel()
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    provider = meter_provider or metrics.get_meter_provider()
    meter = provider.get_meter("streamline")
    snapshot = _Snapshot(registry)
    instruments = []
    for name, family in snapshot.families().items():
        if family.type not in ("counter", "gauge"):
            continue
        sample_name = f"{name}_total" if family.type == "counter" else name

        def observe(options: CallbackOptions, name: str = name, sample_name: str = sample_name) -> list[Observation]:
            family = snapshot.family(name)
            if family is None:
                return []
            return [Observation(s.value, dict(s.labels)) for s in family.samples if s.name == sample_name]

        create = meter.create_observable_counter if family.type == "counter" else meter.create_observable_gauge
        instruments.append(create(name, callbacks=[observe], description=family.documentation))
    return instruments
