"""Waiting for files to change: inotify (through watchfiles) with polling as the fallback.

The follower always re-checks its files every ``poll_interval``; notification only makes it
react sooner. Where notification is unavailable (network filesystems, inotify limits, a
directory that does not exist yet) waiting is a plain sleep.
"""

from __future__ import annotations

import time

import anyio

try:  # watchfiles is a declared dependency, but keep following usable without it
    from watchfiles._rust_notify import RustNotify
except ImportError:  # pragma: no cover
    RustNotify = None

# watchfiles groups events for up to DEBOUNCE_MS and checks every STEP_MS: together they bound
# the extra latency notification adds (about 10 ms) against a thread waking 200 times a second
# only while the follower is idle and waiting.
DEBOUNCE_MS = 10
STEP_MS = 5
# A wait in the worker thread lasts at most this long, so cancellation is honoured quickly.
SLICE_SECONDS = 0.1


class ChangeWaiter:
    """Wait until something changes in a set of directories, or until a timeout.

        waiter = ChangeWaiter(notify=True)
        waiter.watch({"/var/log"})
        changed = await waiter.wait(0.25)   # True early if /var/log changed
        waiter.close()
    """

    def __init__(self, *, notify: bool = True) -> None:
        self.notify = notify and RustNotify is not None
        self._directories: frozenset[str] = frozenset()
        self._watcher: RustNotify | None = None

    @property
    def notifying(self) -> bool:
        """True if change notification is active; False means waits are plain polling sleeps."""
        return self._watcher is not None

    def watch(self, directories: set[str]) -> None:
        """Watch exactly these directories from now on (non-recursively)."""
        wanted = frozenset(directories)
        if not self.notify or wanted == self._directories:
            return
        self.close()
        self._directories = wanted
        if not wanted:
            return
        try:
            self._watcher = RustNotify(sorted(wanted), False, False, 0, False, True)
        except (OSError, RuntimeError):
            self._watcher = None  # e.g. inotify limits, or a directory vanished: poll

    async def wait(self, timeout: float) -> bool:
        """Return True as soon as a change is seen, False once ``timeout`` seconds passed."""
        watcher = self._watcher
        if watcher is None:
            await anyio.sleep(timeout)
            return False
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            slice_ms = max(1, int(min(remaining, SLICE_SECONDS) * 1000))
            try:
                result = await anyio.to_thread.run_sync(
                    watcher.watch, DEBOUNCE_MS, STEP_MS, slice_ms, None
                )
            except RuntimeError:  # the watcher failed (e.g. directory removed): poll instead
                self.close()
                await anyio.sleep(max(0.0, deadline - time.monotonic()))
                return False
            if isinstance(result, set):
                return True

    def close(self) -> None:
        """Stop watching (idempotent)."""
        watcher, self._watcher = self._watcher, None
        self._directories = frozenset()
        if watcher is not None:
            watcher.close()
