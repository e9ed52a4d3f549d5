"""What the metrics endpoint reports: live objects (read at scrape time) and a few recorded events.

Producers, consumer streams, followers and pipelines already count what they do (``stats``). They
register here with one call, :func:`track`, and the registry keeps only a weak reference: a scrape
reads their counters, so the hot paths pay nothing. Figures the objects do not keep (delivery
retries per topic, handler durations, consumer positions, rebalances) are recorded with the small
``record_*`` functions below: a dictionary update per batch, never per message, and no
``prometheus_client`` import.

    from streamline import _metrics
    _metrics.track(self)                      # in a constructor or __aenter__
    _metrics.record_committed("g", "t", 0, 42)
"""

from __future__ import annotations

import bisect
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

#: Kinds of tracked objects, inferred from the class name when ``track`` is not told.
KINDS = ("producer", "consumer", "follower", "pipeline")
_KIND_BY_CLASS = {"Producer": "producer", "Follower": "follower", "Pipeline": "pipeline"}

#: Per-file labels are kept for this many files; the rest are summed under ``path="other"``.
MAX_FILE_LABELS = 100

#: Upper bounds (seconds) of the handler-duration histogram buckets (``+Inf`` is implied).
HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Partition = tuple[str, str, int]  # (group or "", topic, partition)


