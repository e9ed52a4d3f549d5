"""Follower throughput: read a 1M-line access log to its end, acknowledging each batch.

    python benchmarks/bench_follow.py [--lines 1000000] [--per-line]
    python benchmarks/bench_follow.py --idle-files 2000 [--idle-seconds 20] [--no-notify]

Prints lines/s for ``follower.batches()`` with one ``ack()`` per batch (the shipping fast
path) and, with ``--per-line``, for ``async for line`` with one ``ack()`` per line.

``--idle-files N``: the CPU a follower uses while N files (matched by one glob, each with a
checkpoint) are all idle, as a percentage of one core (process CPU time / wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from streamline._follow import follow

LINE = '127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 %06d "-" "curl"\n'


async def batches(path: str, checkpoints: str) -> int:
    count = 0
    async with follow(path, start="beginning", stop_at_eof=True, checkpoints=checkpoints) as f:
        async for batch in f.batches():
            count += len(batch)
            batch.ack()
    return count


async def per_line(path: str, checkpoints: str) -> int:
    count = 0
    async with follow(path, start="beginning", stop_at_eof=True, checkpoints=checkpoints) as f:
        async for line in f:
            count += 1
            line.ack()
    return count


async def idle(directory: str, files: int, seconds: float, notify: bool) -> tuple[float, int]:
    import anyio

    for i in range(files):
        with open(os.path.join(directory, f"idle-{i:05d}.log"), "w") as file:
            file.write("one line\n")
    checkpoints = tempfile.mkdtemp(dir=directory)
    pattern = os.path.join(directory, "idle-*.log")
    async with follow(pattern, start="beginning", checkpoints=checkpoints, notify=notify) as f:
        lines = aiter(f)
        for _ in range(files):
            (await lines.__anext__()).ack()
        with anyio.move_on_after(2.0):  # settle: the first checkpoint save, watches set up
            await lines.__anext__()
        cpu, wall = time.process_time(), time.perf_counter()
        with anyio.move_on_after(seconds):
            await lines.__anext__()
        used = (time.process_time() - cpu) / (time.perf_counter() - wall)
        return used * 100, f.stats.files_open


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--per-line", action="store_true")
    parser.add_argument("--idle-files", type=int, default=0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--no-notify", action="store_true")
    args = parser.parse_args()
    if args.idle_files:
        with tempfile.TemporaryDirectory() as directory:
            percent, open_files = asyncio.run(
                idle(directory, args.idle_files, args.idle_seconds, not args.no_notify)
            )
        mode = "polling" if args.no_notify else "inotify"
        print(
            f"idle follower, {args.idle_files:,} idle files ({mode}): {percent:5.2f}% of a core "
            f"over {args.idle_seconds:g} s, {open_files} descriptors held"
        )
        return
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "access.log")
        with open(path, "w") as file:
            file.writelines(LINE % i for i in range(args.lines))
        size = os.path.getsize(path)
        modes = [("batches + batch.ack()", batches)]
        if args.per_line:
            modes.append(("async for line + line.ack()", per_line))
        for name, run in modes:
            checkpoints = tempfile.mkdtemp(dir=directory)
            started = time.perf_counter()
            count = asyncio.run(run(path, checkpoints))
            elapsed = time.perf_counter() - started
            assert count == args.lines, count
            print(
                f"{name:30s} {count:>9,} lines {size / 1e6:7.1f} MB  {elapsed:6.3f} s  "
                f"{count / elapsed:>12,.0f} lines/s  {size / elapsed / 1e6:7.1f} MB/s"
            )


if __name__ == "__main__":
    main()
