"""cli_consume: ``streamline consume`` into a pipe against the library's ``async for``, same topic.

One topic (4 partitions, 100-byte values) is filled once. Each round reads all of it back, in
alternating order: the library (``async for`` over ``consume()`` in this process, clock from
opening the stream: connect and first fetch included) and the installed command with
``--format text``, ``json`` and ``value`` writing into a pipe that this process drains
(interpreter start-up and imports included, as a user waits for them). Figures are medians of
the per-round ratios of rates, with their spread; the target is >= 0.8x for text and JSON.

Also printed: the ratios without the command's fixed start-up (the median wall time of a
``--max 1`` run), CPU seconds per message (library process / command process: the steadier
measure on a shared machine), and ``streamline produce`` reading the same number of lines from
standard input (a reference rate: the produce side must not get slower).
"""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import threading
import time
from typing import Any

from ._support import STREAMLINE, Context, Row, fmt_rate, rate, verdict

NAME = "cli_consume"
MAX_RUNS = 1  # the rounds run inside one measure()
ROUNDS = 3
PARTITIONS = 4
FORMATS = ("text", "json", "value")
TARGET = 0.8


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(args: list[str], *, stdin: Any = subprocess.DEVNULL) -> tuple[float, float, int]:
    """Run the command with its stdout into a pipe drained by a thread: wall seconds, CPU
    seconds of the command, and how many lines it wrote."""
    lines = 0

    def drain(fd: int) -> None:
        nonlocal lines
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
            lines += chunk.count(b"\n")

    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    reader = threading.Thread(target=drain, args=(proc.stdout.fileno(),))
    reader.start()
    errors = proc.stderr.read()
    reader.join()
    proc.wait()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:5])}... exited {proc.returncode}: {errors.decode(errors='replace')[-500:]}")
    return elapsed, _children_cpu() - cpu, lines


def produce_from_stdin(args: list[str], n: int, path: str) -> tuple[float, float]:
    """``args`` with ``n`` lines of 100 bytes on standard input: wall and CPU seconds."""
    with open(path, "wb") as f:
        for start in range(0, n, 50_000):
            f.write(b"".join(b"%0100d\n" % i for i in range(start, min(n, start + 50_000))))
    try:
        with open(path, "rb") as lines_in:
            elapsed, used, _ = run_command(args, stdin=lines_in)
    finally:
        os.unlink(path)
    return elapsed, used


