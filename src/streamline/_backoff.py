"""The one backoff: exponential, capped, with jitter — for every retry loop in streamline.

>>> delay = backoff(3, base=0.1, cap=5.0)   # about 0.4 s (±20 %)
>>> 0.32 <= delay <= 0.48
True
"""

from __future__ import annotations

import random

#: Each delay is scaled by a random factor in [1 - JITTER, 1 + JITTER], so members that fail
#: together do not retry together.
JITTER = 0.2


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): ``base`` doubling per
    attempt up to ``cap``, with ±20 % jitter."""
    delay = min(cap, base * 2.0 ** min(max(attempt, 1) - 1, 30))
    return delay * random.uniform(1 - JITTER, 1 + JITTER)
