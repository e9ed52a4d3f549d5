"""Fixtures for follower tests."""

from __future__ import annotations

import os
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
    """Count this process's open file descriptors."""
    return lambda: len(os.listdir("/proc/self/fd"))
