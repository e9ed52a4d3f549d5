"""Counters of a running pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PipelineStats:
    """Read any time as ``pipeline.stats``; ``rate()`` gives items and bytes per second."""

    batches: int = 0  #: batches taken from the source
    items: int = 0  #: values taken from the source
    bytes: int = 0  #: file bytes covered (followed files; 0 for other sources)
    delivered: int = 0  #: values every sink delivered (counted once, however many sinks)
    acknowledged_batches: int = 0  #: batches acknowledged to their origin
    dropped: int = 0  #: values a stage dropped on purpose (acknowledged)
    skipped: int = 0  #: failing values skipped by policy
    dead_lettered: int = 0  #: failing values sent to a dead-letter topic
    delivery_retries: int = 0  #: batch deliveries retried after a transient Kafka error
    in_flight: int = 0  #: batches submitted and not yet acknowledged
    retrying_since: float | None = None  #: anyio clock time deliveries started failing (None: they work)
    last_error: str | None = None  #: the last retriable delivery error while retrying
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> tuple[float, float]:
        """(items per second, bytes per second) since the start."""
        elapsed = max(1e-9, time.monotonic() - self.started)
        return self.items / elapsed, self.bytes / elapsed
