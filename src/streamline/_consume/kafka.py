"""The :class:`~.port.ConsumerPort` over aiokafka: the only consumer module that imports it.

Connection settings, start-up bounded by the connect timeout and error wording come from
:mod:`streamline._client`; records are built as the stream's message class directly where
aiokafka's shape allows (:func:`streamline._internals.build_records_as`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import IllegalStateError, InconsistentGroupProtocolError, KafkaError

from .. import _client, _internals
from .._config import ConnectionConfig
from .._errors import BrokerUnavailableError, StreamlineError
from .._models import Message
from .port import CommitFailedError, Key, RebalanceListener


class KafkaConsumer:
    """An aiokafka consumer seen through :class:`~.port.ConsumerPort`."""

    def __init__(
        self,
        connection: ConnectionConfig,
        message_class: type[Message],
        *,
        group: str | None,
        assignors: Sequence[str],
        **options: Any,
    ) -> None:
        if group is not None:
            options["group_id"] = group
            options["partition_assignment_strategy"] = _internals.assignor_classes(assignors)
        self._consumer = _client.new_consumer(connection, **options)
        self._connection = connection
        self._class = message_class
        self._group = group
        self._assignors = tuple(assignors)
        self._built = False
        self._topics: Sequence[str] = ()

    @property
    def raw(self) -> Any:
        """The aiokafka consumer (tests look at its fetcher)."""
        return self._consumer

    async def start(self) -> None:
        await _client.start_bounded(self._consumer, self._connection)
        self._built = _internals.build_records_as(self._consumer, self._class)

    async def stop(self) -> None:
        try:
            await self._consumer.stop()
        except asyncio.CancelledError:
            # aiokafka's fetcher.close() awaits its own fetch tasks after cancelling them; while
            # the broker is away one is in a retry sleep and its CancelledError escapes stop().
            # That is not a cancellation of ours — unless one is pending: then pass it on.
            task = asyncio.current_task()
            if task is not None and getattr(task, "cancelling", lambda: 0)():
                raise

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        self._topics = topics
        self._consumer.subscribe(list(topics), listener=_Listener(listener))

    def assign(self, partitions: Iterable[Key]) -> None:
        self._consumer.assign(sorted(TopicPartition(*tp) for tp in partitions))

    def assignment(self) -> set[Key]:
        return set(self._consumer.assignment())

    def highwater(self, partition: Key) -> int | None:
        """The partition's log end offset as of the last fetch (None before one)."""
        try:
            end: int | None = self._consumer.highwater(TopicPartition(*partition))
        except (IllegalStateError, AssertionError, AttributeError):  # not assigned (any more)
            return None
        return end

    async def partitions_for(self, topics: Sequence[str]) -> dict[str, set[int]]:
        try:
            return await _client.bounded(
                _internals.fetch_partitions(self._consumer, topics), self._connection, "a metadata request"
            )
        except KafkaError as exc:  # "Unable to get cluster metadata over all known brokers"
            raise _client.unavailable(self._connection, _first_line(exc)) from None

    async def fetch(self, timeout: float, max_records: int) -> Mapping[Key, list[Message]]:
        try:
            records: dict[Any, list[Any]] = await self._consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=max_records
            )
        except InconsistentGroupProtocolError:
            raise StreamlineError(self._strategy_mismatch()) from None
        except KafkaError as exc:
            raise StreamlineError(f"consuming {', '.join(self._topics) or 'topics'} failed: {_first_line(exc)}") from None
        if not self._built:  # another aiokafka: re-label its records (no copy)
            cls = self._class
            for batch in records.values():
                for record in batch:
                    record.__class__ = cls
        return records

    def _strategy_mismatch(self) -> str:
        ours = ", ".join(self._assignors)
        return (
            f"consumer group {self._group!r} refused this member: its members use an assignment "
            f"strategy other than this member's ({ours}); choose one they use with assignor= "
            f"(--assignor): {', '.join(_internals.ASSIGNORS)} (Java and sarama default to range)"
        )

    async def commit(self, offsets: Mapping[Key, int]) -> None:
        try:
            await self._consumer.commit({TopicPartition(*tp): o for tp, o in offsets.items()})
        except KafkaError as exc:
            raise CommitFailedError(_first_line(exc)) from None

    async def committed(self, partition: Key) -> int | None:
        try:
            offset: int | None = await self._consumer.committed(TopicPartition(*partition))
        except KafkaError as exc:
            raise BrokerUnavailableError(f"fetching the committed offset failed: {_first_line(exc)}") from None
        return offset

    def pause(self, partitions: Iterable[Key]) -> None:
        for tp in partitions:
            try:
                self._consumer.pause(TopicPartition(*tp))
            except IllegalStateError:
                pass  # no longer assigned

    def resume(self, partitions: Iterable[Key]) -> None:
        for tp in partitions:
            try:
                self._consumer.resume(TopicPartition(*tp))
            except IllegalStateError:
                pass

    def seek(self, partition: Key, offset: int) -> None:
        self._consumer.seek(TopicPartition(*partition), offset)

    async def seek_to_beginning(self, partitions: Sequence[Key]) -> None:
        await self._consumer.seek_to_beginning(*(TopicPartition(*tp) for tp in partitions))

    async def seek_to_end(self, partitions: Sequence[Key]) -> None:
        tps = [TopicPartition(*tp) for tp in partitions]
        await self._consumer.seek_to_end(*tps)
        # Resolve now: "end" means the end when asked, not at the first fetch.
        for tp in tps:
            await self._consumer.position(tp)

    async def offsets_for_times(self, partitions: Sequence[Key], millis: int) -> dict[Key, int | None]:
        found = await self._consumer.offsets_for_times({TopicPartition(*tp): millis for tp in partitions})
        return {tp: (None if ot is None else ot.offset) for tp, ot in found.items()}


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands aiokafka's rebalance callbacks to the stream as sets of plain keys."""

    def __init__(self, listener: RebalanceListener) -> None:
        self._listener = listener

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._listener.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._listener.on_assigned({(tp.topic, tp.partition) for tp in assigned})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
