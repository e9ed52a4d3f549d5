"""Topic administration: create, list, describe, alter and delete topics; offsets; the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code

from . import _client
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError, TopicError
from ._validation import check_number, check_time, check_topic


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of a topic: its leader broker, replicas and in-sync replicas."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


@dataclass(frozen=True)
class TopicInfo:
    """What :meth:`Admin.describe_topic` reports.

    >>> info = await admin.describe_topic("access-log")  # doctest: +SKIP
    >>> len(info.partitions)  # doctest: +SKIP
    4
    """

    name: str
    partitions: tuple[PartitionInfo, ...]
    internal: bool = False

    @property
    def replication_factor(self) -> int:
        return len(self.partitions[0].replicas) if self.partitions else 0


@dataclass(frozen=True)
class PartitionOffsets:
    """The offsets of one partition: ``low`` (earliest kept), ``high`` (log end, the offset the next
    record gets) and, when asked for a time, ``at``: the first offset at or after that time
    (``None`` when no record is that new)."""

    partition: int
    low: int
    high: int
    at: int | None = None


@dataclass(frozen=True)
class BrokerInfo:
    """One broker of the cluster."""

    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True)
class ClusterInfo:
    """What :meth:`Admin.describe_cluster` reports (kcat ``-L`` in short)."""

    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[BrokerInfo, ...]
    topics: int


class Admin:
    """Manage topics.

    >>> async with Admin("localhost:9092") as admin:  # doctest: +SKIP
    ...     await admin.create_topic("access-log", partitions=4)
    ...     print(await admin.list_topics())
    ...     await admin.delete_topic("access-log")
    """

    def __init__(
        self, bootstrap_servers: str | list[str] | None = None, *, connection: ConnectionConfig | None = None
    ) -> None:
        self.connection = ConnectionConfig.from_args(bootstrap_servers, connection)
        self._admin: Any = None
        self._consumer: Any = None  # started on first use: it answers ListOffsets

    def __repr__(self) -> str:
        return f"Admin(bootstrap_servers={self.connection.bootstrap_servers!r})"

    async def __aenter__(self) -> Admin:
        admin = _client.new_admin(self.connection)
        await _client.start_bounded(admin, self.connection)
        self._admin = admin
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        admin, self._admin = self._admin, None
        consumer, self._consumer = self._consumer, None
        try:
            if consumer is not None:
                await consumer.stop()
        finally:
            if admin is not None:
                await admin.close()

    def _running(self) -> Any:
        if self._admin is None:
            raise StreamlineError("the admin client is not started; use `async with Admin(...)`")
        return self._admin

    async def _call(self, what: str, aw: Any) -> Any:
        try:
            return await _client.bounded(aw, self.connection, what)
        except KafkaError as exc:
            raise TopicError(f"{what} failed: {exc}") from None

    async def list_topics(self, *, internal: bool = False) -> list[str]:
        """Names of the cluster's topics, sorted (internal ones such as ``__consumer_offsets`` only if asked)."""
        names = await self._call("listing topics", self._running().list_topics())
        return sorted(n for n in names if internal or not n.startswith("__"))

    async def topic_exists(self, topic: str) -> bool:
        """True when the cluster has ``topic`` (asking does not create it)."""
        check_topic(topic)
        return topic in await self.list_topics(internal=True)

    async def create_topic(
        self,
        topic: str,
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        config: dict[str, str] | None = None,
        exist_ok: bool = False,
    ) -> None:
        """Create a topic; with ``exist_ok=True`` an existing topic is not an error."""
        check_topic(topic)
        for name, value in (("partitions", partitions), ("replication factor", replication_factor)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1 (got {value!r})")
        request = NewTopic(topic, partitions, replication_factor, topic_configs=config or {})
        response = await self._call(f"creating topic {topic!r}", self._running().create_topics([request]))
        for entry in response.to_object()["topic_errors"]:
            code = entry["error_code"]
            if code == 36 and exist_ok:  # TOPIC_ALREADY_EXISTS
                continue
            if code:
                message = entry.get("error_message") or for_code(code).__name__
                raise TopicError(f"cannot create topic {topic!r}: {message}")

    async def describe_topic(self, topic: str) -> TopicInfo:
        """Partitions, leaders and replicas of an existing topic."""
        await self._existing(topic)
        entries = await self._call(f"describing topic {topic!r}", self._running().describe_topics([topic]))
        entry = entries[0]
        if entry["error_code"]:
            raise TopicError(f"cannot describe topic {topic!r}: {for_code(entry['error_code']).__name__}")
        parts = tuple(
            PartitionInfo(p["partition"], p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
            for p in sorted(entry["partitions"], key=lambda p: p["partition"])
        )
        return TopicInfo(entry["topic"], parts, bool(entry.get("is_internal")))

    async def delete_topic(self, topic: str, *, missing_ok: bool = False) -> bool:
        """Delete a topic; a missing topic is a :class:`TopicError` unless ``missing_ok``.

        Returns True when the topic was deleted, False when it was missing (``missing_ok``).
        """
        check_topic(topic)
        response = await self._call(f"deleting topic {topic!r}", self._running().delete_topics([topic]))
        for entry in response.to_object()["topic_error_codes"]:
            code = entry["error_code"]
            if code == 3 and missing_ok:  # UNKNOWN_TOPIC_OR_PARTITION
                return False
            if code == 3:
                raise TopicError(f"topic {topic!r} does not exist at {self.connection.bootstrap_servers}")
            if code:
                raise TopicError(f"cannot delete topic {topic!r}: {for_code(code).__name__}")
        return True

    async def describe_configs(self, topic: str) -> dict[str, str]:
        """The topic's configuration as the broker reports it (name -> value), sorted by name.

        >>> (await admin.describe_configs("access-log"))["cleanup.policy"]  # doctest: +SKIP
        'delete'
        """
        configs = {
            item["config_names"]: item["config_value"]
            for item in await self._config_entries(topic)
            if item["config_value"] is not None and not item.get("is_sensitive")
        }
        return dict(sorted(configs.items()))

    async def _config_entries(self, topic: str) -> list[dict[str, Any]]:
        """The DescribeConfigs entries of ``topic`` (one request; an error is a TopicError)."""
        await self._existing(topic)
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        responses = await self._call(
            f"describing the configuration of topic {topic!r}", self._running().describe_configs([resource])
        )
        entries: list[dict[str, Any]] = []
        for response in responses:
            for entry in response.to_object()["resources"]:
                if entry["error_code"]:
                    message = entry.get("error_message") or for_code(entry["error_code"]).__name__
                    raise TopicError(f"cannot describe the configuration of topic {topic!r}: {message}")
                entries.extend(entry["config_entries"])
        return entries

    async def alter_configs(self, topic: str, config: dict[str, str]) -> None:
        """Set topic configuration values (``{"retention.ms": "86400000"}``); others keep their value.

        Kafka's AlterConfigs replaces a topic's whole dynamic configuration, so the values the
        broker reports as set on the topic are sent again with the new ones.
        """
        if not config or not all(isinstance(k, str) and isinstance(v, str) for k, v in config.items()):
            raise ConfigurationError("config must be a non-empty mapping of strings to strings")
        current = await self._topic_overrides(topic)
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs={**current, **config})
        responses = await self._call(
            f"altering the configuration of topic {topic!r}", self._running().alter_configs([resource])
        )
        for response in responses:
            for entry in response.to_object()["resources"]:
                if entry["error_code"]:
                    message = entry.get("error_message") or for_code(entry["error_code"]).__name__
                    raise TopicError(f"cannot alter the configuration of topic {topic!r}: {message}")

    async def _topic_overrides(self, topic: str) -> dict[str, str]:
        return {
            item["config_names"]: item["config_value"]
            for item in await self._config_entries(topic)
            # DYNAMIC_TOPIC_CONFIG (v1+); v0 answers say "is_default" instead.
            if item.get("config_source", 0 if item.get("is_default", True) else 1) == 1
            and item["config_value"] is not None
        }

    async def create_partitions(self, topic: str, total: int) -> None:
        """Grow ``topic`` to ``total`` partitions (Kafka cannot shrink a topic)."""
        check_number("partitions", total, minimum=1, integer=True)
        info = await self.describe_topic(topic)
        if total <= len(info.partitions):
            raise ConfigurationError(
                f"topic {topic!r} has {len(info.partitions)} partitions; a topic can only grow "
                f"(asked for {total})"
            )
        response = await self._call(
            f"adding partitions to topic {topic!r}",
            self._running().create_partitions({topic: NewPartitions(total)}),
        )
        for entry in response.to_object()["topic_errors"]:
            if entry["error_code"]:
                message = entry.get("error_message") or for_code(entry["error_code"]).__name__
                raise TopicError(f"cannot add partitions to topic {topic!r}: {message}")

    async def topic_offsets(self, topic: str, *, at: datetime | None = None) -> list[PartitionOffsets]:
        """Low and high watermarks of every partition, and the first offset at or after ``at``.

        >>> for p in await admin.topic_offsets("access-log"):  # doctest: +SKIP
        ...     print(p.partition, p.low, p.high)
        """
        info = await self.describe_topic(topic)
        tps = [TopicPartition(topic, p.partition) for p in info.partitions]
        consumer = await self._offsets_client()
        low = await self._call("a ListOffsets request", consumer.beginning_offsets(tps))
        high = await self._call("a ListOffsets request", consumer.end_offsets(tps))
        found: dict[Any, Any] = {}
        if at is not None:
            millis = int(check_time(at).timestamp() * 1000)
            found = await self._call(
                "a ListOffsets request", consumer.offsets_for_times(dict.fromkeys(tps, millis))
            )
        return [
            PartitionOffsets(
                tp.partition, low[tp], high[tp], found[tp].offset if found.get(tp) is not None else None
            )
            for tp in tps
        ]

    async def describe_cluster(self) -> ClusterInfo:
        """Cluster id, controller, brokers and the number of (non-internal) topics."""
        raw = await self._call("describing the cluster", self._running().describe_cluster())
        brokers = tuple(
            sorted(
                (BrokerInfo(b["node_id"], b["host"], b["port"], b.get("rack")) for b in raw.get("brokers", ())),
                key=lambda b: b.node_id,
            )
        )
        controller = raw.get("controller_id")
        return ClusterInfo(
            raw.get("cluster_id"),
            controller if isinstance(controller, int) and controller >= 0 else None,
            brokers,
            len(await self.list_topics()),
        )

    async def _existing(self, topic: str) -> None:
        if not await self.topic_exists(topic):
            raise TopicError(f"topic {topic!r} does not exist at {self.connection.bootstrap_servers}")

    async def _offsets_client(self) -> Any:
        self._running()
        if self._consumer is None:
            consumer = _client.new_consumer(self.connection, enable_auto_commit=False)
            await _client.start_bounded(consumer, self.connection)
            self._consumer = consumer
        return self._consumer