async def library(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``async for`` over ``consume()`` until ``n`` messages."""
    from streamline import consume

    seen = 0
    started, cpu = time.perf_counter(), time.process_time()
    async with consume(topic, start="beginning", bootstrap_servers=bootstrap) as stream:
        async for _msg in stream:
            seen += 1
            if seen == n:
                break
    return time.perf_counter() - started, time.process_time() - cpu


def consume_args(bootstrap: str, topic: str, fmt: str, count: int) -> list[str]:
    return [STREAMLINE, "-b", bootstrap, "consume", topic, "--from", "beginning", "--max", str(count), "--format", fmt]


async def measure(ctx: Context) -> dict[str, float]:
    import asyncio

    import streamline
    from streamline import Producer

    for directory in streamline.__path__:  # as pip does; else every start compiles the package
        compileall.compile_dir(directory, quiet=1)
    n = ctx.sizes.cli_consume_messages
    rounds = 1 if ctx.smoke else ROUNDS
    topic = await ctx.new_topic("cli-consume", PARTITIONS)
    async with Producer(ctx.bootstrap) as producer:
        for start in range(0, n, 50_000):
            await producer.send_many(topic, [b"%0100d" % i for i in range(start, min(n, start + 50_000))])

    wall: dict[str, list[float]] = {name: [] for name in ("library", *FORMATS)}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    startup: list[float] = []

    async def command(fmt: str) -> None:
        elapsed, used, lines = await asyncio.to_thread(run_command, consume_args(ctx.bootstrap, topic, fmt, n))
        if lines != n:
            raise RuntimeError(f"consume -f {fmt} wrote {lines} lines, not {n}")
        wall[fmt].append(elapsed)
        cpu[fmt].append(used)

    async def lib() -> None:
        elapsed, used = await library(ctx.bootstrap, topic, n)
        wall["library"].append(elapsed)
        cpu["library"].append(used)

    steps: list[Any] = [lib, *(lambda fmt=fmt: command(fmt) for fmt in FORMATS)]
    for i in range(rounds):
        for step in steps if i % 2 == 0 else reversed(steps):
            await step()
        elapsed, _, _ = await asyncio.to_thread(run_command, consume_args(ctx.bootstrap, topic, "value", 1))
        startup.append(elapsed)
        ctx.log("  cli_consume round {}: library {:.2f} s, {}".format(
            i + 1, wall["library"][-1], ", ".join(f"{f} {wall[f][-1]:.2f} s" for f in FORMATS)))

    # produce from stdin: the same number of lines, as `streamline produce TOPIC < file`
    produce_topic = await ctx.new_topic("cli-produce", PARTITIONS)
    produce_s, produce_cpu = await asyncio.to_thread(
        produce_from_stdin, [STREAMLINE, "-b", ctx.bootstrap, "produce", produce_topic], n,
        os.path.join(ctx.workdir, "lines.txt"),
    )
    await ctx.drop_topics()

    fixed = statistics.median(startup)
    result: dict[str, float] = {
        "messages": float(n),
        "rounds": float(rounds),
        "library_msgs_per_s": statistics.median(rate(n, s) for s in wall["library"]),
        "startup_s": fixed,
        "produce_stdin_msgs_per_s": rate(n, produce_s),
        "produce_stdin_cpu_s": produce_cpu,
        "library_cpu_s": statistics.median(cpu["library"]),
    }
    for fmt in FORMATS:
        ratios = [lib_s / cli_s for lib_s, cli_s in zip(wall["library"], wall[fmt], strict=True)]
        result[f"{fmt}_msgs_per_s"] = statistics.median(rate(n, s) for s in wall[fmt])
        result[f"ratio_{fmt}"] = statistics.median(ratios)
        result[f"ratio_{fmt}_min"] = min(ratios)
        result[f"ratio_{fmt}_max"] = max(ratios)
        result[f"ratio_{fmt}_without_startup"] = statistics.median(  # 0: start-up is all there is (smoke)
            lib_s / (cli_s - fixed) if cli_s > 2 * fixed else 0.0 for lib_s, cli_s in zip(wall["library"], wall[fmt], strict=True)
        )
        result[f"{fmt}_cpu_s"] = statistics.median(cpu[fmt])
        result[f"cpu_ratio_{fmt}"] = statistics.median(
            lib_c / cli_c for lib_c, cli_c in zip(cpu["library"], cpu[fmt], strict=True)
        )
    ctx.log("  cli_consume: {} (load average {})".format(
        ", ".join(f"{f} {result[f'ratio_{f}']:.2f}x" for f in FORMATS), _loadavg()))
    return result


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def rows(m: dict[str, float]) -> list[Row]:
    out = []
    for fmt in FORMATS:
        ratio = m[f"ratio_{fmt}"]
        out.append(Row(
            NAME,
            f"`streamline consume -f {fmt}` into a pipe vs `async for` in the library, {m['messages']:,.0f} msgs "
            f"(median of {m['rounds']:.0f}, spread {m[f'ratio_{fmt}_min']:.2f}-{m[f'ratio_{fmt}_max']:.2f}x; "
            f"{m[f'ratio_{fmt}_without_startup']:.2f}x without start-up, CPU {m[f'cpu_ratio_{fmt}']:.2f}x)",
            fmt_rate(m["library_msgs_per_s"]), fmt_rate(m[f"{fmt}_msgs_per_s"]), f"{ratio:.2f}x",
            f">= {TARGET:g}x" if fmt != "value" else "reference",
            verdict(ratio >= TARGET) if fmt != "value" else "info",
        ))
    out.append(Row(NAME, "`streamline produce TOPIC` from standard input, same lines (start-up included)", "-",
                   fmt_rate(m["produce_stdin_msgs_per_s"]), "-", "reference", "info"))
    out.append(Row(NAME, "`streamline consume --max 1` wall time (start-up, connect, first fetch)", "-",
                   f"{m['startup_s']:.2f} s", "-", "reference", "info"))
    return out
