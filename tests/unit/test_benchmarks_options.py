"""``python -m benchmarks`` options: --peers, --curves, --quick/--full, case groups, the JSON report."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import __main__ as bench  # noqa: E402
from benchmarks import options  # noqa: E402
from benchmarks._support import Context, Row, Sizes  # noqa: E402

DEFAULT = ["produce", "consume", "ship", "latency", "cli"]  # a few of the default cases, in order


@pytest.fixture(autouse=True)
def reset_scale() -> Iterator[None]:
    yield
    for case in options.EXTRA_CASES.values():
        case.scale = "quick"


def test_the_extra_cases_are_not_run_by_default() -> None:
    args = bench.parse_args([])
    assert not set(args.cases) & set(options.EXTRA_CASES)
    assert [c for c in args.cases if c in DEFAULT] == DEFAULT
    assert args.scale == "quick"


def test_peers_adds_the_peer_cases_after_the_chosen_ones() -> None:
    args = bench.parse_args(["--case", "ship", "--peers"])
    assert args.cases == ["ship", "peers_ship", "peers_latency", "peers_clients"]


def test_curves_adds_the_curve_cases() -> None:
    args = bench.parse_args(["--case", "consume", "--curves"])
    assert args.cases == ["consume", "curve_files", "curve_partitions", "curve_rates"]


def test_group_names_expand_and_each_case_runs_once() -> None:
    args = bench.parse_args(["--case", "peers,peers_ship,curve_rates", "--curves"])
    assert args.cases == ["peers_ship", "peers_latency", "peers_clients", "curve_rates", "curve_files",
                          "curve_partitions"]


def test_expand_keeps_unknown_names_for_the_caller_to_reject() -> None:
    assert options.expand(["nope", "peers"], peers=False, curves=False) == ["nope", *options.PEERS]


def test_an_unknown_case_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        bench.parse_args(["--case", "peers,rsyslog"])
    assert exited.value.code == 2
    assert "unknown case 'rsyslog'" in capsys.readouterr().err


def test_quick_and_full_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--peers", "--quick", "--full"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_full_sets_the_scale_of_every_extra_case_and_pngs_go_next_to_the_json(tmp_path: Path) -> None:
    args = bench.parse_args(["--case", "curves", "--full", "--json", str(tmp_path / "out" / "r.json")])
    assert args.scale == "full"
    for case in options.EXTRA_CASES.values():
        assert case.scale == "full"
    for name in options.CURVES:
        assert options.EXTRA_CASES[name].out_dir == tmp_path / "out"


class _Case:
    NAME = "fake"
    MAX_RUNS = 2

    def __init__(self, extra: bool) -> None:
        self.values = iter([1.0, 3.0, 2.0])
        self.extra = extra
        if extra:
            self.extra_report = lambda m: {"skipped": {"peer": "why"}, "seen": dict(m)}

    async def measure(self, ctx: Context) -> dict[str, float]:
        return {"x": next(self.values)}

    def rows(self, m: dict[str, float]) -> list[Row]:
        return [Row(self.NAME, "what", "b", "s", f"{m['x']}", "reference", "info")]


def _ctx(tmp_path: Path) -> Context:
    return Context(bootstrap="127.0.0.1:1", broker="none", sizes=Sizes.smoke(), workdir=str(tmp_path), smoke=True,
                   log=lambda _: None)


async def test_run_case_adds_what_a_case_reports_beyond_its_numbers(tmp_path: Path) -> None:
    report: dict[str, Any] = await bench.run_case(_Case(extra=True), _ctx(tmp_path), runs=3)
    assert report["runs"] == [{"x": 1.0}, {"x": 3.0}]  # MAX_RUNS caps --runs
    assert report["median"] == {"x": 2.0}
    assert report["skipped"] == {"peer": "why"}
    assert report["seen"] == {"x": 2.0}  # given the medians
    assert report["rows"][0]["ratio"] == "2.0"


async def test_run_case_without_extras_reports_the_usual_keys(tmp_path: Path) -> None:
    report = await bench.run_case(_Case(extra=False), _ctx(tmp_path), runs=1)
    assert set(report) == {"runs", "median", "rows"}
