"""Follower throughput: read a 1M-line access log to its end, acknowledging each batch.

    python benchmarks/bench_follow.py [--lines 1000000] [--per-line]

Prints lines/s for ``follower.batches()`` with one ``ack()`` per batch (the shipping fast
path) and, with ``--per-line``, for ``async for line`` with one ``ack()`` per line.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--per-line", action="store_true")
    args = parser.parse_args()
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
