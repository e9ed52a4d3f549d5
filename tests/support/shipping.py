"""Helpers for tests that run `streamline ship` as a user would and check what reached Kafka."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def line(n: int) -> bytes:
    return b"seq=%08d GET /index.html HTTP/1.1 200 512 \"-\" \"curl/8.5\"" % n


def start_ship(bootstrap: str, topic: str, paths: Sequence[str], checkpoints: Path, *extra: str, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [STREAMLINE, "-b", bootstrap, "ship", *paths, "--topic", topic, "--checkpoints", str(checkpoints),
             "--from", "beginning", "-q", *extra],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL,
        )
    finally:
        if log:
            out.close()  # the child has its own copy


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for entry in status:
            if entry.startswith("VmRSS:"):
                return int(entry.split()[1]) / 1024
    return 0.0


class Writer(threading.Thread):
    """Appends numbered lines at about ``rate`` lines/s; optional rotation every ``rotate_every`` lines."""

    def __init__(self, path: Path, total: int, rate: int, *, rotate_every: int = 0, copytruncate: bool = False) -> None:
        super().__init__(daemon=True)
        self.path, self.total, self.rate = path, total, rate
        self.rotate_every, self.copytruncate = rotate_every, copytruncate
        self.written = 0
        self.rotations = 0

    def run(self) -> None:
        chunk = max(1, self.rate // 20)
        f = open(self.path, "ab")  # noqa: SIM115
        since_rotation = 0
        while self.written < self.total:
            n = min(chunk, self.total - self.written)
            f.write(b"".join(line(self.written + i) + b"\n" for i in range(n)))
            f.flush()
            self.written += n
            since_rotation += n
            if self.rotate_every and since_rotation >= self.rotate_every and self.written < self.total:
                f.close()
                self.rotations += 1
                os.rename(self.path, f"{self.path}.{self.rotations}")
                f = open(self.path, "ab")  # noqa: SIM115
                since_rotation = 0
            time.sleep(0.05)
        f.close()


@dataclass(frozen=True)
class Tally:
    """What reached Kafka compared with what was written."""

    missing: set[bytes]  # written, never arrived
    corrupted: set[bytes]  # arrived, never written
    duplicates: int  # extra copies of lines that arrived


def tally(seen: Counter, expected: set[bytes]) -> Tally:
    received = set(seen)
    return Tally(expected - received, received - expected, sum(seen.values()) - len(seen))


async def read_topic(bootstrap: str, topic: str, expect_unique: int, timeout: float) -> Counter:
    """Read from the beginning until ``expect_unique`` distinct values arrived or ``timeout`` passed."""
    from streamline import consume

    seen: Counter = Counter()
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async for batch in _batches_until(stream, deadline):
            seen.update(m.value for m in batch)
            if len(seen) >= expect_unique:
                # Drain what is already there, to count duplicates too.
                drain_until = time.monotonic() + 1.0
                async for more in _batches_until(stream, drain_until):
                    seen.update(m.value for m in more)
                break
    return seen


async def _batches_until(stream, deadline: float):
    iterator = stream.batches().__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            yield await asyncio.wait_for(iterator.__anext__(), remaining)
        except (asyncio.TimeoutError, StopAsyncIteration):
            return
