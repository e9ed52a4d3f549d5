"""Reading more slowly on purpose: a token bucket in lines or bytes per second.

Unlike hpcloud/tail, whose limiter seeks to the end of the file when it trips (dropping lines),
this one only makes the follower wait; since the follower reads when its consumer asks, a slower
consumer means slower reading and nothing is lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import anyio

from .._validation import check_choice, check_number

# A limited follower hands out pieces of about 1/PIECES_PER_SECOND of a second's allowance, so
# lines flow evenly instead of in one burst per second.
PIECES_PER_SECOND = 20


@dataclass(frozen=True)
class RateLimit:
    """At most ``per_second`` lines (or bytes, with ``unit="bytes"``) per second.

        follow("access.log", rate_limit=RateLimit(1000))                  # 1000 lines/s
        follow("access.log", rate_limit=RateLimit(1 << 20, unit="bytes"))  # 1 MiB/s
        follow("access.log", rate_limit=1000)                             # same as the first
    """

    per_second: float
    unit: Literal["lines", "bytes"] = "lines"

    def __post_init__(self) -> None:
        check_number("rate limit", self.per_second, above=0)
        check_choice("rate limit unit", self.unit, ("lines", "bytes"))

    @property
    def piece(self) -> int:
        """How many units to hand out at a time."""
        return max(1, int(self.per_second / PIECES_PER_SECOND))


class Throttle:
    """Token bucket enforcing a :class:`RateLimit`; :meth:`acquire` waits for enough tokens.

        throttle = Throttle(RateLimit(1000))
        await throttle.acquire(50)   # returns at once, or after ~50 ms when the bucket is empty
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._capacity = float(limit.piece)
        self._tokens = self._capacity
        self._updated = time.monotonic()

    async def acquire(self, amount: int) -> None:
        """Take ``amount`` tokens, waiting as long as needed to stay under the limit."""
        now = time.monotonic()
        rate = self.limit.per_second
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * rate)
        self._updated = now
        self._tokens -= amount
        if self._tokens < 0:
            await anyio.sleep(-self._tokens / rate)
