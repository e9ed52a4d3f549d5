"""RecordColumns under tracing: every record carries the send span's trace headers next to its
own (the per-record one included), as records and values do."""

from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("opentelemetry.sdk", reason="opentelemetry-sdk is not installed")

from streamline import Producer, consume
from streamline._producer import RecordColumns


async def test_record_columns_carry_their_headers_and_the_trace(spans, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    count = 40
    columns = RecordColumns(
        [b"line %d" % n for n in range(count)],
        headers=[("host", b"web-1"), ("traceparent", b"stale"), ("path", b"/var/log/app.log")],
        varying=("offset", [b"%d" % (n * 10) for n in range(count)], 2),
    )
    async with Producer(kafka_bootstrap) as producer:
        assert await producer.send_many(topic, columns) == count
    messages: list = []
    deadline = time.monotonic() + 90
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        iterator = stream.batches().__aiter__()
        while len(messages) < count and time.monotonic() < deadline:
            messages.extend(await asyncio.wait_for(iterator.__anext__(), deadline - time.monotonic()))
    [send] = [s for s in spans.get_finished_spans() if s.name == f"send {topic}"]
    trace_id = f"{send.context.trace_id:032x}".encode()
    assert len(messages) == count
    for m in messages:
        n = int(m.value.split()[1])
        headers = list(m.headers)
        names = [name for name, _ in headers]
        assert names[:3] == ["host", "offset", "path"]  # the stale traceparent replaced, the offset in place
        assert headers[1] == ("offset", b"%d" % (n * 10))
        assert trace_id in dict(headers)["traceparent"]
