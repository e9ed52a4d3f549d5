"""metrics_overhead: produce, consume and ship with the metrics endpoint off and on, interleaved.

    python -m benchmarks --case metrics_overhead        # not in the default set: a dedicated mode

Each round runs every pair back to back — off then on, the next round on then off, so going first
favours neither — and the case reports the median over the rounds of the per-round ratios with
their spread (min–max): throughput on/off, and CPU seconds per message on/off (the CPU time of the
process doing the work: this process for produce and consume, the ``streamline ship`` child for
ship). On a shared, loaded machine the wall-clock throughput swings by tens of percent between
runs; the CPU cost per message is what an endpoint could add to, and it is far steadier, so the
verdict is on it. "On" means what an operator runs: the metrics endpoint served
(``serve_metrics`` in-process, ``ship --metrics`` for the command) and scraped once a second
during the timed section — 15 times Prometheus' usual rate — by a separate process, as a
Prometheus server would. Counting itself has no off switch: producers, streams and pipelines keep
their per-batch counters either way (the registry reads them at scrape time), so "off" is
streamline as shipped without an endpoint. For ship, "on" also pays importing prometheus_client
and binding the port once at start-up.

An A/A control runs "off" a second time in each round ("off2"): its ratio to "off" is the noise
floor of this machine at the time — read the on/off ratio against it. A fourth, informative
variant runs produce and consume with OpenTelemetry tracing on (an SDK tracer provider with a span
processor that drops spans), to show what spans per batch cost.

``STREAMLINE_BENCH_ROUNDS`` sets the rounds (default 7; 2 with ``--smoke``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from ._support import STREAMLINE, Context, Row, rate, verdict
from .case_ship import write_log

NAME = "metrics_overhead"
MAX_RUNS = 1  # the rounds happen inside one run
PARTITIONS = 4
TARGET = 1.03  # CPU per message, on/off: within 3 %
#: Seconds between scrapes during the timed sections: 3 times the usual 15 s. On this slowed machine
#: a run lasts seconds, so each "on" run sees a few scrapes; what one scrape costs the scraped
#: process is measured on its own (``scrape_ms``).
SCRAPE_EVERY = 5.0

_SCRAPE_LOOP = """
import signal, sys, time, urllib.request
# A background shell job starts with SIGINT ignored, and Python keeps it so: take it back.
signal.signal(signal.SIGINT, signal.default_int_handler)
url, every, done = sys.argv[1], float(sys.argv[2]), 0
print("ready", flush=True)
try:
    while True:
        time.sleep(every)
        try:
            urllib.request.urlopen(url, timeout=5).read()
            done += 1
        except OSError:
            pass
except KeyboardInterrupt:
    print(done)
"""


class Scraper:
    """A separate process GETting ``url`` every ``SCRAPE_EVERY`` seconds (like a Prometheus server)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.scrapes = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the scraping process; returns once its interpreter is up (its start-up must not
        land in the timed section)."""
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SCRAPE_LOOP, self.url, str(SCRAPE_EVERY)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert self._process.stdout is not None
        self._process.stdout.readline()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(2)  # SIGINT: print the count and exit
        out, _ = process.communicate(timeout=30)
        self.scrapes += int(out.strip() or 0)

    def fetch(self) -> str:
        """One scrape from here (after the timed section): the exposition text."""
        with urllib.request.urlopen(self.url, timeout=30) as response:
            return str(response.read().decode())


def _metric(text: str, name: str) -> float:
    """Sum of a metric's samples in an exposition (no labels needed here)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class _Tracing:
    """Install / remove a global SDK tracer provider whose spans go nowhere (informative variant)."""

    def __enter__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        self._reset()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)

    def __exit__(self, *exc: object) -> None:
        self._reset()

    @staticmethod
    def _reset() -> None:
        from opentelemetry import trace
        from opentelemetry.util._once import Once

        trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]  # as OTel's own test utilities do
        trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]


def _has_otel_sdk() -> bool:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


Timing = tuple[float, float]  # (wall seconds, CPU seconds) of the timed section


async def _with_endpoint(run: Callable[[], Awaitable[Timing]], check: Callable[[str], None]) -> Timing:
    from streamline import serve_metrics

    async with serve_metrics("127.0.0.1:0") as server:
        scraper = Scraper(f"{server.url}/metrics")
        await asyncio.to_thread(scraper.start)
        try:
            timing = await run()
        finally:
            await asyncio.to_thread(scraper.stop)
        check(await asyncio.to_thread(scraper.fetch))  # after the run: the figures must be there
    return timing


