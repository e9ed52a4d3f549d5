"""Pipelines: sources (``follow``, ``consume``, async iterables) → stages → sinks, with
end-to-end acknowledgements, bounded channels, retries, dead letters and graceful shutdown."""

from .batch import AckToken, Batch
from .errors import OnError, StageError
from .pipeline import Pipeline, PipelineError
from .sinks import CallableSink, Sink, SinkLike, TopicSink, to_topic
from .sources import PipelineSource
from .stages import DeadLetter, Stage, StageFunction, StageResult
from .stats import PipelineStats

__all__ = [
    "AckToken",
    "Batch",
    "CallableSink",
    "DeadLetter",
    "OnError",
    "Pipeline",
    "PipelineError",
    "PipelineSource",
    "PipelineStats",
    "Sink",
    "SinkLike",
    "Stage",
    "StageError",
    "StageFunction",
    "StageResult",
    "TopicSink",
    "to_topic",
]
