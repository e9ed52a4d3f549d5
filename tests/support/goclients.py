"""Running the clients a streamline user mixes it with: the installed ``streamline`` CLI and the
tutorial's Go programs (examples/go, sarama). The fixtures live in tests/interop/conftest.py."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: The console script pip installed next to this interpreter.
STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")
GO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "go"
DEBIAN_GOCODE = "/usr/share/gocode"  # where golang-github-shopify-sarama-dev installs sarama
SARAMA = "src/github.com/Shopify/sarama"


def streamline(bootstrap: str, *args: str, input: str | None = None, timeout: float = 120) -> str:
    """Run the installed ``streamline`` CLI; return its stdout (a failure shows stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    done = subprocess.run(
        [STREAMLINE, "-b", bootstrap, *args], input=input, capture_output=True, text=True, env=env, timeout=timeout
    )
    assert done.returncode == 0, f"streamline {' '.join(args)} -> {done.returncode}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class GoPrograms:
    """The tutorial's two Go programs, built once per session."""

    producer: str
    consumer: str


def gopath_with_sarama() -> list[str] | None:
    """GOPATH entries holding sarama: the user's GOPATH, then Debian's."""
    entries = [p for p in os.environ.get("GOPATH", "").split(os.pathsep) if p] + [DEBIAN_GOCODE]
    if any(Path(entry, SARAMA).is_dir() for entry in entries):
        return entries
    return None


_SENT = re.compile(r"pid:(\d+) offset:(\d+)")


def go_produce(programs: GoPrograms, bootstrap: str, topic: str, value: str, *extra: str) -> tuple[int, int]:
    """Run the Go producer once; return the ``(partition, offset)`` it printed."""
    done = subprocess.run(
        [programs.producer, "-brokers", bootstrap, "-topic", topic, "-value", value, *extra],
        capture_output=True, text=True, timeout=120,
    )
    match = _SENT.fullmatch(done.stdout.strip())
    assert done.returncode == 0 and match, f"Go producer -> {done.returncode}: {done.stdout}{done.stderr}"
    return int(match[1]), int(match[2])


class GoConsumer:
    """The Go consumer as a subprocess; its stdout lines arrive on a queue read by a thread."""

    READY = "consuming "

    def __init__(self, programs: GoPrograms, bootstrap: str, topic: str) -> None:
        self.process = subprocess.Popen(
            [programs.consumer, "-brokers", bootstrap, "-topic", topic],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, done: Callable[[list[str]], bool], timeout: float = 120) -> list[str]:
        """Collect lines until ``done(lines so far)``; fail at the deadline or if the program exits."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"Go consumer: timed out; it printed {self.seen}"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"Go consumer exited ({self.process.wait()}); it printed {self.seen}"
            self.seen.append(line)
        return self.seen

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._pump_thread.join(30)  # it stops at the pipe's end of file
        assert self.process.stdout is not None
        self.process.stdout.close()


