"""What :meth:`MessageStream.run` does when a handler raises: the pipeline's :class:`OnError`.

Retry with the one jittered backoff (:mod:`streamline._backoff`), then ``"skip"`` (the message
counts as processed), ``"dead_letter"`` (its value goes to a topic with headers naming the
error and the origin, then it counts as processed) or ``"stop"`` (the handler's exception
ends :meth:`~MessageStream.run`; the message is not committed). Without a policy the first
exception stops, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from .._backoff import backoff
from .._config import ConnectionConfig
from .._models import Message, Record
from .._pipeline.errors import OnError, describe
from .progress import Progress

log = logging.getLogger("streamline.consume")


class FailurePolicy:
    """Applies an :class:`OnError` to a failed message or batch (see the module docstring)."""

    def __init__(
        self, policy: OnError | None, *, progress: Progress, connection: ConnectionConfig, auto: bool
    ) -> None:
        self.policy = policy
        self._progress = progress
        self._connection = connection
        self._auto = auto
        self._producer: Any = None
        self.skipped = 0
        self.dead_lettered = 0

    async def handle(
        self,
        item: Message | Sequence[Message],
        error: Exception,
        again: Callable[[], Awaitable[Any]],
        policy: OnError | None = None,
    ) -> None:
        """``item`` failed with ``error``; ``again()`` calls the handler once more. Returns when the
        item is done with (processed, skipped or dead-lettered); raises to stop. ``policy``
        overrides the one given at construction."""
        policy = policy or self.policy
        if policy is None:
            raise error
        for attempt in range(1, policy.retries + 1):
            await anyio.sleep(backoff(attempt, base=policy.backoff, cap=policy.max_backoff))
            try:
                await again()
            except Exception as exc:
                error = exc
            else:
                return
        messages = [item] if isinstance(item, Message) else list(item)
        if policy.then == "stop":
            raise error
        first = messages[0]
        where = f"{first.topic}[{first.partition}]@{first.offset}"
        if policy.then == "dead_letter":
            assert policy.dead_letter_topic is not None
            producer = await self._dead_letter_producer()
            for msg in messages:
                await producer.send(
                    policy.dead_letter_topic, msg.raw_value, key=msg.raw_key,
                    headers=[
                        ("streamline.error", describe(error).encode("utf-8", "replace")),
                        ("streamline.origin.topic", msg.topic.encode()),
                        ("streamline.origin.partition", str(msg.partition).encode()),
                        ("streamline.origin.offset", str(msg.offset).encode()),
                    ],
                )
            self.dead_lettered += len(messages)
            log.warning("%s: handler failed (%s); dead-lettered to %s", where, describe(error), policy.dead_letter_topic)
        else:
            self.skipped += len(messages)
            log.warning("%s: handler failed (%s); skipped", where, describe(error))
        if not self._auto:
            self._progress.ack(item)  # done with: the commit may pass it

    async def undecodable(self, msg: Message[Any, Any], error: Exception, policy: OnError) -> None:
        """``msg`` does not decode: skip it or dead-letter its original bytes (``policy.then``;
        retries do not apply: the bytes will not change). The caller marks it processed."""
        where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
        if policy.then == "dead_letter":
            assert policy.dead_letter_topic is not None
            producer = await self._dead_letter_producer()
            # send_many: a keyless tombstone is a record too (aiokafka's send() refuses one)
            await producer.send_many(policy.dead_letter_topic, [Record(
                msg.raw_value, key=msg.raw_key,
                headers=[
                    *[(name, data) for name, data in msg.headers if not name.startswith("streamline.")],
                    ("streamline.error", describe(error).encode("utf-8", "replace")),
                    ("streamline.origin.topic", msg.topic.encode()),
                    ("streamline.origin.partition", str(msg.partition).encode()),
                    ("streamline.origin.offset", str(msg.offset).encode()),
                ],
            )], codec=None, key_codec=None)
            self.dead_lettered += 1
            log.warning("%s: %s; dead-lettered to %s", where, error, policy.dead_letter_topic)
        else:
            self.skipped += 1
            log.warning("%s: %s; skipped", where, error)

    async def _dead_letter_producer(self) -> Any:
        if self._producer is None:
            from .._producer import Producer

            producer = Producer(connection=self._connection, acks="all")
            await producer.__aenter__()
            self._producer = producer
        return self._producer

    async def aclose(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with anyio.CancelScope(shield=True):
                await producer.__aexit__(None, None, None)
