"""streamline: move data through Apache Kafka with asyncio — fast, bounded, hard to lose data with.

>>> from streamline import Producer, consume
>>> async with Producer("localhost:9092") as producer:  # doctest: +SKIP
...     await producer.send("access-log", "GET / 200")
>>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
...     print(msg.partition, msg.offset, msg.text)
"""

import logging as _logging

from ._admin import Admin, BrokerInfo, ClusterInfo, PartitionInfo, PartitionOffsets, TopicInfo
from ._broker import EmbeddedBroker, EmbeddedBrokerError
from ._config import ConnectionConfig, Secret
from ._consumer import MessageStream, consume
from ._errors import (
    BrokerUnavailableError,
    CheckpointError,
    ConfigurationError,
    DeliveryError,
    StreamlineError,
    TopicError,
)
from ._follow import (
    Checkpoints,
    FileIdentity,
    Follower,
    FollowerStats,
    Line,
    LineBatch,
    LineTooLongError,
    RateLimit,
    follow,
)
from ._groups import GroupAdmin, GroupError, GroupInfo, GroupMember, OffsetReset, PartitionLag
from ._metrics import (
    MetricsServer,
    extract_trace_context,
    inject_trace_context,
    install_otel_metrics,
    serve_metrics,
)
from ._models import Message, Record, RecordMetadata
from ._partitioner import murmur2, partition_for_key
from ._pipeline import (
    Batch,
    CallableSink,
    DeadLetter,
    OnError,
    Pipeline,
    PipelineError,
    PipelineStats,
    Stage,
    StageError,
    TopicSink,
    to_topic,
)
from ._producer import Delivery, Producer

__version__ = "0.1.0"

# A library does not configure logging: without a handler of the application's, nothing is printed.
_logging.getLogger("streamline").addHandler(_logging.NullHandler())

__all__ = [
    "Admin",
    "Batch",
    "BrokerInfo",
    "BrokerUnavailableError",
    "CallableSink",
    "CheckpointError",
    "Checkpoints",
    "ClusterInfo",
    "ConfigurationError",
    "ConnectionConfig",
    "DeadLetter",
    "Delivery",
    "DeliveryError",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "FileIdentity",
    "Follower",
    "FollowerStats",
    "GroupAdmin",
    "GroupError",
    "GroupInfo",
    "GroupMember",
    "Line",
    "LineBatch",
    "LineTooLongError",
    "Message",
    "MessageStream",
    "MetricsServer",
    "OffsetReset",
    "OnError",
    "PartitionInfo",
    "PartitionLag",
    "PartitionOffsets",
    "Pipeline",
    "PipelineError",
    "PipelineStats",
    "Producer",
    "RateLimit",
    "Record",
    "RecordMetadata",
    "Secret",
    "Stage",
    "StageError",
    "StreamlineError",
    "TopicError",
    "TopicInfo",
    "TopicSink",
    "consume",
    "extract_trace_context",
    "follow",
    "inject_trace_context",
    "install_otel_metrics",
    "murmur2",
    "partition_for_key",
    "serve_metrics",
    "to_topic",
]
