"""Pipelines: sources (``follow``, ``consume``, async iterables) → stages → sinks, with
end-to-end acknowledgements, bounded channels, retries, dead letters and graceful shutdown."""

from .batch import AckToken, Batch
from .errors import OnError, StageError
from .pipeline import Pipeline, PipelineError
from .sinks import CallableSink, Sink, TopicSink, to_topic
from .stages import DeadLetter, Stage
from .stats import PipelineStats

__all__ = [
    "AckToken",
    "Batch",
    "CallableSink",
    "DeadLetter",
    "OnError",
    "Pipeline",
    "PipelineError",
    "PipelineStats",
    "Sink",
    "Stage",
    "StageError",
    "TopicSink",
    "to_topic",
]
