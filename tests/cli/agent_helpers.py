"""Running ``streamline agent`` as a user would: write a config, start it, watch its log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from cliresults import STREAMLINE, clean_env


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def agent_toml(checkpoints: Path, inputs: Sequence[dict[str, object]], extra: str = "") -> str:
    """A config file: top-level settings, then one ``[[inputs]]`` table per dict."""
    text = f"checkpoints = {toml_value(str(checkpoints))}\n{extra}\n"
    for spec in inputs:
        text += "\n[[inputs]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in spec.items())
    return text


class RunningAgent:
    """A ``streamline agent`` process whose stderr goes to a file the test reads."""

    def __init__(self, bootstrap: str, config: Path, *args: str, log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [STREAMLINE, "agent", "--config", str(config), *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=clean_env(bootstrap),
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, needle: str, count: int = 1, timeout: float = 90.0) -> str:
        """Wait until ``needle`` appears ``count`` times in the log (a condition, not a sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if text.count(needle) >= count:
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited {self.proc.returncode} before {needle!r}:\n{text}")
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} x{count} not in the agent's log after {timeout}s:\n{self.text()}")

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(60)


def read_values(bootstrap: str, topic: str, expect_unique: int, timeout: float = 90.0) -> list[bytes]:
    """Every value in ``topic`` once ``expect_unique`` distinct ones arrived (duplicates kept)."""
    from shipping import read_topic

    seen = asyncio.run(read_topic(bootstrap, topic, expect_unique, timeout))
    return list(seen.elements())


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


def saved_positions(checkpoint_dir: Path) -> dict[str, int]:
    """``{path: position}`` of a checkpoint directory."""
    import json

    data = json.loads((checkpoint_dir / "checkpoints.json").read_text())
    files = data.get("files", data)
    result: dict[str, int] = {}
    for record in files.values() if isinstance(files, dict) else files:
        if isinstance(record, dict) and "path" in record:
            result[os.path.basename(record["path"])] = int(record.get("position", record.get("offset", 0)))
    return result
