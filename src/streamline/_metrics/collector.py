"""The Prometheus view of the registry: a custom collector that reads counters at scrape time.

Needs ``prometheus_client`` (``pip install 'streamline[metrics]'``); nothing else in streamline
imports this module unless metrics are served. See ``docs/metrics.md`` for the reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .registry import MAX_FILE_LABELS, REGISTRY, Events, Histogram, Registry, fold_consumer

#: (stats field, metric name without ``_total``, help) of counters the pipelines keep.
PIPELINE_COUNTERS = (
    ("batches", "streamline_pipeline_batches", "Batches taken from the pipeline's source."),
    ("items", "streamline_pipeline_items", "Values (lines, messages) taken from the source."),
    ("bytes", "streamline_pipeline_input_bytes", "File bytes covered by the values taken (followed files)."),
    ("delivered", "streamline_pipeline_delivered", "Values every sink delivered (acknowledged by Kafka)."),
    ("acknowledged_batches", "streamline_pipeline_acknowledged_batches", "Batches acknowledged to their origin."),
    ("dropped", "streamline_pipeline_dropped", "Values a stage dropped on purpose."),
    ("skipped", "streamline_pipeline_skipped", "Failing values skipped by policy."),
    ("dead_lettered", "streamline_pipeline_dead_lettered", "Failing values sent to a dead-letter topic."),
    ("delivery_retries", "streamline_pipeline_delivery_retries", "Batch deliveries retried after a transient error."),
)

#: The same for followers (``FollowerStats``).
FOLLOW_COUNTERS = (
    ("lines", "streamline_follow_lines", "Lines read from followed files and handed out."),
    ("bytes", "streamline_follow_bytes", "File bytes covered by the lines handed out."),
    ("files_opened", "streamline_follow_files_opened", "Files opened (including reopened after rotation)."),
    ("rotations", "streamline_follow_rotations", "Files renamed or deleted and read to their end."),
    ("truncations", "streamline_follow_truncations", "Files truncated or replaced in place and read again from 0."),
    ("skipped_long_lines", "streamline_follow_long_lines_skipped", "Lines dropped by long_lines='skip'."),
    ("split_long_lines", "streamline_follow_long_lines_split", "Lines cut into pieces by long_lines='split'."),
)


class StreamlineCollector(Collector):
    """Turns the live objects in a :class:`Registry` into metric families, once per scrape."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        reg = self.registry
        yield from self._process(reg)
        yield from self._producers(reg)
        yield from self._pipelines(reg)
        yield from self._followers(reg)
        yield from self._consumers(reg)

    # -- families --------------------------------------------------------------------------
    def _process(self, reg: Registry) -> Iterator[Metric]:
        yield _gauge("streamline_event_loop_lag_seconds", "How late the event loop ran a 0.25 s timer, last check.",
                     reg.loop_lag)
        yield _gauge("streamline_start_time_seconds", "When metrics started, seconds since the epoch.", reg.started)
        tracked = GaugeMetricFamily("streamline_tracked_objects", "Live producers, consumers, followers, pipelines.",
                                    labels=["kind"])
        for kind in ("producer", "consumer", "follower", "pipeline"):
            tracked.add_metric([kind], reg.count(kind))
        yield tracked

    def _producers(self, reg: Registry) -> Iterator[Metric]:
        events = reg.events
        producers = [producer for producer, _ in reg.live("producer")]
        connected = sum(1 for producer in producers if producer_connected(producer))
        yield _gauge("streamline_producers_connected", "Producers started and not stopped.", connected)
        records, size, errors = dict(events.produced_records), dict(events.produced_bytes), dict(events.delivery_errors)
        in_flight = 0
        for producer in producers:
            figures = _producer_metrics(producer)
            if figures is None:
                continue
            in_flight += figures["in_flight"]
            for topic, (n, b, failed) in figures["topics"].items():
                records[topic] = records.get(topic, 0) + n
                size[topic] = size.get(topic, 0) + b
                if failed:
                    errors[topic] = errors.get(topic, 0) + failed
        yield _per_topic("streamline_produced_records", "Records acknowledged by the broker.", records)
        yield _per_topic("streamline_produced_bytes", "Bytes of record batches acknowledged by the broker.", size)
        yield _per_topic("streamline_delivery_retries", "Deliveries retried after a retriable error.",
                         events.delivery_retries)
        yield _per_topic("streamline_delivery_errors", "Records whose delivery failed for good.", errors)
        yield _gauge("streamline_producer_in_flight_batches", "Record batches sent and not answered yet.", in_flight)

    def _pipelines(self, reg: Registry) -> Iterator[Metric]:
        for field, name, doc in PIPELINE_COUNTERS:
            yield _counter(name, doc, reg.counter("pipeline", field))
        yield _gauge("streamline_pipeline_in_flight_batches", "Batches submitted to sinks and not yet acknowledged.",
                     reg.gauge("pipeline", "in_flight"))

    def _followers(self, reg: Registry) -> Iterator[Metric]:
        for field, name, doc in FOLLOW_COUNTERS:
            yield _counter(name, doc, reg.counter("follower", field))
        followers = list(reg.live("follower"))
        yield _gauge("streamline_follow_files_open", "Files open now.", sum(_num(s, "files") for _, s in followers))
        yield _gauge("streamline_follow_files_known", "Files with a checkpoint record.",
                     sum(_known_files(f) for f, _ in followers))
        yield _gauge("streamline_follow_behind_bytes", "Bytes in open files not yet handed out (last check).",
                     sum(_num(s, "bytes_behind") for _, s in followers))
        ages = [age for age in (_checkpoint_age(f) for f, _ in followers) if age is not None]
        age = GaugeMetricFamily("streamline_follow_checkpoint_age_seconds",
                                "Seconds since a checkpoint file was last written (the oldest).")
        if ages:  # no sample before the first save
            age.add_metric([], max(ages))
        yield age
        yield from _per_file(follower_files(f for f, _ in followers))

    def _consumers(self, reg: Registry) -> Iterator[Metric]:
        # Streams still open are read now; closed ones were folded into a copy of the events.
        events = Events(
            consumed=dict(reg.events.consumed), positions=dict(reg.events.positions),
            highwaters=dict(reg.events.highwaters), committed=dict(reg.events.committed),
            consumed_bytes=dict(reg.events.consumed_bytes), assignments=dict(reg.events.assignments),
            revocations=dict(reg.events.revocations), rebalances=dict(reg.events.rebalances),
            dead_lettered=dict(reg.events.dead_lettered), skipped=dict(reg.events.skipped),
            handler_seconds={g: _copy(h) for g, h in dict(reg.events.handler_seconds).items()},
        )
        assigned: dict[str, int] = {}
        for stream, _ in reg.live("consumer"):
            group = getattr(stream, "group", None) or ""
            assigned[group] = assigned.get(group, 0) + len(_assignment(stream))
            figures = _stream_metrics(stream)
            if figures is None:
                count = getattr(stream, "rebalances", None)  # a stream of another shape
                if isinstance(count, int):
                    events.rebalances[group] = events.rebalances.get(group, 0) + count
                continue
            fold_consumer(events, group, figures)
            for (topic, partition), (_, position, end, committed) in figures["partitions"].items():
                key = (group, topic, partition)
                if position is not None:
                    events.positions[key] = position
                if end is not None:
                    events.highwaters[key] = end
                if committed is not None:
                    events.committed[key] = committed
        group_topic_partition = ["group", "topic", "partition"]
        consumed = CounterMetricFamily("streamline_consumer_messages", "Messages fetched by consumer streams.",
                                       labels=group_topic_partition)
        for (group, topic, partition), value in sorted(events.consumed.items()):
            consumed.add_metric([group, topic, str(partition)], value)
        yield consumed
        yield _per_label("streamline_consumer_bytes", "Value bytes of the messages fetched.", "group",
                         events.consumed_bytes)
        gauges = {
            "position": GaugeMetricFamily("streamline_consumer_position", "Next offset the stream hands out.",
                                          labels=group_topic_partition),
            "highwater": GaugeMetricFamily("streamline_consumer_log_end_offset",
                                           "Log end offset (high watermark) last fetched.",
                                           labels=group_topic_partition),
            "lag": GaugeMetricFamily("streamline_consumer_lag_messages",
                                     "Log end offset minus position: messages not yet handed out.",
                                     labels=group_topic_partition),
            "committed": GaugeMetricFamily("streamline_consumer_committed_offset",
                                           "Offset last committed (the next one to read).",
                                           labels=group_topic_partition),
        }
        for key, position in sorted(dict(events.positions).items()):
            labels = [key[0], key[1], str(key[2])]
            gauges["position"].add_metric(labels, position)
            highwater = events.highwaters.get(key)
            if highwater is not None:
                gauges["lag"].add_metric(labels, max(0, highwater - position))
        for key, highwater in sorted(dict(events.highwaters).items()):
            gauges["highwater"].add_metric([key[0], key[1], str(key[2])], highwater)
        for key, offset in sorted(dict(events.committed).items()):
            gauges["committed"].add_metric([key[0], key[1], str(key[2])], offset)
        yield from gauges.values()

        yield _per_label("streamline_consumer_rebalances", "Group rebalances seen.", "group", events.rebalances)
        yield _per_label("streamline_consumer_assignments", "Partition assignments the group handed this process.",
                         "group", events.assignments)
        yield _per_label("streamline_consumer_revocations", "Partition revocations the group asked of this process.",
                         "group", events.revocations)
        partitions = GaugeMetricFamily("streamline_consumer_assigned_partitions", "Partitions the streams read now.",
                                       labels=["group"])
        for group, count in sorted(assigned.items()):
            partitions.add_metric([group], count)
        yield partitions
        yield _per_label("streamline_consumer_dead_lettered", "Messages dead-lettered after their handler failed.",
                         "group", events.dead_lettered)
        yield _per_label("streamline_consumer_skipped", "Failing messages skipped by policy.", "group", events.skipped)
        duration = HistogramMetricFamily("streamline_consumer_handler_duration_seconds",
                                         "Time one handler call took.", labels=["group"], unit="")
        for group, histogram in sorted(events.handler_seconds.items()):
            if not histogram.count:
                continue
            duration.add_metric([group], histogram.cumulative(), histogram.total)
        yield duration


