"""Running a pipeline from the command line: signals, status line, exit codes.

First SIGINT/SIGTERM: graceful stop (sources stop, in-flight batches drain within the grace
period, producers flush, checkpoints and commits are saved) and exit 0. A second signal: stop at
once (exit 130); whatever was not acknowledged is read again next time.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

SECOND_SIGNAL_EXIT = 130


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class StatusLine:
    """Live figures: a redrawn line on a terminal, a log line every ``log_every`` s otherwise."""

    def __init__(self, follower: Any = None, *, stream: Any = None, log_every: float = 10.0) -> None:
        self.follower = follower
        self.out = stream or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.log_every = log_every
        self._last = time.monotonic()
        self._last_items = 0
        self._last_bytes = 0
        self._last_log = 0.0

    def render(self, pipeline: Any) -> str:
        now = time.monotonic()
        stats = pipeline.stats
        elapsed = max(1e-6, now - self._last)
        items_rate = (stats.items - self._last_items) / elapsed
        bytes_rate = (stats.bytes - self._last_bytes) / elapsed
        self._last, self._last_items, self._last_bytes = now, stats.items, stats.bytes
        parts = [f"{items_rate:,.0f} lines/s", f"{bytes_rate / 1e6:,.1f} MB/s", f"shipped {stats.delivered:,}"]
        if self.follower is not None:
            fs = self.follower.stats
            parts.append(f"files {fs.files}")
            parts.append(f"behind {human_bytes(fs.bytes_behind)}")
            checkpoints = getattr(self.follower, "checkpoints", None)
            saved = getattr(checkpoints, "last_saved", None)
            if saved:
                parts.append(f"checkpoint {now - saved:,.1f}s ago")
            parts.extend(getattr(self.follower, "status_parts", list)())  # split/skipped/warnings
        if stats.delivery_retries:
            parts.append(f"retries {stats.delivery_retries}")
        if stats.in_flight:
            parts.append(f"in flight {stats.in_flight}")
        return " | ".join(parts)

    def __call__(self, pipeline: Any) -> None:
        line = self.render(pipeline)
        if self.tty:
            self.out.write("\r\x1b[K" + line)
            self.out.flush()
        elif time.monotonic() - self._last_log >= self.log_every:
            self._last_log = time.monotonic()
            self.out.write(f"streamline: {line}\n")
            self.out.flush()

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


async def run_with_signals(pipeline: Any, *, setup: Callable[[], Any] | None = None) -> Any:
    """Run ``pipeline`` with the CLI's signal handling; returns its stats."""
    loop = asyncio.get_running_loop()
    signals = [0]

    def on_signal() -> None:
        signals[0] += 1
        if signals[0] == 1:
            sys.stderr.write("\nstreamline: stopping: draining in-flight data (signal again to stop at once)\n")
            pipeline.stop()
        else:
            pipeline.abort()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass
    try:
        stats = await pipeline.run()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    if signals[0] >= 2:
        raise SystemExit(SECOND_SIGNAL_EXIT)
    return stats
