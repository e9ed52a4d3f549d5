"""ship: ``streamline ship --once`` of an access.log against a naive port of the tutorial.

The streamline side is the real command, run as a subprocess as a user would::

    streamline -b B ship access.log --topic T --from beginning --once --checkpoints DIR -q

timed from spawn to exit (it exits only after every line is acknowledged and the checkpoint is
saved). Lines/s are reported including interpreter start-up, and excluding it (start-up measured
separately as the median wall time of a ``streamline ship`` stopped by its path check). Every line is then read back.

The naive port (aiofiles line iteration + ``send_and_wait`` per line, the tutorial's sync producer
translated literally) runs in this process on the first ``naive_lines`` lines only — at ~2k lines/s
the whole file would take minutes — and its lines/s are extrapolated from that.
"""

from __future__ import annotations

import os
import time

from ._support import (
    STREAMLINE,
    Context,
    Row,
    access_lines,
    fmt_rate,
    rate,
    startup_seconds,
    tally_lines,
    verdict,
    wall_time,
)

NAME = "ship"
MAX_RUNS = None
PARTITIONS = 4
TARGET = 500_000


def write_log(path: str, lines: int) -> int:
    with open(path, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(access_lines(start, min(lines, start + 100_000)))
    return os.path.getsize(path)


async def naive_tutorial_port(bootstrap: str, topic: str, path: str, cap: int) -> float:
    import aiofiles
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        sent = 0
        started = time.perf_counter()
        async with aiofiles.open(path, "r") as f:
            async for line in f:
                await producer.send_and_wait(topic, line.rstrip("\n").encode())
                sent += 1
                if sent >= cap:
                    break
        return rate(sent, time.perf_counter() - started)
    finally:
        await producer.stop()


async def measure(ctx: Context) -> dict[str, float]:
    n = ctx.sizes.ship_lines
    path = os.path.join(ctx.workdir, "ship-access.log")
    if not os.path.exists(path) or os.path.getsize(path) != n * 127:
        write_log(path, n)
    startup = startup_seconds(1 if ctx.smoke else 3)

    naive_topic = await ctx.new_topic("ship-naive", PARTITIONS)
    cap = min(ctx.sizes.naive_lines, n)
    naive = await naive_tutorial_port(ctx.bootstrap, naive_topic, path, cap)
    ctx.log(f"  ship naive tutorial port {naive:>12,.0f} lines/s  (first {cap:,} lines, extrapolated)")

    topic = await ctx.new_topic("ship", PARTITIONS)
    checkpoints = os.path.join(ctx.workdir, f"ship-checkpoints-{topic}")
    elapsed = wall_time(
        [STREAMLINE, "-b", ctx.bootstrap, "ship", path, "--topic", topic, "--from", "beginning", "--once",
         "--checkpoints", checkpoints, "-q"]
    )
    tally = await tally_lines(ctx.bootstrap, topic, n, timeout=120)
    if tally.distinct < n:
        raise RuntimeError(f"ship: only {tally.distinct:,} of {n:,} lines read back")
    with_start = rate(n, elapsed)
    without_start = rate(n, max(1e-6, elapsed - startup))
    ctx.log(
        f"  ship streamline ship --once {with_start:>12,.0f} lines/s with start-up, "
        f"{without_start:,.0f} without ({n:,} lines in {elapsed:.3f} s, start-up {startup:.3f} s; "
        f"all read back, {tally.duplicates} duplicates)"
    )
    await ctx.drop_topics()
    return {
        "naive_lines_per_s": naive,
        "naive_lines_measured": float(cap),
        "streamline_lines_per_s": with_start,
        "streamline_lines_per_s_excluding_startup": without_start,
        "streamline_seconds": elapsed,
        "startup_seconds": startup,
        "duplicates": float(tally.duplicates),
    }


def rows(m: dict[str, float]) -> list[Row]:
    naive = m["naive_lines_per_s"]
    ours = m["streamline_lines_per_s"]
    bare = m["streamline_lines_per_s_excluding_startup"]
    cap = int(m["naive_lines_measured"])
    return [
        Row(NAME, "ship --once, incl. interpreter start-up, vs naive tutorial port "
                  f"(naive: first {cap:,} lines, extrapolated)",
            fmt_rate(naive, "lines/s"), fmt_rate(ours, "lines/s"), f"{ours / naive:.0f}x",
            ">= 500,000 lines/s", verdict(ours >= TARGET)),
        Row(NAME, f"ship --once, excl. start-up ({m['startup_seconds']:.2f} s, `ship` up to its path check)",
            fmt_rate(naive, "lines/s"), fmt_rate(bare, "lines/s"), f"{bare / naive:.0f}x",
            ">= 500,000 lines/s", verdict(bare >= TARGET)),
    ]
