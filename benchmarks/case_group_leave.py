"""group_leave: how long a group member takes to leave (``aclose()``) after its ``run()`` stops.

Member A runs ``run()`` with ``ack="manual"`` (revoke_timeout 3 s) over 4 partitions; member B
joins, so the group rebalances; 1 s into that rebalance A's ``run()`` is cancelled (what SIGTERM
does in ``tests/integration/group_member.py``) and A closes. The clock runs from the cancel to
the end of ``aclose()``. A second figure closes A in a stable group. No handler is stuck, so
nothing is in flight once ``run()`` has stopped: leaving must not wait for the revoke timeout.

Target: <= 2 s (plain aiokafka leaves in 0.6-0.9 s; before the consumer recomposition this took
7-9 s: the revoke and the close each waited revoke_timeout for acks that could not come).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from ._support import Context, Row, verdict

NAME = "group_leave"
MAX_RUNS = None
TARGET_S = 2.0


async def _leave_seconds(bootstrap: str, topic: str, *, during_rebalance: bool) -> float:
    import anyio

    from streamline import consume

    group = f"bench-leave-{uuid.uuid4().hex[:8]}"
    options = dict(bootstrap_servers=bootstrap, group=group, start="beginning", session_timeout=6,
                   ack="manual", revoke_timeout=3)

    async def handle(msg) -> None:  # noqa: ANN001
        await asyncio.sleep(0.002)
        msg.ack()

    a, b = consume(topic, **options), consume(topic, **options)
    await a.__aenter__()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run, handle)
            while not a.assignment():
                await asyncio.sleep(0.05)
            await b.__aenter__()
            tg.start_soon(b.run, handle)
            if during_rebalance:
                await asyncio.sleep(1.0)  # B is joining: A is inside the rebalance
            else:
                while not b.assignment():
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
            started = time.perf_counter()
            tg.cancel_scope.cancel()
        await a.aclose()
        return time.perf_counter() - started
    finally:
        await a.aclose()
        await b.aclose()


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Producer

    topic = await ctx.new_topic("group-leave", 4)
    async with Producer(ctx.bootstrap) as producer:
        await producer.send_many(topic, [b"x"] * 2000)
    rebalancing = await _leave_seconds(ctx.bootstrap, topic, during_rebalance=True)
    stable = await _leave_seconds(ctx.bootstrap, topic, during_rebalance=False)
    ctx.log(f"  group_leave: {rebalancing:.2f} s during a rebalance, {stable:.2f} s in a stable group")
    await ctx.drop_topics()
    return {"leave_during_rebalance_s": rebalancing, "leave_stable_s": stable}


def rows(m: dict[str, float]) -> list[Row]:
    return [
        Row(NAME, "aclose() of a manual-ack run() member, cancelled during a rebalance", "-",
            f"{m['leave_during_rebalance_s']:.2f} s", "-", f"<= {TARGET_S:g} s",
            verdict(m["leave_during_rebalance_s"] <= TARGET_S)),
        Row(NAME, "aclose() of the same member in a stable group", "-", f"{m['leave_stable_s']:.2f} s", "-",
            f"<= {TARGET_S:g} s", verdict(m["leave_stable_s"] <= TARGET_S)),
    ]
