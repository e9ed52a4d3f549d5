"""OpenTelemetry: metrics through the OTel API; trace context through Kafka headers on the broker."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from streamline import Producer, consume
from streamline._metrics import record_committed, track
from streamline._metrics.otel import extract_trace_context, inject_trace_context, install_otel_metrics
from streamline._pipeline.stats import PipelineStats

pytestmark = pytest.mark.usefixtures("clean_registry")


class Pipeline:
    def __init__(self) -> None:
        self.stats = PipelineStats()


def points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, object], float]]]:
    out: dict[str, list[tuple[dict[str, object], float]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]
    return out


def test_the_same_counters_through_the_otel_metrics_api() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    try:
        install_otel_metrics(provider)
        pipeline = Pipeline()
        track(pipeline)
        pipeline.stats.delivered = 5
        record_committed("g", "orders", 3, 77)
        seen = points(reader)
        assert seen["streamline_pipeline_delivered"] == [({}, 5)]
        assert seen["streamline_consumer_committed_offset"] == [
            ({"group": "g", "topic": "orders", "partition": "3"}, 77)
        ]
        pipeline.stats.delivered = 8
        assert points(reader)["streamline_pipeline_delivered"] == [({}, 8)]
    finally:
        provider.shutdown()


def test_headers_are_unchanged_without_an_active_span() -> None:
    assert inject_trace_context([("source", b"nginx")]) == [("source", b"nginx")]


async def test_traceparent_travels_from_send_to_consume(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("read line") as span:
        headers = inject_trace_context([("source", b"nginx")])
        async with Producer(kafka_bootstrap) as producer:
            await producer.send(topic, b"GET / 200", headers=headers)
    sent = span.get_span_context()
    assert dict(headers)["traceparent"].startswith(b"00-")
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        message = await stream.__anext__()
    assert ("source", b"nginx") in list(message.headers)
    parent = trace.get_current_span(extract_trace_context(message.headers)).get_span_context()
    assert parent.trace_id == sent.trace_id and parent.span_id == sent.span_id
    with tracer.start_as_current_span("handle", context=extract_trace_context(message.headers)) as child:
        assert child.get_span_context().trace_id == sent.trace_id
        assert child.parent is not None and child.parent.span_id == sent.span_id
