"""The live status lines of ship and agent show events the parser refused (on_invalid send or
skip), next to the follower's figures."""

from __future__ import annotations

import io
from pathlib import Path

from streamline import Producer
from streamline._ingest import InputSpec, Parser, build_input
from streamline._pipeline.stats import PipelineStats
from streamline.cli._agent import AgentStatus
from streamline.cli._pipelines import StatusLine


class _Origin:
    path = "/var/log/app.log"

    def __init__(self, count: int) -> None:
        self._offsets = [i * 10 for i in range(count)]

    def line_offsets(self) -> list[int]:
        return self._offsets


class _Batch:
    def __init__(self, values: list[bytes]) -> None:
        self.values = values
        self.origin = _Origin(len(values))


class _Pipeline:
    def __init__(self) -> None:
        self.stats = PipelineStats()


def built_with_failures(tmp_path: Path, on_invalid: str, bad: int):
    spec = InputSpec("app", (str(tmp_path / "app.log"),), "logs", parser=Parser("json", on_invalid=on_invalid))  # type: ignore[arg-type]
    built = build_input(spec, producer=Producer("127.0.0.1:1"), checkpoints_dir=str(tmp_path / "cp"))
    assert built.records is not None
    lines = [b'{"ok": 1}'] * 5 + [b"not json"] * bad
    built.records.items(_Batch(lines))
    return built


def test_ship_status_line_counts_events_that_did_not_parse(tmp_path: Path) -> None:
    built = built_with_failures(tmp_path, "skip", 2)
    line = StatusLine(built, stream=io.StringIO()).render(_Pipeline())
    assert "2 events did not parse, 2 skipped" in line.split(" | ")
    assert "0 files" in line  # the follower's figures are still there
    sent = built_with_failures(tmp_path, "send", 1)
    assert "1 event did not parse" in StatusLine(sent, stream=io.StringIO()).render(_Pipeline()).split(" | ")
    clean = built_with_failures(tmp_path, "send", 0)
    assert "did not parse" not in StatusLine(clean, stream=io.StringIO()).render(_Pipeline())


def test_agent_status_line_counts_them_per_input(tmp_path: Path) -> None:
    out = io.StringIO()  # not a terminal: one log line per input
    status = AgentStatus(stream=out)
    status("app", built_with_failures(tmp_path, "skip", 3), _Pipeline())
    [line] = out.getvalue().splitlines()
    assert line.startswith("streamline: app: ") and line.endswith("| 3 events did not parse, 3 skipped")
