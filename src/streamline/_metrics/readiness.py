"""``/readyz``: is this process connected to Kafka and, as a group member, placed in its group?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .registry import REGISTRY, Registry

#: A readiness check: ``True``/``False``, or ``(ready, reason)``.
Readiness = Callable[[], bool | tuple[bool, str]]


def producer_ready(producer: Any) -> tuple[bool, str]:
    """A producer is ready between a successful start (it reached the broker) and its stop."""
    if getattr(producer, "_producer", None) is None:
        return False, "producer not connected"
    return True, "producer connected"


def consumer_ready(stream: Any) -> tuple[bool, str]:
    """A stream is ready once started; a group member once it has partitions or joined with none.

    A member that joined and was given no partitions (more members than partitions) is
    legitimately idle: it is ready. One still joining is not.
    """
    consumer = getattr(stream, "_consumer", None)
    if consumer is None:
        return False, "consumer not started"
    if getattr(stream, "group", None) is None:
        return True, "consumer started"
    try:
        if stream.assignment():
            return True, "consumer has partitions"
    except Exception:
        return False, "consumer closing"
    if getattr(stream, "joined", False) is True:  # the group answered with an (empty) assignment
        return True, "consumer joined its group and was given no partitions (idle)"
    return False, "consumer joining its group"


def default_readiness(registry: Registry = REGISTRY) -> tuple[bool, str]:
    """Ready when at least one producer or consumer is tracked and every one of them is ready."""
    answers = [producer_ready(p) for p, _ in registry.live("producer")]
    answers += [consumer_ready(c) for c, _ in registry.live("consumer")]
    if not answers:
        return False, "not connected to Kafka yet"
    for ready, reason in answers:
        if not ready:
            return False, reason
    return True, "; ".join(sorted({reason for _, reason in answers}))
