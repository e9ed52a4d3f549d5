"""Benchmark curves: sizes, points, rows, and the PNG files (or why there are none)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import curves  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FILES = {"lines": 1000.0, "startup_seconds": 0.2, "loadavg_1m": 3.5, "cpus": 2.0, "lines_per_s_1": 700_000.0, "lines_per_s_100": 650_000.0,
         "lines_per_s_2000": 400_000.0, "idle_cpu_percent_1": 0.1, "idle_cpu_percent_100": 0.3,
         "idle_cpu_percent_2000": 2.5, "idle_rss_mb_1": 30.0, "idle_rss_mb_100": 31.0, "idle_rss_mb_2000": 45.0}
PARTITIONS = {"messages": 1000.0, "consume_1": 500_000.0, "getmany_1": 520_000.0, "consume_4": 600_000.0,
              "getmany_4": 600_000.0, "consume_64": 300_000.0, "getmany_64": 250_000.0}
RATES = {"seconds": 3.0, **{f"{s}_{r}": v * r / 1000 for r in (1_000, 10_000, 100_000)
                            for s, v in (("p50_ms", 5.0), ("p90_ms", 8.0), ("p99_ms", 12.0), ("max_ms", 20.0))}}


def test_sizes_per_scale_keep_the_issue_points() -> None:
    quick, full = curves.CurveSizes.of("quick"), curves.CurveSizes.of("full")
    for sizes in (quick, full):
        assert sizes.files == (1, 100, 2_000)
        assert sizes.partitions == (1, 4, 64)
        assert sizes.rates == (1_000, 10_000, 100_000)
    assert quick.file_lines < full.file_lines and quick.rate_seconds < full.rate_seconds
    assert len(curves.CurveSizes.of("smoke").files) < 3


def test_points_are_read_back_by_x_in_numeric_order() -> None:
    curve = curves.FilesCurve()
    assert curve.points(FILES, "lines_per_s_") == [(1, 700_000.0), (100, 650_000.0), (2000, 400_000.0)]
    assert curve.points(RATES, "p99_ms_") == [(1_000, 12.0), (10_000, 120.0), (100_000, 1200.0)]


def test_rows_list_every_point() -> None:
    speed, idle = curves.FilesCurve().rows(FILES)
    assert speed.baseline == "N = 1 / 100 / 2,000"
    assert speed.streamline == "700,000 lines/s / 650,000 lines/s / 400,000 lines/s"
    assert idle.streamline == "0.10%, 30 MB / 0.30%, 31 MB / 2.50%, 45 MB"
    (row,) = curves.PartitionsCurve().rows(PARTITIONS)
    assert row.ratio == "0.96x / 1.00x / 1.20x"
    row, cost = curves.RatesCurve().rows({**RATES, "write_seconds_1000": 3.1, "ship_cpu_seconds_1000": 0.5,
                                          "produced_p50_ms_1000": 2.0, "produced_p99_ms_1000": 9.0})
    assert row.streamline.split(" | ")[0] == "5.0 / 12.0 / 20.0 ms"
    assert cost.streamline.split(" | ")[0] == "2.0 / 9.0 ms, 3.1 s, 0.5 CPU s"
    assert cost.streamline.split(" | ")[1] == "nan / nan ms, nan s, nan CPU s"  # not measured: no crash


def test_without_matplotlib_no_png_and_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    curve = curves.RatesCurve()
    curve.out_dir = tmp_path
    report = curve.extra_report(RATES)
    assert report == {"png_skipped": "matplotlib not installed (pip install -e '.[bench]')"}
    assert not list(tmp_path.iterdir())
    assert "PNG skipped: matplotlib not installed" in curve.rows(RATES)[0].what


@pytest.mark.parametrize(("curve", "medians"), [
    (curves.FilesCurve(), FILES), (curves.PartitionsCurve(), PARTITIONS), (curves.RatesCurve(), RATES),
])
def test_each_curve_draws_a_png_next_to_the_results(curve: curves.Curve, medians: dict[str, float],
                                                    tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the bench extra draws the curves")
    curve.out_dir = tmp_path / "results"
    report = curve.extra_report(medians)
    png = Path(report["png"])
    assert png == tmp_path / "results" / curve.PNG
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5_000
