"""Running a pipeline from the command line: signals, status line, waiting for the broker.

First SIGINT/SIGTERM: graceful stop (sources stop, in-flight batches drain within the grace
period, producers flush, checkpoints and commits are saved) and exit 0. A second signal: stop at
once (exit 130); whatever was not acknowledged is read again next time. See ``_shutdown``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .._backoff import backoff
from ._shutdown import SECOND_SIGNAL_EXIT, current

if TYPE_CHECKING:
    from .._metrics import Readiness

T = TypeVar("T")
log = logging.getLogger("streamline.cli")

__all__ = ["SECOND_SIGNAL_EXIT", "StatusLine", "human_bytes", "plural", "run_with_signals", "start_when_reachable", "with_metrics"]


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def plural(count: int, word: str) -> str:
    """``1 file``, ``3 files``, ``1,000 lines``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width - 1`` characters (the last column would wrap on some terminals)."""
    room = max(1, width - 1)
    return line if len(line) <= room else line[: max(0, room - 1)] + "…"


#: A log line is written once ``log_every`` seconds passed, less this share of it (at most half
#: a second): ticks come on a grid, the last log's time was taken when its tick ran late.
LOG_SLACK = 0.1

#: The status line drawn last on a terminal (log lines clear it before they are written).
_drawn_on: list[StatusLine | None] = [None]


def clear_status_line() -> None:
    """Before another line goes to the terminal: end the status line drawn there (it is
    redrawn on its next tick)."""
    status = _drawn_on[0]
    if status is not None and status._drawn and not status._stopped:
        status.out.write("\r\x1b[K")
        status._drawn = False


class StatusLine:
    """Live figures: a redrawn line on a terminal (never wider than it), a log line every
    ``log_every`` s otherwise; silent once a signal asked the command to stop."""

    def __init__(self, follower: Any = None, *, stream: Any = None, log_every: float = 10.0) -> None:
        self.follower = follower
        self.out = stream or sys.stderr
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.log_every = log_every
        self._last = time.monotonic()
        self._last_items = 0
        self._last_bytes = 0
        self._last_log = 0.0
        self._drawn = False
        self._stopped = False
        self._waiting_since: float | None = None

    def width(self) -> int:
        try:
            return os.get_terminal_size(self.out.fileno()).columns or 80  # 0: size unknown
        except (OSError, ValueError, AttributeError):
            return 80

    def render(self, pipeline: Any) -> str:
        now = time.monotonic()
        stats = pipeline.stats
        elapsed = max(1e-6, now - self._last)
        items_rate = (stats.items - self._last_items) / elapsed
        bytes_rate = (stats.bytes - self._last_bytes) / elapsed
        self._last, self._last_items, self._last_bytes = now, stats.items, stats.bytes
        parts = []
        since = getattr(stats, "retrying_since", None)
        if since is not None:
            import anyio

            parts.append(f"broker unreachable, retrying {anyio.current_time() - since:,.0f}s")
        parts += [f"{items_rate:,.0f} lines/s", f"{bytes_rate / 1e6:,.1f} MB/s", f"shipped {stats.delivered:,}"]
        if self.follower is not None:
            fs = self.follower.stats
            parts.append(plural(max(fs.files, fs.files_opened), "file"))
            parts.append(f"behind {human_bytes(fs.bytes_behind)}")
            checkpoints = getattr(self.follower, "checkpoints", None)
            saved = getattr(checkpoints, "last_saved", None)
            if saved:
                parts.append(f"checkpoint {now - saved:,.1f}s ago")
            parts.extend(getattr(self.follower, "status_parts", list)())  # split/skipped/warnings
        if stats.delivery_retries:
            n = stats.delivery_retries
            parts.append(f"{n:,} retr{'y' if n == 1 else 'ies'}")
        if stats.in_flight:
            parts.append(f"in flight {stats.in_flight}")
        return " | ".join(parts)

    def quiet_interval(self, tick_interval: float) -> float:
        """How often it needs a tick while nothing moves: every tick on a terminal (the line is
        redrawn), once per log line otherwise (``Pipeline(quiet_tick_interval=...)``)."""
        return tick_interval if self.tty else max(tick_interval, self.log_every)

    def __call__(self, pipeline: Any) -> None:
        if self._stopped:
            return
        self._show(self.render(pipeline))

    def waiting(self, seconds: float, why: str) -> None:
        """Before the pipeline runs: the broker does not answer yet."""
        if not self._stopped:
            self._show(f"broker unreachable, retrying {seconds:,.0f}s ({why})")

    def _show(self, line: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + fit(line, self.width()))
            self.out.flush()
            self._drawn = True
            _drawn_on[0] = self
        elif time.monotonic() - self._last_log >= self.log_every - min(0.5, self.log_every * LOG_SLACK):
            self._last_log = time.monotonic()
            self.out.write(f"streamline: {line}\n")
            self.out.flush()

    def stop_drawing(self) -> None:
        """A signal came (or the command ends): keep the last figures, draw nothing more."""
        if self.tty and self._drawn:
            self.out.write("\n")
            self.out.flush()
        self._drawn = False
        self._stopped = True

    def finish(self) -> None:
        self.stop_drawing()


async def run_with_signals(pipeline: Any) -> Any:
    """Run ``pipeline`` under the command's shutdown path; returns its stats.

    First signal: ``pipeline.stop()`` (drain within its grace period); second: ``pipeline.abort()``
    and exit 130 (see ``_shutdown``).
    """
    shutdown = current()
    shutdown.grace = pipeline.grace
    shutdown.on_abort(pipeline.abort)
    shutdown.on_stop(
        pipeline.stop,
        f"stopping: draining in-flight data for up to {pipeline.grace:g}s (signal again to stop at once)",
    )
    return await pipeline.run()


async def start_when_reachable(
    start: Callable[[], Awaitable[T]],
    *,
    what: str,
    status: StatusLine | None = None,
    max_backoff: float = 10.0,
) -> T | None:
    """``await start()`` until the broker answers: a retriable error (broker unreachable) is
    retried with backoff and jitter, shown on the status line and logged (once, then every
    minute). Returns None if a signal stopped the wait; other errors propagate.
    """
    from .._errors import StreamlineError

    shutdown = current()
    stopped = asyncio.Event()
    shutdown.on_stop(stopped.set)
    began = time.monotonic()
    attempt = 0
    last_log = -1e9
    while not shutdown.stopping:
        try:
            return await start()
        except StreamlineError as exc:
            if not exc.retriable:
                raise
            attempt += 1
            waited = time.monotonic() - began
            if time.monotonic() - last_log >= 60 or attempt == 1:
                last_log = time.monotonic()
                log.warning("%s; %s waits and retries until it answers", exc, what)
            if status is not None:
                status.waiting(waited, str(exc).split(": ", 1)[-1])
            delay = backoff(attempt, base=0.5, cap=max_backoff)
            try:
                await asyncio.wait_for(stopped.wait(), delay)
            except asyncio.TimeoutError:
                pass
    return None


def with_metrics(
    address: str | None, make: Callable[[], Awaitable[T]], *, ready: Readiness | None = None
) -> Callable[[], Awaitable[T]]:
    """``make`` itself without an address; else ``make`` run inside the metrics server.

    The address and the ``prometheus_client`` install are checked here, before anything
    connects (exit 2); a port in use fails when the command starts (exit 1, a runtime failure:
    the same command works once the port is free).
    """
    if not address:
        return make
    from .._metrics import parse_address, require_prometheus_client, serve_metrics

    parse_address(address)
    require_prometheus_client()

    async def serving() -> T:
        async with serve_metrics(address, ready=ready) as server:
            sys.stderr.write(f"streamline: metrics on {server.url}/metrics\n")
            sys.stderr.flush()
            return await make()

    return serving
