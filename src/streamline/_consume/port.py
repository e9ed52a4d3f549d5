"""What a :class:`~.stream.MessageStream` needs from a Kafka consumer, and nothing more.

The stream talks to "a consumer" only through :class:`ConsumerPort`; :mod:`.kafka` implements
it over aiokafka, and the test suite's fake consumer implements it in memory, so commits,
revokes, drains and closes are tested without a network. Partitions are plain
``(topic, partition)`` tuples; errors are streamline's (:class:`CommitFailedError` for a commit
the group refused, :class:`~streamline.BrokerUnavailableError` for a cluster that does not
answer, :class:`~streamline.StreamlineError` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from .._errors import StreamlineError
from .._models import Message

#: ``(topic, partition)``; equal to (and hashes like) aiokafka's ``TopicPartition``.
Key = tuple[str, int]


class CommitFailedError(StreamlineError):
    """The group refused or lost a commit (a rebalance, a broker that went away)."""

    retriable = True


class RebalanceListener(Protocol):
    """What the group's rebalances are handed to (the stream implements it)."""

    async def on_revoked(self, partitions: set[Key]) -> None:
        """The group takes ``partitions`` away; return once they may go to the next owner."""

    async def on_assigned(self, partitions: set[Key]) -> None:
        """The group gives this member ``partitions``."""


class ConsumerPort(Protocol):
    """The narrow contract between the stream and a consumer (see the module docstring)."""

    async def start(self) -> None:
        """Connect (bounded by the connect timeout)."""

    async def stop(self) -> None:
        """Leave the group (if any) and disconnect."""

    def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        """Join the group for ``topics``; rebalances are handed to ``listener``."""

    def assign(self, partitions: Iterable[Key]) -> None:
        """Read exactly ``partitions`` (no group)."""

    def assignment(self) -> set[Key]:
        """The partitions this consumer reads now."""

    async def partitions_for(self, topics: Sequence[str]) -> dict[str, set[int]]:
        """Fresh partition sets of ``topics`` from the cluster (empty for a missing topic)."""

    async def fetch(self, timeout: float, max_records: int) -> Mapping[Key, list[Message]]:
        """Up to ``max_records`` messages per call, as lists per partition in offset order;
        waits at most ``timeout`` seconds when none are there. Paused partitions are skipped."""

    async def commit(self, offsets: Mapping[Key, int]) -> None:
        """Commit ``offsets`` for the group (:class:`CommitFailedError` when refused)."""

    async def committed(self, partition: Key) -> int | None:
        """The group's committed offset of ``partition`` (None: nothing committed)."""

    def pause(self, partitions: Iterable[Key]) -> None:
        """Stop fetching ``partitions`` (assigned ones) until resumed."""

    def resume(self, partitions: Iterable[Key]) -> None:
        """Fetch ``partitions`` again."""

    def seek(self, partition: Key, offset: int) -> None:
        """Read ``partition`` from ``offset`` on."""

    async def seek_to_beginning(self, partitions: Sequence[Key]) -> None:
        """Read ``partitions`` from their first offset."""

    async def seek_to_end(self, partitions: Sequence[Key]) -> None:
        """Read only what is produced after now (the end is resolved before returning)."""

    async def offsets_for_times(self, partitions: Sequence[Key], millis: int) -> dict[Key, int | None]:
        """The first offset at or after ``millis`` per partition (None: past the end)."""
