"""The one backoff: doubling from base, capped, always jittered within ±20 %."""

import pytest

from streamline._backoff import JITTER, backoff


@pytest.mark.parametrize(("attempt", "expected"), [(1, 0.1), (2, 0.2), (3, 0.4), (7, 5.0), (10_000, 5.0), (0, 0.1)])
def test_doubles_from_base_up_to_the_cap(attempt: int, expected: float) -> None:
    for _ in range(200):
        delay = backoff(attempt, base=0.1, cap=5.0)
        assert expected * (1 - JITTER) <= delay <= expected * (1 + JITTER)


def test_members_failing_together_do_not_retry_together() -> None:
    assert len({backoff(3, base=0.1, cap=5.0) for _ in range(50)}) > 1
