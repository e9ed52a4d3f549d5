"""MessageStream without a network: commits, revokes, drains, closes and memory, driven through
the fake consumer (tests/support/fake_consumer.py). Each test names the defect it pins down."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref

import anyio
import pytest
from fake_consumer import FakeCluster, open_stream

from streamline import BrokerUnavailableError, Message, OnError

T0, T1 = ("t", 0), ("t", 1)
# Bounds for waiting on a condition: generous, so a loaded machine is slower, never failing.
LONG = 60
NEVER = 3600  # a revoke_timeout no test may wait out


async def test_manual_acks_keep_offsets_not_messages() -> None:
    """Acknowledged batches, and batches next to one never-acknowledged message, are freed."""
    cluster = FakeCluster({T0: 400}, value_size=64 * 1024)
    stream, _ = open_stream(cluster, group="g", ack="manual", max_batch=20, revoke_timeout=0)
    refs: list[weakref.ref[Message]] = []
    async with stream:
        kept = None
        async for batch in stream.batches():
            if kept is None:
                kept = batch[0]  # never acknowledged
                stream.ack(batch[1:])
            else:
                stream.ack(batch)
            refs.extend(weakref.ref(m) for m in batch[1:])
            if batch[-1].offset == 399:
                break
        del batch
        gc.collect()
        alive = sum(1 for r in refs if r() is not None)
        assert alive <= 20  # at most the batch the generator frame still holds
        assert stream.committable() == {}  # offset 0 is not acknowledged: nothing passes it
        assert kept is not None and kept.offset == 0


async def test_max_unacked_pauses_the_partition_until_acks_arrive() -> None:
    cluster = FakeCluster({T0: 100, T1: 100})
    stream, consumers = open_stream(cluster, group="g", ack="manual", max_batch=10, max_unacked=30, revoke_timeout=0)
    held: list[Message] = []
    async with stream:
        async for batch in stream.batches():
            held.extend(batch)
            if sum(1 for m in held if m.partition == 0) >= 30 and sum(1 for m in held if m.partition == 1) >= 30:
                break
        # Both partitions reached the limit: the next fetch pauses them.
        consumer = consumers[0]
        with anyio.fail_after(LONG):
            while consumer.paused != {T0, T1}:
                await stream._fetch()
        stream.ack([m for m in held if m.partition == 0])
        await stream._fetch()
        assert consumer.paused == {T1}  # acks brought partition 0 below the limit: fetched again


async def test_revoke_with_manual_acks_and_run_withdraws_queued_batches() -> None:
    """Every rebalance with ack="manual" and run() waited the whole revoke_timeout: batches the
    stopped workers had queued still counted as in flight."""
    cluster = FakeCluster({T0: 200})
    stream, consumers = open_stream(cluster, group="g", ack="manual", max_batch=10, revoke_timeout=NEVER)
    handled: list[int] = []
    gate = anyio.Event()

    async def handle(msg: Message) -> None:
        if msg.offset == 5:
            await gate.wait()
        handled.append(msg.offset)
        msg.ack()

    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(stream.run, handle)
        with anyio.fail_after(LONG):
            while len(cluster.logs[T0]) > consumers[0].positions.get(T0, 0) and stream.buffered == 0 and len(handled) < 5:
                await asyncio.sleep(0.001)
            while len(handled) < 5:
                await asyncio.sleep(0.001)
        consumer = consumers[0]

        async def revoke() -> None:
            await consumer.rebalance(set())

        tg.start_soon(revoke)
        await asyncio.sleep(0)
        gate.set()  # the handler in progress finishes; queued batches are withdrawn
        with anyio.fail_after(LONG):
            while consumer.assigned:
                await asyncio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert handled == list(range(6))
    assert cluster.committed == {T0: 6}


async def test_revoke_in_auto_mode_waits_only_for_the_running_handler() -> None:
    cluster = FakeCluster({T0: 50, T1: 50})
    stream, consumers = open_stream(cluster, group="g", max_batch=5, revoke_timeout=NEVER)
    handled: list[tuple[int, int]] = []

    async def handle(msg: Message) -> None:
        await asyncio.sleep(0)
        handled.append((msg.partition, msg.offset))

    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(stream.run, handle)
        with anyio.fail_after(LONG):
            while len(handled) < 10:
                await asyncio.sleep(0.001)
        with anyio.fail_after(LONG):
            await consumers[0].rebalance({T1})
        done0 = [o for p, o in handled if p == 0]
        assert cluster.committed[T0] == len(done0) == len(set(done0)), sorted(set(range(50)) - set(done0))  # exactly what was processed, contiguous
        with anyio.fail_after(LONG):
            while sum(1 for p, _ in handled if p == 1) < 50:
                await asyncio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert cluster.committed[T1] == 50


async def test_break_out_of_batches_redelivers_the_batch_in_hand() -> None:
    """break out of batches() committed the batch in hand; it must be delivered again."""
    cluster = FakeCluster({T0: 30})
    stream, _ = open_stream(cluster, group="g", max_batch=10, revoke_timeout=NEVER)
    async with stream:
        seen = []
        async for batch in stream.batches():
            seen.append(batch[0].offset)
            if len(seen) == 2:
                break  # the batch at 10 is in hand, not processed
        async for batch in stream.batches():  # the same stream hands it out again
            assert batch[0].offset == 10
            break
    assert cluster.committed == {T0: 10}
    again, _ = open_stream(cluster, group="g", max_batch=10)
    async with again:
        async for batch in again.batches():
            assert batch[0].offset == 10  # and so does the next owner
            break


async def test_aclose_inside_the_loop_ends_it_cleanly() -> None:
    """aclose() inside the loop handed out the rest of the batch, then raised "stream is closed"."""
    for group in (None, "g"):
        cluster = FakeCluster({T0: 100})
        stream, consumers = open_stream(cluster, group=group, max_batch=50)
        got = []
        async with stream:
            async for msg in stream:
                got.append(msg.offset)
                if msg.offset == 9:
                    await stream.aclose()
        assert got == list(range(10)), group
        assert consumers[0].stopped
        if group:
            assert cluster.committed == {T0: 9}  # aclose(): the message in hand is not processed


async def test_a_cancelled_anext_leaves_the_iterator_usable_and_loses_nothing() -> None:
    """A timed-out anext() ended the iterator for good (the next call was StopAsyncIteration)."""
    cluster = FakeCluster({T0: 0})
    stream, _ = open_stream(cluster, max_batch=10)
    async with stream:
        it = aiter(stream)
        with anyio.move_on_after(0.05) as scope:
            await anext(it)
        assert scope.cancelled_caught
        cluster.produce(T0, [b"a", b"b"])
        first = await asyncio.wait_for(anext(it), LONG)
        second = await asyncio.wait_for(anext(it), LONG)
        assert (first.value, second.value) == (b"a", b"b")
        batches = stream.batches()
        with anyio.move_on_after(0.05) as scope:
            await anext(batches)
        assert scope.cancelled_caught
        cluster.produce(T0, [b"c"])
        [msg] = await asyncio.wait_for(anext(batches), LONG)
        assert msg.value == b"c"


async def test_close_does_not_wait_for_the_revoke_timeout_when_nothing_is_in_flight() -> None:
    """Members took 7.6-8.8 s to leave on SIGTERM: run() was cancelled, its unfinished messages
    were never acknowledged, and close waited the revoke timeout for them."""
    cluster = FakeCluster({T0: 100})
    stream, consumers = open_stream(cluster, group="g", ack="manual", max_batch=10, revoke_timeout=NEVER)
    started = anyio.Event()

    async def handle(msg: Message) -> None:
        started.set()
        await anyio.sleep_forever()  # cancelled with run()

    with anyio.fail_after(LONG):
        async with stream:
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream.run, handle)
                await started.wait()
                tg.cancel_scope.cancel()
    assert consumers[0].stopped
    assert cluster.committed == {}  # offset 0 never finished: nothing committed


async def test_close_waits_for_a_late_ack_of_a_message_in_hand() -> None:
    cluster = FakeCluster({T0: 3})
    stream, _ = open_stream(cluster, group="g", ack="manual", revoke_timeout=NEVER)
    async with anyio.create_task_group() as tg:
        async with stream:
            async for batch in stream.batches():
                break

            async def late() -> None:
                await asyncio.sleep(0.01)
                stream.ack(batch)

            tg.start_soon(late)
    assert cluster.committed == {T0: 3}


async def test_a_refused_commit_is_retried_by_the_next() -> None:
    cluster = FakeCluster({T0: 5})
    cluster.fail_commits = 1
    stream, _ = open_stream(cluster, group="g", commit_interval=0.001)
    async with stream:
        n = 0
        async for _msg in stream:
            n += 1
            if n == 5:
                break
        with anyio.fail_after(LONG):
            while cluster.committed.get(T0) != 4:
                await stream._fetch()
    assert cluster.committed == {T0: 5}


async def test_a_handler_that_always_fails_on_one_message_is_skipped_or_dead_lettered() -> None:
    """A handler failing on one message blocked its partition forever; run() had no policy."""
    cluster = FakeCluster({T0: 10})
    stream, _ = open_stream(cluster, group="g")
    calls: list[int] = []

    async def handle(msg: Message) -> None:
        calls.append(msg.offset)
        if msg.offset == 3:
            raise ValueError("bad record")

    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(lambda: stream.run(handle, on_error=OnError(retries=2, backoff=0.001, then="skip")))
        with anyio.fail_after(LONG):
            while not calls or calls[-1] != 9:
                await asyncio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert calls == [0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9]  # two retries with backoff, then skipped
    assert cluster.committed == {T0: 10}


async def test_a_failing_handler_without_a_policy_stops_run_and_is_not_committed() -> None:
    cluster = FakeCluster({T0: 10})
    stream, _ = open_stream(cluster, group="g")

    async def handle(msg: Message) -> None:
        if msg.offset == 3:
            raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        async with stream:
            await stream.run(handle)
    assert cluster.committed == {T0: 3}


async def test_a_synchronous_handler_runs_off_the_event_loop_per_batch() -> None:
    cluster = FakeCluster({T0: 30})
    stream, _ = open_stream(cluster, group="g", max_batch=10)
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def handle(msg: Message) -> None:  # CPU-bound code would go here
        threads.append(threading.get_ident())

    async with stream, anyio.create_task_group() as tg:
        tg.start_soon(stream.run, handle)
        with anyio.fail_after(LONG):
            while len(threads) < 30:
                await asyncio.sleep(0.001)
        tg.cancel_scope.cancel()
    assert loop_thread not in threads
    assert cluster.committed == {T0: 30}


async def test_without_a_group_an_unreachable_cluster_is_retried_then_reported_when_bounded() -> None:
    """Without a group a lost broker ended the stream silently (a CancelledError)."""
    cluster = FakeCluster({T0: 1})
    stream, _ = open_stream(cluster, partition_refresh_interval=0.01)
    async with stream:
        assert (await anext(aiter(stream))).offset == 0
        cluster.unreachable = True
        with anyio.fail_after(LONG):
            while stream.unreachable_for is None:
                await stream._fetch()  # keeps going: retried with backoff, nothing raised
        cluster.unreachable = False
        cluster.produce(T0, [b"back"])
        msg = await asyncio.wait_for(anext(aiter(stream)), LONG)
        assert msg.value == b"back" and stream.unreachable_for is None

    bounded, _ = open_stream(cluster, partition_refresh_interval=0.01, unreachable_timeout=0.05)
    async with bounded:
        cluster.unreachable = True
        with pytest.raises(BrokerUnavailableError, match="no answer for"), anyio.fail_after(LONG):
            async for _ in bounded:
                pass


async def test_messages_fetched_while_a_revoke_drains_are_not_handed_out() -> None:
    """Fetches go on while a revoke waits for in-flight work; what they bring of the revoked
    partitions belongs to the next owner. Handing it out (or to a new worker) let the commit
    pass messages that were dropped from the old worker's queue."""
    cluster = FakeCluster({T0: 20})
    stream, consumers = open_stream(cluster, group="g", max_batch=5, revoke_timeout=NEVER)
    async with stream, anyio.create_task_group() as tg:
        it = aiter(stream)
        first = await anext(it)
        assert first.offset == 0
        tg.start_soon(consumers[0].rebalance, set())  # waits for the message in hand
        await asyncio.sleep(0)
        late = []
        with anyio.move_on_after(0.2):  # finishes offset 0, then fetches: offsets 5-9 are dropped
            late.append(await anext(it))
        assert late == []
        with anyio.fail_after(LONG):
            while consumers[0].assigned:
                await asyncio.sleep(0.001)
    assert cluster.committed == {T0: 1}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"assignor": "cooperative-sticky"}, "assignor must be one or more of range, roundrobin, sticky"),
        ({"assignor": []}, "assignor must be one or more of"),
        ({"max_unacked": 0}, "max_unacked must be an integer >= 1"),
        ({"unreachable_timeout": 0}, "unreachable_timeout must be a number > 0"),
        ({"partition_refresh_interval": -1}, "partition_refresh_interval must be a number > 0"),
        ({"commit_interval": float("nan")}, "commit_interval must be a number > 0"),
    ],
)
def test_consume_options_are_checked_before_any_network_call(options: dict, message: str) -> None:
    from streamline import ConfigurationError, consume

    with pytest.raises(ConfigurationError, match=message):
        consume("t", bootstrap_servers="localhost:9092", **options)