# -- the three workloads ------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, data: list[bytes]) -> Timing:
    from streamline import Producer

    async with Producer(bootstrap, acks="all") as producer:
        await producer.send(topic, b"warm-up")
        started, cpu = time.perf_counter(), time.process_time()
        sent = await producer.send_many(topic, data)
        timing = time.perf_counter() - started, time.process_time() - cpu
    assert sent == len(data), sent
    return timing


async def consume_all(bootstrap: str, topic: str, n: int) -> Timing:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        started, cpu = time.perf_counter(), time.process_time()
        async for _message in stream:
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started, time.process_time() - cpu


def ship(bootstrap: str, topic: str, path: str, checkpoints: str, metrics_port: int | None) -> Timing:
    """``streamline ship --once``: wall time and the child's own CPU time (``wait4``), start-up included."""
    args = [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning", "--once",
            "--checkpoints", checkpoints, "-q"]
    scraper = None
    if metrics_port is not None:
        args += ["--metrics", f"127.0.0.1:{metrics_port}"]
        scraper = Scraper(f"http://127.0.0.1:{metrics_port}/metrics")
        scraper.start()  # before ship starts; it scrapes once ship listens
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if scraper is not None:
            scraper.stop()
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"ship exited {process.returncode}: {err.read().decode(errors='replace').strip()[-500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


# -- the case -----------------------------------------------------------------------------------


def _scrape_cost() -> float:
    """CPU milliseconds one ``/metrics`` exposition takes here (median of 21)."""
    from streamline._metrics.collector import exposition, new_registry

    registry = new_registry()
    costs = []
    for _ in range(21):
        cpu = time.process_time()
        exposition(registry)
        costs.append((time.process_time() - cpu) * 1000)
    return statistics.median(costs)


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}"


