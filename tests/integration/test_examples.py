"""examples/produce.py and examples/consume.py run as a user runs them, against the test broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    name: str, *args: str, bootstrap: str, dev_mode: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python examples/NAME ARGS`` with the broker in ``STREAMLINE_BOOTSTRAP_SERVERS``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    env["STREAMLINE_BOOTSTRAP_SERVERS"] = bootstrap
    python = [sys.executable, "-X", "dev"] if dev_mode else [sys.executable]
    return subprocess.run(
        [*python, str(EXAMPLES / name), *args],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_produce_then_consume_from_beginning(kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)

    default = run_example("produce.py", "--topic", topic, bootstrap=kafka_bootstrap)
    assert (default.returncode, default.stdout, default.stderr) == (0, "partition: 0, offset: 0\n", "")
    given = run_example("produce.py", "GET /index.html 200", "--topic", topic, bootstrap=kafka_bootstrap)
    assert (given.returncode, given.stdout) == (0, "partition: 0, offset: 1\n"), given.stderr

    consumed = run_example(
        "consume.py", "--topic", topic, "--from", "beginning", "--max", "1", bootstrap=kafka_bootstrap
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout == "Partition:0 Offset:0 Key: Value:this is a test log\n"

    both = run_example(
        "consume.py", "--topic", topic, "--from", "beginning", "--max", "2", bootstrap=kafka_bootstrap
    )
    assert both.returncode == 0, both.stderr
    assert both.stdout.splitlines() == [
        "Partition:0 Offset:0 Key: Value:this is a test log",
        "Partition:0 Offset:1 Key: Value:GET /index.html 200",
    ]


def test_produce_reports_an_unreachable_broker_in_one_line(unused_tcp_port: int) -> None:
    address = f"127.0.0.1:{unused_tcp_port}"
    result = run_example("produce.py", "--topic", "web_log", bootstrap=address)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [ln for ln in result.stderr.splitlines() if ln.startswith("produce.py: error:")] == [
        f"produce.py: error: cannot reach Kafka at {address}: connection failed (is a broker running there?)"
    ]


def test_consume_example_closes_its_connections(kafka_bootstrap: str, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert run_example("produce.py", "--topic", topic, bootstrap=kafka_bootstrap).returncode == 0
    consumed = run_example(
        "consume.py", "--topic", topic, "--from", "beginning", "--max", "1",
        bootstrap=kafka_bootstrap, dev_mode=True,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout == "Partition:0 Offset:0 Key: Value:this is a test log\n"
    assert "ResourceWarning" not in consumed.stderr, consumed.stderr