# -- reading the objects (the only place that knows their shape) ----------------------------------

def producer_connected(producer: Any) -> bool:
    """True between a producer's start and stop."""
    return getattr(producer, "_producer", None) is not None


def _producer_metrics(producer: Any) -> dict[str, Any] | None:
    figures = getattr(producer, "metrics", None)
    return figures() if callable(figures) else None


def _stream_metrics(stream: Any) -> dict[str, Any] | None:
    figures = getattr(stream, "metrics", None)
    if not callable(figures):
        return None
    try:
        result: dict[str, Any] = figures()
    except Exception:  # a stream closing while scraped
        return None
    return result


def _copy(histogram: Histogram) -> Histogram:
    copy = Histogram()
    copy.merge(histogram)
    return copy


def _assignment(stream: Any) -> set[Any]:
    assignment = getattr(stream, "assignment", None)
    if assignment is None:
        return set()
    try:
        return set(assignment())
    except Exception:  # a stream being closed
        return set()


def _known_files(follower: Any) -> int:
    checkpoints = getattr(follower, "checkpoints", None)
    records = getattr(checkpoints, "records", None)
    return len(records) if isinstance(records, dict) else 0


def _checkpoint_age(follower: Any) -> float | None:
    last_saved = getattr(getattr(follower, "checkpoints", None), "last_saved", None)
    if not isinstance(last_saved, (int, float)):
        return None
    return max(0.0, time.monotonic() - last_saved)


