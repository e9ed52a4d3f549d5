"""Assertions on what one ``streamline`` invocation did (a ``Result`` from tests/cli/conftest.py)."""

from __future__ import annotations


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
