"""Helpers of the fault-injection suite: a writer that runs until stopped, a copytruncate
rotator, and a report of the measured figures.

``STREAMLINE_FAULTS_LONG=1`` selects the long mode (more kills, longer outages, more lines);
``STREAMLINE_FAULTS_REPORT=FILE`` appends every test's figures to FILE as JSON lines.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from shipping import line

LONG = os.environ.get("STREAMLINE_FAULTS_LONG") == "1"


def report(test: str, **figures: object) -> None:
    """Print the figures (shown with ``-s``) and append them to ``$STREAMLINE_FAULTS_REPORT``."""
    record = {"test": test, "long": LONG, **figures}
    print(f"\nFAULTS {json.dumps(record)}")
    target = os.environ.get("STREAMLINE_FAULTS_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps(record) + "\n")


class RateWriter(threading.Thread):
    """Appends numbered lines (``shipping.line``) at about ``rate`` lines/s until :meth:`stop`.

    Each 50 ms tick is one ``write(2)`` on an ``O_APPEND`` descriptor, so a line is never torn
    and a copytruncate's truncation makes the next write land at offset 0. ``ticks`` records
    ``(first line, end line, monotonic time)`` of every write.
    """

    def __init__(self, path: Path, rate: int, *, limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.path, self.rate, self.limit = path, rate, limit
        self.written = 0
        self.ticks: list[tuple[int, int, float]] = []
        self._halt = threading.Event()
        self.started_at = self.stopped_at = 0.0

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        chunk = max(1, self.rate // 20)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.started_at = next_tick = time.monotonic()
        try:
            while not self._halt.is_set() and (self.limit is None or self.written < self.limit):
                n = chunk if self.limit is None else min(chunk, self.limit - self.written)
                data = b"".join(line(self.written + i) + b"\n" for i in range(n))
                os.write(fd, data)
                self.ticks.append((self.written, self.written + n, time.monotonic()))
                self.written += n
                next_tick += 0.05
                time.sleep(max(0.0, next_tick - time.monotonic()))
        finally:
            os.close(fd)
            self.stopped_at = time.monotonic()

    @property
    def achieved_rate(self) -> float:
        return self.written / max(1e-9, self.stopped_at - self.started_at)

    def lines_written_between(self, start: float, end: float) -> set[int]:
        """Line numbers of the writes that happened in [start, end], plus the write just before
        ``start`` (it may not have been read when the window opened)."""
        out: set[int] = set()
        before = [t for t in self.ticks if t[2] < start]
        for first, stop, _ in ([before[-1]] if before else []) + [t for t in self.ticks if start <= t[2] <= end]:
            out.update(range(first, stop))
        return out


class CopyTruncator(threading.Thread):
    """logrotate's ``copytruncate``: copy the file to ``path.N``, then truncate it in place,
    every ``every`` seconds. ``windows`` holds ``(copy started, truncate done)`` times."""

    def __init__(self, path: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.path, self.every = path, every
        self.windows: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        while not self._halt.wait(self.every):
            started = time.monotonic()
            shutil.copyfile(self.path, f"{self.path}.{len(self.windows) + 1}")
            os.truncate(self.path, 0)
            self.windows.append((started, time.monotonic()))
