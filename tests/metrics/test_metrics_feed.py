"""The figures a real consumer stream and producer feed, scraped and parsed against the broker's view."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from scraping import samples, value

from streamline import GroupAdmin, OnError, Producer, consume
from streamline._metrics import default_readiness
from streamline._metrics.collector import exposition, new_registry

pytestmark = pytest.mark.usefixtures("clean_registry")


def scrape() -> str:
    return exposition(new_registry()).decode()


async def until(condition: Callable[[], bool], what: str, deadline: float = 120.0) -> None:
    """Poll ``condition`` (a state check, not a timing assumption) until it holds or the deadline passes."""
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def produce_one_by_one(bootstrap: str, topic: str, per_partition: int, partitions: int) -> None:
    # One record per send(): the embedded broker's log end (ListOffsets latest) is wrong after
    # multi-record batches (NOTES.md), and the group admin reads the log end that way.
    async with Producer(bootstrap) as producer:
        for partition in range(partitions):
            for i in range(per_partition):
                await producer.send(topic, f"m{partition}-{i}", partition=partition)


async def running(stream_run: Awaitable[None], body: Callable[[], Awaitable[None]]) -> None:
    task = asyncio.ensure_future(stream_run)
    try:
        await body()
        assert not task.done() or task.exception() is None, task.exception()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def test_a_group_consumer_reports_what_the_group_and_the_log_say(kafka_bootstrap, new_topic) -> None:
    topic, group, per_partition = new_topic(partitions=2), f"g-{time.time_ns()}", 7
    total = 2 * per_partition
    await produce_one_by_one(kafka_bootstrap, topic, per_partition, 2)
    calls = 0

    async def handler(msg: object) -> None:
        nonlocal calls
        calls += 1

    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                       commit_interval=0.2) as stream:

        def committed_everywhere() -> bool:
            text = scrape()
            return all(
                value(text, "streamline_consumer_committed_offset", group=group, topic=topic, partition=str(p))
                == per_partition
                for p in (0, 1)
            )

        async def check() -> None:
            await until(lambda: calls == total and committed_everywhere(), "every message handled and committed")
            text = scrape()
            async with GroupAdmin(kafka_bootstrap) as admin:
                info = await admin.describe_group(group)
            broker = {lag.partition: lag for lag in info.partitions if lag.topic == topic}
            assert sorted(broker) == [0, 1]
            for p in (0, 1):
                labels = {"group": group, "topic": topic, "partition": str(p)}
                assert value(text, "streamline_consumer_messages_total", **labels) == per_partition
                assert value(text, "streamline_consumer_committed_offset", **labels) == broker[p].committed
                assert value(text, "streamline_consumer_position", **labels) == per_partition
                log_end = value(text, "streamline_consumer_log_end_offset", **labels)
                assert log_end == broker[p].log_end == per_partition
                committed = value(text, "streamline_consumer_committed_offset", **labels)
                assert log_end is not None and committed is not None
                assert value(text, "streamline_consumer_lag_messages", **labels) == log_end - committed == 0
            assert value(text, "streamline_consumer_bytes_total", group=group) == sum(
                len(f"m{p}-{i}") for p in (0, 1) for i in range(per_partition)
            )
            assert value(text, "streamline_consumer_handler_duration_seconds_count", group=group) == calls
            assert value(text, "streamline_consumer_handler_duration_seconds_bucket", group=group, le="+Inf") == calls
            assert value(text, "streamline_consumer_assignments_total", group=group) == 1
            assert value(text, "streamline_consumer_rebalances_total", group=group) == 0
            assert value(text, "streamline_consumer_assigned_partitions", group=group) == 2
            assert default_readiness() == (True, "consumer has partitions")

        await running(stream.run(handler), check)

    # Closed: the counters stay (never backwards), the gauges of the partitions go.
    text = scrape()
    assert value(text, "streamline_consumer_messages_total", group=group, topic=topic, partition="0") == per_partition
    assert value(text, "streamline_consumer_handler_duration_seconds_count", group=group) == total
    assert value(text, "streamline_consumer_position", group=group, topic=topic, partition="0") is None
    assert value(text, "streamline_tracked_objects", kind="consumer") == 0


async def test_dead_lettered_messages_and_every_handler_call_are_counted(kafka_bootstrap, new_topic) -> None:
    topic, dead, group = new_topic(partitions=1), new_topic(partitions=1), f"g-{time.time_ns()}"
    await produce_one_by_one(kafka_bootstrap, topic, 3, 1)
    calls = 0

    async def handler(msg: object) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("always")

    policy = OnError(retries=1, backoff=0.01, then="dead_letter", dead_letter_topic=dead)
    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning") as stream:

        async def check() -> None:
            await until(lambda: value(scrape(), "streamline_consumer_dead_lettered_total", group=group) == 3,
                        "three dead-lettered messages")
            text = scrape()
            assert calls == 6  # each message: the call and one retry
            assert value(text, "streamline_consumer_handler_duration_seconds_count", group=group) == calls
            assert value(text, "streamline_consumer_skipped_total", group=group) in (None, 0)

        await running(stream.run(handler, on_error=policy), check)

    text = scrape()
    assert value(text, "streamline_consumer_dead_lettered_total", group=group) == 3  # kept after close
    # The dead-letter producer is a Producer: its records are counted per topic.
    assert value(text, "streamline_produced_records_total", topic=dead) == 3


async def test_a_producer_reports_records_bytes_and_in_flight_per_topic(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=3)
    items = [f"record-{i}".encode() for i in range(1000)]
    async with Producer(kafka_bootstrap) as producer:
        sent = await producer.send_many(topic, items)
        await producer.send(topic, b"one more")
        text = scrape()
        assert value(text, "streamline_produced_records_total", topic=topic) == sent + 1 == 1001
        size = value(text, "streamline_produced_bytes_total", topic=topic)
        assert size is not None and size >= sum(map(len, items))  # batch bytes: records plus framing
        assert value(text, "streamline_producer_in_flight_batches") == 0
        assert value(text, "streamline_delivery_errors_total", topic=topic) is None
    text = scrape()
    assert value(text, "streamline_produced_records_total", topic=topic) == 1001  # not doubled at stop
    assert value(text, "streamline_producers_connected") == 0


async def test_a_failed_batch_counts_its_records_as_delivery_errors() -> None:
    # The counting itself (the broker decides when a batch fails; this checks what is counted then).
    from streamline._producer import Delivery

    producer = Producer("localhost:9")
    ok: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    failed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    delivery = Delivery(producer, "t", 9)  # what submit_many hands its batches to
    delivery.add(ok, 0, range(4), 4, 400)
    delivery.add(failed, 1, range(4, 9), 5, 500)
    assert producer.metrics()["in_flight"] == 2
    ok.set_result(None)
    failed.set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)  # the answers' callbacks run
    assert producer.metrics() == {"topics": {"t": [4, 400, 5]}, "in_flight": 0}
    from streamline._metrics import track

    track(producer)
    text = scrape()
    assert value(text, "streamline_delivery_errors_total", topic="t") == 5
    assert value(text, "streamline_produced_records_total", topic="t") == 4
    assert "streamline_producer_in_flight_batches" in samples(text)


async def test_a_second_member_rebalances_the_first_and_an_idle_member_is_ready(kafka_bootstrap, new_topic) -> None:
    from streamline._metrics import consumer_ready

    topic, group = new_topic(partitions=1), f"g-{time.time_ns()}"

    async def handler(msg: object) -> None:
        pass

    options = {"bootstrap_servers": kafka_bootstrap, "group": group, "session_timeout": 6.0, "revoke_timeout": 2.0}
    async with consume(topic, **options) as first:  # type: ignore[arg-type]

        async def with_first() -> None:
            await until(lambda: first.assignment() == {(topic, 0)}, "the first member assigned")
            assert consumer_ready(first) == (True, "consumer has partitions")
            async with consume(topic, **options) as second:  # type: ignore[arg-type]

                async def with_both() -> None:
                    def settled() -> bool:
                        owners = [s for s in (first, second) if s.assignment()]
                        return len(owners) == 1 and first.joined and second.joined and first.rebalances >= 1

                    await until(settled, "one owner and one idle member after the rebalance")
                    idle = second if first.assignment() else first
                    assert consumer_ready(idle) == (
                        True, "consumer joined its group and was given no partitions (idle)"
                    )
                    text = scrape()
                    assert value(text, "streamline_consumer_assigned_partitions", group=group) == 1
                    assignments = value(text, "streamline_consumer_assignments_total", group=group)
                    assert assignments is not None and assignments >= 3  # first twice, second once
                    revocations = value(text, "streamline_consumer_revocations_total", group=group)
                    assert revocations is not None and revocations >= 1
                    assert value(text, "streamline_consumer_rebalances_total", group=group) == (
                        first.rebalances + second.rebalances
                    )

                await running(second.run(handler), with_both)

        await running(first.run(handler), with_first)


def test_readiness_reads_the_stream_as_it_is_now() -> None:
    from streamline._metrics import consumer_ready

    class Joining:
        group = "g"
        _consumer = object()
        joined = False

        def assignment(self) -> set[tuple[str, int]]:
            return set()

    stream = Joining()
    assert consumer_ready(stream) == (False, "consumer joining its group")
    stream.joined = True
    assert consumer_ready(stream) == (True, "consumer joined its group and was given no partitions (idle)")
