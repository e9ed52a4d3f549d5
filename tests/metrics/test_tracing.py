"""Automatic OpenTelemetry tracing: trace context in Kafka headers from send to consume and
through pipelines, checked with the SDK's in-memory span exporter against the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from otelspans import reset_global_provider as _reset_global_provider

from streamline import Pipeline, Producer, Record, consume, follow, to_topic
from streamline._metrics import tracing
from streamline._models import Message


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = named(exporter, name)
    assert len(found) == 1, (name, [s.name for s in exporter.get_finished_spans()])
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: Any) -> int:
    return int(span.get_span_context().span_id) if hasattr(span, "get_span_context") else int(span.context.span_id)


async def until(condition: Callable[[], bool], what: str, deadline: float = 120.0) -> None:
    """Poll a state check until it holds (no timing assumption); fail after a generous deadline."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# -- the switch --------------------------------------------------------------------------------


def test_tracing_is_off_without_a_configured_provider() -> None:
    _reset_global_provider()
    assert tracing.tracer() is None


def test_tracing_is_on_with_a_provider_and_off_when_the_sdk_is_disabled(monkeypatch) -> None:
    _reset_global_provider()
    try:
        trace.set_tracer_provider(TracerProvider())
        assert tracing.tracer() is not None
        _reset_global_provider()
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        trace.set_tracer_provider(TracerProvider())  # hands out no-op tracers
        assert tracing.tracer() is None
    finally:
        _reset_global_provider()


def test_trace_headers_replace_the_ones_a_record_carries() -> None:
    new = [("traceparent", b"00-new-01")]
    assert tracing.with_trace(None, new) == new
    old = [("source", b"nginx"), ("traceparent", b"00-old-01"), ("tracestate", b"x=1")]
    assert tracing.with_trace(old, new) == [("source", b"nginx"), ("tracestate", b"x=1"), ("traceparent", b"00-new-01")]


def test_a_process_span_parents_on_the_first_context_and_links_every_distinct_one(spans) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("a") as a:
        first = dict(tracing.headers_of(a))
    with tracer.start_as_current_span("b") as b:
        second = dict(tracing.headers_of(b))
    messages = [
        Message.create("t", 3, 10, value=b"0"),  # no context
        Message.create("t", 3, 11, value=b"1", headers=list(first.items())),
        Message.create("t", 3, 12, value=b"2", headers=list(second.items())),
        Message.create("t", 3, 13, value=b"3", headers=list(first.items())),
    ]
    tracing.start_process(tracing.tracer(), messages, group="g").end()
    process = only(spans, "process t")
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == a.get_span_context().trace_id
    assert parent_id(process) == span_id(a)
    assert [link.context.span_id for link in process.links] == [span_id(a), span_id(b)]
    assert process.attributes == {
        "messaging.system": "kafka", "messaging.operation.name": "process", "messaging.operation.type": "process",
        "messaging.destination.name": "t", "messaging.destination.partition.id": "3", "messaging.kafka.offset": 10,
        "messaging.batch.message_count": 4, "messaging.consumer.group.name": "g",
    }


# -- against the broker ------------------------------------------------------------------------


async def test_without_tracing_records_carry_no_trace_headers(kafka_bootstrap, new_topic) -> None:
    _reset_global_provider()
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"a", Record(b"b", headers=[("source", b"x")])])
        await producer.send(topic, b"c")
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        got = [await stream.__anext__() for _ in range(3)]
    assert [list(m.headers) for m in got] == [[], [("source", b"x")], []]


