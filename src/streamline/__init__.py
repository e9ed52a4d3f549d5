"""streamline: move data through Apache Kafka with asyncio — fast, bounded, hard to lose data with.

>>> from streamline import Producer, consume
>>> async with Producer("localhost:9092") as producer:  # doctest: +SKIP
...     await producer.send("access-log", "GET / 200")
>>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
...     print(msg.partition, msg.offset, msg.text)
"""

from ._admin import Admin, PartitionInfo, TopicInfo
from ._broker import EmbeddedBroker, EmbeddedBrokerError
from ._config import ConnectionConfig, Secret
from ._consume import MessageStream, consume
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
from ._groups import GroupAdmin, GroupError, GroupInfo, GroupMember, PartitionLag
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

__all__ = [
    "Admin",
    "Batch",
    "BrokerUnavailableError",
    "CallableSink",
    "CheckpointError",
    "Checkpoints",
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
    "OnError",
    "PartitionInfo",
    "PartitionLag",
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
    "follow",
    "murmur2",
    "partition_for_key",
    "to_topic",
]
