"""Helpers for tests/metrics: run streamline, scrape an endpoint, parse it with prometheus_client's parser."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 60.0) -> tuple[int, str]:
    """``(status, body)`` of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of an exposition: ``{name: {sorted labels: value}}`` (parsed, so the format is checked)."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    series = samples(text).get(name, {})
    return series.get(tuple(sorted(labels.items())))


def wait_for(condition: Callable[[], object], deadline: float = 90.0, what: str = "condition") -> object:
    """Poll ``condition`` until truthy; fail after a generous deadline (never a timing assertion)."""
    end = time.monotonic() + deadline
    last: object = None
    while time.monotonic() < end:
        try:
            last = condition()
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")



def env_for(bootstrap: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    return env | {"STREAMLINE_BOOTSTRAP_SERVERS": bootstrap} | extra


def lines_in_topic(bootstrap: str, topic: str, expected: int) -> int:
    """Read the whole topic (asking for one more than expected, so extra lines would show)."""
    done = subprocess.run(
        [STREAMLINE, "consume", topic, "--from", "beginning", "--max", str(expected + 1), "--timeout", "10",
         "--format", "json"],
        capture_output=True, env=env_for(bootstrap), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return len([json.loads(line) for line in done.stdout.decode().splitlines()])


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err.decode()