def test_run_options_are_checked() -> None:
    from streamline import ConfigurationError

    stream, _ = open_stream(FakeCluster())
    with pytest.raises(ConfigurationError, match="concurrency must be an integer >= 1"):
        asyncio.run(stream.run(print, concurrency=0))


async def test_async_for_loops_share_runs_failure_policy_through_process() -> None:
    cluster = FakeCluster({T0: 5})
    stream, _ = open_stream(cluster, group="g", ack="manual")
    calls: list[int] = []

    def index(msg: Message) -> None:
        calls.append(msg.offset)
        if msg.offset == 2:
            raise ValueError("bad record")
        msg.ack()

    async with stream:
        async for msg in stream:
            await stream.process(msg, index, on_error=OnError(retries=1, backoff=0.001, then="skip"))
            if msg.offset == 4:
                break
        with pytest.raises(ValueError, match="bad record"):
            await stream.process(Message.create("t", 0, 2), index)  # no policy: the error is raised
    assert calls == [0, 1, 2, 2, 3, 4, 2]
    assert cluster.committed == {T0: 5}  # the skipped message counts as processed


async def test_progress_in_hand_counts_the_messages_before_it_not_itself() -> None:
    """The per-message loop marks progress once per batch: whatever reads it mid-batch must still
    see every message before the one in hand as processed, and the one in hand as not."""
    cluster = FakeCluster({T0: 30})
    stream, _ = open_stream(cluster, group="g", max_batch=10, revoke_timeout=NEVER)
    async with stream:
        async for msg in stream:
            if msg.offset in (0, 5, 9, 10, 17):
                assert stream.committable().get(T0, 0) == msg.offset, msg.offset
            if msg.offset == 17:
                break  # left normally: the message in hand counts as processed
    assert cluster.committed == {T0: 18}


