"""Latency and following cost of ``streamline ship`` at a steady line rate (issue 18, points 1 and 3).

    python -m benchmarks.bench_latency [--rate 1000] [--seconds 10] [--idle 10] [--rounds 1]
                                       [--bootstrap HOST:PORT] [--baseline-src OLD/src]
                                       [--rsyslog-root CACHE/debian/rsyslog/root] [--limits]

Per round, two shipping processes in turn follow a file a writer thread appends ``--rate``
lines/s to (each line carries ``time.time_ns()`` of its write; see ``case_latency.Writer``):

1. ``streamline ship`` itself (the CLI, a subprocess): append→consumer p50/p99/max as seen by
   a raw aiokafka consumer with a 5 ms fetch wait; its CPU (% of one core) while following at
   the rate, its CPU while idle for ``--idle`` seconds afterwards, and its peak RSS;
2. ``benchmarks/latency_probe.py``: the same objects ``ship`` builds, instrumented, for where
   the milliseconds go: change notification, reading, the pipeline hand-off, queueing in the
   producer, the produce round trip (``acks=all``) and the consumer's fetch;
3. with ``--lingers 0.003,0.01``, ``ship --linger`` at each value (contenders ``ship@0.003`` ...);
   with ``--baseline-src``, ``ship`` again importing streamline from another source tree (an
   older commit's ``src``), to compare versions in one run;
4. with ``--limits``, the hand-written floor of following (``benchmarks/follow_limit.py``): the
   least a follower can do per cycle with asyncio + aiokafka (``limit``) and with a blocking loop +
   librdkafka from the confluent-kafka wheel (``limit-rdkafka``, when installed);
5. with ``--rsyslog-root``, rsyslogd (imfile in inotify mode → omkafka, acks=all, linger 5 ms)
   unpacked into a private root as shared/NOTES.md describes (the peers benchmark's cache has
   one), measured the same way. Rounds alternate the order.

The package's bytecode is compiled first, as ``pip install`` does (the RSS figures are those of an
installed ``ship``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from ._support import STREAMLINE
from .case_latency import PARTITIONS, Writer, percentile

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for entry in f:
            if entry.startswith("VmRSS:"):
                return int(entry.split()[1]) / 1024
    return 0.0


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


async def new_topic(bootstrap: str) -> str:
    from streamline import Admin

    name = f"bench-latency-{uuid.uuid4().hex[:8]}"
    async with Admin(bootstrap) as admin:
        await admin.create_topic(name, partitions=PARTITIONS)
    return name


async def receive(
    bootstrap: str, topic: str, writer: Writer, expected: int, timeout: float, fetch_wait_ms: int = 5
) -> dict[int, tuple[float, int]]:
    """line number -> (latency ms, receive time ns), from a consumer with a 5 ms fetch wait (``--fetch-wait``)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    seen: dict[int, tuple[float, int]] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_wait_ms)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(seen) < expected:
            records = await consumer.getmany(timeout_ms=100)
            now = time.time_ns()
            for batch in records.values():
                for message in batch:
                    kind, written, number = message.value.split(b" ", 3)[:3]
                    if kind == b"line":
                        seen[int(number)] = ((now - int(written)) / 1e6, now)
                    elif not writer.go.is_set():
                        writer.go.set()
    finally:
        await consumer.stop()
    return seen


