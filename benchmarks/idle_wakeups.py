"""Wake-ups of an idle ``streamline ship`` (issue 18, point 3): system calls that end a sleep.

    python -m benchmarks.idle_wakeups [--seconds 20] [--baseline-src /work/main/src]

Starts the embedded broker and ``ship`` following a file; writes 100 lines, waits until they
arrived and the process settled (acknowledgements, a checkpoint save, the quiet-time trim),
then attaches ``strace -f -c`` for ``--seconds`` and reports the sleeping calls (epoll_wait,
futex, clock_nanosleep, select...) per second, all threads together. Every such call returning
is one wake-up of a thread; the event loop's are its ``epoll_wait`` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from ._support import count_messages

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")
SLEEPING = ("epoll_wait", "epoll_pwait", "futex", "clock_nanosleep", "select", "pselect6", "poll", "ppoll", "nanosleep")


def strace_counts(pid: int, seconds: float) -> dict[str, int]:
    """Calls per sleeping system call made by every thread of ``pid`` in ``seconds``."""
    out = tempfile.NamedTemporaryFile(prefix="idle-strace-", suffix=".txt", delete=False)
    out.close()
    tracer = subprocess.Popen(
        ["strace", "-f", "-c", "-o", out.name, "-e", "trace=" + ",".join(SLEEPING), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(10)
    counts: dict[str, int] = {}
    with open(out.name) as file:
        for line in file:
            fields = line.split()
            if len(fields) >= 5 and fields[-1] in SLEEPING and re.match(r"^[\d.]+$", fields[0]):
                counts[fields[-1]] = int(fields[3])
    os.unlink(out.name)
    return counts


async def one(kind: str, bootstrap: str, workdir: str, args: argparse.Namespace) -> dict[str, int]:
    from streamline import Admin

    topic = f"idle-{kind}-{time.monotonic_ns()}"
    async with Admin(bootstrap) as admin:
        await admin.create_topic(topic, partitions=4)
    path = os.path.join(workdir, f"{topic}.log")
    with open(path, "wb") as file:  # noqa: ASYNC230 - a small file, once
        file.write(b"".join(b"line %d\n" % n for n in range(100)))
    command = [STREAMLINE, "-b", bootstrap, "ship", path, "--topic", topic, "--from", "beginning",
               "--checkpoints", os.path.join(workdir, f"cp-{topic}"), "-q"]
    env = None
    if kind == "baseline":
        env = {**os.environ, "PYTHONPATH": args.baseline_src}
        command[0:1] = [sys.executable, "-c", "import sys; from streamline.cli import main; sys.argv[0] = 'streamline'; main()"]
    process = subprocess.Popen(  # noqa: ASYNC220 - one long-running child
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        arrived = await count_messages(bootstrap, topic, 100, timeout=60)
        if arrived < 100:
            raise RuntimeError(f"{kind}: only {arrived} of 100 lines arrived")
        await asyncio.sleep(args.settle)
        counts = await asyncio.to_thread(strace_counts, process.pid, args.seconds)
        with open(f"/proc/{process.pid}/status") as status:  # noqa: ASYNC230 - procfs
            memory = {f.split(":")[0]: int(f.split()[1]) for f in status if f.startswith(("VmRSS", "VmHWM"))}
        counts.update({f"{name} kB": value for name, value in memory.items()})
        return counts
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=40)


async def main_async(args: argparse.Namespace) -> None:
    from streamline import EmbeddedBroker

    async with EmbeddedBroker() as broker:
        with tempfile.TemporaryDirectory(prefix="idle-wakeups-") as workdir:
            kinds = (["ship"] if not args.only_baseline else []) + (["baseline"] if args.baseline_src else [])
            for round_ in range(args.rounds):
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    counts = await one(kind, broker.bootstrap_servers, workdir, args)
                    memory = {name: counts.pop(name) for name in [n for n in counts if n.endswith(" kB")]}
                    per_second = {name: count / args.seconds for name, count in sorted(counts.items())}
                    total = sum(per_second.values())
                    detail = ", ".join(f"{name} {rate:.2f}" for name, rate in per_second.items())
                    print(f"round {round_ + 1} {kind:8s}: {total:.2f} sleeping calls/s ({detail}); RSS {memory.get('VmRSS kB', 0) / 1000:.1f} MB, peak {memory.get('VmHWM kB', 0) / 1000:.1f} MB; load {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after the lines arrived before counting")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline-src", default="")
    parser.add_argument("--only-baseline", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
