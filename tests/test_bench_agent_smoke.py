"""benchmarks/bench_agent.py keeps working: a tiny run, every record read back (no timing asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(300)
def test_agent_benchmark_runs_and_reads_everything_back(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    result = subprocess.run(
        [sys.executable, "benchmarks/bench_agent.py", "--lines", "4000", "--rounds", "1",
         "--bootstrap", kafka_bootstrap, "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=280,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    for key in ("ship_lines_per_s", "agent_plain_lines_per_s", "agent_mixed_lines_per_s", "agent_mixed_vs_ship"):
        assert report[key] > 0, key
    # It says which inputs it could not configure as asked (and shipped them as plain inputs).
    for name in report["unconfigured_inputs"]:
        assert f"could not configure input {name!r}" in result.stdout
