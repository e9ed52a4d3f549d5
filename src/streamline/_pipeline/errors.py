"""What a stage does when a value fails: retry with backoff, then dead-letter, skip or stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._backoff import backoff
from .._errors import ConfigurationError, StreamlineError

Then = Literal["dead_letter", "skip", "stop"]


class StageError(StreamlineError):
    """A stage failed on a value and its policy says stop; the message names stage and origin."""


@dataclass(frozen=True)
class OnError:
    """Error policy of a stage.

    ``retries`` more attempts with exponential backoff (``backoff`` doubling up to ``max_backoff``,
    with jitter) — never a tight loop — then ``then``: ``"dead_letter"`` (send the original bytes to
    ``dead_letter_topic`` with headers naming the error, the stage and the origin), ``"skip"``
    (count it, acknowledge it) or ``"stop"`` (the pipeline stops with :class:`StageError`).

    >>> OnError(retries=3, then="dead_letter", dead_letter_topic="access-dlq")  # doctest: +ELLIPSIS
    OnError(retries=3, ...)
    """

    retries: int = 2
    backoff: float = 0.1
    max_backoff: float = 5.0
    then: Then = "stop"
    dead_letter_topic: str | None = None

    def __post_init__(self) -> None:
        if self.then not in ("dead_letter", "skip", "stop"):
            raise ConfigurationError(f"then must be one of dead_letter, skip, stop (got {self.then!r})")
        if self.then == "dead_letter":
            if not self.dead_letter_topic:
                raise ConfigurationError('then="dead_letter" needs dead_letter_topic=')
            from .._validation import check_topic

            check_topic(self.dead_letter_topic)
        from .._validation import check_number

        check_number("retries", self.retries, minimum=0, integer=True)
        check_number("backoff", self.backoff, above=0)  # never a tight retry loop
        check_number("max_backoff", self.max_backoff, minimum=self.backoff)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): the one jittered
        :func:`~streamline._backoff.backoff`."""
        return backoff(attempt, base=self.backoff, cap=self.max_backoff)


def describe(exc: BaseException) -> str:
    try:
        text = str(exc).strip()
    except Exception:  # a broken __str__ must not replace the error it describes
        text = ""
    text = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def original_bytes(value: Any) -> bytes:
    """The bytes to dead-letter for a value: a line's data, a message's value, or its text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    for attribute in ("data", "value"):
        inner = getattr(value, attribute, None)
        if isinstance(inner, bytes):
            return inner
    return repr(value).encode("utf-8")
