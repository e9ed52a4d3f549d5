"""Run the installed ``streamline`` command as a user would: a subprocess, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Mapping, Optional

import pytest

from cliresults import STREAMLINE, clean_env  # noqa: F401  (tests/support; re-exported for the CLI tests)


@dataclass
class Result:
    """What one ``streamline`` invocation did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def __str__(self) -> str:  # shown by pytest when an assertion on a Result fails
        return (
            f"streamline {' '.join(self.args)} -> exit {self.returncode} in {self.seconds:.1f}s\n"
            f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}"
        )


class Cli:
    """Runs ``streamline`` against one Kafka, with a clean ``STREAMLINE_*`` environment."""

    #: The console script pip installed next to this interpreter.
    executable = STREAMLINE

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def env(self, extra: Optional[Mapping[str, str]] = None, *, connect: bool = True) -> dict[str, str]:
        """The environment a subprocess gets (``connect=False``: no bootstrap servers set)."""
        return clean_env(self.bootstrap if connect else None, extra)

    def __call__(
        self,
        *args: str,
        input: Optional[bytes] = None,
        env: Optional[Mapping[str, str]] = None,
        timeout: float = 120.0,
    ) -> Result:
        """Run to completion; stdin is ``input`` (empty by default).

        ``timeout`` is a hang guard, not a speed limit: only a command that never ends reaches it."""
        started = time.monotonic()
        proc = subprocess.run(
            [STREAMLINE, *args],
            input=input if input is not None else b"",
            capture_output=True,
            env=self.env(env),
            timeout=timeout,
        )
        return Result(
            tuple(args),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
            time.monotonic() - started,
        )

    def popen(self, *args: str, connect: bool = True) -> "subprocess.Popen[bytes]":
        """Start a long-running command (``consume``, ``broker``) with piped stdout and stderr."""
        return subprocess.Popen(
            [STREAMLINE, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(connect=connect),
        )


@pytest.fixture
def cli(kafka_bootstrap: str) -> Cli:
    """``cli("produce", topic, "--value", "x")`` -> :class:`Result`; ``cli.popen(...)`` for long runs.

    The subprocess talks to the session's Kafka through ``STREAMLINE_BOOTSTRAP_SERVERS``.
    """
    return Cli(kafka_bootstrap)
