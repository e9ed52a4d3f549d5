"""Assertions on what one ``streamline`` invocation did (a ``Result`` from tests/cli/conftest.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Optional

#: The console script pip installed next to this interpreter.
STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def clean_env(bootstrap: Optional[str], extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The caller's environment without stray ``STREAMLINE_*`` settings, pointed at ``bootstrap``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    if bootstrap is not None:
        env["STREAMLINE_BOOTSTRAP_SERVERS"] = bootstrap
    env.update(extra or {})
    return env


def assert_ok(result) -> None:
    """Exit 0 and no traceback."""
    assert result.returncode == 0, str(result)
    assert "Traceback" not in result.stderr, str(result)


def assert_one_error(result, code: int) -> str:
    """The single ``streamline: error:`` line, after checking the exit code; returns the line."""
    assert result.returncode == code, str(result)
    assert "Traceback" not in result.stderr + result.stdout, str(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("streamline: error: "), str(result)
    return lines[0]
