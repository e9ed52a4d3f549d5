"""memory: a broker outage while the followed file grows; peak RSS of ``streamline ship``.

Always on its own embedded broker, behind a TCP proxy (the broker advertises the proxy's port),
so the outage is real for every connection: ``proxy.cut()`` closes them all and refuses new
ones. ``streamline ship`` (follow mode, a subprocess) ships ``access.log``; after a warm-up the
proxy is cut for ``memory_outage`` seconds while this process appends ``memory_bytes`` of lines
in large chunks; then the proxy is restored and every line is read back (counted by its number:
distinct lines and duplicates). VmRSS of the ship process is sampled every 0.5 s throughout.

There is no baseline process here; the target is absolute (<= 150 MB). The ship process's RSS
before the outage is reported alongside.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from ._support import STREAMLINE, LINE_BYTES, Context, Row, access_lines, rss_mb, tally_lines, verdict

NAME = "memory"
MAX_RUNS = 1  # one run: the outage alone is a minute
PARTITIONS = 4
TARGET_MB = 150.0
WARM_LINES = 50_000
SAMPLE_EVERY = 0.5


def _proxy_class():  # the fault-injection proxy the test suite uses
    here = os.path.dirname(os.path.abspath(__file__))
    support = os.path.join(os.path.dirname(here), "tests", "support")
    if support not in sys.path:
        sys.path.insert(0, support)
    from tcp_proxy import TcpProxy

    return TcpProxy


async def measure(ctx: Context) -> dict[str, float]:
    from streamline import Admin, EmbeddedBroker
    from streamline._broker import free_port

    sizes = ctx.sizes
    TcpProxy = _proxy_class()
    broker_port, proxy_port = free_port(), free_port()
    path = os.path.join(ctx.workdir, "memory-access.log")
    appended_lines = sizes.memory_bytes // LINE_BYTES
    total = WARM_LINES + appended_lines
    with open(path, "wb") as f:
        f.write(access_lines(0, WARM_LINES))

    with TcpProxy(broker_port, port=proxy_port) as proxy:
        async with EmbeddedBroker(port=broker_port, advertised_port=proxy_port):
            bootstrap = f"127.0.0.1:{proxy_port}"
            async with Admin(bootstrap) as admin:
                await admin.create_topic("memory", partitions=PARTITIONS)
            ship = subprocess.Popen(
                [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", "memory", "--from", "beginning",
                 "--checkpoints", os.path.join(ctx.workdir, "memory-checkpoints"), "-q"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            peak = 0.0
            try:
                await asyncio.sleep(1.0 if ctx.smoke else 3.0)
                before = rss_mb(ship.pid)
                peak = before
                proxy.cut()
                ctx.log(f"  memory: proxy cut; appending {sizes.memory_bytes / 1e6:,.0f} MB over {sizes.memory_outage:g} s")
                # Append in chunks every SAMPLE_EVERY seconds, sampling RSS between them.
                ticks = max(1, int(sizes.memory_outage / SAMPLE_EVERY))
                per_tick = -(-appended_lines // ticks)
                written = 0
                started = time.monotonic()
                with open(path, "ab") as f:
                    for tick in range(ticks):
                        n = min(per_tick, appended_lines - written)
                        if n > 0:
                            f.write(access_lines(WARM_LINES + written, WARM_LINES + written + n))
                            f.flush()
                            written += n
                        peak = max(peak, rss_mb(ship.pid))
                        delay = started + (tick + 1) * SAMPLE_EVERY - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(delay)
                outage = time.monotonic() - started
                if ship.poll() is not None:
                    raise RuntimeError(f"memory: ship exited during the outage: {ship.stderr.read().decode()[-300:]}")
                during = peak
                proxy.restore()
                restored = time.monotonic()
                ctx.log(f"  memory: restored after {outage:.1f} s; peak RSS so far {peak:.1f} MB; reading back {total:,} lines")

                async def sample() -> None:
                    nonlocal peak
                    while True:
                        peak = max(peak, rss_mb(ship.pid))
                        await asyncio.sleep(SAMPLE_EVERY)

                sampler = asyncio.create_task(sample())
                try:
                    tally = await tally_lines(bootstrap, "memory", total, timeout=120 if ctx.smoke else 900)
                finally:
                    sampler.cancel()
                catch_up = time.monotonic() - restored
                peak = max(peak, rss_mb(ship.pid))
            finally:
                ship.send_signal(signal.SIGTERM)
                try:
                    _, err = ship.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    ship.kill()
                    _, err = ship.communicate()
            if ship.returncode != 0:
                raise RuntimeError(f"memory: ship exited {ship.returncode}: {err.decode(errors='replace')[-300:]}")
    os.unlink(path)
    result = {
        "peak_rss_mb": peak,
        "peak_rss_during_outage_mb": during,
        "rss_before_outage_mb": before,
        "outage_seconds": outage,
        "appended_mb": written * LINE_BYTES / 1e6,
        "lines_expected": float(total),
        "lines_arrived": float(tally.distinct),
        "duplicates": float(tally.duplicates),
        "catch_up_seconds": catch_up,
    }
    ctx.log(
        f"  memory: peak RSS {peak:.1f} MB (before the outage {before:.1f} MB); "
        f"{tally.distinct:,} of {total:,} lines arrived ({tally.duplicates:,} duplicates) "
        f"{catch_up:.1f} s after the restore"
    )
    return result


def rows(m: dict[str, float]) -> list[Row]:
    arrived, expected = int(m["lines_arrived"]), int(m["lines_expected"])
    return [
        Row(NAME, f"peak RSS of ship, {m['outage_seconds']:.0f} s outage while the file grew by "
                  f"{m['appended_mb']:,.0f} MB (baseline: RSS before the outage)",
            f"{m['rss_before_outage_mb']:.0f} MB", f"{m['peak_rss_mb']:.0f} MB", "-", "<= 150 MB",
            verdict(m["peak_rss_mb"] <= TARGET_MB)),
        Row(NAME, f"every line arrived after recovery ({m['catch_up_seconds']:.0f} s to read all back, "
                  f"{int(m['duplicates']):,} duplicates)",
            f"{expected:,} lines", f"{arrived:,} lines", "-", "all", verdict(arrived >= expected)),
    ]
