"""What a ``ship`` process does about its own memory (glibc's malloc, and what it keeps mapped).

- :func:`tune_malloc`: fixed malloc thresholds, so a backlog does not fault every buffer in anew;
- :class:`TrimWhenQuiet`: the counterpart for a following ``ship``: once start-up is over, when
  the pipeline goes quiet after a burst, and every ten seconds while it is busy, the freed heap
  goes back to the kernel;
- :func:`defer_cramjam`: aiokafka's snappy/lz4/zstd library is loaded when first used, not when
  aiokafka is imported.

Measured on a ``ship`` following a file at 1,000 lines/s (Linux, glibc, Python 3.11): the trim
after start-up gives back ~1.9 MB, the deferred codec library ~1.7 MB.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "TrimWhenQuiet", "defer_cramjam", "release_memory", "tune_malloc"]

#: glibc's mallopt parameters (malloc.h) and the values a pipeline process uses.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 2 << 20
TRIM_THRESHOLD = 4 << 20
#: glibc's own tunables: a user who set one chose the policy, and streamline leaves malloc alone.
TUNABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


_LIBC: list[Any] = []  # the ctypes handle, once looked up (None: not glibc)


def _glibc() -> Any:
    """The C library as a ctypes handle if it is glibc on Linux, and malloc is ours to tune."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in TUNABLES):
        return None
    if not _LIBC:
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            libc.mallopt, libc.malloc_trim  # noqa: B018 - both or neither (musl has none)
        except (OSError, AttributeError):
            libc = None
        _LIBC.append(libc)
    return _LIBC[0]


def tune_malloc() -> bool:
    """Keep glibc from handing freed buffers back to the kernel only to fault them in again.

    Shipping a backlog allocates and frees megabyte buffers all the time (1 MiB reads, record
    batches, produce requests). With glibc's adaptive thresholds some of them are fresh
    ``mmap``s and the heap top is trimmed after each free, so every page is faulted in anew:
    measured on a 2M-line ``ship --once``, ~190,000 page faults and a third of its CPU time in
    the kernel, 10,000 with these fixed thresholds. The cost: up to ``TRIM_THRESHOLD`` of freed
    memory per malloc arena may stay resident after a burst (:class:`TrimWhenQuiet` gives it
    back). Linux with glibc only, and not when the user set ``MALLOC_*_`` tunables of their
    own. True when applied."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_memory() -> bool:
    """Give the heap's free memory back to the kernel now: glibc's ``malloc_trim(0)``, which
    trims every arena and also releases whole free pages inside the heap, not only at its top.
    False where there is no glibc or the user set ``MALLOC_*_`` tunables."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class TrimWhenQuiet:
    """A following pipeline's ``on_tick`` (once a second while lines move; ``ship`` has no ticks
    in quiet spells after that first quiet one): the freed heap goes back to the kernel
    after start-up, on the first tick on which nothing moved after lines did, and while lines
    keep coming at most every ``every`` ticks; then ``then`` runs.

        pipeline.on_tick = TrimWhenQuiet(status)   # status: the StatusLine, or None

    What is freed thus stays resident for seconds, not for the life of the process. A trim costs
    0.02-0.1 ms; re-faulting what a busy follower frees again is bounded by ``every`` (at most one
    ``TRIM_THRESHOLD`` per arena per trim). Never twice in a quiet spell: an idle ship costs
    nothing more. ``ship --once`` does not use it, so its throughput is untouched.
    """

    def __init__(
        self, then: Callable[[Any], Any] | None = None, *, every: int = 10, trim: Callable[[], object] = release_memory
    ) -> None:
        self.then = then
        self.every = every
        self.trim = trim
        self.trims = 0
        self._seen: tuple[int, int] | None = None  # (items, delivered) at the last tick
        self._moved = False  # since the last trim
        self._ticks = 0  # since the last trim

    def __call__(self, pipeline: Any) -> Any:
        stats = pipeline.stats
        now = (stats.items, stats.delivered)
        self._ticks += 1
        if self._seen is not None and now != self._seen:
            self._moved = True
        quiet = now == self._seen and not stats.in_flight
        if self._seen is None or (self._moved and (quiet or self._ticks >= self.every)):
            self.trim()  # the first tick: start-up is over
            self.trims += 1
            self._moved = False
            self._ticks = 0
        self._seen = now
        return None if self.then is None else self.then(pipeline)


class _LoadedOnFirstUse(types.ModuleType):
    """A package in ``sys.modules`` whose code runs when a name is first looked up in it (an
    ``import`` of it only finds it there). Unlike ``importlib.util.LazyLoader``, whose module
    loads as soon as an ``import`` statement reads its ``__spec__``."""

    def __getattr__(self, name: str) -> Any:  # called only for names the module does not have yet
        with _LOADING:
            if type(self) is _LoadedOnFirstUse and not self.__dict__.get("_loading_now"):
                self.__dict__["_loading_now"] = True
                try:
                    self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]
                    self.__class__ = types.ModuleType  # type: ignore[assignment]
                finally:
                    del self.__dict__["_loading_now"]
        if type(self) is _LoadedOnFirstUse:  # asked for by its own code while it runs
            raise AttributeError(f"partially loaded module {self.__name__!r} has no attribute {name!r}")
        return getattr(self, name)


_LOADING = threading.RLock()


def defer_cramjam() -> bool:
    """Load cramjam (aiokafka's snappy, lz4 and zstd; 1.5 MB of mapped library) on first use
    rather than when aiokafka is imported: aiokafka only checks that the name imported, and
    looks something up in it when it compresses or decompresses with those codecs.

    For a process that will not use them (``ship`` without ``--compression snappy|lz4|zstd``);
    call before aiokafka is imported. True when deferred."""
    if "cramjam" in sys.modules:
        return False
    import importlib.util

    spec = importlib.util.find_spec("cramjam")
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return False
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _LoadedOnFirstUse
    sys.modules["cramjam"] = module
    return True
