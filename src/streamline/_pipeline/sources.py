"""Sources: a follower, a consumer stream or any async iterable, seen as batches with acks."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Sequence
from typing import Any, TypeAlias

from .._cleanup import finish
from .._errors import ConfigurationError
from .._metrics import tracing as _tracing
from .batch import AckToken, Batch, FileOrigin, KafkaOrigin, NoOrigin, Origin


class _LazyFileOrigin(FileOrigin):
    """File origin whose per-line offsets are computed only if a dead letter needs them."""

    __slots__ = ("_line_batch",)

    def __init__(self, line_batch: Any) -> None:
        self._line_batch = line_batch
        super().__init__(line_batch.path, ())

    def line_offsets(self) -> Sequence[int]:
        """Each item's first byte in the file (computed on first use)."""
        if not self.offsets:
            self.offsets = [line.offset for line in self._line_batch]
        return self.offsets

    def headers(self, index: int) -> list[tuple[str, bytes]]:
        self.line_offsets()
        return super().headers(index)


class _LazyKafkaOrigin(KafkaOrigin):
    __slots__ = ("_messages", "_typed")

    def __init__(self, messages: Sequence[Any], typed: bool = False) -> None:
        self._messages = messages
        self._typed = typed
        first = messages[0]
        super().__init__(first.topic, first.partition, ())

    def original(self, index: int) -> bytes | None:
        """A typed stream's message bytes as read (what a dead letter carries)."""
        return self._messages[index].raw_value if self._typed else None

    def headers(self, index: int) -> list[tuple[str, bytes]]:
        if not self.offsets:
            self.offsets = [m.offset for m in self._messages]
        return super().headers(index)


#: What a pipeline reads: ``follow(...)`` (lines), ``consume(..., ack="manual")`` (messages) or
#: any async iterable of values or of lists of values (each list is one batch). Follower and
#: MessageStream are async iterables themselves; they are read batch by batch with acknowledgements.
PipelineSource: TypeAlias = AsyncIterable[Any]


class Source:
    """Adapter: open/close the underlying object and yield :class:`Batch` objects."""

    def __init__(self, obj: PipelineSource) -> None:
        self.obj: Any = obj
        self.kind = _kind(obj)
        if self.kind == "stream" and getattr(obj, "group", None) is not None and getattr(obj, "ack_mode", "manual") != "manual":
            from .._errors import ConfigurationError

            raise ConfigurationError(
                "a consumer-group source must use consume(..., ack=\"manual\") so the pipeline "
                "commits offsets only after delivery"
            )

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Source]:
        if self.kind == "follower":
            # Closing saves the checkpoints of acknowledged lines: local and bounded, so it is
            # finished even under a native task.cancel().
            await self.obj.__aenter__()
            try:
                yield self
            except BaseException:
                if not await finish(self.obj.__aexit__(*sys.exc_info())):
                    raise
            else:
                await finish(self.obj.__aexit__(None, None, None))
        elif self.kind == "stream":
            async with self.obj:
                yield self
        else:
            yield self
            close = getattr(self.obj, "aclose", None)
            if close is not None:
                await close()

    @property
    def checkpoints(self) -> Any:
        """The follower's checkpoint store, if any (for periodic saves and status)."""
        return getattr(self.obj, "checkpoints", None) if self.kind == "follower" else None

    async def batches(self) -> AsyncGenerator[Batch, None]:
        if self.kind == "follower":
            async for lb in self.obj.batches():
                batch = Batch(lb.data, AckToken(lb.ack), _LazyFileOrigin(lb), None, lb.bytes)
                tracer = _tracing.tracer()  # once per batch: a span when tracing is on
                if tracer is not None:
                    batch.trace = _tracing.start_read(tracer, lb.path, len(lb.data))
                yield batch
        elif self.kind == "stream":
            stream = self.obj
            ack = getattr(stream, "ack", None)
            typed = getattr(stream, "value_codec", None) is not None
            stream._spans = None  # the pipeline traces each batch until it is delivered (below)
            group = getattr(stream, "group", None)
            async for chunk in stream.batches():
                on_done = (lambda c=chunk: ack(c)) if ack is not None else None
                # A typed stream feeds its decoded values (``def price(order: Order)``); the
                # origin keeps the messages, for offsets and the original bytes of dead letters.
                values = [m.value for m in chunk] if typed else chunk
                # size 0: summing value lengths would be per-message work just for a counter
                batch = Batch(values, AckToken(on_done), _LazyKafkaOrigin(chunk, typed), None, 0)
                tracer = _tracing.tracer()
                if tracer is not None:
                    batch.trace = _tracing.start_process(tracer, chunk, group=group)
                yield batch
        else:
            origin: Origin = NoOrigin()
            async for item in self.obj:
                values = item if isinstance(item, list) else [item]
                yield Batch(values, AckToken(None), origin, None, 0)


def _kind(obj: Any) -> str:
    from .._follow import Follower

    if isinstance(obj, Follower):
        return "follower"
    # Not imported for a follower's pipeline (ship): a MessageStream exists only once it is.
    stream = sys.modules.get("streamline._consume.stream")
    if stream is not None and isinstance(obj, stream.MessageStream):
        return "stream"
    if hasattr(obj, "__aiter__"):
        return "iterable"
    raise ConfigurationError(
        f"a pipeline source must be follow(...), consume(...) or an async iterable (got {type(obj).__name__})"
    )
