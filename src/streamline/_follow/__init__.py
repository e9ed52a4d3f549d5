"""Following files like ``tail -F``: rotation, truncation, globs, acknowledged checkpoints.

    from streamline._follow import follow
    async for line in follow("access.log"):
        print(line.text)

Modules: ``framing`` (bytes to lines), ``identity`` (which file is this), ``checkpoints`` (where
positions are saved), ``files`` (blocking file-system calls), ``reader`` (rotation and
fairness), ``watch`` (change notification), ``ratelimit``, ``lines`` and ``follower`` (the API).
"""

from __future__ import annotations

from .checkpoints import AckedRanges, Checkpoints
from .follower import Follower, follow
from .framing import LineFramer, LineTooLongError
from .identity import FileIdentity
from .lines import FollowerStats, Line, LineBatch
from .ratelimit import RateLimit

__all__ = [
    "AckedRanges",
    "Checkpoints",
    "FileIdentity",
    "Follower",
    "FollowerStats",
    "Line",
    "LineBatch",
    "LineFramer",
    "LineTooLongError",
    "RateLimit",
    "follow",
]
