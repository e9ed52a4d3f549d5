"""metrics_overhead: produce, consume and ship with the metrics endpoint off and on, interleaved.

    python -m benchmarks --case metrics_overhead        # not in the default set: a dedicated mode

Each round runs every pair back to back — off then on, the next round on then off, so going first
favours neither — and the case reports the median over the rounds of the per-round ratio
(on / off throughput) with its spread (min–max). "On" means what an operator runs: the metrics
endpoint served (``serve_metrics`` in-process, ``ship --metrics`` for the command) and scraped
once a second during the timed section — 15 times Prometheus' usual rate. Counting itself has no
off switch: producers, streams and pipelines keep their per-batch counters either way (the
registry reads them at scrape time), so "off" is streamline as shipped without an endpoint.

A third, informative variant runs produce and consume with OpenTelemetry tracing on (an SDK
tracer provider with a span processor that drops spans), to show what spans per batch cost.

``STREAMLINE_BENCH_ROUNDS`` sets the rounds (default 7; 2 with ``--smoke``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from ._support import STREAMLINE, Context, Row, rate, verdict
from .case_ship import write_log

NAME = "metrics_overhead"
MAX_RUNS = 1  # the rounds happen inside one run
PARTITIONS = 4
TARGET = 0.97  # on/off throughput: within 3 %
SCRAPE_EVERY = 1.0


class Scraper(threading.Thread):
    """GETs ``url`` every ``SCRAPE_EVERY`` seconds until stopped (like a Prometheus server)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.scrapes = 0
        self.last = ""
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(SCRAPE_EVERY):
            self.scrape()

    def scrape(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                self.last = response.read().decode()
                self.scrapes += 1
        except OSError:
            pass  # the command is starting or gone

    def stop(self) -> None:
        self._halt.set()
        self.join()


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


async def _with_endpoint(run: Callable[[], Awaitable[float]], check: Callable[[str], None]) -> float:
    from streamline import serve_metrics

    async with serve_metrics("127.0.0.1:0") as server:
        scraper = Scraper(f"{server.url}/metrics")
        scraper.start()
        try:
            elapsed = await run()
        finally:
            await asyncio.to_thread(scraper.stop)
        await asyncio.to_thread(scraper.scrape)  # after the run: the figures must be there
        check(scraper.last)
    return elapsed


# -- the three workloads ------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, data: list[bytes]) -> float:
    from streamline import Producer

    async with Producer(bootstrap, acks="all") as producer:
        await producer.send(topic, b"warm-up")
        started = time.perf_counter()
        sent = await producer.send_many(topic, data)
        elapsed = time.perf_counter() - started
    assert sent == len(data), sent
    return elapsed


async def consume_all(bootstrap: str, topic: str, n: int) -> float:
    from streamline import consume

    count = 0
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        started = time.perf_counter()
        async for _message in stream:
            count += 1
            if count >= n:
                break
        return time.perf_counter() - started


def ship(bootstrap: str, topic: str, path: str, checkpoints: str, metrics_port: int | None) -> float:
    args = [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning", "--once",
            "--checkpoints", checkpoints, "-q"]
    scraper = None
    if metrics_port is not None:
        args += ["--metrics", f"127.0.0.1:{metrics_port}"]
        scraper = Scraper(f"http://127.0.0.1:{metrics_port}/metrics")
    started = time.perf_counter()
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if scraper is not None:
        scraper.start()
    _, err = process.communicate()
    elapsed = time.perf_counter() - started
    if scraper is not None:
        scraper.stop()
    if process.returncode != 0:
        raise RuntimeError(f"ship exited {process.returncode}: {err.decode(errors='replace').strip()[-500:]}")
    return elapsed


# -- the case -----------------------------------------------------------------------------------


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

    async def produce_variant(mode: str) -> float:
        topic = await ctx.new_topic("overhead-produce", PARTITIONS)
        run = lambda: produce(ctx.bootstrap, topic, data)  # noqa: E731
        if mode == "on":
            return await _with_endpoint(run, expect("streamline_produced_records_total", n_produce))
        if mode == "traced":
            with _Tracing():
                return await run()
        return await run()

    async def consume_variant(mode: str) -> float:
        run = lambda: consume_all(ctx.bootstrap, consume_topic, n_consume)  # noqa: E731
        if mode == "on":
            return await _with_endpoint(run, expect("streamline_consumer_messages_total", n_consume))
        if mode == "traced":
            with _Tracing():
                return await run()
        return await run()

    async def ship_variant(mode: str) -> float:
        topic = await ctx.new_topic("overhead-ship", PARTITIONS)
        checkpoints = os.path.join(ctx.workdir, f"overhead-checkpoints-{topic}")
        port = free_port() if mode == "on" else None
        return await asyncio.to_thread(ship, ctx.bootstrap, topic, log_path, checkpoints, port)

    workloads: list[tuple[str, int, Callable[[str], Awaitable[float]], list[str]]] = [
        ("produce", n_produce, produce_variant, ["off", "on"] + (["traced"] if traced else [])),
        ("consume", n_consume, consume_variant, ["off", "on"] + (["traced"] if traced else [])),
        ("ship", n_ship, ship_variant, ["off", "on"]),
    ]
    rates: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for name, n, variant, modes in workloads:
            order = modes if r % 2 == 0 else list(reversed(modes))
            got: dict[str, float] = {}
            for mode in order:
                got[mode] = rate(n, await variant(mode))
                rates.setdefault((name, mode), []).append(got[mode])
            for mode in modes[1:]:
                ratios.setdefault((name, mode), []).append(got[mode] / got["off"])
            ctx.log(
                f"  overhead round {r + 1}/{rounds} {name:8s} "
                + "  ".join(f"{m} {got[m]:>10,.0f}/s" for m in modes)
                + "  " + "  ".join(f"{m}/off {got[m] / got['off']:.3f}" for m in modes[1:])
                + f"  (load {os.getloadavg()[0]:.2f})"
            )
        if ctx.topics[1:]:  # keep the consume topic; drop what the round made
            keep = ctx.topics[0]
            ctx.topics = ctx.topics[1:]
            await ctx.drop_topics()
            ctx.topics = [keep]
    await ctx.drop_topics()
    result: dict[str, float] = {"rounds": float(rounds), "loadavg_1m": os.getloadavg()[0]}
    for (name, mode), values in rates.items():
        result[f"{name}_{mode}_per_s"] = statistics.median(values)
    for (name, mode), values in ratios.items():
        result[f"{name}_{mode}_ratio"] = statistics.median(values)
        result[f"{name}_{mode}_ratio_min"] = min(values)
        result[f"{name}_{mode}_ratio_max"] = max(values)
        ctx.log(f"  overhead {name} {mode}/off: median {statistics.median(values):.3f} (spread {_spread(values)}, {len(values)} rounds)")
    return result


def rows(m: dict[str, float]) -> list[Row]:
    out = []
    units = {"produce": "msg/s", "consume": "msg/s", "ship": "lines/s"}
    for name in ("produce", "consume", "ship"):
        for mode, what, target in (
            ("on", "metrics endpoint on (scraped 1/s) vs off", f">= {TARGET:.2f}x"),
            ("traced", "OpenTelemetry tracing on vs off", "reference"),
        ):
            key = f"{name}_{mode}_ratio"
            if key not in m:
                continue
            ratio = m[key]
            out.append(Row(
                NAME, f"{name}: {what} (median of {int(m['rounds'])} interleaved rounds, "
                      f"spread {m[key + '_min']:.3f}–{m[key + '_max']:.3f}, load {m['loadavg_1m']:.1f})",
                f"{m[f'{name}_off_per_s']:,.0f} {units[name]}", f"{m[f'{name}_{mode}_per_s']:,.0f} {units[name]}",
                f"{ratio:.3f}x", target, verdict(ratio >= TARGET) if mode == "on" else "info",
            ))
    return out
