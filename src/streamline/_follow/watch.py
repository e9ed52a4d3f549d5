"""Waiting for files to change: inotify (directly on Linux, through watchfiles elsewhere) with
polling as the fallback.

Where notification works, the follower looks at everything only every few seconds and reacts
to changes at once; where it is unavailable (network filesystems, inotify limits, a directory
that does not exist yet) waiting is a plain sleep of ``poll_interval``.

On Linux the inotify descriptor is waited on by the event loop (``inotify.py``): a change
wakes the follower at once and an idle follower costs nothing. Elsewhere watchfiles'
private ``RustNotify`` (from ``streamline/_internals.py``; ``awatch`` is an async generator that
cannot wait with a timeout per call) polls its queue from a worker thread; ``tests/follow``
checks its shape.

Adaptive batching: a change after a quiet spell is handed over at once; while changes keep
coming, wake-ups are at least :data:`BUSY_GAP` apart, so a file written line by line is read
(and shipped) in small batches rather than one line per wake-up: latency stays a few
milliseconds, the CPU per line falls with the rate. While busy, the waiter sleeps out the gap
and then looks at the inotify queue, rather than waking on the descriptor first (the writer's
next line) and then sleeping the rest: one event-loop wake-up per cycle instead of two.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import anyio

from .._alarm import Alarm
from . import inotify

#: While busy, wake-ups are at least this far apart (seconds; the default of ``follow(linger=)``
#: and ``ship --linger``): at 1,000 lines/s a batch holds
#: about 5 lines instead of one, at 100 lines/s one, as before. Each wake-up costs a produce
#: request (0.6-1.0 ms of CPU each on our shared 2-core machine, mostly aiokafka's request path
#: and the event loop), so this trades latency for CPU: following 1k lines/s took 15-19% of a
#: core at 3 ms, 13.5-16% at 5 ms, 9-12.6% at 10 ms (docs/performance.md, "round 2").
BUSY_GAP = 0.005

# watchfiles (the fallback) groups events for up to DEBOUNCE_MS and checks every STEP_MS; each
# check takes the GIL. While changes keep coming (ACTIVE_SECONDS) it checks every 5 ms, so
# notification adds about 10 ms of latency; once quiet, every 50 ms: measured 2.5% of a core
# for a thread checking every 5 ms, 0.25% at 50 ms with half-second slices.
DEBOUNCE_MS = 10
STEP_MS = 5
IDLE_STEP_MS = 50
ACTIVE_SECONDS = 5.0
# A wait in the worker thread lasts at most this long, so cancellation is honoured quickly.
SLICE_SECONDS = 0.1
IDLE_SLICE_SECONDS = 0.5

#: watchfiles' change kinds: 1 added, 2 modified, 3 deleted; the Linux backend also reports
#: 4, written: the file's bytes changed (not only its attributes), so it is still at its path.
MODIFIED = 2
WRITTEN = inotify.WRITTEN

#: The Linux backend (None elsewhere); tests replace it to see the fallbacks.
Inotify: Any = inotify.Inotify if inotify.available() else None


def __getattr__(name: str) -> Any:
    # watchfiles is imported only where it is used: elsewhere than Linux, or by tests.
    if name == "RustNotify":
        from .._internals import rust_notify

        value = rust_notify()  # private to watchfiles: see streamline/_internals.py
        globals()["RustNotify"] = value
        return value
    raise AttributeError(name)


def _rust_notify() -> Any:
    """watchfiles' ``RustNotify`` (or what a test put in its place), imported on first use."""
    found = globals().get("RustNotify", _MISSING)
    return __getattr__("RustNotify") if found is _MISSING else found


_MISSING = object()


