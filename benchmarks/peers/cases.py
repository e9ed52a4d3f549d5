"""The ``--peers`` cases: reference rows against rsyslog, syslog-ng, confluent-kafka and FastStream.

- ``peers_ship``: one access.log of N lines (127 B), followed from its beginning by each shipper in
  turn (``streamline ship``, ``streamline ship --once``, rsyslog imfile → omkafka, syslog-ng
  file() → kafka-c), to a fresh 4-partition topic, ``acks=all``. Timed from spawn until a consumer
  in this process has read all N lines back (the same clock for all: the peers never exit by
  themselves); CPU seconds of the shipper process (all threads, start-up included) at that moment,
  per million lines.
- ``peers_latency``: each shipper follows an empty file while a writer appends ``rate`` lines/s;
  append→consumer latency seen by a consumer with a 5 ms fetch wait (``linerate.py``), plus the
  shipper's CPU (% of a core) over the measured lines and its RSS at the end.
- ``peers_clients`` (``case_clients.py``): produce (streamline ``send_many``, confluent-kafka
  ``produce``+``flush``, FastStream ``publish_batch``) and consume (``async for`` over ``consume()``,
  confluent-kafka ``consume(num_messages)``, a FastStream batch subscriber), 100-byte values, 4
  partitions.

A peer that cannot run here is skipped with the reason (in the table and in the JSON's
``skipped``). Shippers and clients run in a different order every run (so going first favours
no one); the table shows medians over ``--runs``.
"""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path
from typing import Any

from .. import linerate
from .._support import (
    Context,
    LineTally,
    Row,
    access_lines,
    fmt_rate,
    rate,
    rss_mb,
    tally_lines,
)
from . import Unavailable
from ._daemon import Daemon
from .base import PeerCase, PeerSizes, key, label
from .case_clients import PeersClients
from .shippers import Rsyslog, Shipper, StreamlineShip, SyslogNg

PARTITIONS = 4
PEER_LABELS = (("rsyslog", "rsyslog imfile -> omkafka"), ("syslog-ng", "syslog-ng file() -> kafka-c"))


@functools.cache
def _prepared(name: str) -> Shipper | str:
    """The shipper ready to run, or why not (asked once per process: the download is cached too)."""
    try:
        if name == "rsyslog":
            return Rsyslog.prepare()
        if name == "syslog-ng":
            return SyslogNg.prepare()
        return StreamlineShip()
    except Unavailable as exc:
        return str(exc)


