"""Consumer groups from the outside: which exist, who is in them, how far behind they are;
resetting their offsets and deleting them.

:class:`GroupAdmin` lists groups and describes one: its state and members, and per partition
the committed offset, the log end and the lag (``log end - committed``).

>>> async with GroupAdmin("localhost:9092") as groups:  # doctest: +SKIP
...     info = await groups.describe_group("indexer")
...     for p in info.partitions:
...         print(p.topic, p.partition, p.committed, p.log_end, p.lag)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError, for_code

from . import _client
from ._config import ConnectionConfig
from ._errors import ConfigurationError, StreamlineError
from ._validation import check_number, check_time, check_topics


class GroupError(StreamlineError):
    """A consumer group does not exist, or the cluster refused a group request."""


@dataclass(frozen=True)
class PartitionLag:
    """One partition a group has a committed offset for (or is assigned).

    ``committed`` is the next offset the group will read (``None``: nothing committed yet);
    ``log_end`` is the offset the next produced message gets; ``lag`` is their difference
    (``None`` without a commit).
    """

    topic: str
    partition: int
    committed: int | None
    log_end: int

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(0, self.log_end - self.committed)


@dataclass(frozen=True)
class GroupMember:
    """A member of a group and the partitions it was assigned."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OffsetReset:
    """One partition of :meth:`GroupAdmin.reset_offsets`: the committed offset before (``None``
    when nothing was committed) and the one it is (or would be) set to."""

    topic: str
    partition: int
    current: int | None
    new: int


@dataclass(frozen=True)
class GroupInfo:
    """What :meth:`GroupAdmin.describe_group` reports.

    ``state`` is the broker's word (``Stable``, ``PreparingRebalance``, ``Empty``, ...) or
    ``"unknown"`` when the cluster does not describe groups (then ``members`` is empty and
    ``note`` says why; offsets and lag are still there).

    >>> info.lag  # doctest: +SKIP
    42
    """

    group: str
    state: str
    members: tuple[GroupMember, ...]
    partitions: tuple[PartitionLag, ...]
    note: str = ""

    @property
    def lag(self) -> int:
        """Total lag over the partitions with a committed offset."""
        return sum(p.lag or 0 for p in self.partitions)


