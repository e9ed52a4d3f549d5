"""The exceptions streamline raises on purpose.

Every error is a :class:`StreamlineError`, and its message is one line a user can act on.
"""

from __future__ import annotations

from collections.abc import Sequence


class StreamlineError(Exception):
    """Base class of every error streamline raises on purpose."""

    #: True when trying again later may succeed (the broker was down, a request timed out).
    retriable: bool = False


class ConfigurationError(StreamlineError, ValueError):
    """An option or argument is invalid; raised before any network call.

    >>> from streamline import Producer
    >>> Producer(acks="most")  # doctest: +SKIP
    ConfigurationError: acks must be one of 0, 1, 'all' (got 'most')
    """


class BrokerUnavailableError(StreamlineError, ConnectionError):
    """The Kafka cluster did not answer within the connect timeout."""

    retriable = True


class TopicError(StreamlineError):
    """A topic or partition does not exist, or a topic operation was refused."""


class DeliveryError(StreamlineError):
    """The broker refused records or did not acknowledge them in time (then ``retriable`` is True).

    From :meth:`Producer.send_many` it says what landed: ``acknowledged`` records were stored;
    ``unacknowledged`` lists the indices (into the items given) of those that may not have been,
    and ``partitions`` the partitions they were for. Retry only those to avoid duplicates:

    >>> try:  # doctest: +SKIP
    ...     await producer.send_many("logs", items)
    ... except DeliveryError as exc:
    ...     await producer.send_many("logs", [items[i] for i in exc.unacknowledged])
    """

    def __init__(
        self,
        message: str,
        *,
        retriable: bool = False,
        acknowledged: int = 0,
        unacknowledged: Sequence[int] = (),
        partitions: Sequence[int] = (),
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        #: How many of the records were acknowledged by the broker.
        self.acknowledged = acknowledged
        #: Indices (into the items given) of the records not acknowledged, ascending.
        self.unacknowledged: list[int] = list(unacknowledged)
        #: Partitions whose records were not (all) acknowledged.
        self.partitions: list[int] = list(partitions)


class CheckpointError(StreamlineError):
    """A checkpoint file is unreadable or corrupt; its path is in the message."""
