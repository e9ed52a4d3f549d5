"""consume(): fan-in, start positions, new partitions, groups, clean exit."""

import asyncio
import gc
from datetime import datetime, timedelta, timezone
from functools import partial

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from streamline import Message, Producer, consume


async def take(stream, n: int, timeout: float = 60.0) -> list[Message]:
    out: list[Message] = []

    async def run() -> None:
        async for msg in stream:
            out.append(msg)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def test_fan_in_over_every_partition(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=6)
    async with Producer(kafka_bootstrap, partitioner="round_robin") as producer:
        for i in range(60):
            await producer.send(topic, f"m{i}")
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        got = await take(stream, 60)
    assert {m.partition for m in got} == set(range(6))
    assert sorted(m.text for m in got) == sorted(f"m{i}" for i in range(60))
    assert all(isinstance(m, Message) and m.topic == topic for m in got)


async def test_start_end_sees_only_new_messages(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap) as producer:
        # One record per request: the embedded broker answers ListOffsets(latest) wrongly after
        # multi-record batches (a known Tansu deviation), and this test is about our side.
        for _ in range(5):
            await producer.send(topic, "old", partition=1)
        async with consume(topic, bootstrap_servers=kafka_bootstrap, start="end") as stream:
            await producer.send(topic, "new", partition=1)
            [msg] = await take(stream, 1)
    assert msg.value == b"new"


async def test_start_offset_applies_to_every_partition(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap) as producer:
        for p in (0, 1):
            for i in range(5):
                await producer.send(topic, f"p{p}-{i}", partition=p)
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start=3) as stream:
        got = await take(stream, 4)
    assert sorted(m.text for m in got) == ["p0-3", "p0-4", "p1-3", "p1-4"]


async def test_start_datetime_uses_offsets_for_times(kafka_bootstrap, new_topic) -> None:
    # Wall-clock times with a gap: the embedded broker indexes by append time, Kafka by create
    # time; for records produced "now" both agree.
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap) as producer:
        for i in range(3):
            await producer.send(topic, f"before{i}", partition=i % 2)
        await asyncio.sleep(1.2)
        since = datetime.now(timezone.utc) - timedelta(milliseconds=100)
        await asyncio.sleep(0.2)
        for i in range(3):
            await producer.send(topic, f"after{i}", partition=i % 2)
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start=since) as s:
        got = await take(s, 3)
    assert sorted(m.text for m in got) == ["after0", "after1", "after2"]


async def test_topic_created_while_running_is_picked_up(kafka_bootstrap) -> None:
    import uuid

    from streamline import Admin

    topic = f"late-{uuid.uuid4().hex[:8]}"
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, start="end", partition_refresh_interval=0.3)
    async with stream:
        async with Admin(kafka_bootstrap) as admin:
            await admin.create_topic(topic, partitions=2)
        async with Producer(kafka_bootstrap) as producer:
            await producer.send(topic, "first", partition=1)
        [msg] = await take(stream, 1)
        async with Admin(kafka_bootstrap) as admin:
            await admin.delete_topic(topic)
    # Partitions that appear while running are read from their beginning: nothing is missed.
    assert (msg.partition, msg.value) == (1, b"first")


async def test_partitions_added_while_running_are_picked_up(kafka, kafka_bootstrap, new_topic) -> None:
    if kafka.embedded:
        pytest.skip("the embedded broker (Tansu 0.6.0) does not implement CreatePartitions")
    topic = new_topic(partitions=1)
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, start="end", partition_refresh_interval=0.5)
    async with stream:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(total_count=3)})
        finally:
            await admin.close()
        await asyncio.sleep(1.5)  # the stream refreshes metadata every 0.5 s
        async with Producer(kafka_bootstrap) as producer:
            await producer.send(topic, "on-new-partition", partition=2)
        [msg] = await take(stream, 1)
    assert (msg.partition, msg.value) == (2, b"on-new-partition")


