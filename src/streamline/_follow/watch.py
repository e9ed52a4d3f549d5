"""Waiting for files to change: inotify (through watchfiles) with polling as the fallback.

Where notification works, the follower looks at everything only every few seconds and reacts
to changes at once; where it is unavailable (network filesystems, inotify limits, a directory
that does not exist yet) waiting is a plain sleep of ``poll_interval``.

watchfiles' private ``RustNotify`` comes from ``streamline/_internals.py`` (``awatch`` is an
async generator that cannot wait with a timeout per call); ``tests/follow`` checks its shape.
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from .._internals import rust_notify

RustNotify: Any = rust_notify()  # private to watchfiles: see streamline/_internals.py

# watchfiles groups events for up to DEBOUNCE_MS and checks every STEP_MS; each check takes
# the GIL. While changes keep coming (ACTIVE_SECONDS) it checks every 5 ms, so notification
# adds about 10 ms of latency; once quiet, every 50 ms: measured 2.5% of a core for a thread
# checking every 5 ms, 0.25% at 50 ms with half-second slices.
DEBOUNCE_MS = 10
STEP_MS = 5
IDLE_STEP_MS = 50
ACTIVE_SECONDS = 5.0
# A wait in the worker thread lasts at most this long, so cancellation is honoured quickly.
SLICE_SECONDS = 0.1
IDLE_SLICE_SECONDS = 0.5

#: watchfiles' change kinds: 1 added, 2 modified, 3 deleted.
MODIFIED = 2


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
        self._watcher: Any = None
        self._active_until = 0.0

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

    async def wait(self, timeout: float) -> set[tuple[int, str]] | None:
        """The changes (``{(kind, path)}``) as soon as some are seen; ``None`` once ``timeout``
        seconds passed (or at once if the watcher failed)."""
        watcher = self._watcher
        if watcher is None:
            await anyio.sleep(timeout)
            return None
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                return None
            active = now < self._active_until
            step = STEP_MS if active else IDLE_STEP_MS
            slice_seconds = SLICE_SECONDS if active else IDLE_SLICE_SECONDS
            slice_ms = max(1, int(min(remaining, slice_seconds) * 1000))
            try:
                result = await anyio.to_thread.run_sync(watcher.watch, DEBOUNCE_MS, step, slice_ms, None)
            except RuntimeError:  # the watcher failed (e.g. directory removed): poll instead
                self.close()
                await anyio.sleep(max(0.0, deadline - time.monotonic()))
                return None
            if isinstance(result, set):
                self._active_until = time.monotonic() + ACTIVE_SECONDS
                return result

    def close(self) -> None:
        """Stop watching (idempotent)."""
        watcher, self._watcher = self._watcher, None
        self._directories = frozenset()
        if watcher is not None:
            watcher.close()
