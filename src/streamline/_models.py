"""The values that travel: :class:`Message` (consumed), :class:`Record` (to produce) and
:class:`RecordMetadata` (what the broker acknowledged)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, NamedTuple

from aiokafka.structs import ConsumerRecord

from ._validation import Bytesish

if TYPE_CHECKING:  # PEP 696 defaults: a bare ``Message`` is ``Message[bytes, bytes]``
    from typing_extensions import TypeVar

    #: A message's value type: bytes unless the stream decodes values (``consume(..., value=Order)``).
    V = TypeVar("V", default=bytes)
    #: A message's key type: bytes unless the stream decodes keys (``consume(..., key=str)``).
    K = TypeVar("K", default=bytes)
else:  # typing.TypeVar takes default= from Python 3.13 on; only type checkers need it
    from typing import TypeVar

    V = TypeVar("V")
    K = TypeVar("K")

#: The class-level mark of a message whose value/key were not decoded (``raw_value`` is ``value``).
_NOT_DECODED: Any = object()


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

    ``value`` and ``key`` are bytes or str, or values the producer's codecs encode.
    """

    value: Bytesish | Any
    key: Bytesish | Any = None
    headers: dict[str, Bytesish] | Sequence[tuple[str, Bytesish]] | None = None
    partition: int | None = None
    timestamp_ms: int | None = None


class Message(ConsumerRecord, Generic[V, K]):  # type: ignore[misc]
    """A record read from Kafka: ``topic, partition, offset, key, value, headers, timestamp``.

    ``timestamp`` is milliseconds since the epoch; ``headers`` is a sequence of ``(name, bytes)``.

    >>> async for msg in consume("logs"):  # doctest: +SKIP
    ...     print(f"Partition:{msg.partition} Offset:{msg.offset} Value:{msg.text}")

    Generic in its value and key types: ``consume("orders", value=Order)`` yields
    ``Message[Order]`` whose ``value`` is an ``Order`` (``raw_value`` keeps the bytes read);
    plain ``Message`` is ``Message[bytes, bytes]``. A null value (a tombstone) of an undecoded
    stream is ``None``.

    It is aiokafka's ``ConsumerRecord`` with helpers added; aiokafka's fetcher builds it
    directly (no copy, no second pass; see ``_client.build_records_as``).
    """

    value: V
    key: K | None
    # Set per message by a stream that decodes; the class default means "not decoded".
    _raw_value: bytes | None = _NOT_DECODED
    _raw_key: bytes | None = _NOT_DECODED

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
    ) -> Message[bytes, bytes]:
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
    def raw_value(self) -> bytes | None:
        """The value's bytes as read from Kafka (``value`` itself unless the stream decodes)."""
        raw = self._raw_value
        return self.value if raw is _NOT_DECODED else raw  # type: ignore[return-value]

    @property
    def raw_key(self) -> bytes | None:
        """The key's bytes as read from Kafka (``key`` itself unless the stream decodes keys)."""
        raw = self._raw_key
        return self.key if raw is _NOT_DECODED else raw  # type: ignore[return-value]

    @property
    def text(self) -> str:
        """The value's bytes decoded as UTF-8 (invalid bytes replaced); ``""`` for a null value."""
        value = self.raw_value
        return value.decode("utf-8", "replace") if value is not None else ""

    @property
    def key_text(self) -> str:
        """The key's bytes decoded as UTF-8 (invalid bytes replaced); ``""`` for a null key."""
        key = self.raw_key
        return key.decode("utf-8", "replace") if key is not None else ""

    def __repr__(self) -> str:
        return (
            f"Message(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, "
            f"key={self.key!r}, value={_short(self.value)}, timestamp={self.timestamp})"
        )


def _short(value: Any, limit: int = 60) -> str:
    if type(value) is not bytes:
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"...({len(value)} bytes)"