@pytest.mark.parametrize("leave", ["raise", "aclose"])
async def test_leaving_mid_batch_commits_up_to_the_message_in_hand(leave: str) -> None:
    cluster = FakeCluster({T0: 30})
    stream, _ = open_stream(cluster, group="g", max_batch=10, revoke_timeout=NEVER)
    with pytest.raises(KeyError) if leave == "raise" else anyio.fail_after(LONG):
        async with stream:
            async for msg in stream:
                if msg.offset == 14:
                    if leave == "raise":
                        raise KeyError(msg.offset)
                    await stream.aclose()
    assert cluster.committed == {T0: 14}  # 10-13 of the batch in hand are processed, 14 is not


async def test_a_revoke_mid_batch_waits_for_the_message_in_hand_and_commits_it() -> None:
    cluster = FakeCluster({T0: 30, T1: 30})
    stream, consumers = open_stream(cluster, group="g", max_batch=10, revoke_timeout=NEVER)
    got: list[tuple[int, int]] = []
    async with stream, anyio.create_task_group() as tg:
        async for msg in stream:
            got.append((msg.partition, msg.offset))
            if (msg.partition, msg.offset) == (0, 5):
                tg.start_soon(consumers[0].rebalance, {T1})
                with anyio.fail_after(LONG):
                    while not stream._revoking:  # the revoke waits for this message
                        await asyncio.sleep(0)
                assert T0 not in cluster.committed
            if msg.partition == 1 and msg.offset == 29:
                break
    assert [o for p, o in got if p == 0] == list(range(6))  # 6-9 of the batch went back to the group
    assert [o for p, o in got if p == 1] == list(range(30))
    assert cluster.commits[0] == {T0: 6}  # the revoke's commit: 0-5 processed, 5 included
    assert cluster.committed == {T0: 6, T1: 30}


async def test_a_revoke_that_times_out_commits_only_before_the_message_in_hand() -> None:
    cluster = FakeCluster({T0: 30})
    stream, consumers = open_stream(cluster, group="g", max_batch=10, revoke_timeout=0)
    async with stream:
        async for msg in stream:
            if msg.offset == 13:
                with anyio.fail_after(LONG):
                    await consumers[0].rebalance(set())  # the handler is still busy with 13
                assert cluster.committed == {T0: 13}
                break
    assert cluster.committed == {T0: 13}  # 13 went to the next owner: not counted on leaving
