"""Decoding fetched messages with the stream's codecs, and what happens to those that fail.

``async for`` decodes each message as it hands it out (:meth:`Decoding.decode_one`), so a
decoded value the loop body drops dies young, as in a hand-written loop. :meth:`~.stream.
MessageStream.batches`, :meth:`~.stream.MessageStream.run` and pipelines get whole batches,
decoded once per fetched batch (:meth:`Decoding.apply`). Each message keeps its bytes
(``raw_value``/``raw_key``) for dead letters.

A message that does not decode goes to the failure policy (:class:`~streamline.OnError`'s
``then``; retries make no sense for bytes that will not change): ``"skip"`` or
``"dead_letter"`` (its original bytes, with an error header) and it counts as processed — the
commit passes it like a processed message — or ``"stop"``: the messages before it are handed
out, then the stream raises :class:`~streamline.DecodeError` and the message is not committed.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .._codecs import Codec, DecodeError, describe_codec
from .._models import Message
from .._pipeline.errors import OnError, describe
from .failures import FailurePolicy
from .port import Key
from .progress import Progress

log = logging.getLogger("streamline.consume")


class _Tombstone(Exception):
    def __str__(self) -> str:
        return "a null value (tombstone)"


class Decoding:
    """Decodes a fetch's batches in place (see the module docstring)."""

    def __init__(
        self,
        value: Codec[Any] | None,
        key: Codec[Any] | None,
        *,
        progress: Progress,
        manual: bool,
        policy: Callable[[], OnError | None],
        failures: Callable[[], FailurePolicy],
    ) -> None:
        self.value = value
        self.key = key
        self._progress = progress
        self._manual = manual
        self._policy = policy
        self._failures = failures
        #: The stop policy's error: raised by the stream's next fetch.
        self.error: DecodeError | None = None
        self._error = DecodeError("")
        with_headers = getattr(value, "decode_with_headers", None)
        self._with_headers: Callable[[bytes, Any], Any] | None = with_headers if callable(with_headers) else None
        #: Values only, by ``value.decode`` alone (no key codec, no choice by header).
        self.simple = value is not None and key is None and self._with_headers is None

    def decode_one(self, msg: Message[Any, Any]) -> DecodeError | None:
        """Decode one message in place (``async for`` decodes as it hands out); the error, if it
        does not decode (then it is left as read)."""
        part = "value"
        try:
            value = self.value
            if value is not None:
                raw = msg.value
                if raw is None:
                    raise _Tombstone
                msg._raw_value = raw
                with_headers = self._with_headers
                msg.value = with_headers(raw, msg.headers) if with_headers is not None else value.decode(raw)
            key = self.key
            if key is not None:
                part = "key"
                raw = msg.key
                msg._raw_key = raw
                if raw is not None:
                    msg.key = key.decode(raw)
        except Exception as exc:
            codec = self.value if part == "value" else self.key
            assert codec is not None
            msg.value, msg.key = msg.raw_value, msg.raw_key
            return DecodeError(f"{part} does not decode as {describe_codec(codec)}: {describe(exc)}")
        return None

    async def failed_one(self, msg: Message[Any, Any], error: DecodeError, *, mark: bool) -> None:
        """The policy for one message that did not decode as it was handed out: raise (stop), or
        skip / dead-letter it and count it processed (``mark``: auto mode in a group, where
        every message before it is processed already)."""
        policy = self._policy()
        if policy is None or policy.then == "stop":
            self.error = DecodeError(
                f"{_where(msg)}: {error} (on_decode_error stops the stream; the message is not committed)",
                topic=msg.topic, partition=msg.partition, offset=msg.offset,
            )
            raise self.error
        await self._failures().undecodable(msg, error, policy)
        if self._manual:
            self._progress.ack(msg)
        elif mark:
            self._progress.mark((msg.topic, msg.partition), msg.offset + 1)

    async def apply(self, records: Mapping[Key, list[Message[Any, Any]]], previous: dict[Key, int | None]) -> list[list[Message[Any, Any]]]:
        """The batches of one fetch, decoded, without the messages that failed (handled by the
        policy). ``previous[tp]`` is the offset after the partition's last fetched message
        before this fetch (None: its first fetch since it was assigned)."""
        chunks: list[list[Message[Any, Any]]] = []
        for tp, batch in records.items():
            failed = self._decode(batch)
            if failed:
                batch = await self._failed(tp, batch, failed, previous.get(tp))
            if batch:
                chunks.append(batch)
        return chunks

    def _decode(self, batch: list[Message[Any, Any]]) -> list[tuple[int, DecodeError]]:
        """Decode ``batch`` in place; the positions that failed, with their errors."""
        failed: list[tuple[int, DecodeError]] = []
        start = 0
        while start < len(batch):
            position = self._decode_from(batch, start)
            if position is None:
                break
            msg = batch[position]
            failed.append((position, self._error))
            # Leave it as read: value and key are its bytes again.
            raw_value, raw_key = msg.raw_value, msg.raw_key
            msg.value, msg.key = raw_value, raw_key
            start = position + 1
        return failed

    def _decode_from(self, batch: list[Message[Any, Any]], start: int) -> int | None:
        """Decode ``batch[start:]``; the position of the first failure (its error in
        ``self._error``) or None."""
        decode = self.value.decode if self.value is not None else None
        with_headers = self._with_headers
        key_decode = self.key.decode if self.key is not None else None
        msg = None
        part = "value"
        rest = batch if start == 0 else batch[start:]
        # A fetched batch's decoded objects all stay alive until handed out: with the collector
        # on, every ~700 allocations would trigger a collection that walks them (measured: the
        # typed consume ran at 0.4x of decoding by hand). One pass with it paused, then as before.
        collecting = gc.isenabled()
        if collecting:
            gc.disable()
        try:
            if key_decode is None and with_headers is None and decode is not None:
                for msg in rest:  # the hot loop: values only
                    raw = msg.value
                    if raw is None:
                        raise _Tombstone
                    msg._raw_value = raw
                    msg.value = decode(raw)
            else:
                for msg in rest:
                    part = "value"
                    if decode is not None:
                        raw = msg.value
                        if raw is None:
                            raise _Tombstone
                        msg._raw_value = raw
                        msg.value = with_headers(raw, msg.headers) if with_headers is not None else decode(raw)
                    if key_decode is not None:
                        part = "key"
                        raw = msg.key
                        msg._raw_key = raw
                        if raw is not None:  # a null key is a keyless record, not a failure
                            msg.key = key_decode(raw)
        except Exception as exc:
            codec = self.value if part == "value" else self.key
            assert codec is not None and msg is not None
            self._error = DecodeError(f"{part} does not decode as {describe_codec(codec)}: {describe(exc)}")
            return next(i for i in range(start, len(batch)) if batch[i] is msg)
        finally:
            if collecting:
                gc.enable()
        return None

    async def _failed(
        self, tp: Key, batch: list[Message[Any, Any]], failed: list[tuple[int, DecodeError]], previous: int | None
    ) -> list[Message[Any, Any]]:
        """Apply the policy to the failed messages of one partition's batch; the batch to hand out."""
        policy = self._policy()
        first_position, first_error = failed[0]
        if policy is None or policy.then == "stop":
            msg = batch[first_position]
            self.error = DecodeError(
                f"{_where(msg)}: {first_error} (on_decode_error stops the stream; "
                "the message is not committed)",
                topic=msg.topic, partition=msg.partition, offset=msg.offset,
            )
            if self._manual:  # fetched, never handed out: not in flight
                self._progress.withdraw(tp, msg.offset)
            return batch[:first_position]
        failures = self._failures()
        for position, error in failed:
            await failures.undecodable(batch[position], error, policy)
        bad = {position for position, _ in failed}
        if self._manual:
            for position in bad:
                self._progress.ack(batch[position])
        else:
            # The commit passes a failed message once the message before it is processed; a
            # trailing run of failures has no message after it to do that, so note where the
            # processed position continues after it.
            end = len(batch)
            while end and end - 1 in bad:
                end -= 1
            if end < len(batch):
                skip_to = batch[-1].offset + 1
                if end:
                    self._progress.skip(tp, batch[end - 1].offset + 1, skip_to)
                elif previous is not None:
                    self._progress.skip(tp, previous, skip_to)
                else:  # the partition's first batch: nothing of it was handed out before
                    self._progress.mark(tp, skip_to)
        return [msg for position, msg in enumerate(batch) if position not in bad]


def _where(msg: Message[Any, Any]) -> str:
    return f"{msg.topic}[{msg.partition}]@{msg.offset}"
