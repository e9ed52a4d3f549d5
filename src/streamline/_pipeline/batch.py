"""What moves between pipeline stages: a :class:`Batch` of values sharing one acknowledgement.

A batch is acknowledged to its origin (a file checkpoint, a consumer offset) once every output
it led to was delivered: an :class:`AckToken` counts outstanding deliveries and fires once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class AckToken:
    """Counts the deliveries a batch still waits for; acknowledges its origin at zero.

    >>> token = AckToken(lambda: print("acked"))
    >>> token.retain(1)      # fanned out to a second output
    >>> token.release(); token.release()
    acked
    """

    __slots__ = ("_on_done", "_pending")

    def __init__(self, on_done: Callable[[], Any] | None) -> None:
        self._pending = 1
        self._on_done = on_done

    @property
    def done(self) -> bool:
        return self._pending <= 0

    def retain(self, count: int = 1) -> None:
        """Wait for ``count`` more deliveries."""
        self._pending += count

    def release(self) -> None:
        """One delivery is done (or an item was dropped on purpose)."""
        self._pending -= 1
        if self._pending == 0 and self._on_done is not None:
            self._on_done()


class Origin:
    """Where a batch's items came from, for dead-letter headers."""

    __slots__ = ()

    def headers(self, index: int) -> list[tuple[str, bytes]]:  # pragma: no cover - interface
        return []

    def original(self, index: int) -> bytes | None:
        """The bytes item ``index`` was read as, when the values are decoded from them (a typed
        consumer stream); None: the value itself is what a dead letter carries."""
        return None


class FileOrigin(Origin):
    """Lines of one file; ``offsets[i]`` is the byte offset of item ``i``."""

    __slots__ = ("offsets", "path")

    def __init__(self, path: str, offsets: Sequence[int]) -> None:
        self.path = path
        self.offsets = offsets

    def headers(self, index: int) -> list[tuple[str, bytes]]:
        return [
            ("streamline.origin.file", self.path.encode()),
            ("streamline.origin.offset", str(self.offsets[index]).encode()),
        ]


class KafkaOrigin(Origin):
    """Messages of one partition; ``offsets[i]`` is the offset of item ``i``."""

    __slots__ = ("offsets", "partition", "topic")

    def __init__(self, topic: str, partition: int, offsets: Sequence[int]) -> None:
        self.topic = topic
        self.partition = partition
        self.offsets = offsets

    def headers(self, index: int) -> list[tuple[str, bytes]]:
        return [
            ("streamline.origin.topic", self.topic.encode()),
            ("streamline.origin.partition", str(self.partition).encode()),
            ("streamline.origin.offset", str(self.offsets[index]).encode()),
        ]


class NoOrigin(Origin):
    __slots__ = ()

    def headers(self, index: int) -> list[tuple[str, bytes]]:
        return []


class Batch:
    """Values moving through a pipeline together, with their origin and acknowledgement.

    ``index`` maps each value to the origin item it came from (``None`` means one to one).
    """

    __slots__ = ("index", "origin", "size", "token", "trace", "values")

    def __init__(
        self,
        values: list[Any],
        token: AckToken,
        origin: Origin,
        index: list[int] | None = None,
        size: int = 0,
    ) -> None:
        self.values = values
        self.token = token
        self.origin = origin
        self.index = index
        #: Bytes the batch covers at its origin (for throughput figures).
        self.size = size
        #: The batch's OpenTelemetry span while tracing is on (``process``/``read``), else None.
        self.trace: Any = None

    def origin_headers(self, position: int) -> list[tuple[str, bytes]]:
        """Dead-letter headers naming where value ``position`` came from."""
        source = self.index[position] if self.index is not None else position
        return self.origin.headers(source)

    def original(self, position: int) -> bytes | None:
        """The bytes value ``position`` was decoded from at its origin, if it was (see :class:`Origin`)."""
        source = self.index[position] if self.index is not None else position
        return self.origin.original(source)

    def __len__(self) -> int:
        return len(self.values)
