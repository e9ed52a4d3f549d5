"""consume_memory: peak RSS of a manual-ack group consumer reading 1 MiB messages, one of
which is never acknowledged.

A separate process (so its RSS is its own) joins a group with ``ack="manual"``, reads every
message with ``batches()`` and acknowledges all of them except the very first. Its committed
offset therefore stays at 0 — the tracker must keep the acknowledgements of everything after
it — while the data flows through. Acknowledgement tracking keeps offsets, never messages, so
RSS stays near one fetch's worth of data (aiokafka prefetches up to 4 MiB per partition) above
the interpreter's baseline, however many messages pass. VmRSS is sampled every 0.1 s.

Target: peak RSS <= 150 MB after reading ``consume_memory_messages`` MiB (300 MiB in full size).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from ._support import Context, Row, rss_mb, verdict

NAME = "consume_memory"
MAX_RUNS = 1
TARGET_MB = 150.0
VALUE_BYTES = 1_000_000  # one record per message, under the producer's 1 MiB record limit

_READER = r"""
import asyncio, sys
from streamline import consume

async def main(bootstrap, topic, n):
    stream = consume(topic, bootstrap_servers=bootstrap, group=topic, ack="manual",
                     start="beginning", session_timeout=6, revoke_timeout=0)
    seen = 0
    async with stream:
        async for batch in stream.batches():
            stream.ack(batch if seen else batch[1:])  # the very first message is never acknowledged
            seen += len(batch)
            if seen >= n:
                break
        assert stream.committable() == {}, stream.committable()
    print(seen, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Producer

    n = 30 if ctx.smoke else 300
    topic = await ctx.new_topic("consume-memory", 1)
    value = b"m" * VALUE_BYTES
    async with Producer(ctx.bootstrap, linger_ms=0) as producer:
        for _ in range(n):
            await producer.send(topic, value)
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, ctx.bootstrap, topic, str(n)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    peak = 0.0
    started = time.monotonic()
    while reader.poll() is None:
        peak = max(peak, rss_mb(reader.pid))
        await asyncio.sleep(0.1)
        if time.monotonic() - started > 300:
            reader.kill()
    out, err = reader.communicate()
    if reader.returncode != 0 or int(out or 0) < n:
        raise RuntimeError(f"consume_memory: the reader failed: {err.decode(errors='replace')[-400:]}")
    elapsed = time.monotonic() - started
    ctx.log(f"  consume_memory: {n} x 1 MB read in {elapsed:.1f} s, one never acknowledged; peak RSS {peak:.1f} MB")
    await ctx.drop_topics()
    return {"peak_rss_mb": peak, "messages": float(n), "megabytes": n * VALUE_BYTES / 1e6}


def rows(m: dict[str, float]) -> list[Row]:
    return [
        Row(NAME, f"peak RSS of a manual-ack group consumer: {m['megabytes']:,.0f} MB of 1 MB messages, "
                  "the first never acknowledged",
            "-", f"{m['peak_rss_mb']:.0f} MB", "-", f"<= {TARGET_MB:.0f} MB", verdict(m["peak_rss_mb"] <= TARGET_MB)),
    ]
