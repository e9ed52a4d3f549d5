"""``python -m benchmarks --curves``: how cost grows, drawn as PNG files next to the JSON results.

- ``curve_files``: ``streamline ship --once`` of the same number of lines spread over 1, 100 and
  2,000 files (a glob), lines/s without interpreter start-up; then ``streamline ship`` following
  those files with nothing to do: idle CPU (% of a core) and RSS.
- ``curve_partitions``: 1, 4 and 64 partitions holding the same messages, read from the beginning
  by ``async for`` over ``consume()`` and by raw aiokafka ``getmany`` (the baseline).
- ``curve_rates``: append→consumer latency percentiles (p50 / p90 / p99 / max) of ``streamline
  ship`` following one file written at 1k, 10k and 100k lines/s (5 ms consumer fetch wait).

The points and sizes are :class:`CurveSizes` (``--quick``, the default, finishes in a few minutes;
``--full``; ``--smoke`` for CI). Every curve runs once per invocation (``--runs`` is ignored): the
sweep is the measurement; rerun it to see the spread. The PNG files are drawn with matplotlib
(``pip install -e '.[bench]'``, ``plotting.py``); without it the numbers are still measured and the table says why
there is no picture.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import linerate
from ._support import (
    STREAMLINE,
    Context,
    Row,
    access_lines,
    fmt_rate,
    rate,
    rss_mb,
    startup_seconds,
    tally_lines,
    wall_time,
)
from .peers._daemon import cpu_seconds
from .plotting import figure, matplotlib_missing, save, series

SCALES = ("smoke", "quick", "full")
#: idle_cost's warm-up ends once a second passes with less CPU than this (% of a core), or after MAX_WARMUP s.
SETTLED_PERCENT = 10.0
MAX_WARMUP = 30.0
nan = float("nan")


@dataclass(frozen=True)
class CurveSizes:
    files: tuple[int, ...] = (1, 100, 2_000)
    file_lines: int = 200_000  # in total, spread over the files
    idle_warmup: float = 3.0  # at least; see idle_cost
    idle_seconds: float = 10.0
    partitions: tuple[int, ...] = (1, 4, 64)
    partition_messages: int = 100_000
    rates: tuple[int, ...] = (1_000, 10_000, 100_000)
    rate_seconds: float = 3.0

    @classmethod
    def of(cls, scale: str) -> CurveSizes:
        if scale == "smoke":
            return cls(files=(1, 10), file_lines=2_000, idle_warmup=0.5, idle_seconds=0.5, partitions=(1, 4),
                       partition_messages=2_000, rates=(200,), rate_seconds=1.0)
        if scale == "full":
            return cls(file_lines=1_000_000, idle_warmup=5.0, idle_seconds=20.0, partition_messages=500_000,
                       rate_seconds=10.0)
        return cls()


class Curve:
    """A sweep over one parameter; ``extra_report`` draws the PNG from the medians."""

    NAME = "curve"
    MAX_RUNS: int | None = 1
    PNG = "curve.png"

    def __init__(self) -> None:
        self.scale = "quick"
        self.out_dir = Path("benchmarks/results")

    def sizes(self, ctx: Context) -> CurveSizes:
        return CurveSizes.of("smoke" if ctx.smoke else self.scale)

    def points(self, m: dict[str, float], prefix: str) -> list[tuple[int, float]]:
        """``(x, value)`` for keys ``{prefix}{x}`` in ``m``, by x."""
        found = [(int(k[len(prefix):]), v) for k, v in m.items() if k.startswith(prefix) and k[len(prefix):].isdigit()]
        return sorted(found)

    def draw(self, m: dict[str, float], path: Path) -> None:
        raise NotImplementedError

    @staticmethod
    def machine() -> dict[str, float]:
        """What the figures depend on, recorded with them: the 1-minute load average and the CPUs."""
        return {"loadavg_1m": os.getloadavg()[0], "cpus": float(os.cpu_count() or 0)}

    def extra_report(self, m: dict[str, float]) -> dict[str, Any]:
        reason = matplotlib_missing()
        if reason is not None:
            return {"png_skipped": reason}
        path = self.out_dir / self.PNG
        path.parent.mkdir(parents=True, exist_ok=True)
        self.draw(m, path)
        return {"png": str(path)}

    def png_note(self) -> str:
        reason = matplotlib_missing()
        return f"PNG skipped: {reason}" if reason else f"PNG: {self.out_dir / self.PNG}"


class FilesCurve(Curve):
    NAME = "curve_files"
    PNG = "curve-files.png"

    async def measure(self, ctx: Context) -> dict[str, float]:
        sizes = self.sizes(ctx)
        startup = startup_seconds(1 if ctx.smoke else 3)
        result: dict[str, float] = {"lines": float(sizes.file_lines), "startup_seconds": startup, **self.machine()}
        for count in sizes.files:
            directory = Path(ctx.workdir) / f"curve-files-{count}"
            directory.mkdir(exist_ok=True)
            per_file = -(-sizes.file_lines // count)
            total = 0
            for i in range(count):
                lines = min(per_file, sizes.file_lines - total)
                (directory / f"app-{i:05d}.log").write_bytes(access_lines(total, total + lines))
                total += lines
            pattern = str(directory / "*.log")
            topic = await ctx.new_topic(f"curve-files-{count}", 4)
            checkpoints = Path(ctx.workdir) / f"curve-checkpoints-{topic}"
            elapsed = wall_time([STREAMLINE, "-b", ctx.bootstrap, "ship", pattern, "--topic", topic, "--from",
                                 "beginning", "--once", "--checkpoints", str(checkpoints), "-q"])
            tally = await tally_lines(ctx.bootstrap, topic, total, timeout=60 + total / 20_000)
            if tally.distinct < total:
                raise RuntimeError(f"{self.NAME}: {count} files: only {tally.distinct:,} of {total:,} lines arrived")
            result[f"lines_per_s_{count}"] = rate(total, max(1e-6, elapsed - startup))
            idle, rss, warmed = await asyncio.to_thread(
                idle_cost, ctx.bootstrap, pattern, topic, checkpoints, sizes.idle_warmup, sizes.idle_seconds)
            result[f"idle_cpu_percent_{count}"] = idle
            result[f"idle_rss_mb_{count}"] = rss
            result[f"idle_warmup_seconds_{count}"] = warmed
            ctx.log(f"  {self.NAME} {count:>5,} files: {result[f'lines_per_s_{count}']:>10,.0f} lines/s "
                    f"(excl. start-up), idle {idle:.2f}% of a core after {warmed:.0f} s of warm-up, RSS {rss:.0f} MB")
            await ctx.drop_topics()
        return result

    def rows(self, m: dict[str, float]) -> list[Row]:
        speed = self.points(m, "lines_per_s_")
        idle = self.points(m, "idle_cpu_percent_")
        rss = self.points(m, "idle_rss_mb_")
        return [
            Row(self.NAME, f"ship --once of {int(m['lines']):,} lines over N files, excl. start-up; {self.png_note()}",
                "N = " + " / ".join(f"{x:,}" for x, _ in speed), " / ".join(fmt_rate(v, "lines/s") for _, v in speed),
                "-", "reference", "info"),
            Row(self.NAME, "idle CPU (% of a core) and RSS of ship following the N files (after the warm-up: "
                "until a second passes under 10% of a core)",
                "N = " + " / ".join(f"{x:,}" for x, _ in idle),
                " / ".join(f"{v:.2f}%, {r:.0f} MB" for (_, v), (_, r) in zip(idle, rss, strict=True)), "-", "reference", "info"),
        ]

    def draw(self, m: dict[str, float], path: Path) -> None:
        fig, ax = figure("streamline ship: cost against the number of files", "files (log scale)",
                          "lines/s, ship --once (excl. start-up)")
        series(ax, self.points(m, "lines_per_s_"), "lines/s", color="tab:blue")
        right = ax.twinx()
        right.set_ylabel("idle CPU, % of a core")
        series(right, self.points(m, "idle_cpu_percent_"), "idle CPU %", color="tab:red", linestyle="--")
        ax.set_ylim(bottom=0)
        right.set_ylim(bottom=0)
        handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], loc="center left")
        save(fig, path, m)


def idle_cost(bootstrap: str, pattern: str, topic: str, checkpoints: Path, warmup: float,
              seconds: float) -> tuple[float, float, float]:
    """CPU (% of a core), RSS (MB) and warm-up (s) of ``streamline ship`` following files it has shipped.

    The warm-up lasts at least ``warmup`` seconds and until one second passes with under
    :data:`SETTLED_PERCENT` of a core used (at most :data:`MAX_WARMUP` s): start-up and the first
    scan of 2,000 files take 5-10 s of a busy machine, and they are not idling.
    """
    process = subprocess.Popen(
        [STREAMLINE, "-b", bootstrap, "ship", pattern, "--topic", topic, "--checkpoints", str(checkpoints), "-q"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        started = time.monotonic()
        time.sleep(warmup)
        while time.monotonic() - started < MAX_WARMUP:
            before = cpu_seconds(process.pid)
            time.sleep(1.0)
            if process.poll() is not None or 100 * (cpu_seconds(process.pid) - before) < SETTLED_PERCENT:
                break
        if process.poll() is not None:
            raise RuntimeError(f"ship exited {process.returncode}: {process.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
        warmed = time.monotonic() - started
        before, started = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        used, wall = cpu_seconds(process.pid) - before, time.monotonic() - started
        return 100 * used / wall, rss_mb(process.pid), warmed
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


class PartitionsCurve(Curve):
    NAME = "curve_partitions"
    PNG = "curve-partitions.png"

    async def measure(self, ctx: Context) -> dict[str, float]:
        from streamline import Producer

        sizes = self.sizes(ctx)
        n = sizes.partition_messages
        result: dict[str, float] = {"messages": float(n), **self.machine()}
        for partitions in sizes.partitions:
            topic = await ctx.new_topic(f"curve-partitions-{partitions}", partitions)
            async with Producer(ctx.bootstrap, partitioner="round_robin") as producer:
                await producer.send_many(topic, [b"%0100d" % i for i in range(n)])
            ours = await streamline_consume(ctx.bootstrap, topic, n)
            base = await aiokafka_getmany(ctx.bootstrap, topic, n, partitions)
            result[f"consume_{partitions}"] = rate(n, ours)
            result[f"getmany_{partitions}"] = rate(n, base)
            ctx.log(f"  {self.NAME} {partitions:>3} partitions: consume() {rate(n, ours):>10,.0f} msg/s, "
                    f"getmany {rate(n, base):,.0f} msg/s")
            await ctx.drop_topics()
        return result

    def rows(self, m: dict[str, float]) -> list[Row]:
        ours, base = self.points(m, "consume_"), self.points(m, "getmany_")
        return [Row(
            self.NAME, f"consume {int(m['messages']):,} messages over P partitions: async for over consume() vs "
            f"aiokafka getmany; {self.png_note()}",
            "P = " + " / ".join(f"{x}: {fmt_rate(v)}" for x, v in base),
            " / ".join(fmt_rate(v) for _, v in ours),
            " / ".join(f"{o / b:.2f}x" for (_, o), (_, b) in zip(ours, base, strict=True)), "reference", "info",
        )]

    def draw(self, m: dict[str, float], path: Path) -> None:
        fig, ax = figure("consume throughput against the number of partitions", "partitions (log scale)", "msg/s")
        series(ax, self.points(m, "consume_"), "async for over consume()", color="tab:blue")
        series(ax, self.points(m, "getmany_"), "aiokafka getmany (baseline)", color="tab:gray", linestyle="--")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower left")
        save(fig, path, m)


async def streamline_consume(bootstrap: str, topic: str, n: int) -> float:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        started = time.perf_counter()
        async for _message in stream:
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started


async def aiokafka_getmany(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        count = 0
        started = time.perf_counter()
        while count < n:
            records = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for batch in records.values():
                for _message in batch:
                    count += 1
        return time.perf_counter() - started
    finally:
        await consumer.stop()


class RatesCurve(Curve):
    NAME = "curve_rates"
    PNG = "curve-rates.png"
    STATS = ("p50_ms", "p90_ms", "p99_ms", "max_ms")

    async def measure(self, ctx: Context) -> dict[str, float]:
        sizes = self.sizes(ctx)
        result: dict[str, float] = {"seconds": sizes.rate_seconds, **self.machine()}
        for line_rate in sizes.rates:
            topic = await ctx.new_topic(f"curve-rates-{line_rate}", 4)
            path = Path(ctx.workdir) / f"curve-rates-{topic}.log"
            path.touch()
            ship = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
                [STREAMLINE, "-b", ctx.bootstrap, "ship", str(path), "--topic", topic, "--from", "beginning",
                 "--checkpoints", str(Path(ctx.workdir) / f"curve-rates-checkpoints-{topic}"), "-q"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            writer = linerate.Writer(str(path), line_rate, sizes.rate_seconds)
            ship_cpu = 0.0
            produced: list[float] = []
            try:
                seen = await linerate.run_in_thread_until(writer, linerate.latencies(
                    ctx.bootstrap, topic, writer, partitions=4, timeout=sizes.rate_seconds + 60, produced=produced))
                ship_cpu = cpu_seconds(ship.pid)
            finally:
                ship.send_signal(signal.SIGTERM)
                try:
                    _, err = await asyncio.to_thread(ship.communicate, timeout=40)
                except subprocess.TimeoutExpired:
                    ship.kill()
                    _, err = ship.communicate()
            if len(seen) < writer.total:
                raise RuntimeError(f"{self.NAME}: at {line_rate:,} lines/s only {len(seen):,} of {writer.total:,} "
                                   f"lines arrived; ship said: {err.decode(errors='replace').strip()[-300:]}")
            for stat, value in linerate.summary(seen).items():
                result[f"{stat}_{line_rate}"] = value
            handed = linerate.handed_over(produced)
            result[f"produced_p50_ms_{line_rate}"] = handed["p50_ms"]
            result[f"produced_p99_ms_{line_rate}"] = handed["p99_ms"]
            result[f"write_seconds_{line_rate}"] = writer.write_seconds
            result[f"ship_cpu_seconds_{line_rate}"] = ship_cpu
            ctx.log(f"  {self.NAME} {line_rate:>7,} lines/s: " + " / ".join(
                f"{s[:-3]} {result[f'{s}_{line_rate}']:.1f}" for s in self.STATS) + " ms"
                f"; append -> record timestamp p50 {handed['p50_ms']:.1f} / p99 {handed['p99_ms']:.1f} ms"
                f" (writing took {writer.write_seconds:.1f} s; ship used {ship_cpu:.1f} CPU s in all)")
            await ctx.drop_topics()
        return result

    def rows(self, m: dict[str, float]) -> list[Row]:
        p50 = self.points(m, "p50_ms_")
        return [Row(
            self.NAME, f"append -> ship -> consumer (fetch wait 5 ms), {m['seconds']:g} s per rate, "
            f"p50 / p99 / max; {self.png_note()}",
            "lines/s = " + " / ".join(f"{x:,}" for x, _ in p50),
            " | ".join(f"{m[f'p50_ms_{x}']:.1f} / {m[f'p99_ms_{x}']:.1f} / {m[f'max_ms_{x}']:.1f} ms" for x, _ in p50),
            "-", "reference", "info",
        ), Row(
            self.NAME, "the same runs: append -> record timestamp (the line handed to ship's Kafka client) p50 / p99; "
            "seconds the writer took (above the planned time: the benchmark process fell behind); ship CPU s in all",
            "lines/s = " + " / ".join(f"{x:,}" for x, _ in p50),
            " | ".join(f"{m.get(f'produced_p50_ms_{x}', nan):.1f} / {m.get(f'produced_p99_ms_{x}', nan):.1f} ms, "
                       f"{m.get(f'write_seconds_{x}', nan):.1f} s, {m.get(f'ship_cpu_seconds_{x}', nan):.1f} CPU s"
                       for x, _ in p50),
            "-", "reference", "info",
        )]

    def draw(self, m: dict[str, float], path: Path) -> None:
        fig, ax = figure("append -> consumer latency against the line rate", "lines/s (log scale)",
                          "ms (log scale)")
        ax.set_yscale("log")
        for stat, color in zip(self.STATS, ("tab:blue", "tab:green", "tab:orange", "tab:red"), strict=True):
            series(ax, self.points(m, f"{stat}_"), stat[:-3], color=color)
        ax.legend(loc="upper left")
        save(fig, path, m)


CASES = [FilesCurve(), PartitionsCurve(), RatesCurve()]