async def one_run(kind: str, bootstrap: str, workdir: str, args: argparse.Namespace) -> dict[str, object]:
    topic = await new_topic(bootstrap)
    path = os.path.join(workdir, f"{kind}-{topic}.log")
    checkpoints = os.path.join(workdir, f"cp-{topic}")
    stamps = os.path.join(workdir, f"stamps-{topic}.jsonl")
    open(path, "wb").close()  # noqa: ASYNC230 - creating an empty file
    env = None
    if kind in ("ship", "baseline") or kind.startswith("ship@"):
        command = [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning",
                   "--checkpoints", checkpoints, "-q"]
        if kind.startswith("ship@"):  # ship@0.003: with --linger 0.003
            command += ["--linger", kind[5:]]
        if kind == "baseline":  # the same command, with streamline imported from another source tree
            env = {**os.environ, "PYTHONPATH": args.baseline_src}
            command[0:1] = [sys.executable, "-c", "import sys; from streamline.cli import main; sys.argv[0] = 'streamline'; main()"]
    elif kind == "rsyslog":
        command, env = rsyslog_command(args.rsyslog_root, path, topic, bootstrap, workdir)
    elif kind in ("limit", "limit-rdkafka"):
        client = "rdkafka" if kind == "limit-rdkafka" else "aiokafka"
        command = [sys.executable, "-m", "benchmarks.follow_limit", bootstrap, topic, path, "--client", client]
    else:
        command = [sys.executable, "-m", "benchmarks.latency_probe", bootstrap, topic, path, checkpoints, stamps]
    if args.wrap and kind in args.wrap_kinds:  # e.g. "strace -c -f -o FILE" or "python -m cProfile -o FILE"
        wrap = args.wrap.replace("{kind}", kind).replace("{n}", str(len(os.listdir(workdir)))).split()
        if wrap[0] in ("python", "python3") and command[0] == sys.executable:
            command = [sys.executable, *wrap[1:], *command[1:]]
        else:
            command = [*wrap, *command]
    process = subprocess.Popen(  # noqa: ASYNC220 - one long-running child
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    total = int(args.rate * args.seconds)
    writer = Writer(path, args.rate, args.seconds)
    writer.start()
    peak = [0.0]
    window: dict[str, float] = {}

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss_mb(process.pid))
            if writer.go.is_set() and "start" not in window:
                window["start"], window["cpu0"] = time.monotonic(), cpu_seconds(process.pid)
                window["sys0"] = cpu_split(process.pid)[1]
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        seen = await receive(bootstrap, topic, writer, total, timeout=args.seconds + 60, fetch_wait_ms=args.fetch_wait)
        window["end"], window["cpu1"] = time.monotonic(), cpu_seconds(process.pid)
        window["sys1"] = cpu_split(process.pid)[1]
        await asyncio.sleep(2.0)  # settle: the last acknowledgements, a checkpoint save
        idle0, idle_started = cpu_seconds(process.pid), time.monotonic()
        await asyncio.sleep(args.idle)
        idle = (cpu_seconds(process.pid) - idle0) / (time.monotonic() - idle_started) * 100
    finally:
        sampler.cancel()
        writer.stop.set()
        writer.join(5)
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    if len(seen) < total:
        raise RuntimeError(f"{kind}: only {len(seen)} of {total} lines arrived: {err.decode()[-300:]}")
    latencies = [latency for latency, _ in seen.values()]
    busy = (window["cpu1"] - window["cpu0"]) / (window["end"] - window["start"]) * 100
    result: dict[str, object] = {
        "p50_ms": statistics.median(latencies), "p99_ms": percentile(latencies, 0.99), "max_ms": max(latencies),
        "cpu_following_pct": busy, "cpu_idle_pct": idle, "peak_rss_mb": peak[0],
        "sys_following_pct": (window["sys1"] - window["sys0"]) / (window["end"] - window["start"]) * 100,
    }
    if kind == "probe":
        result["breakdown"] = breakdown(stamps, seen)
    return result


RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="line" type="string" string="%msg%")
input(type="imfile" file="{path}" tag="bench" ruleset="ship" freshStartTail="off")
ruleset(name="ship" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="4096") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="line" partitions.auto="on"
         confParam=["request.required.acks=-1", "queue.buffering.max.ms=5", "batch.num.messages=10000",
                    "queue.buffering.max.messages=1000000", "enable.idempotence=false"])
}}
"""


def rsyslog_command(root: str, path: str, topic: str, bootstrap: str, workdir: str) -> tuple[list[str], dict[str, str]]:
    """rsyslogd from a private root (``apt-get download`` + ``dpkg -x``, see shared/NOTES.md), in the
    foreground, imfile (inotify) → omkafka with acks=all, linger 5 ms; librdkafka from the
    ``librdkafka`` directory next to the root (a ``librdkafka.so.1`` link to the confluent-kafka
    wheel's copy: Debian's 2.0 cannot talk to the embedded broker)."""
    import glob

    work = os.path.join(workdir, f"rsyslog-{topic}")
    os.makedirs(work)
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(RSYSLOG_CONF.format(work=work, path=path, bootstrap=bootstrap, topic=topic))
    modules = os.path.dirname(sorted(glob.glob(os.path.join(root, "usr/lib/*/rsyslog/omkafka.so")))[0])
    libraries = [os.path.join(os.path.dirname(root.rstrip("/")), "librdkafka")]
    libraries += sorted(glob.glob(os.path.join(root, "usr/lib/*-linux-gnu"))) + sorted(glob.glob(os.path.join(root, "lib/*-linux-gnu")))
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(libraries)}
    binary = os.path.join(root, "usr/sbin/rsyslogd")
    return [binary, "-n", "-f", conf, "-i", os.path.join(work, "rsyslogd.pid"), "-M", modules], env


STAGES = ("notification", "reading", "pipeline hand-off", "producer queueing", "produce round trip", "consumer fetch")


def breakdown(stamps_path: str, seen: dict[int, tuple[float, int]]) -> dict[str, tuple[float, float]]:
    """Per stage: (median, p99) in ms over every batch's first line; and how many reads and
    submissions (merged reads count once) carried the measured lines."""
    parts: dict[str, list[float]] = {stage: [] for stage in STAGES}
    submissions: set[int] = set()
    reads = 0
    with open(stamps_path) as f:
        for raw in f:
            entry = json.loads(raw)
            if entry.get("number") is not None and "submitted" in entry:
                reads += 1
                submissions.add(entry["submitted"])  # merged reads share one submission's stamp
            if not {"submitted", "queued", "acked"} <= entry.keys():
                continue
            written = entry["written"]
            woke = max(entry["notified"], written)
            parts["notification"].append((woke - written) / 1e6)
            parts["reading"].append((entry["read"] - woke) / 1e6)
            parts["pipeline hand-off"].append((entry["submitted"] - entry["read"]) / 1e6)
            parts["producer queueing"].append((entry["queued"] - entry["submitted"]) / 1e6)
            parts["produce round trip"].append((entry["acked"] - entry["queued"]) / 1e6)
            number = entry.get("number")
            if number is not None and number in seen:
                parts["consumer fetch"].append((seen[number][1] - entry["acked"]) / 1e6)
    result = {
        stage: (statistics.median(values), percentile(values, 0.99)) for stage, values in parts.items() if values
    }
    result["reads, submissions"] = (float(reads), float(len(submissions)))
    return result


async def main_async(args: argparse.Namespace) -> None:
    import compileall

    import streamline

    # As pip does on install: else every start compiles the package, and the RSS measured holds
    # the compiler's garbage (~2 MB) rather than what an installed ``ship`` keeps.
    for directory in [*streamline.__path__, *([args.baseline_src] if args.baseline_src else [])]:
        compileall.compile_dir(directory, quiet=1)
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        from streamline import EmbeddedBroker

        broker = EmbeddedBroker()
        await broker.__aenter__()
        bootstrap = broker.bootstrap_servers
    try:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as workdir:
            kinds = ["ship", "probe"] + (["baseline"] if args.baseline_src else [])
            kinds += [f"ship@{linger}" for linger in args.lingers.split(",") if linger]
            kinds += ["rsyslog"] if args.rsyslog_root else []
            if args.limits:
                kinds.append("limit")
                try:
                    import confluent_kafka  # noqa: F401
                except ImportError:
                    print("limit-rdkafka skipped: confluent-kafka is not installed (pip install -e '.[bench]')")
                else:
                    kinds.append("limit-rdkafka")
            if args.only:
                kinds = [kind for kind in kinds if kind in args.only.split(",") or kind.startswith("ship@")]
            for round_ in range(args.rounds):
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    r = await one_run(kind, bootstrap, workdir, args)
                    print(
                        f"round {round_ + 1} {kind:5s}: p50 {r['p50_ms']:.1f} / p99 {r['p99_ms']:.1f} / max "
                        f"{r['max_ms']:.1f} ms at {args.rate:,} lines/s; CPU {r['cpu_following_pct']:.1f}% of a core "
                        f"following ({r['sys_following_pct']:.1f}% system), {r['cpu_idle_pct']:.2f}% idle; peak RSS {r['peak_rss_mb']:.1f} MB; "
                        f"load {loadavg()}",
                        flush=True,
                    )
                    if "breakdown" in r:
                        for stage, (p50, p99) in r["breakdown"].items():  # type: ignore[attr-defined]
                            if stage == "reads, submissions":
                                per_second = p99 / args.seconds
                                cpu_ms = float(r["cpu_following_pct"]) * 10 / per_second  # type: ignore[arg-type]
                                print(f"    reads {p50:.0f}, submissions {p99:.0f} ({per_second:.0f}/s): "
                                      f"{cpu_ms:.2f} ms of CPU per submission")
                                continue
                            print(f"    {stage:20s} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    finally:
        if broker is not None:
            await broker.__aexit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMLINE_BOOTSTRAP_SERVERS"))
    parser.add_argument("--baseline-src", default="", help="also run ship with streamline imported from this src dir")
    parser.add_argument(
        "--rsyslog-root", default="", help="also run rsyslogd (imfile -> omkafka) from this dpkg -x root"
    )
    parser.add_argument(
        "--fetch-wait", type=int, default=5, help="the consumer's fetch_max_wait_ms (the target is judged at 5; "
        "the embedded broker holds every fetch about half of it, see docs/performance.md)"
    )
    parser.add_argument(
        "--lingers", default="", help="also run ship with each of these --linger values (comma-separated seconds)"
    )
    parser.add_argument(
        "--limits", action="store_true", help="also run the hand-written floor of following (aiokafka, librdkafka)"
    )
    parser.add_argument("--only", default="", help="run only these contenders (comma-separated: ship,probe,...)")
    parser.add_argument(
        "--wrap", default="", help="prefix the child's command, e.g. 'strace -c -f -o /tmp/{kind}.strace' "
        "or 'python -m cProfile -o /tmp/{kind}.prof' (for Python children)"
    )
    parser.add_argument("--wrap-kinds", default="ship,probe,baseline", help="which contenders --wrap applies to")
    args = parser.parse_args()
    args.wrap_kinds = args.wrap_kinds.split(",")
    args.baseline_src = os.path.abspath(args.baseline_src) if args.baseline_src else ""
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
