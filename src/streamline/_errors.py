"""The exceptions streamline raises on purpose.

Every error is a :class:`StreamlineError`, and its message is one line a user can act on.
"""

from __future__ import annotations


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
    """The broker refused a record or did not acknowledge it in time (then ``retriable`` is True)."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class CheckpointError(StreamlineError):
    """A checkpoint file is unreadable or corrupt; its path is in the message."""
