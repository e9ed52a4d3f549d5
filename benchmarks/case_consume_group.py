"""consume_group: per-message ``async for`` in a consumer group against the same loop without one.

One topic (4 partitions) is filled once; every round reads it from the beginning twice, without
a group and in a fresh group (``ack="auto"``: each message is processed when the next is asked
for, commits every second), in alternating order. The clock starts at message ``WARMUP`` (the
group has joined, every partition is fetching: steady state) and stops at the last message, so
the join itself (about half the session timeout on the embedded broker) is not measured.
The figure is the median of the per-round ratios, with their spread; the target is >= 0.9x.
The same ratio in CPU seconds of this process is printed too: on a shared machine it is the
steadier measure of what the group path adds per message.
"""

from __future__ import annotations

import statistics
import time
import uuid

from ._support import Context, Row, fmt_rate, rate, verdict

NAME = "consume_group"
MAX_RUNS = None
PARTITIONS = 4
ROUNDS = 5
WARMUP = 20_000
TARGET = 0.9


async def read_all(bootstrap: str, topic: str, n: int, group: str | None) -> tuple[float, float]:
    """Wall and CPU seconds (this process) from message ``WARMUP`` to message ``n`` of
    ``async for`` over ``topic``."""
    from streamline import consume

    options = {} if group is None else {"group": group, "session_timeout": 6.0}
    warmup = min(WARMUP, n // 10)
    count = 0
    started = cpu = 0.0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning", **options) as stream:
        async for _message in stream:
            count += 1
            if count == warmup:
                started, cpu = time.perf_counter(), time.process_time()
            elif count >= n:
                break
        return time.perf_counter() - started, time.process_time() - cpu


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Producer

    n = ctx.sizes.consume_messages
    rounds = 1 if ctx.smoke else ROUNDS
    topic = await ctx.new_topic("consume-group", PARTITIONS)
    async with Producer(ctx.bootstrap) as producer:
        await producer.send_many(topic, [b"%0100d" % i for i in range(n)])
    timed = n - min(WARMUP, n // 10)
    ratios: list[float] = []
    cpu_ratios: list[float] = []  # CPU seconds per message, no group / group: less noisy on a shared machine
    solo_rates: list[float] = []
    group_rates: list[float] = []
    for i in range(rounds):
        order = [None, f"bench-group-{uuid.uuid4().hex[:8]}"]
        if i % 2:
            order.reverse()  # going first or second favours no one
        elapsed, cpu = {}, {}
        for group in order:
            elapsed[group is None], cpu[group is None] = await read_all(ctx.bootstrap, topic, n, group)
        solo, grouped = rate(timed, elapsed[True]), rate(timed, elapsed[False])
        solo_rates.append(solo)
        group_rates.append(grouped)
        ratios.append(grouped / solo)
        cpu_ratios.append(cpu[True] / cpu[False])
        ctx.log(f"  consume_group round {i + 1}: no group {solo:,.0f} msg/s, group {grouped:,.0f} msg/s, "
                f"{grouped / solo:.2f}x (CPU {cpu[True]:.2f} s vs {cpu[False]:.2f} s: {cpu_ratios[-1]:.2f}x)")
    await ctx.drop_topics()
    return {
        "solo_msgs_per_s": statistics.median(solo_rates),
        "group_msgs_per_s": statistics.median(group_rates),
        "ratio_group_vs_solo": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "cpu_ratio_group_vs_solo": statistics.median(cpu_ratios),
        "cpu_ratio_min": min(cpu_ratios),
        "cpu_ratio_max": max(cpu_ratios),
        "rounds": float(rounds),
    }


def rows(m: dict[str, float]) -> list[Row]:
    ratio = m["ratio_group_vs_solo"]
    return [
        Row(NAME, f"async for in a group vs without, steady state (median of {m['rounds']:.0f} rounds, "
            f"spread {m['ratio_min']:.2f}-{m['ratio_max']:.2f}x)",
            fmt_rate(m["solo_msgs_per_s"]), fmt_rate(m["group_msgs_per_s"]), f"{ratio:.2f}x",
            f">= {TARGET:g}x", verdict(ratio >= TARGET)),
        Row(NAME, f"the same in CPU seconds per message, no group / group (spread "
            f"{m['cpu_ratio_min']:.2f}-{m['cpu_ratio_max']:.2f}x)", "-", "-",
            f"{m['cpu_ratio_group_vs_solo']:.2f}x", "reference", "info"),
    ]