def write_access_log(path: Path, lines: int) -> None:
    with open(path, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(access_lines(start, min(lines, start + 100_000)))


class ShipperCase(PeerCase):
    """A peer case over the log shippers: streamline and whichever of rsyslog / syslog-ng can run."""

    def shippers(self) -> list[Shipper]:
        self.skipped = {}
        ready: list[Shipper] = []
        for name in ("streamline", "rsyslog", "syslog-ng"):
            shipper = _prepared(name)
            if isinstance(shipper, str):
                self.skipped[name] = shipper
            else:
                ready.append(shipper)
        return ready


async def _until_exit(daemon: Daemon) -> None:
    while True:
        daemon.check_running()
        await asyncio.sleep(0.2)


async def watched(daemon: Daemon, work: Any) -> Any:
    """Await ``work`` unless ``daemon`` exits first (then RuntimeError with the end of its log)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_exit(daemon))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if watcher in done:
            task.cancel()
            watcher.result()  # raises
        return task.result()
    finally:
        task.cancel()
        watcher.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


async def read_back(bootstrap: str, topic: str, total: int, timeout: float) -> LineTally:
    return await tally_lines(bootstrap, topic, total, timeout)


class PeersShip(ShipperCase):
    NAME = "peers_ship"
    WHAT = "ship (follow from the beginning), lines/s and CPU s per 1M lines"

    async def measure(self, ctx: Context) -> dict[str, float]:
        n = self.sizes(ctx).ship_lines
        path = Path(ctx.workdir) / f"peers-ship-{n}.log"
        if not path.exists():
            await asyncio.to_thread(write_access_log, path, n)
        result: dict[str, float] = {"lines": float(n)}
        shippers = self.shippers()
        if shippers and isinstance(shippers[0], StreamlineShip):
            shippers.insert(1, StreamlineShip(once=True))  # what case_ship measures, on this clock
        for shipper in self.ordered(shippers):
            topic = await ctx.new_topic(f"peers-ship-{label(shipper.name)}", PARTITIONS)
            workdir = Path(ctx.workdir) / topic
            workdir.mkdir()
            started = time.monotonic()
            with shipper.start(path, topic, ctx.bootstrap, workdir) as daemon:
                tally = await watched(daemon, read_back(ctx.bootstrap, topic, n, timeout=60 + n / 20_000))
                elapsed = time.monotonic() - started
                cpu = daemon.cpu_seconds()
            if tally.distinct < n:
                raise RuntimeError(f"{self.NAME}/{shipper.name}: only {tally.distinct:,} of {n:,} lines arrived")
            k = key(shipper.name)
            result[f"{k}_lines_per_s"] = rate(n, elapsed)
            result[f"{k}_cpu_s_per_1m"] = cpu / n * 1e6
            result[f"{k}_duplicates"] = float(tally.duplicates)
            ctx.log(f"  {self.NAME} {shipper.name:10s} {rate(n, elapsed):>10,.0f} lines/s, "
                    f"{cpu / n * 1e6:.2f} CPU s per 1M lines ({n:,} lines, {tally.duplicates} duplicates)")
            await ctx.drop_topics()
        self.add_ratios(result, self.ratio_pairs())
        return result

    def ratio_pairs(self) -> list[tuple[str, str, str]]:
        return [
            (f"ratio_{ours}_vs_{peer}_{what}", f"{ours}_{metric}", f"{peer}_{metric}")
            for ours in ("streamline", "streamline_once") for peer in ("rsyslog", "syslog_ng")
            for what, metric in (("lines", "lines_per_s"), ("cpu", "cpu_s_per_1m"))
        ]

    def rows(self, m: dict[str, float]) -> list[Row]:
        out = []
        for name, peer_label in PEER_LABELS:
            k = key(name)
            if f"{k}_lines_per_s" not in m:
                continue
            peer, peer_cpu = m[f"{k}_lines_per_s"], m[f"{k}_cpu_s_per_1m"]
            for ours_key, ours_label in (("streamline", "streamline ship"), ("streamline_once", "streamline ship --once")):
                if f"{ours_key}_lines_per_s" not in m:
                    continue
                ours, ours_cpu = m[f"{ours_key}_lines_per_s"], m[f"{ours_key}_cpu_s_per_1m"]
                out.append(Row(
                    self.NAME, f"ship {int(m['lines']):,} lines, spawn -> all read back: {ours_label} vs {peer_label}",
                    f"{fmt_rate(peer, 'lines/s')}, {peer_cpu:.2f} CPU s/1M",
                    f"{fmt_rate(ours, 'lines/s')}, {ours_cpu:.2f} CPU s/1M",
                    f"{self.ratio(m, f'ratio_{ours_key}_vs_{k}_lines')}, "
                    f"CPU {self.ratio(m, f'ratio_{ours_key}_vs_{k}_cpu')}", "reference", "info",
                ))
        return out + self.skip_rows()


class PeersLatency(ShipperCase):
    NAME = "peers_latency"
    WHAT = "append -> consumer latency while following"

    async def measure(self, ctx: Context) -> dict[str, float]:
        sizes = self.sizes(ctx)
        result: dict[str, float] = {"rate": float(sizes.latency_rate)}
        for shipper in self.ordered(self.shippers()):
            k = key(shipper.name)
            result.update({f"{k}_{stat}": value for stat, value in (await self.follow(ctx, shipper, sizes)).items()})
            ctx.log(f"  {self.NAME} {shipper.name:10s} {triple(result, k)}, CPU {result[f'{k}_cpu_percent']:.1f}% "
                    f"of a core, RSS {result[f'{k}_rss_mb']:.0f} MB; append -> record timestamp p50 "
                    f"{result[f'{k}_produced_p50_ms']:.1f} / p99 {result[f'{k}_produced_p99_ms']:.1f} ms")
            await ctx.drop_topics()
        self.add_ratios(result, self.ratio_pairs())
        return result

    def ratio_pairs(self) -> list[tuple[str, str, str]]:
        return [
            (f"ratio_{stat}_vs_{peer}", f"streamline_{stat}", f"{peer}_{stat}")
            for peer in ("rsyslog", "syslog_ng") for stat in ("p50_ms", "p99_ms", "cpu_percent")
        ]

    async def follow(self, ctx: Context, shipper: Shipper, sizes: PeerSizes) -> dict[str, float]:
        """Latency percentiles, CPU % over the measured lines and RSS of ``shipper`` following a file."""
        topic = await ctx.new_topic(f"peers-latency-{label(shipper.name)}", PARTITIONS)
        workdir = Path(ctx.workdir) / topic
        workdir.mkdir()
        path = workdir / "app.log"
        path.touch()
        writer = linerate.Writer(str(path), sizes.latency_rate, sizes.latency_seconds)
        produced: list[float] = []
        with shipper.start(path, topic, ctx.bootstrap, workdir) as daemon:
            marks: dict[str, float] = {}

            async def mark_start() -> None:  # the measured lines start once the warm-up line was seen
                await asyncio.to_thread(writer.go.wait)
                marks["cpu"], marks["at"] = daemon.cpu_seconds(), time.monotonic()

            async def run() -> list[float]:
                marker = asyncio.ensure_future(mark_start())
                try:
                    return await linerate.latencies(ctx.bootstrap, topic, writer, partitions=PARTITIONS,
                                                    timeout=sizes.latency_seconds + 60, produced=produced)
                finally:
                    writer.go.set()  # releases mark_start's thread if the warm-up never arrived
                    await marker

            seen = await watched(daemon, linerate.run_in_thread_until(writer, run()))
            cpu = daemon.cpu_seconds() - marks.get("cpu", 0.0)
            wall = time.monotonic() - marks.get("at", time.monotonic())
            rss = rss_mb(daemon.pid)
        if len(seen) < writer.total:
            raise RuntimeError(f"{self.NAME}/{shipper.name}: only {len(seen)} of {writer.total} lines arrived; "
                               f"{daemon.tail(200)}")
        handed = linerate.handed_over(produced)
        return {**linerate.summary(seen), "cpu_percent": 100 * cpu / wall if wall > 0 else float("nan"),
                "rss_mb": rss, "produced_p50_ms": handed["p50_ms"], "produced_p99_ms": handed["p99_ms"]}

    def rows(self, m: dict[str, float]) -> list[Row]:
        out = []
        for name, peer_label in PEER_LABELS:
            k = key(name)
            if f"{k}_p99_ms" not in m:
                continue
            out.append(Row(
                self.NAME, f"append -> consumer (fetch wait 5 ms) at {int(m['rate']):,} lines/s: streamline ship vs {peer_label}; "
                "CPU % of a core, RSS",
                f"{triple(m, k)}; {m[f'{k}_cpu_percent']:.1f}%, {m[f'{k}_rss_mb']:.0f} MB",
                f"{triple(m, 'streamline')}; {m['streamline_cpu_percent']:.1f}%, {m['streamline_rss_mb']:.0f} MB",
                f"p50 {self.ratio(m, f'ratio_p50_ms_vs_{k}')}, p99 {self.ratio(m, f'ratio_p99_ms_vs_{k}')}, "
                f"CPU {self.ratio(m, f'ratio_cpu_percent_vs_{k}')}", "reference", "info",
            ))
        return out + self.skip_rows()


def triple(m: dict[str, float], k: str) -> str:
    return f"p50 {m[f'{k}_p50_ms']:.1f} / p99 {m[f'{k}_p99_ms']:.1f} / max {m[f'{k}_max_ms']:.1f} ms"


CASES = [PeersShip(), PeersLatency(), PeersClients()]

__all__ = ["CASES", "PeerSizes", "PeersClients", "PeersLatency", "PeersShip", "key", "label"]
