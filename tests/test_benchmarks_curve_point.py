"""One tiny point of a benchmark curve against the embedded broker: the sweep machinery works.

No timing assertions: only that the point was measured, every message was read, and the
report has the PNG (or the reason there is none).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import curves  # noqa: E402
from benchmarks._support import Context, Sizes  # noqa: E402


@pytest.mark.timeout(300)  # a hang guard: one benchmark point, however loaded the machine
async def test_one_partitions_point(kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves.CurveSizes, "of", classmethod(
        lambda cls, scale: cls(partitions=(3,), partition_messages=600)))
    ctx = Context(bootstrap=kafka_bootstrap, broker="embedded", sizes=Sizes.smoke(), workdir=str(tmp_path),
                  smoke=True, log=lambda _: None)
    curve = curves.PartitionsCurve()
    curve.out_dir = tmp_path / "results"
    try:
        m = await curve.measure(ctx)
    finally:
        await ctx.drop_topics()
    assert set(m) == {"messages", "consume_3", "getmany_3", "loadavg_1m", "cpus"}
    assert all(math.isfinite(v) for v in m.values())
    assert m["consume_3"] > 0 and m["getmany_3"] > 0
    (row,) = curve.rows(m)
    assert row.baseline.startswith("P = 3: ")
    report = curve.extra_report(m)
    if curves.matplotlib_missing() is None:
        assert Path(report["png"]).is_file()
    else:
        assert "matplotlib not installed" in report["png_skipped"]
