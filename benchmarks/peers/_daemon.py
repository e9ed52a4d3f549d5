"""A log shipper daemon run in the foreground from a private directory, and what it costs."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far; 0.0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (1-based) -> 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Daemon:
    """``args`` started with ``env``; stderr goes to ``log``. Use as a context manager.

    ``may_exit``: exiting with status 0 is not a failure (``streamline ship --once``).
    """

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log: Path, may_exit: bool = False) -> None:
        self.name, self.args, self.env, self.log, self.may_exit = name, args, env, log, may_exit
        self.process: subprocess.Popen[bytes] | None = None
        self._children_cpu = 0.0

    def __enter__(self) -> Daemon:
        self._children_cpu = _children_cpu()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the benchmark reaches it through __exit__ only
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU seconds so far; once it exited (and was reaped), what the kernel accounted for it.

        The exited case reads this process's reaped-children total, so it assumes no other child
        was reaped since :meth:`__enter__` (true inside one case: the benchmark runs one at a time).
        """
        assert self.process is not None
        if self.process.poll() is None:
            return cpu_seconds(self.pid)
        return _children_cpu() - self._children_cpu

    def check_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None and not (code == 0 and self.may_exit):
            raise RuntimeError(f"{self.name} exited {code}: {self.tail()}")

    def tail(self, chars: int = 400) -> str:
        try:
            return self.log.read_text(errors="replace").strip()[-chars:] or "(no output)"
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

