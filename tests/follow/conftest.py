"""Fixtures for follower tests."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """An empty ``access.log`` in a fresh directory."""
    path = tmp_path / "access.log"
    path.write_bytes(b"")
    return path


@pytest.fixture
def open_fds() -> Callable[[], int]:
    """Count this process's open file descriptors.

    watchfiles releases its inotify descriptors from its own thread shortly after ``close()``,
    so the count waits (up to 1 s) for them to settle.
    """

    def count() -> int:
        gc.collect()  # descriptors of objects earlier tests left for the collector
        last = -1
        for _ in range(50):
            now = len(os.listdir("/proc/self/fd"))
            if now == last:
                return now
            last = now
            time.sleep(0.02)
        return last

    return count