def follower_files(followers: Iterable[Any]) -> list[tuple[str, int, int, int]]:
    """``(path, size, read position, acknowledged position)`` of every file open in ``followers``.

    This reads the follower's reader (``_reader._tracked()``); ``tests/metrics`` fails loudly when
    that shape changes.
    """
    files = []
    for follower in followers:
        tracked = getattr(getattr(follower, "_reader", None), "_tracked", None)
        if tracked is None:
            continue
        for file in tracked():
            checkpoint = getattr(file, "checkpoint", None)
            acknowledged = getattr(checkpoint, "position", file.position)
            files.append((str(file.path), int(file.size), int(file.position), int(acknowledged)))
    return files


def _per_file(files: list[tuple[str, int, int, int]]) -> Iterator[Metric]:
    names = (
        ("streamline_follow_file_size_bytes", "Size of a followed file at the last check."),
        ("streamline_follow_file_read_bytes", "Position up to which a followed file was read."),
        ("streamline_follow_file_acknowledged_bytes", "Position up to which Kafka acknowledged a file's lines."),
        ("streamline_follow_file_behind_bytes", "Bytes of a followed file not yet read."),
    )
    totals: dict[str, list[int]] = {}
    for path, size, read, acked in files:
        label = path if path in totals or len(totals) < MAX_FILE_LABELS else "other"
        row = totals.setdefault(label, [0, 0, 0, 0])
        for i, value in enumerate((size, read, acked, max(0, size - read))):
            row[i] += value
    for i, (name, doc) in enumerate(names):
        family = GaugeMetricFamily(name, doc, labels=["path"])
        for path, row in sorted(totals.items()):
            family.add_metric([path], row[i])
        yield family


# -- small builders -----------------------------------------------------------------------------

def _num(stats: Any, name: str) -> float:
    value = getattr(stats, name, 0)
    return value if isinstance(value, (int, float)) else 0


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _per_topic(name: str, doc: str, table: dict[str, int]) -> CounterMetricFamily:
    return _per_label(name, doc, "topic", table)


def _per_label(name: str, doc: str, label: str, table: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for value_label, value in sorted(dict(table).items()):
        family.add_metric([value_label], value)
    return family


def new_registry(registry: Registry = REGISTRY) -> CollectorRegistry:
    """A ``prometheus_client`` registry holding streamline's collector and the process collector."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(StreamlineCollector(registry))
    ProcessCollector(registry=collectors)
    return collectors


def exposition(collectors: CollectorRegistry) -> bytes:
    """The text format (``text/plain; version=0.0.4``) of every metric in ``collectors``."""
    return generate_latest(collectors)