@dataclass
class Histogram:
    """Cumulative-at-export histogram: counts per bucket, their sum and count."""

    buckets: tuple[float, ...] = HANDLER_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(HANDLER_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations to this histogram (same buckets)."""
        for i, n in enumerate(other.counts):
            if n:
                self.counts[i] += n
        self.total += other.total
        self.count += other.count

    def clear(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, cumulative count), ...]`` ending with ``("+Inf", count)``."""
        out, running = [], 0
        for bound, n in zip((*(repr(b) for b in self.buckets), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


class _Tracked:
    __slots__ = ("kind", "ref", "stats")

    def __init__(self, kind: str, obj: Any) -> None:
        self.kind = kind
        self.ref = weakref.ref(obj)
        self.stats: Any = getattr(obj, "stats", None)


@dataclass
class Events:
    """Figures recorded by ``record_*`` calls (monotonic counters and last-known gauges)."""

    produced_records: dict[str, int] = field(default_factory=dict)  # topic -> records
    produced_bytes: dict[str, int] = field(default_factory=dict)  # topic -> bytes
    delivery_retries: dict[str, int] = field(default_factory=dict)  # topic -> retries
    delivery_errors: dict[str, int] = field(default_factory=dict)  # topic -> failed deliveries
    consumed: dict[Partition, int] = field(default_factory=dict)
    consumed_bytes: dict[str, int] = field(default_factory=dict)  # group -> value bytes
    assignments: dict[str, int] = field(default_factory=dict)  # group -> assignments received
    revocations: dict[str, int] = field(default_factory=dict)  # group -> revocations
    positions: dict[Partition, int] = field(default_factory=dict)  # next offset to hand out
    highwaters: dict[Partition, int] = field(default_factory=dict)  # log end offset
    committed: dict[Partition, int] = field(default_factory=dict)
    rebalances: dict[str, int] = field(default_factory=dict)  # group -> rebalances
    dead_lettered: dict[str, int] = field(default_factory=dict)  # group -> messages
    skipped: dict[str, int] = field(default_factory=dict)  # group -> messages
    handler_seconds: dict[str, Histogram] = field(default_factory=dict)  # group -> histogram


class Registry:
    """Weak references to live objects, the counters of the ones gone, and recorded events."""

    def __init__(self) -> None:
        # Scrapes may come from another thread (prometheus_client's own server). Finalizers of
        # tracked objects can run inside any allocation, so they only queue; ``_reap`` folds.
        self._lock = threading.RLock()
        self._tracked: dict[int, _Tracked] = {}
        self._dead: deque[tuple[int, _Tracked]] = deque()
        #: Counter totals of objects that are gone, so a counter never goes backwards.
        self.retired: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
        self.events = Events()
        self.started = time.time()
        #: Event-loop lag measured by the HTTP server's ticker (seconds; 0 until measured).
        self.loop_lag = 0.0

    # -- tracking ----------------------------------------------------------------------------
    def track(self, obj: Any, kind: str | None = None) -> None:
        kind = kind or _KIND_BY_CLASS.get(type(obj).__name__, "consumer")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
        key = id(obj)
        with self._lock:
            self._reap()
            entry = self._tracked.get(key)
            if entry is not None and entry.ref() is obj:
                stats = getattr(obj, "stats", None)  # e.g. each pipeline run starts new stats
                if stats is not entry.stats:
                    _add_counters(self.retired[kind], entry.stats)
                    entry.stats = stats
                return
            entry = _Tracked(kind, obj)
            self._tracked[key] = entry
        weakref.finalize(obj, self._retire, key, entry).atexit = False

    def untrack(self, obj: Any) -> None:
        """Stop reporting ``obj`` (its counters must be folded into :attr:`events` first)."""
        with self._lock:
            entry = self._tracked.get(id(obj))
            if entry is not None and entry.ref() is obj:
                del self._tracked[id(obj)]

    def _retire(self, key: int, entry: _Tracked) -> None:
        self._dead.append((key, entry))  # atomic; never takes the lock (see __init__)

    def _reap(self) -> None:
        while self._dead:
            key, entry = self._dead.popleft()
            # Only what is still tracked: an object forgotten by reset() or untrack() (whose
            # counters went elsewhere) adds nothing when it goes.
            if self._tracked.get(key) is entry:
                del self._tracked[key]
                _add_counters(self.retired[entry.kind], entry.stats)

    def live(self, kind: str) -> Iterator[tuple[Any, Any]]:
        """``(object, stats)`` of the live objects of ``kind``; refreshes each one's stats."""
        with self._lock:
            self._reap()
            entries = [e for e in self._tracked.values() if e.kind == kind]
        for entry in entries:
            obj = entry.ref()
            if obj is None:
                continue
            stats = getattr(obj, "stats", None)
            if stats is not entry.stats:  # keep the newest stats: they are what retire adds up
                with self._lock:
                    if entry.stats is not None and stats is not None:
                        _add_counters(self.retired[kind], entry.stats)
                    entry.stats = stats
            yield obj, stats

    def counter(self, kind: str, name: str) -> float:
        """A counter field summed over live and retired objects of ``kind``."""
        total = self.retired[kind].get(name, 0)
        for _, stats in self.live(kind):
            total += getattr(stats, name, 0) or 0
        return total

    def gauge(self, kind: str, name: str) -> float:
        """A gauge field summed over live objects of ``kind``."""
        return sum(getattr(stats, name, 0) or 0 for _, stats in self.live(kind))

    def count(self, kind: str) -> int:
        return sum(1 for _ in self.live(kind))

    def reset(self) -> None:
        """Forget everything (tests)."""
        with self._lock:
            self._tracked.clear()
            self._dead.clear()
            self.retired = {kind: {} for kind in KINDS}
            self.events = Events()
            self.loop_lag = 0.0


#: Fields of the stats objects that are gauges (a level now), not counters; retiring skips them.
GAUGE_FIELDS = frozenset({"files", "bytes_behind", "in_flight", "started"})


def _add_counters(into: dict[str, float], stats: Any) -> None:
    if stats is None:
        return
    names = [f.name for f in fields(stats)] if hasattr(stats, "__dataclass_fields__") else []
    for name in names:
        if name in GAUGE_FIELDS:
            continue
        value = getattr(stats, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            into[name] = into.get(name, 0) + value


REGISTRY = Registry()


def track(obj: Any, kind: str | None = None) -> None:
    """Report ``obj``'s counters at every scrape while it lives (a weak reference; call it once).

    ``kind`` is inferred from the class: ``Producer``, ``Follower``, ``Pipeline``; anything
    else is a consumer stream.
    """
    REGISTRY.track(obj, kind)


def _bump(table: dict[Any, int], key: Any, value: int) -> None:
    table[key] = table.get(key, 0) + value


def record_produced(topic: str, records: int, size: int) -> None:
    """``records`` records of ``size`` bytes in all were acknowledged for ``topic``."""
    events = REGISTRY.events
    _bump(events.produced_records, topic, records)
    _bump(events.produced_bytes, topic, size)


def record_delivery_retry(topic: str, count: int = 1) -> None:
    """A delivery to ``topic`` failed with a retriable error and is tried again."""
    _bump(REGISTRY.events.delivery_retries, topic, count)


def record_delivery_error(topic: str, count: int = 1) -> None:
    """A delivery to ``topic`` failed for good (the error reached the caller)."""
    _bump(REGISTRY.events.delivery_errors, topic, count)


def record_consumed(group: str | None, topic: str, partition: int, count: int, position: int) -> None:
    """``count`` messages of one partition were handed out; ``position`` is the next offset."""
    key = (group or "", topic, partition)
    events = REGISTRY.events
    _bump(events.consumed, key, count)
    events.positions[key] = position


def record_highwater(group: str | None, topic: str, partition: int, highwater: int) -> None:
    """The partition's log end offset as last fetched (lag = highwater − position)."""
    REGISTRY.events.highwaters[(group or "", topic, partition)] = highwater


def record_committed(group: str | None, topic: str, partition: int, offset: int) -> None:
    """``offset`` (the next offset to read) was committed for the partition."""
    REGISTRY.events.committed[(group or "", topic, partition)] = offset


def record_rebalance(group: str | None, revoked: Any = ()) -> None:
    """A rebalance happened (for objects that do not count them in a tracked ``rebalances``);
    gauges of the ``revoked`` ``(topic, partition)`` pairs are dropped."""
    _bump(REGISTRY.events.rebalances, group or "", 1)
    record_revoked(group, revoked)


def record_revoked(group: str | None, revoked: Any) -> None:
    """Drop the position/lag/committed gauges of ``revoked`` ``(topic, partition)`` pairs."""
    events = REGISTRY.events
    name = group or ""
    for topic, partition in revoked:
        for table in (events.positions, events.highwaters, events.committed):
            table.pop((name, topic, partition), None)


def record_dead_lettered(group: str | None, count: int = 1) -> None:
    """``count`` messages were sent to the dead-letter topic after their handler failed."""
    _bump(REGISTRY.events.dead_lettered, group or "", count)


def record_skipped(group: str | None, count: int = 1) -> None:
    """``count`` failing messages were skipped by policy."""
    _bump(REGISTRY.events.skipped, group or "", count)


def observe_handler(group: str | None, seconds: float) -> None:
    """One handler call took ``seconds`` (per message or per batch, as the handler is called)."""
    table = REGISTRY.events.handler_seconds
    name = group or ""
    histogram = table.get(name)
    if histogram is None:
        histogram = table[name] = Histogram()
    histogram.observe(seconds)


def timed_handler(group: str | None) -> Callable[[], None]:
    """``done = timed_handler(group); ...; done()`` records the time in between."""
    started = time.perf_counter()
    return lambda: observe_handler(group, time.perf_counter() - started)


def retire_consumer(stream: Any) -> None:
    """A consumer stream closes: keep its counters (so they never go backwards) and forget it.

    Its gauges (position, log end, committed) go with it.
    """
    with REGISTRY._lock:
        figures = stream.metrics()
        fold_consumer(REGISTRY.events, getattr(stream, "group", None) or "", figures)
        REGISTRY.untrack(stream)


def fold_consumer(events: Events, group: str, figures: dict[str, Any]) -> None:
    """Add a stream's counters (``MessageStream.metrics()``) to ``events``."""
    for (topic, partition), row in figures["partitions"].items():
        _bump(events.consumed, (group, topic, partition), row[0])
    _bump(events.consumed_bytes, group, figures["bytes"])
    _bump(events.assignments, group, figures["assignments"])
    _bump(events.revocations, group, figures["revocations"])
    _bump(events.rebalances, group, figures["rebalances"])
    _bump(events.skipped, group, figures["skipped"])
    _bump(events.dead_lettered, group, figures["dead_lettered"])
    histogram = events.handler_seconds.get(group)
    if histogram is None:
        histogram = events.handler_seconds[group] = Histogram()
    histogram.merge(figures["handler_seconds"])


def retire_producer(producer: Any) -> None:
    """A producer stops: move its per-topic counters into the registry's events (once)."""
    with REGISTRY._lock:
        fold_producer(REGISTRY.events, producer.take_metrics())


def fold_producer(events: Events, figures: dict[str, list[int]]) -> None:
    """Add ``{topic: [records, bytes, failed records]}`` to ``events``."""
    for topic, (records, size, errors) in figures.items():
        _bump(events.produced_records, topic, records)
        _bump(events.produced_bytes, topic, size)
        if errors:
            _bump(events.delivery_errors, topic, errors)