class GroupAdmin:
    """List consumer groups and describe their members, offsets and lag.

    >>> async with GroupAdmin("localhost:9092") as groups:  # doctest: +SKIP
    ...     print(await groups.list_groups())
    ...     print((await groups.describe_group("indexer")).lag)
    """

    def __init__(
        self, bootstrap_servers: str | list[str] | None = None, *, connection: ConnectionConfig | None = None
    ) -> None:
        self.connection = ConnectionConfig.from_args(bootstrap_servers, connection)
        self._admin: Any = None
        self._consumer: Any = None

    def __repr__(self) -> str:
        return f"GroupAdmin(bootstrap_servers={self.connection.bootstrap_servers!r})"

    async def __aenter__(self) -> GroupAdmin:
        admin = _client.new_admin(self.connection)
        await _client.start_bounded(admin, self.connection)
        self._admin = admin
        try:
            # A consumer outside any group: it answers ListOffsets (the log ends).
            consumer = _client.new_consumer(self.connection, enable_auto_commit=False)
            await _client.start_bounded(consumer, self.connection)
        except BaseException:
            self._admin = None
            await admin.close()
            raise
        self._consumer = consumer
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
            raise StreamlineError("the group admin is not started; use `async with GroupAdmin(...)`")
        return self._admin

    async def _call(self, what: str, aw: Any) -> Any:
        try:
            return await _client.bounded(aw, self.connection, what)
        except KafkaError as exc:
            raise GroupError(f"{what} failed: {exc}") from None

    async def list_groups(self) -> list[str]:
        """Names of the cluster's consumer groups, sorted."""
        found = await self._call("listing consumer groups", self._running().list_consumer_groups())
        return sorted({entry[0] for entry in found})

    async def describe_group(self, group: str, *, topics: str | Iterable[str] | None = None) -> GroupInfo:
        """State, members, and per partition the committed offset, log end and lag of ``group``.

        Partitions are those the group committed an offset for, or has assigned to a member;
        ``topics`` limits (and speeds up) the search. A group with neither members nor
        committed offsets is a :class:`GroupError` ("does not exist").
        """
        if not isinstance(group, str) or not group:
            raise GroupError("a group name must be a non-empty string")
        admin = self._running()
        state, members, note = await self._describe(group)
        wanted = check_topics(topics) if topics is not None else None
        names = wanted if wanted is not None else [
            t for t in await self._call("listing topics", admin.list_topics()) if not t.startswith("__")
        ]
        partitions = await _client.bounded(
            _client.fetch_partitions(self._consumer, names), self.connection, "a metadata request"
        )
        candidates = [TopicPartition(t, p) for t in sorted(partitions) for p in sorted(partitions[t])]
        committed: dict[TopicPartition, int] = {}
        if candidates:
            # Partitions named explicitly: some brokers cannot answer "all partitions" (null topics).
            found = await self._call(
                f"fetching the offsets of group {group!r}",
                admin.list_consumer_group_offsets(group, partitions=candidates),
            )
            committed = {tp: om.offset for tp, om in found.items() if om.offset >= 0}
        assigned = {
            TopicPartition(t, p)
            for m in members
            for t, p in m.assignment
            if wanted is None or t in wanted
        }
        shown = sorted(set(committed) | assigned)
        if not shown and not members:
            raise GroupError(
                f"consumer group {group!r} does not exist at {self.connection.bootstrap_servers} "
                "(no members, no committed offsets)"
            )
        ends: dict[TopicPartition, int] = {}
        if shown:
            try:
                ends = await _client.bounded(
                    self._consumer.end_offsets(shown), self.connection, "a ListOffsets request"
                )
            except KafkaError as exc:
                raise GroupError(f"fetching the log ends of group {group!r} failed: {exc}") from None
        rows = tuple(
            PartitionLag(tp.topic, tp.partition, committed.get(tp), ends.get(tp, 0)) for tp in shown
        )
        return GroupInfo(group, state, members, rows, note)

    async def reset_offsets(
        self,
        group: str,
        topics: str | Iterable[str],
        *,
        to: str | int | datetime | None = None,
        shift_by: int | None = None,
        execute: bool = False,
    ) -> list[OffsetReset]:
        """Compute, and with ``execute=True`` commit, new offsets for ``group`` on ``topics``.

        ``to`` is ``"earliest"``, ``"latest"``, an offset or a time (the first offset at or after
        it; the log end when no record is that new); ``shift_by`` moves the committed offsets (the
        log end where nothing is committed) by N. Offsets are clamped to each partition's
        earliest..end range, as Kafka's tool does. A group with members is refused: their
        commits would overwrite the reset.

        >>> plan = await groups.reset_offsets("indexer", "access-log", to="earliest")  # doctest: +SKIP
        >>> await groups.reset_offsets("indexer", "access-log", to="earliest", execute=True)  # doctest: +SKIP
        """
        if not isinstance(group, str) or not group:
            raise GroupError("a group name must be a non-empty string")
        if (to is None) == (shift_by is None):
            raise ConfigurationError("give exactly one of to= (earliest, latest, an offset, a time) or shift_by=")
        if shift_by is not None:
            check_number("shift_by", shift_by, integer=True)
        target: str | int | datetime | None = to
        if isinstance(to, str) and to in ("earliest", "latest"):
            target = to
        elif isinstance(to, int) and not isinstance(to, bool):
            check_number("offset", to, minimum=0, integer=True)
        elif to is not None:
            target = check_time(to, "to")
        names = check_topics(topics)
        state, members, _ = await self._describe(group)
        if members:
            raise GroupError(
                f"consumer group {group!r} has {len(members)} active member"
                f"{'s' if len(members) != 1 else ''} (state {state}); stop them before resetting offsets"
            )
        partitions = await _client.bounded(
            _client.fetch_partitions(self._consumer, names), self.connection, "a metadata request"
        )
        missing = [t for t in names if not partitions.get(t)]
        if missing:
            raise GroupError(f"topic {missing[0]!r} does not exist at {self.connection.bootstrap_servers}")
        tps = [TopicPartition(t, p) for t in names for p in sorted(partitions[t])]
        consumer = self._consumer
        found = await self._call(
            f"fetching the offsets of group {group!r}",
            self._running().list_consumer_group_offsets(group, partitions=tps),
        )
        current = {tp: om.offset for tp, om in found.items() if om.offset >= 0}
        low = await self._call("a ListOffsets request", consumer.beginning_offsets(tps))
        high = await self._call("a ListOffsets request", consumer.end_offsets(tps))
        at: dict[Any, Any] = {}
        if isinstance(target, datetime):
            millis = int(target.timestamp() * 1000)
            at = await self._call("a ListOffsets request", consumer.offsets_for_times(dict.fromkeys(tps, millis)))
        plan = []
        for tp in tps:
            if target == "earliest":
                new = low[tp]
            elif target == "latest":
                new = high[tp]
            elif isinstance(target, datetime):
                new = at[tp].offset if at.get(tp) is not None else high[tp]
            elif isinstance(target, int):
                new = target
            else:
                new = current.get(tp, high[tp]) + (shift_by or 0)
            plan.append(OffsetReset(tp.topic, tp.partition, current.get(tp), min(max(new, low[tp]), high[tp])))
        if execute:
            await self._commit(group, {TopicPartition(r.topic, r.partition): r.new for r in plan})
        return plan

    async def delete_group(self, group: str, *, missing_ok: bool = False) -> bool:
        """Delete a consumer group with no members (its committed offsets go with it).

        Returns True when deleted, False when it did not exist and ``missing_ok``.
        """
        if not isinstance(group, str) or not group:
            raise GroupError("a group name must be a non-empty string")
        codes = await self._call(
            f"deleting group {group!r}", _client.delete_groups(self._running(), [group])
        )
        code = codes.get(group, 0)
        if code in (15, 16, 69) and missing_ok:  # COORDINATOR_NOT_AVAILABLE/NOT_COORDINATOR/GROUP_ID_NOT_FOUND
            return False
        if code == 69:
            raise GroupError(f"consumer group {group!r} does not exist at {self.connection.bootstrap_servers}")
        if code == 68:  # NON_EMPTY_GROUP
            raise GroupError(f"consumer group {group!r} has active members; stop them before deleting it")
        if code:
            raise GroupError(f"cannot delete consumer group {group!r}: {for_code(code).__name__}")
        return True

    async def _commit(self, group: str, offsets: dict[TopicPartition, int]) -> None:
        # A consumer of the group that joins nothing: Kafka accepts commits from it while the
        # group is empty (generation -1), as kafka-consumer-groups.sh --reset-offsets does.
        consumer = _client.new_consumer(self.connection, group_id=group, enable_auto_commit=False)
        await _client.start_bounded(consumer, self.connection)
        try:
            consumer.assign(list(offsets))
            await self._call(f"committing offsets for group {group!r}", consumer.commit(offsets))
        finally:
            await consumer.stop()

    async def _describe(self, group: str) -> tuple[str, tuple[GroupMember, ...], str]:
        try:
            responses = await _client.bounded(
                self._running().describe_consumer_groups([group]), self.connection, "describing a group"
            )
            entry = responses[0].to_object()["groups"][0]
        except (KafkaError, ValueError, KeyError, IndexError) as exc:
            return "unknown", (), f"the cluster does not describe groups ({type(exc).__name__})"
        if entry["error_code"]:
            return "unknown", (), f"describing the group failed (error code {entry['error_code']})"
        members = tuple(_member(m) for m in entry["members"])
        return entry["state"] or "unknown", members, ""


def _member(raw: dict[str, Any]) -> GroupMember:
    from ._internals import decode_member_assignment

    assignment: tuple[tuple[str, int], ...] = ()
    data = raw.get("member_assignment") or b""
    if data:
        try:
            assignment = tuple(sorted(decode_member_assignment(data)))
        except Exception:
            assignment = ()
    return GroupMember(raw["member_id"], raw.get("client_id", ""), raw.get("client_host", ""), assignment)