async def test_break_from_bare_loop_closes_everything(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"x"] * 30)
    before = asyncio.all_tasks()
    async for msg in consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning"):
        break
    assert msg.value == b"x"
    # The async generator is finalised by the loop; give it a few ticks, then nothing is left.
    for _ in range(50):
        gc.collect()
        if asyncio.all_tasks() <= before:
            break
        await asyncio.sleep(0.02)
    assert asyncio.all_tasks() <= before
    # filterwarnings=error turns an "Unclosed AIOKafkaConsumer" ResourceWarning into a failure.


async def test_break_inside_async_with_closes_at_once(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"y"] * 10)
    before = asyncio.all_tasks()
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async for _ in stream:
            break
    assert asyncio.all_tasks() <= before


async def test_group_commits_only_processed_messages(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [f"m{i}".encode() for i in range(10)])

    class Boom(Exception):
        pass

    # The body fails on m4: m0..m3 are processed, m4 is not.
    with pytest.raises(Boom):
        async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", session_timeout=6) as s:
            async for msg in s:
                if msg.text == "m4":
                    raise Boom
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", session_timeout=6) as s:
        got = await take(s, 3)
    assert [m.text for m in got] == ["m4", "m5", "m6"]  # m4 is delivered again; m0-m3 are not
    # The clean exit after m6 committed it: the next member starts at m7.
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, session_timeout=6) as s:
        [msg] = await take(s, 1)
    assert msg.text == "m7"


async def test_batches_fast_path_is_per_partition_and_ordered(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    async with Producer(kafka_bootstrap, partitioner="round_robin") as producer:
        await producer.send_many(topic, [str(i).encode() for i in range(3000)])
    seen = 0
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async for batch in stream.batches():
            assert len({m.partition for m in batch}) == 1
            offsets = [m.offset for m in batch]
            assert offsets == sorted(offsets)
            seen += len(batch)
            if seen >= 3000:
                break
    assert seen == 3000


@pytest.mark.parametrize("fast_path", [True, False], ids=["built-as-message", "relabelled"])
async def test_messages_are_streamline_messages_with_or_without_the_builder_hook(
    kafka_bootstrap, new_topic, monkeypatch, fast_path: bool
) -> None:
    """aiokafka builds the records as ``Message`` when its fetcher has the known shape; when
    it does not (another aiokafka), the stream re-labels them — the user sees the same."""
    from streamline import _internals
    from streamline._internals import _BuildingRecords

    if not fast_path:
        monkeypatch.setattr(_internals, "build_records_as", lambda consumer, cls: False)
    topic = new_topic(partitions=2)
    async with Producer(kafka_bootstrap, partitioner="round_robin") as producer:
        await producer.send_many(topic, [(f"k{i}", f"v{i}") for i in range(20)])
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        got = await take(stream, 20)
        built = isinstance(stream._consumer.raw._fetcher._records, _BuildingRecords)
    assert built is fast_path
    assert all(type(m) is Message for m in got)
    assert sorted(m.text for m in got) == sorted(f"v{i}" for i in range(20))
    assert {m.key_text: m.text for m in got} == {f"k{i}": f"v{i}" for i in range(20)}
    assert all(m.serialized_value_size == len(m.value) for m in got)


async def test_run_dead_letters_a_message_its_handler_keeps_failing_on(kafka_bootstrap, new_topic) -> None:
    from streamline import OnError

    topic, dlq = new_topic(partitions=1), new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(topic, [b"ok-0", b"poison", b"ok-2"])
    handled: list[bytes] = []

    async def handle(msg) -> None:
        if msg.value == b"poison":
            raise ValueError("cannot parse")
        handled.append(msg.value)

    policy = OnError(retries=1, backoff=0.01, then="dead_letter", dead_letter_topic=dlq)
    async with consume(topic, bootstrap_servers=kafka_bootstrap, start="beginning") as stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(stream.run, handle, on_error=policy))
            with anyio.fail_after(60):
                while len(handled) < 2:
                    await asyncio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert handled == [b"ok-0", b"ok-2"]
    async with consume(dlq, bootstrap_servers=kafka_bootstrap, start="beginning") as dead:
        [letter] = await take(dead, 1)
    headers = dict(letter.headers)
    assert letter.value == b"poison"
    assert headers["streamline.error"] == b"ValueError: cannot parse"
    assert (headers["streamline.origin.topic"], headers["streamline.origin.offset"]) == (topic.encode(), b"1")

