"""``ship --once`` against the hand-written limit, interleaved in one run (issue 18, point 2).

    python -m benchmarks.bench_ship [--lines 2000000] [--rounds 3] [--bootstrap HOST:PORT] [--verify]
                                    [--baseline-src OLD/src] [--tuned-limit]

Each round runs both, in alternating order, as subprocesses timed from spawn to exit, on the
same access.log (127-byte lines) into a fresh 4-partition topic:

- ``streamline -b B ship access.log --topic T --from beginning --once --checkpoints DIR -q``
  (exits after every line is acknowledged and the checkpoint is saved);
- ``python -m benchmarks.ship_limit B T access.log`` (see ``ship_limit.py``: 1 MiB reads,
  per-partition ``create_batch``/``send_batch``, gathered acks, no checkpoints).

Reported per round and as medians: lines/s, the ratio ship/limit, and CPU seconds per million
lines of each process (user + system of the child). ``--baseline-src`` adds a third contender in
every round: the same ``ship`` command importing streamline from another source tree (e.g. a
``git archive`` of an older commit), to compare versions in one run. ``--tuned-limit`` adds the
limit run with the malloc thresholds ``ship`` sets for itself (``cli/_memory.tune_malloc``, here
through glibc's ``MALLOC_*_`` variables): what the limit would be with the same process tuning.
The ratio stays ship/limit. The package's bytecode is compiled first, as ``pip install`` does.
``--verify`` reads every topic back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from ._support import STREAMLINE, access_lines, tally_lines

PARTITIONS = 4


def timed_with_cpu(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str, str]:
    """(wall seconds, CPU seconds of the child, stdout, stderr) of one subprocess."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... exited {process.returncode}: {process.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, process.stdout.decode(), process.stderr.decode()


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def write_log(path: str, lines: int) -> None:
    with open(path, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(access_lines(start, min(lines, start + 100_000)))


async def new_topic(bootstrap: str, prefix: str) -> str:
    from streamline import Admin

    name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
    async with Admin(bootstrap) as admin:
        await admin.create_topic(name, partitions=PARTITIONS)
    return name


async def drop_topic(bootstrap: str, name: str) -> None:
    from streamline import Admin

    async with Admin(bootstrap) as admin:
        try:
            await admin.delete_topic(name)
        except Exception:  # best effort
            pass


baseline_src = ""


async def one(kind: str, bootstrap: str, path: str, lines: int, workdir: str, verify: bool) -> dict[str, float]:
    topic = await new_topic(bootstrap, kind)
    env = None
    if kind in ("ship", "baseline"):
        args = [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning", "--once",
                "--checkpoints", os.path.join(workdir, f"cp-{topic}"), "-q"]
        if kind == "baseline":  # the same command, with streamline imported from another source tree
            env = {**os.environ, "PYTHONPATH": baseline_src}
            args[0:1] = [sys.executable, "-c", "import sys; from streamline.cli import main; sys.argv[0] = 'streamline'; main()"]
    else:
        args = [sys.executable, "-m", "benchmarks.ship_limit", bootstrap, topic, path]
        if kind == "limit-tuned":
            from streamline.cli._memory import MMAP_THRESHOLD, TRIM_THRESHOLD

            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}
    elapsed, cpu, out, err = await asyncio.to_thread(timed_with_cpu, args, env)
    if kind.startswith("limit") and int(out.strip()) != lines:
        raise RuntimeError(f"limit acknowledged {out.strip()} of {lines} lines")
    if not kind.startswith("limit") and f"shipped {lines:,} lines" not in err:
        raise RuntimeError(f"ship did not report {lines:,} lines: {err.strip()[-300:]}")
    if verify:
        tally = await tally_lines(bootstrap, topic, lines, timeout=180)
        if tally.distinct < lines:
            raise RuntimeError(f"{kind}: only {tally.distinct:,} of {lines:,} lines read back")
    await drop_topic(bootstrap, topic)
    return {"seconds": elapsed, "lines_per_s": lines / elapsed, "cpu_s_per_m": cpu / lines * 1e6}


async def main_async(args: argparse.Namespace) -> None:
    import compileall

    import streamline

    for directory in streamline.__path__:  # as pip does; else every start compiles the package
        compileall.compile_dir(directory, quiet=1)
    if baseline_src:
        compileall.compile_dir(baseline_src, quiet=1)
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        from streamline import EmbeddedBroker

        broker = EmbeddedBroker()
        await broker.__aenter__()
        bootstrap = broker.bootstrap_servers
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ship-") as workdir:
            path = os.path.join(workdir, "access.log")
            write_log(path, args.lines)
            kinds = ["limit", "ship"] + (["baseline"] if baseline_src else []) + (["limit-tuned"] if args.tuned_limit else [])
            ratios: list[float] = []
            results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
            for round_ in range(args.rounds):
                order = kinds if round_ % 2 == 0 else kinds[::-1]
                this = {}
                for kind in order:
                    this[kind] = await one(kind, bootstrap, path, args.lines, workdir, args.verify)
                    results[kind].append(this[kind])
                ratio = this["ship"]["lines_per_s"] / this["limit"]["lines_per_s"]
                ratios.append(ratio)
                print(
                    f"round {round_ + 1}: "
                    + "  ".join(
                        f"{kind} {this[kind]['lines_per_s']:>9,.0f} lines/s ({this[kind]['cpu_s_per_m']:.2f} CPU s/1M)"
                        for kind in kinds
                    )
                    + f"  ship/limit {ratio:.2f}  load {loadavg().split()[0]}",
                    flush=True,
                )
            med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
            print(
                f"median of {args.rounds}: "
                + "; ".join(
                    f"{kind} {med[kind]['lines_per_s']:,.0f} lines/s, {med[kind]['cpu_s_per_m']:.2f} CPU s/1M"
                    for kind in kinds
                )
                + f"; ship/limit {statistics.median(ratios):.2f} (per-round {', '.join(f'{r:.2f}' for r in ratios)}); "
                f"{args.lines:,} lines, loadavg {loadavg()}"
            )
    finally:
        if broker is not None:
            await broker.__aexit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMLINE_BOOTSTRAP_SERVERS"))
    parser.add_argument("--verify", action="store_true", help="read every line back from each topic")
    parser.add_argument("--baseline-src", default="", help="also run ship with streamline imported from this src dir")
    parser.add_argument("--tuned-limit", action="store_true", help="also run the limit with ship's malloc thresholds")
    args = parser.parse_args()
    global baseline_src
    baseline_src = os.path.abspath(args.baseline_src) if args.baseline_src else ""
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
