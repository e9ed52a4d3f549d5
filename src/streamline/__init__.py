"""streamline: move data through Apache Kafka with asyncio — fast, bounded, hard to lose data with.

>>> from streamline import Producer, consume
>>> async with Producer("localhost:9092") as producer:  # doctest: +SKIP
...     await producer.send("access-log", "GET / 200")
>>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
...     print(msg.partition, msg.offset, msg.text)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (PEP 562): `import streamline` stays cheap
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

_EXPORTS: dict[str, str] = {
    "Admin": "._admin",
    "Batch": "._pipeline",
    "BrokerUnavailableError": "._errors",
    "CallableSink": "._pipeline",
    "CheckpointError": "._errors",
    "Checkpoints": "._follow",
    "ConfigurationError": "._errors",
    "ConnectionConfig": "._config",
    "DeadLetter": "._pipeline",
    "Delivery": "._producer",
    "DeliveryError": "._errors",
    "EmbeddedBroker": "._broker",
    "EmbeddedBrokerError": "._broker",
    "FileIdentity": "._follow",
    "Follower": "._follow",
    "FollowerStats": "._follow",
    "GroupAdmin": "._groups",
    "GroupError": "._groups",
    "GroupInfo": "._groups",
    "GroupMember": "._groups",
    "Line": "._follow",
    "LineBatch": "._follow",
    "LineTooLongError": "._follow",
    "Message": "._models",
    "MessageStream": "._consume",
    "OnError": "._pipeline",
    "PartitionInfo": "._admin",
    "PartitionLag": "._groups",
    "Pipeline": "._pipeline",
    "PipelineError": "._pipeline",
    "PipelineStats": "._pipeline",
    "Producer": "._producer",
    "RateLimit": "._follow",
    "Record": "._models",
    "RecordMetadata": "._models",
    "Secret": "._config",
    "Stage": "._pipeline",
    "StageError": "._pipeline",
    "StreamlineError": "._errors",
    "TopicError": "._errors",
    "TopicInfo": "._admin",
    "TopicSink": "._pipeline",
    "consume": "._consume",
    "follow": "._follow",
    "murmur2": "._partitioner",
    "partition_for_key": "._partitioner",
    "to_topic": "._pipeline",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'streamline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
