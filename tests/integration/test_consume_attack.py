"""Attacking ``consume`` from outside: leaving an ``async for`` and iterating the same stream
again continues with the next message — whether or not the stream is in a group or decodes."""

from __future__ import annotations

import anyio
import pytest

from streamline import Producer, consume


@pytest.mark.parametrize("group", [False, True], ids=["no-group", "group"])
@pytest.mark.parametrize("value", [None, str], ids=["bytes", "text"])
async def test_a_second_async_for_after_break_continues_with_the_next_message(
    kafka_bootstrap, new_topic, group: bool, value
) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"m%d" % i for i in range(6)])  # one fetched batch
    options = dict(group=f"g-{topic}", session_timeout=6) if group else {}
    seen: list[int] = []
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning", value=value, **options) as stream:
        with anyio.fail_after(60):
            async for msg in stream:
                seen.append(msg.offset)
                if msg.offset == 1:
                    break
            async for msg in stream:  # the same stream, again
                seen.append(msg.offset)
                if msg.offset == 5:
                    break
    assert seen == [0, 1, 2, 3, 4, 5]


async def test_batches_after_leaving_an_async_for_start_with_the_next_message(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"m%d" % i for i in range(6)])
    seen: list[int] = []
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        with anyio.fail_after(60):
            async for msg in stream:
                seen.append(msg.offset)
                if msg.offset == 1:
                    break
            async for batch in stream.batches():
                seen.extend(m.offset for m in batch)
                if seen[-1] == 5:
                    break
    assert seen == [0, 1, 2, 3, 4, 5]