async def measure(ctx: Context) -> dict[str, float]:
    from streamline._broker import free_port

    rounds = int(os.environ.get("STREAMLINE_BENCH_ROUNDS", "2" if ctx.smoke else "7"))
    n_produce, n_consume, n_ship = ctx.sizes.produce_messages, ctx.sizes.consume_messages, ctx.sizes.ship_lines
    data = [b"%0100d" % i for i in range(n_produce)]
    traced = _has_otel_sdk()

    consume_topic = await ctx.new_topic("overhead-consume", PARTITIONS)
    await produce(ctx.bootstrap, consume_topic, [b"%0100d" % i for i in range(n_consume)])
    log_path = os.path.join(ctx.workdir, "overhead-access.log")
    write_log(log_path, n_ship)

    def expect(name: str, at_least: float) -> Callable[[str], None]:
        def check(text: str) -> None:
            if _metric(text, name) < at_least:
                raise RuntimeError(f"metrics_overhead: {name} is {_metric(text, name)} after the run, expected >= {at_least}")
        return check

    async def produce_variant(mode: str) -> Timing:
        topic = await ctx.new_topic("overhead-produce", PARTITIONS)
        run = lambda: produce(ctx.bootstrap, topic, data)  # noqa: E731
        if mode == "on":
            return await _with_endpoint(run, expect("streamline_produced_records_total", n_produce))
        if mode == "traced":
            with _Tracing():
                return await run()
        return await run()

    async def consume_variant(mode: str) -> Timing:
        run = lambda: consume_all(ctx.bootstrap, consume_topic, n_consume)  # noqa: E731
        if mode == "on":
            return await _with_endpoint(run, expect("streamline_consumer_messages_total", n_consume))
        if mode == "traced":
            with _Tracing():
                return await run()
        return await run()

    async def ship_variant(mode: str) -> Timing:
        topic = await ctx.new_topic("overhead-ship", PARTITIONS)
        checkpoints = os.path.join(ctx.workdir, f"overhead-checkpoints-{topic}")
        port = free_port() if mode == "on" else None
        return await asyncio.to_thread(ship, ctx.bootstrap, topic, log_path, checkpoints, port)

    workloads: list[tuple[str, int, Callable[[str], Awaitable[Timing]], list[str]]] = [
        ("produce", n_produce, produce_variant, ["off", "on", "off2"] + (["traced"] if traced else [])),
        ("consume", n_consume, consume_variant, ["off", "on", "off2"] + (["traced"] if traced else [])),
        ("ship", n_ship, ship_variant, ["off", "on", "off2"]),
    ]
    rates: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}  # CPU µs per message
    ratios: dict[tuple[str, str], list[float]] = {}
    cpu_ratios: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for name, n, variant, modes in workloads:
            order = modes if r % 2 == 0 else list(reversed(modes))
            got: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for mode in order:
                elapsed, cpu_seconds = await variant(mode)
                got[mode], cpu[mode] = rate(n, elapsed), cpu_seconds / n * 1e6
                rates.setdefault((name, mode), []).append(got[mode])
                cpus.setdefault((name, mode), []).append(cpu[mode])
            for mode in modes[1:]:
                ratios.setdefault((name, mode), []).append(got[mode] / got["off"])
                cpu_ratios.setdefault((name, mode), []).append(cpu[mode] / cpu["off"])
            ctx.log(
                f"  overhead round {r + 1}/{rounds} {name:8s} "
                + "  ".join(f"{m} {got[m]:>9,.0f}/s {cpu[m]:.2f} cpu-µs" for m in modes)
                + "  " + "  ".join(f"{m}/off {got[m] / got['off']:.3f} cpu {cpu[m] / cpu['off']:.3f}" for m in modes[1:])
                + f"  (load {os.getloadavg()[0]:.2f})"
            )
        if ctx.topics[1:]:  # keep the consume topic; drop what the round made
            keep = ctx.topics[0]
            ctx.topics = ctx.topics[1:]
            await ctx.drop_topics()
            ctx.topics = [keep]
    await ctx.drop_topics()
    result: dict[str, float] = {"rounds": float(rounds), "loadavg_1m": os.getloadavg()[0], "scrape_ms": _scrape_cost()}
    ctx.log(f"  overhead one scrape (exposition of this process's registry): {result['scrape_ms']:.2f} ms CPU")
    for (name, mode), values in rates.items():
        result[f"{name}_{mode}_per_s"] = statistics.median(values)
        result[f"{name}_{mode}_cpu_us"] = statistics.median(cpus[(name, mode)])
    for table, suffix in ((ratios, "ratio"), (cpu_ratios, "cpu_ratio")):
        for (name, mode), values in table.items():
            key = f"{name}_{mode}_{suffix}"
            result[key] = statistics.median(values)
            result[f"{key}_min"] = min(values)
            result[f"{key}_max"] = max(values)
            ctx.log(f"  overhead {name} {mode}/off {suffix}: median {statistics.median(values):.3f} "
                    f"(spread {_spread(values)}, {len(values)} rounds)")
    return result


def rows(m: dict[str, float]) -> list[Row]:
    out = []
    units = {"produce": "msg/s", "consume": "msg/s", "ship": "lines/s"}
    rounds, load = int(m["rounds"]), m["loadavg_1m"]
    for name in ("produce", "consume", "ship"):
        for mode, what in (
            ("on", f"metrics endpoint on (scraped every {SCRAPE_EVERY:g} s) vs off"),
            ("off2", "A/A control: off again vs off (noise floor)"),
            ("traced", "OTel tracing on vs off"),
        ):
            key, cpu_key = f"{name}_{mode}_ratio", f"{name}_{mode}_cpu_ratio"
            if key not in m:
                continue
            out.append(Row(
                NAME, f"{name}: {what}, CPU µs/msg (median of {rounds} interleaved rounds, "
                      f"spread {m[cpu_key + '_min']:.3f}–{m[cpu_key + '_max']:.3f}, load {load:.1f})",
                f"{m[f'{name}_off_cpu_us']:.2f} µs", f"{m[f'{name}_{mode}_cpu_us']:.2f} µs",
                f"{m[cpu_key]:.3f}x", f"<= {TARGET:.2f}x" if mode == "on" else "reference",
                verdict(m[cpu_key] <= TARGET) if mode == "on" else "info",
            ))
            out.append(Row(
                NAME, f"{name}: {what}, throughput (spread {m[key + '_min']:.3f}–{m[key + '_max']:.3f})",
                f"{m[f'{name}_off_per_s']:,.0f} {units[name]}", f"{m[f'{name}_{mode}_per_s']:,.0f} {units[name]}",
                f"{m[key]:.3f}x", "reference", "info",
            ))
    return out
