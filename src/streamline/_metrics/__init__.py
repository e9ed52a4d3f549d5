"""Metrics for Prometheus, read from the live objects at scrape time; ``/healthz`` and ``/readyz``.

``track(obj)`` is all a producer, stream, follower or pipeline does; the rest happens when
``/metrics`` is scraped. Without ``prometheus_client`` installed, tracking still works (it is a
weak reference) and serving says how to install it. Reference: ``docs/metrics.md``.
"""

from __future__ import annotations

from .http import MetricsServer, parse_address, require_prometheus_client, serve_metrics
from .otel import extract_trace_context, inject_trace_context, install_otel_metrics
from .readiness import Readiness, consumer_ready, default_readiness, producer_ready
from .registry import (
    MAX_FILE_LABELS,
    REGISTRY,
    Registry,
    observe_handler,
    record_committed,
    record_consumed,
    record_dead_lettered,
    record_delivery_error,
    record_delivery_retry,
    record_highwater,
    record_produced,
    record_rebalance,
    record_revoked,
    record_skipped,
    retire_consumer,
    retire_producer,
    timed_handler,
    track,
)

__all__ = [
    "MAX_FILE_LABELS",
    "REGISTRY",
    "MetricsServer",
    "Readiness",
    "Registry",
    "consumer_ready",
    "default_readiness",
    "extract_trace_context",
    "inject_trace_context",
    "install_otel_metrics",
    "observe_handler",
    "parse_address",
    "producer_ready",
    "record_committed",
    "record_consumed",
    "record_dead_lettered",
    "record_delivery_error",
    "record_delivery_retry",
    "record_highwater",
    "record_produced",
    "record_rebalance",
    "record_revoked",
    "record_skipped",
    "require_prometheus_client",
    "retire_consumer",
    "retire_producer",
    "serve_metrics",
    "timed_handler",
    "track",
]
