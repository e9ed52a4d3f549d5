"""The consumer: :func:`consume` and the :class:`MessageStream` it returns (see :mod:`.stream`)."""

from .stream import MessageStream, consume

__all__ = ["MessageStream", "consume"]