class ChangeWaiter:
    """Wait until something changes in a set of directories, or until a timeout.

        waiter = ChangeWaiter(notify=True)
        waiter.watch({"/var/log"})
        changed = await waiter.wait(0.25)   # the changes, early, if /var/log changed
        waiter.close()
    """

    def __init__(self, *, notify: bool = True, busy_gap: float = BUSY_GAP) -> None:
        self.notify = notify
        self.busy_gap = busy_gap  # the follower's ``linger``
        self._directories: frozenset[str] = frozenset()
        self._inotify: Any = None  # the Linux backend
        self._watcher: Any = None  # the watchfiles backend
        self._active_until = 0.0
        self._woke_at = float("-inf")
        self._alarm = Alarm()  # the current wait, which wake_by() may cut short

    @property
    def notifying(self) -> bool:
        """True if change notification is active; False means waits are plain polling sleeps."""
        return self._inotify is not None or self._watcher is not None

    @property
    def wakeable(self) -> bool:
        """True if :meth:`wake_by` can end a wait early (inotify or polling; not watchfiles,
        whose waits run in a worker thread)."""
        return self._watcher is None

    def wake_by(self, deadline: float | None) -> None:
        """End the current wait by ``deadline`` (``time.monotonic()``) if it would last longer:
        something the caller must do came up, e.g. a checkpoint save became due. Safe from
        callbacks in the event loop."""
        self._alarm.bring_forward(deadline)

    def watch(self, directories: set[str]) -> None:
        """Watch exactly these directories from now on (non-recursively)."""
        wanted = frozenset(directories)
        if not self.notify:
            return
        if self._inotify is not None and not self._inotify.lost and wanted == self._directories:
            return
        if self._inotify is None and wanted == self._directories:
            return
        self._directories = wanted
        if not wanted:
            self._close_backends()
            return
        if Inotify is not None:
            try:
                if self._inotify is None:
                    self._inotify = Inotify()
                self._inotify.watch(wanted)
                return
            except OSError:  # e.g. inotify limits, or a directory vanished: try watchfiles, then poll
                self._close_backends()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        rust_notify = _rust_notify()
        if rust_notify is None:
            return
        try:
            self._watcher = rust_notify(sorted(wanted), False, False, 0, False, True)
        except (OSError, RuntimeError):
            self._watcher = None  # e.g. inotify limits, or a directory vanished: poll

    async def wait(self, timeout: float) -> set[tuple[int, str]] | None:
        """The changes (``{(kind, path)}``) as soon as some are seen; ``None`` once ``timeout``
        seconds passed (or at once if the watcher failed)."""
        if self._inotify is not None:
            return await self._wait_inotify(timeout)
        watcher = self._watcher
        if watcher is None:
            await self._alarm.wait_until(time.monotonic() + timeout)
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

    async def _wait_inotify(self, timeout: float) -> set[tuple[int, str]] | None:
        notify: inotify.Inotify = self._inotify
        wait = self._woke_at + self.busy_gap - time.monotonic()
        if 0 < wait <= timeout:
            # Busy (woken moments ago): the writer most likely writes again within the gap, so
            # look after it without waiting on the descriptor first (one wake-up, not two).
            await _sleep(wait)
            timeout -= wait
            changes = notify.read()
            if changes:
                self._woke_at = time.monotonic()
                return changes
        changes = notify.read()
        if not changes:
            await self._alarm.wait_until(time.monotonic() + timeout, partial(anyio.wait_readable, notify.fileno()))
            changes = notify.read()
            if not changes:
                return None
        # Busy (woken moments ago): let the writer add a few more lines before reading.
        wait = self._woke_at + self.busy_gap - time.monotonic()
        if wait > 0:
            await _sleep(wait)
            changes |= notify.read()
        self._woke_at = time.monotonic()
        return changes

    def _close_backends(self) -> None:
        for backend in (self._inotify, self._watcher):
            if backend is not None:
                backend.close()
        self._inotify = self._watcher = None

    def close(self) -> None:
        """Stop watching (idempotent)."""
        self._close_backends()
        self._directories = frozenset()


async def _sleep(delay: float) -> None:
    """``asyncio.sleep(delay)`` for the busy gap, which runs every cycle: a plain loop timer
    (anyio's dispatch costs more than the sleep), and one that fired is not cancelled again
    (``asyncio.sleep`` cancels its timer in every case: four calls per cycle for nothing).

        await _sleep(0.005)
    """
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    timer = loop.call_at(loop.time() + delay, _wake, woken)
    try:
        await woken
    except BaseException:  # cancelled while waiting: the timer must not fire for nothing
        timer.cancel()
        raise


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # (cancelled meanwhile)
        woken.set_result(None)
