"""A real Prometheus scrapes a running ``streamline ship``; its query API must see every line shipped.

Prometheus comes from Debian's ``prometheus`` package, unpacked by ``.ci/run`` into
``.ci-cache/prometheus`` (``apt-get download`` + ``dpkg -x``: no service installed or started),
or from PATH. Without it the test is skipped with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
from scraping import STREAMLINE, env_for, free_port, get, lines_in_topic, stop, value, wait_for

ROOT = Path(__file__).resolve().parents[2]


def prometheus_binary() -> str | None:
    unpacked = ROOT / ".ci-cache" / "prometheus" / "usr" / "bin" / "prometheus"
    if unpacked.is_file() and os.access(unpacked, os.X_OK):
        return str(unpacked)
    return shutil.which("prometheus")


def query(prometheus: str, expression: str) -> list[dict[str, object]]:
    status, body = get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expression)}")
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_scrapes_ship_and_counts_every_line(kafka_bootstrap, new_topic, tmp_path) -> None:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("no prometheus binary: .ci/run unpacks Debian's package when apt is usable, or put it on PATH")
    topic = new_topic(partitions=2)
    log = tmp_path / "access.log"
    total = 4_321
    log.write_bytes(b"".join(b"GET /item/%d 200\n" % i for i in range(total)))
    ship_port, prometheus_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: streamline-ship\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{ship_port}']\n"
    )
    ship = subprocess.Popen(
        [STREAMLINE, "ship", str(log), "--topic", topic, "--from", "beginning", "-q",
         "--checkpoints", str(tmp_path / "c"), "--metrics", f"127.0.0.1:{ship_port}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(kafka_bootstrap),
    )
    prometheus_log = open(tmp_path / "prometheus.log", "wb")
    server = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}", "--log.level=warn"],
        stdin=subprocess.DEVNULL, stdout=prometheus_log, stderr=prometheus_log, cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{prometheus_port}"
        wait_for(lambda: value(get(f"http://127.0.0.1:{ship_port}/metrics")[1],
                               "streamline_pipeline_delivered_total") == total, what="ship delivered every line")

        def scraped_total() -> float | None:
            result = query(url, 'streamline_pipeline_delivered_total{job="streamline-ship"}')
            return float(result[0]["value"][1]) if result else None  # type: ignore[index]

        wait_for(lambda: scraped_total() == total, deadline=120, what="Prometheus to scrape the final count")
        up = query(url, 'up{job="streamline-ship"}')
        assert up and float(up[0]["value"][1]) == 1  # type: ignore[index]
        lines = query(url, "streamline_follow_lines_total")
        assert float(lines[0]["value"][1]) == total  # type: ignore[index]
    finally:
        server.terminate()
        server.wait(timeout=60)
        prometheus_log.close()
        stop(ship)
    assert lines_in_topic(kafka_bootstrap, topic, total) == total
