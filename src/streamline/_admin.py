"""Topic administration: create, list, describe and delete topics."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, for_code

from . import _client
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError, TopicError
from ._validation import check_topic


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
        if not await self.topic_exists(topic):
            raise TopicError(f"topic {topic!r} does not exist at {self.connection.bootstrap_servers}")
        entries = await self._call(f"describing topic {topic!r}", self._running().describe_topics([topic]))
        entry = entries[0]
        if entry["error_code"]:
            raise TopicError(f"cannot describe topic {topic!r}: {for_code(entry['error_code']).__name__}")
        parts = tuple(
            PartitionInfo(p["partition"], p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
            for p in sorted(entry["partitions"], key=lambda p: p["partition"])
        )
        return TopicInfo(entry["topic"], parts, bool(entry.get("is_internal")))

    async def delete_topic(self, topic: str) -> None:
        """Delete a topic; a missing topic is a :class:`TopicError`."""
        check_topic(topic)
        response = await self._call(f"deleting topic {topic!r}", self._running().delete_topics([topic]))
        for entry in response.to_object()["topic_error_codes"]:
            code = entry["error_code"]
            if code == 3:  # UNKNOWN_TOPIC_OR_PARTITION
                raise TopicError(f"topic {topic!r} does not exist at {self.connection.bootstrap_servers}")
            if code:
                raise TopicError(f"cannot delete topic {topic!r}: {for_code(code).__name__}")
