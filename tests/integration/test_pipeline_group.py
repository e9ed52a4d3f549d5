"""A Pipeline fed by a consumer group on the real broker: a CPU-bound synchronous stage does not
cost the membership (issue 13 point 9)."""

from __future__ import annotations

import time

import anyio

from streamline import GroupAdmin, GroupError, Pipeline, Producer, Stage, consume

SESSION_TIMEOUT = 6.0
COUNT = 5


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    async with GroupAdmin(bootstrap) as groups:
        try:
            info = await groups.describe_group(group, topics=[topic])
        except GroupError:  # not created yet: nothing committed
            return {}
    return {p.partition: p.committed for p in info.partitions if p.committed is not None}


async def test_a_cpu_bound_sync_stage_keeps_the_member_in_the_group(kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    """The stage burns CPU (a busy loop, not a sleep) for longer than the session timeout on the
    first batch; it runs in a worker thread, so the event loop (heartbeats, fetches) goes on: no
    rebalance, every message reaches the sink exactly once and the offsets are committed.

    The embedded broker did not evict a member whose loop was blocked 8 s at a 6 s session timeout
    (measured with ``thread=False``), so the test also checks directly that the event loop kept
    running during the burn: the burn lasts until a loop task ticked (or 90 s, then it fails)."""
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    async with Producer(kafka_bootstrap) as producer:
        for i in range(COUNT):  # one record per request (see NOTES.md on ListOffsets)
            await producer.send(topic, f"m{i}", partition=0)

    burned: list[int] = []
    ticks = [0]
    ticks_during_burn = [0]

    def burn(msg):  # type: ignore[no-untyped-def]
        if not burned:
            burned.append(msg.offset)
            began = time.monotonic()
            first_tick = ticks[0]
            # Longer than the session timeout, and until the loop was seen ticking (bounded).
            while time.monotonic() < began + SESSION_TIMEOUT + 2 or (
                ticks[0] - first_tick < 5 and time.monotonic() < began + 90
            ):
                sum(range(10_000))
            ticks_during_burn[0] = ticks[0] - first_tick
        return msg.value

    async def ticker() -> None:
        while True:
            ticks[0] += 1
            await anyio.sleep(0.05)

    delivered: list[bytes] = []
    stream = consume(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group=group,
        start="beginning",
        ack="manual",
        session_timeout=SESSION_TIMEOUT,
        commit_interval=0.3,
    )
    pipeline = Pipeline(stream, Stage(burn), to=delivered.extend)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        with anyio.fail_after(240):
            async with anyio.create_task_group() as running:
                running.start_soon(pipeline.run)
                while len(delivered) < COUNT or await committed(kafka_bootstrap, group, topic) != {0: COUNT}:
                    await anyio.sleep(0.1)
                rebalances = stream.rebalances
                pipeline.stop()  # drains and returns; the task group waits for it
        tg.cancel_scope.cancel()
    assert burned == [0]
    assert ticks_during_burn[0] >= 5  # the event loop ran while the stage burned CPU
    assert rebalances == 0  # never evicted, never re-joined
    assert stream.rebalances == 0
    assert sorted(delivered) == [f"m{i}".encode() for i in range(COUNT)]  # exactly once
    assert await committed(kafka_bootstrap, group, topic) == {0: COUNT}
