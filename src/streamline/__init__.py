"""streamline: move data through Apache Kafka with asyncio — fast, bounded, hard to lose data with.

>>> from streamline import Producer, consume
>>> async with Producer("localhost:9092") as producer:  # doctest: +SKIP
...     await producer.send("access-log", "GET / 200")
>>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
...     print(msg.partition, msg.offset, msg.text)
"""

from __future__ import annotations

import importlib
import logging as _logging

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy treats it the same)
if TYPE_CHECKING:  # the names below are imported on first use (PEP 562): `import streamline` stays cheap
    from typing import Any

    from ._admin import Admin, BrokerInfo, ClusterInfo, PartitionInfo, PartitionOffsets, TopicInfo
    from ._agent import Agent, AgentConfig, AgentConfigError, load_agent_config
    from ._broker import EmbeddedBroker, EmbeddedBrokerError
    from ._codecs import (
        AutoCodec,
        AvroCodec,
        BytesCodec,
        Codec,
        DecodeError,
        EncodeError,
        JsonCodec,
        PydanticCodec,
        StructCodec,
        TextCodec,
    )
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
    from ._groups import GroupAdmin, GroupError, GroupInfo, GroupMember, OffsetReset, PartitionLag
    from ._ingest import BuiltInput, InputSpec, Metadata, Multiline, ParseError, Parser, build_input
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
        Sink,
        Stage,
        StageError,
        TopicSink,
        to_topic,
    )
    from ._producer import Delivery, Producer

_EXPORTS: dict[str, str] = {
    "Admin": "._admin",
    "Agent": "._agent",
    "AgentConfig": "._agent",
    "AgentConfigError": "._agent",
    "AutoCodec": "._codecs",
    "AvroCodec": "._codecs",
    "Batch": "._pipeline",
    "BrokerInfo": "._admin",
    "BrokerUnavailableError": "._errors",
    "BytesCodec": "._codecs",
    "BuiltInput": "._ingest",
    "CallableSink": "._pipeline",
    "CheckpointError": "._errors",
    "Checkpoints": "._follow",
    "ClusterInfo": "._admin",
    "Codec": "._codecs",
    "ConfigurationError": "._errors",
    "ConnectionConfig": "._config",
    "DeadLetter": "._pipeline",
    "DecodeError": "._codecs",
    "Delivery": "._producer",
    "DeliveryError": "._errors",
    "EmbeddedBroker": "._broker",
    "EmbeddedBrokerError": "._broker",
    "EncodeError": "._codecs",
    "FileIdentity": "._follow",
    "Follower": "._follow",
    "FollowerStats": "._follow",
    "GroupAdmin": "._groups",
    "GroupError": "._groups",
    "GroupInfo": "._groups",
    "GroupMember": "._groups",
    "JsonCodec": "._codecs",
    "InputSpec": "._ingest",
    "Line": "._follow",
    "LineBatch": "._follow",
    "LineTooLongError": "._follow",
    "Message": "._models",
    "MessageStream": "._consume",
    "Metadata": "._ingest",
    "MetricsServer": "._metrics",
    "Multiline": "._ingest",
    "OffsetReset": "._groups",
    "OnError": "._pipeline",
    "ParseError": "._ingest",
    "Parser": "._ingest",
    "PartitionInfo": "._admin",
    "PartitionLag": "._groups",
    "PartitionOffsets": "._admin",
    "Pipeline": "._pipeline",
    "PipelineError": "._pipeline",
    "PipelineStats": "._pipeline",
    "Producer": "._producer",
    "PydanticCodec": "._codecs",
    "RateLimit": "._follow",
    "Record": "._models",
    "RecordMetadata": "._models",
    "Secret": "._config",
    "Sink": "._pipeline",
    "Stage": "._pipeline",
    "StageError": "._pipeline",
    "StreamlineError": "._errors",
    "StructCodec": "._codecs",
    "TextCodec": "._codecs",
    "TopicError": "._errors",
    "TopicInfo": "._admin",
    "TopicSink": "._pipeline",
    "build_input": "._ingest",
    "consume": "._consume",
    "extract_trace_context": "._metrics",
    "follow": "._follow",
    "inject_trace_context": "._metrics",
    "install_otel_metrics": "._metrics",
    "load_agent_config": "._agent",
    "murmur2": "._partitioner",
    "partition_for_key": "._partitioner",
    "serve_metrics": "._metrics",
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

# A library does not configure logging: without a handler of the application's, nothing is printed.
_logging.getLogger("streamline").addHandler(_logging.NullHandler())

__all__ = [
    "Admin",
    "Agent",
    "AgentConfig",
    "AgentConfigError",
    "AutoCodec",
    "AvroCodec",
    "Batch",
    "BrokerInfo",
    "BrokerUnavailableError",
    "BuiltInput",
    "BytesCodec",
    "CallableSink",
    "CheckpointError",
    "Checkpoints",
    "ClusterInfo",
    "Codec",
    "ConfigurationError",
    "ConnectionConfig",
    "DeadLetter",
    "DecodeError",
    "Delivery",
    "DeliveryError",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "EncodeError",
    "FileIdentity",
    "Follower",
    "FollowerStats",
    "GroupAdmin",
    "GroupError",
    "GroupInfo",
    "GroupMember",
    "InputSpec",
    "JsonCodec",
    "Line",
    "LineBatch",
    "LineTooLongError",
    "Message",
    "MessageStream",
    "Metadata",
    "MetricsServer",
    "Multiline",
    "OffsetReset",
    "OnError",
    "ParseError",
    "Parser",
    "PartitionInfo",
    "PartitionLag",
    "PartitionOffsets",
    "Pipeline",
    "PipelineError",
    "PipelineStats",
    "Producer",
    "PydanticCodec",
    "RateLimit",
    "Record",
    "RecordMetadata",
    "Secret",
    "Sink",
    "Stage",
    "StageError",
    "StreamlineError",
    "StructCodec",
    "TextCodec",
    "TopicError",
    "TopicInfo",
    "TopicSink",
    "build_input",
    "consume",
    "extract_trace_context",
    "follow",
    "inject_trace_context",
    "install_otel_metrics",
    "load_agent_config",
    "murmur2",
    "partition_for_key",
    "serve_metrics",
    "to_topic",
]