async def test_one_trace_from_send_through_a_pipeline_to_the_consumer_loop(spans, kafka_bootstrap, new_topic) -> None:
    source, target = new_topic(partitions=1), new_topic(partitions=2)
    tracer = trace.get_tracer("test")
    async with Producer(kafka_bootstrap) as producer:
        with tracer.start_as_current_span("read lines") as origin:
            await producer.send_many(source, [b"a", b"b", Record(b"c", headers=[("source", b"nginx")])])
            await producer.send(source, b"d")

        # consume -> stage -> produce, as `streamline run` does
        stream = consume(source, bootstrap_servers=kafka_bootstrap, start="beginning")
        pipeline = Pipeline(stream, lambda m: m.value.upper(), to=to_topic(producer, target))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(pipeline.run())
            await until(lambda: pipeline.stats.delivered == 4, "the pipeline delivered every message")
            pipeline.stop()

    seen: list[tuple[bytes, Any, bytes]] = []
    async with consume(target, bootstrap_servers=kafka_bootstrap, start="beginning") as out:
        async for msg in out:
            # The loop body runs inside the batch's process span.
            seen.append((msg.value, trace.get_current_span(), dict(msg.headers)["traceparent"]))
            if len(seen) == 4:
                break
    assert sorted(v for v, _, _ in seen) == [b"A", b"B", b"C", b"D"]

    trace_id = origin.get_span_context().trace_id
    sends = named(spans, f"send {source}")  # send_many's and send()'s
    assert len(sends) == 2
    send_many = next(s for s in sends if s.attributes.get("messaging.batch.message_count") == 3)
    send_one = next(s for s in sends if s is not send_many)
    for send in (send_many, send_one):
        assert send.kind is SpanKind.PRODUCER and parent_id(send) == span_id(origin)
        assert send.attributes["messaging.system"] == "kafka"
        assert send.attributes["messaging.destination.name"] == source
        assert send.attributes["messaging.destination.partition.id"] == "0"
    assert send_one.attributes["messaging.kafka.offset"] == 3

    # One fetched batch of the four messages, usually; a broker may hand them out in two.
    processes = named(spans, f"process {source}")
    process_ids = {p.context.span_id for p in processes}
    assert sum(p.attributes["messaging.batch.message_count"] for p in processes) == 4
    assert parent_id(min(processes, key=lambda p: p.attributes["messaging.kafka.offset"])) == send_many.context.span_id
    assert all(parent_id(p) in {send_many.context.span_id, send_one.context.span_id} for p in processes)
    assert {link.context.span_id for p in processes for link in p.links} == {
        send_many.context.span_id, send_one.context.span_id
    }
    stages = named(spans, "stage <lambda>")
    assert len(stages) == len(processes) and {parent_id(s) for s in stages} == process_ids
    resends = named(spans, f"send {target}")
    assert len(resends) == len(processes) and {parent_id(s) for s in resends} == process_ids
    assert sum(s.attributes.get("messaging.batch.message_count", 1) for s in resends) == 4
    resend_ids = {s.context.span_id for s in resends}

    consumed = named(spans, f"process {target}")
    assert consumed and all(parent_id(s) in resend_ids for s in consumed)
    assert {s.attributes["messaging.destination.partition.id"] for s in consumed} <= {"0", "1"}
    for _, current, traceparent in seen:
        assert current.get_span_context().span_id in {s.context.span_id for s in consumed}
        assert int(traceparent.split(b"-")[2], 16) in resend_ids

    everything = [s for s in spans.get_finished_spans()]
    assert {s.context.trace_id for s in everything} == {trace_id}  # one trace, end to end


async def test_file_lines_to_topic_then_handlers_of_run(spans, kafka_bootstrap, new_topic, tmp_path: Path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(b"GET /%d 200\n" % i for i in range(5)))
    async with Producer(kafka_bootstrap) as producer:
        follower = follow(str(log), start="beginning", stop_at_eof=True, checkpoints=str(tmp_path / "ckpt"))
        await Pipeline(follower, to=to_topic(producer, topic)).run()

    handled: list[tuple[bytes, int]] = []

    async def handler(msg: Message) -> None:
        handled.append((msg.value, trace.get_current_span().get_span_context().span_id))

    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(stream.run(handler))
            await until(lambda: len(handled) == 5, "every line handled")
            task.cancel()

    read = only(spans, "read access.log")
    assert read.attributes["file.path"] == str(log) and read.attributes["streamline.lines"] == 5
    send = only(spans, f"send {topic}")
    assert parent_id(send) == read.context.span_id and send.context.trace_id == read.context.trace_id
    processes = named(spans, f"process {topic}")
    assert processes and all(parent_id(p) == send.context.span_id for p in processes)
    assert {span_id for _, span_id in handled} <= {p.context.span_id for p in processes}


def test_without_opentelemetry_installed_sending_and_consuming_work(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    script = f"""
import asyncio, sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed: importing it fails
from streamline import Pipeline, Producer, consume, to_topic
from streamline._metrics import tracing

async def main():
    assert tracing.tracer() is None
    async with Producer({kafka_bootstrap!r}) as producer:
        await producer.send_many({topic!r}, [b"a", b"b"])
        await producer.send({topic!r}, b"c")
    async with consume({topic!r}, bootstrap_servers={kafka_bootstrap!r}, start="beginning") as stream:
        got = [await stream.__anext__() for _ in range(3)]
    print(sorted(m.value.decode() for m in got), [list(m.headers) for m in got])

asyncio.run(main())
"""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['a', 'b', 'c'] [[], [], []]"


async def test_the_body_of_a_batches_loop_runs_in_the_process_span(spans, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    tracer = trace.get_tracer("test")
    async with Producer(kafka_bootstrap) as producer:
        with tracer.start_as_current_span("origin"):
            await producer.send_many(topic, [b"a", b"b", b"c"])
    inside: list[Any] = []
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async for batch in stream.batches():
            inside.append((len(batch), trace.get_current_span()))
            if sum(n for n, _ in inside) == 3:
                break
        assert trace.get_current_span() is inside[-1][1]  # until the stream closes (documented)
    assert not trace.get_current_span().get_span_context().is_valid  # closing ended and detached it
    send = only(spans, f"send {topic}")
    processes = {p.context.span_id: p for p in named(spans, f"process {topic}")}
    for _, current in inside:
        process = processes[current.get_span_context().span_id]
        assert parent_id(process) == send.context.span_id
        assert process.context.trace_id == send.context.trace_id
