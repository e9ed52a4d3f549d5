"""The values that travel: :class:`Message` (consumed), :class:`Record` (to produce) and
:class:`RecordMetadata` (what the broker acknowledged)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka.structs import ConsumerRecord

from ._validation import Bytesish


class RecordMetadata(NamedTuple):
    """Where the broker stored a record (the tutorial's ``SendMessage`` result).

    With ``acks=0`` the broker does not answer, so ``offset`` is ``-1``.

    >>> md = RecordMetadata("logs", 0, 13, 1700000000000)
    >>> f"partition: {md.partition}, offset: {md.offset}"
    'partition: 0, offset: 13'
    """

    topic: str
    partition: int
    offset: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class Record:
    """One record for :meth:`Producer.send_many`, when values or ``(key, value)`` pairs are not enough.

    >>> Record(b"GET /index.html", key="10.0.0.1", headers={"source": "nginx"})  # doctest: +ELLIPSIS
    Record(value=b'GET /index.html', key='10.0.0.1', ...)
    """

    value: Bytesish | None
    key: Bytesish | None = None
    headers: dict[str, Bytesish] | Sequence[tuple[str, Bytesish]] | None = None
    partition: int | None = None
    timestamp_ms: int | None = None


class Message(ConsumerRecord):  # type: ignore[misc]
    """A record read from Kafka: ``topic, partition, offset, key, value, headers, timestamp``.

    ``timestamp`` is milliseconds since the epoch; ``headers`` is a sequence of ``(name, bytes)``.

    >>> async for msg in consume("logs"):  # doctest: +SKIP
    ...     print(f"Partition:{msg.partition} Offset:{msg.offset} Value:{msg.text}")

    It is aiokafka's ``ConsumerRecord`` with helpers added; aiokafka's fetcher builds it
    directly (no copy, no second pass; see ``_client.build_records_as``).
    """

    @classmethod
    def create(
        cls,
        topic: str,
        partition: int,
        offset: int,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        timestamp: int = 0,
    ) -> Message:
        """Build a message by hand (tests, replays)."""
        return cls(
            topic, partition, offset, timestamp, 0, key, value, None,
            len(key) if key is not None else -1, len(value) if value is not None else -1, headers,
        )

    def ack(self) -> None:
        """Acknowledge this message; it matters with ``consume(..., group=..., ack="manual")``.

        Messages of a manual-ack stream override this. Elsewhere (auto mode, no group, a message
        built by hand) there is nothing to acknowledge and it does nothing, like ``stream.ack``.
        """

    @property
    def text(self) -> str:
        """The value decoded as UTF-8 (invalid bytes replaced); ``""`` for a null value."""
        return self.value.decode("utf-8", "replace") if self.value is not None else ""

    @property
    def key_text(self) -> str:
        """The key decoded as UTF-8 (invalid bytes replaced); ``""`` for a null key."""
        return self.key.decode("utf-8", "replace") if self.key is not None else ""

    def __repr__(self) -> str:
        return (
            f"Message(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, "
            f"key={self.key!r}, value={_short(self.value)}, timestamp={self.timestamp})"
        )


def _short(value: bytes | None, limit: int = 60) -> str:
    if value is None or len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"...({len(value)} bytes)"
