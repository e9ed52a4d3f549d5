"""The consumer: :func:`consume` and the :class:`MessageStream` it returns (see :mod:`.stream`)."""

from .api import consume
from .stream import MessageStream

__all__ = ["MessageStream", "consume"]
