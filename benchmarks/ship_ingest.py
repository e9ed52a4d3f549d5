"""ship with multiline, parsers and metadata vs plain ship, in the same run (issue 17).

    python -m benchmarks.ship_ingest [--lines 1000000] [--rounds 5] [--bootstrap HOST:PORT]
                                     [--baseline /work/main/.venv/bin/streamline]
                                     [--baseline-cases headers,envelope]

Each round runs, interleaved, ``streamline ship --once`` over files of the same number of lines
(126-byte access-log lines):

- ``plain``: the access log as it is (the fast path);
- ``baseline`` (with ``--baseline``): the same plain ship by another installed ``streamline``
  (e.g. the main branch), to show that plain ship's speed did not change; ``--baseline-cases``
  runs other cases with it too (``headers@baseline``...): before and after in the same run;
- ``multiline``: Java-style events of 1-5 lines (``--multiline indented``), counted in lines;
- ``json``: one JSON object per line (``--parser json``);
- ``headers``: the access log with ``--header host --header path --header offset``;
- ``envelope``: the access log with ``--envelope``.

The figure is the CPU time (user + system) of the ``ship`` process per million lines, minus the
CPU of start-up (``streamline --help``): on a loaded shared machine it is far steadier than wall
time. Each case ships into a fresh topic and exits after every record was acknowledged. The
table shows the median per case, its spread, the ratio to plain ship in the same round, and the
wall-clock lines/s including start-up. Nothing is read back: the integration tests check that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time

from ._support import STREAMLINE, access_lines


def write_plain(path: str, lines: int) -> None:
    with open(path, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(access_lines(start, min(lines, start + 100_000)))


def write_multiline(path: str, lines: int) -> None:
    """Events of 1..5 lines (a head and indented frames) summing to ``lines`` lines."""
    with open(path, "wb") as f:
        written, n, block = 0, 0, []
        while written < lines:
            size = min(1 + n % 5, lines - written)
            block.append(b"2024-01-01 12:00:00 ERROR request %08d failed with an exception here\n" % n)
            block.extend(b"\tat com.example.Service.call(Service.java:%04d) frame of event %08d\n" % (k, n) for k in range(size - 1))
            written += size
            n += 1
            if len(block) >= 10_000:
                f.write(b"".join(block))
                block = []
        f.write(b"".join(block))


def write_json(path: str, lines: int) -> None:
    with open(path, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(b"".join(
                json.dumps({"level": "info", "rid": n, "msg": "GET /index.html 200 512", "ms": n % 97}).encode() + b"\n"
                for n in range(start, min(lines, start + 100_000))
            ))


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one subprocess, start to exit."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args[4:])}: {err.read().decode(errors='replace')[-500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def ship_run(binary: str, bootstrap: str, path: str, topic: str, checkpoints: str, *extra: str) -> tuple[float, float]:
    return timed([binary, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning", "--once",
                  "--checkpoints", checkpoints, "-q", *extra])


async def create_topic(bootstrap: str, name: str) -> None:
    from streamline import Admin

    async with Admin(bootstrap) as admin:
        await admin.create_topic(name, partitions=4)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ship_ingest")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMLINE_BOOTSTRAP_SERVERS"))
    parser.add_argument("--baseline", help="another streamline executable for plain ship (e.g. main's)")
    parser.add_argument("--baseline-cases", default="", help="cases also run with --baseline (e.g. headers)")
    parser.add_argument("--cases", help="comma-separated subset of plain,baseline,multiline,json,headers,envelope")
    args = parser.parse_args()
    broker = None
    if not args.bootstrap:
        from streamline import EmbeddedBroker

        broker = EmbeddedBroker()
        broker.start()
        args.bootstrap = broker.bootstrap_servers
    try:
        run(args)
    finally:
        if broker is not None:
            broker.stop()


def run(args: argparse.Namespace) -> None:
    work = tempfile.mkdtemp(prefix="ship-ingest-")
    files = {
        "plain": os.path.join(work, "access.log"),
        "multiline": os.path.join(work, "java.log"),
        "json": os.path.join(work, "app.json"),
    }
    write_plain(files["plain"], args.lines)
    write_multiline(files["multiline"], args.lines)
    write_json(files["json"], args.lines)
    cases: dict[str, tuple[str, str, tuple[str, ...]]] = {"plain": (STREAMLINE, files["plain"], ())}
    if args.baseline:
        cases["baseline"] = (args.baseline, files["plain"], ())
    cases |= {
        "multiline": (STREAMLINE, files["multiline"], ("--multiline", "indented")),
        "json": (STREAMLINE, files["json"], ("--parser", "json")),
        "headers": (STREAMLINE, files["plain"], ("--header", "host", "--header", "path", "--header", "offset")),
        "envelope": (STREAMLINE, files["plain"], ("--envelope",)),
    }
    if args.cases:
        wanted = set(args.cases.split(",")) | {"plain"}
        cases = {name: case for name, case in cases.items() if name in wanted}
    if args.baseline:
        for name in filter(None, args.baseline_cases.split(",")):
            _, path, extra = cases[name]
            cases[f"{name}@baseline"] = (args.baseline, path, extra)
    startup_cpu = statistics.median(timed([STREAMLINE, "--help"])[1] for _ in range(3))
    rates: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(args.rounds):
        this_round = {}
        for name, (binary, path, extra) in cases.items():
            topic = f"ingest-{name.replace('@', '-')}-{round_number}-{os.getpid()}"
            asyncio.run(create_topic(args.bootstrap, topic))
            checkpoints = os.path.join(work, f"cp-{topic}")
            wall, cpu = ship_run(binary, args.bootstrap, path, topic, checkpoints, *extra)
            rates[name].append(args.lines / wall)
            cpus[name].append(max(0.0, cpu - startup_cpu) * 1e6 / args.lines)
            this_round[name] = cpus[name][-1]
        for name in cases:
            ratios[name].append(this_round[name] / this_round["plain"])
        print(f"round {round_number + 1}: CPU s per 1M lines " +
              ", ".join(f"{n} {c:.2f}" for n, c in this_round.items()), flush=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"\n{args.lines:,} lines per case, {args.rounds} rounds interleaved, load average {' '.join(load)}; "
          f"CPU of start-up ({startup_cpu:.2f} s, `streamline --help`) subtracted")
    print(f"{'case':<18} {'CPU s/1M lines':>15} {'min..max':>14} {'x plain (median, min..max)':>28} "
          f"{'wall lines/s incl. start-up':>28}")
    for name in cases:
        c, rel, r = cpus[name], ratios[name], rates[name]
        print(f"{name:<18} {statistics.median(c):>15.2f} {min(c):>6.2f}..{max(c):<6.2f} "
              f"{statistics.median(rel):>12.2f}x ({min(rel):.2f}..{max(rel):.2f}) {statistics.median(r):>20,.0f}")


if __name__ == "__main__":
    main()
