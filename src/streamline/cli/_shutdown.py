"""The one shutdown path of every command: what SIGINT and SIGTERM do, from start to exit.

The handlers are installed when the command's coroutine starts and stay installed until the
event loop is closed, so a signal during cleanup is handled too (never a traceback).

- First signal: the command's graceful stop runs (a pipeline drains within its grace period, a
  producer sends what it has read); a command without one is cancelled. Exit 0.
- Second signal: the command's abort runs and the process exits with 130 within about two
  seconds, whatever the broker does. Nothing unacknowledged was checkpointed or committed, so
  the next run sends it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

SECOND_SIGNAL_EXIT = 130
#: Seconds after a second signal before the process exits, finished cleanup or not.
HARD_EXIT_AFTER = 1.5


class Shutdown:
    """Signal state of the running command; see :func:`current`."""

    def __init__(self) -> None:
        self.signals = 0
        #: Seconds a graceful stop may take before cleanup is cut short (commands set it).
        self.grace = 30.0
        self._first_at: float | None = None
        self._stops: list[Callable[[], Any]] = []
        self._aborts: list[Callable[[], Any]] = []
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.message: str | None = None

    def install(self) -> None:
        """Handle SIGINT and SIGTERM on the running loop for the rest of its life."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass

    def on_stop(self, callback: Callable[[], Any], message: str | None = None) -> None:
        """Run ``callback`` on the first signal instead of cancelling the command; ``message``
        is printed (one line on stderr) when it happens."""
        self._stops.append(callback)
        if message is not None:
            self.message = message
        if self.signals:  # the signal came before the command was ready for it
            callback()

    def on_abort(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` on the second signal."""
        self._aborts.append(callback)

    @property
    def stopping(self) -> bool:
        return self.signals > 0

    def remaining(self, default: float) -> float:
        """Seconds cleanup may still take: ``default`` before any signal, what is left of the
        grace period after the first, none after the second."""
        if self.signals >= 2:
            return 0.0
        if self._first_at is None:
            return default
        return max(0.0, min(default, self._first_at + self.grace - time.monotonic()))

    def _on_signal(self) -> None:
        self.signals += 1
        if self.signals == 1:
            self._first_at = time.monotonic()
            if self._stops:
                for stop in list(self._stops):  # a status line ends its line first
                    stop()
                if self.message:
                    _say(self.message)
            elif self._task is not None:
                self._task.cancel()
            return
        if self.signals == 2:
            if self._stops:
                _say("stopping at once: what was not acknowledged will be sent again next time")
            for abort in list(self._aborts):
                abort()
            if self._task is not None:
                self._task.cancel()
            if self._loop is not None:
                self._loop.call_later(HARD_EXIT_AFTER, _exit_now)


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"streamline: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _exit_now() -> None:
    """The second-signal promise: out within about two seconds, cleanup finished or not."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(SECOND_SIGNAL_EXIT)


_current: Shutdown | None = None


def current() -> Shutdown:
    """The running command's shutdown state (a fresh one outside :func:`run_async`)."""
    global _current
    if _current is None:
        _current = Shutdown()
    return _current


def begin() -> Shutdown:
    """A new shutdown state for a command that starts now."""
    global _current
    _current = Shutdown()
    return _current
