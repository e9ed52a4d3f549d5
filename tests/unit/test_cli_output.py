"""What the CLI prints besides data: the status line and log lines (no broker needed)."""

import io
import json
import logging

import anyio

from streamline import PipelineStats
from streamline.cli._logging import Condense, JsonFormatter, TextFormatter
from streamline.cli._pipelines import StatusLine, fit, plural


def _record(msg: str, name: str = "aiokafka.conn", level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_the_library_logger_has_a_null_handler() -> None:
    import streamline  # noqa: F401

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("streamline").handlers)


def test_repeated_messages_pass_once_per_interval_then_say_how_many_were_held() -> None:
    condense = Condense(interval=3600)
    shown = [condense.filter(_record("Unable connect to node with id %s")) for _ in range(400)]
    assert shown.count(True) == 1
    assert condense.filter(_record("another message"))  # a different message is not held back
    condense.interval = 0  # the interval is over: the next one passes and counts the others
    later = _record("Unable connect to node with id %s")
    assert condense.filter(later)
    assert "repeated 399 more times" in str(later.msg)


def test_text_and_json_log_formats() -> None:
    assert TextFormatter().format(_record("broker gone")) == "streamline: warning: aiokafka: broker gone"
    assert TextFormatter().format(_record("retrying", "streamline.pipeline", logging.INFO)) == "streamline: retrying"
    entry = json.loads(JsonFormatter().format(_record("broker gone")))
    assert entry["level"] == "warning" and entry["logger"] == "aiokafka.conn" and entry["message"] == "broker gone"
    assert entry["time"].endswith("Z")


def test_fit_never_reaches_the_last_column() -> None:
    assert fit("short", 80) == "short"
    cut = fit("x" * 100, 40)
    assert len(cut) == 39 and cut.endswith("…")


def test_plurals() -> None:
    assert [plural(n, "file") for n in (0, 1, 3, 1000)] == ["0 files", "1 file", "3 files", "1,000 files"]


class _Pipeline:
    def __init__(self) -> None:
        self.stats = PipelineStats()


class _Follower:
    class stats:  # noqa: N801 - stands in for FollowerStats
        files = 0  # all closed (shipped with --once)
        files_opened = 3
        bytes_behind = 0

    checkpoints = None


async def test_status_says_the_broker_is_unreachable_and_counts_files_followed() -> None:
    pipeline = _Pipeline()
    pipeline.stats.retrying_since = anyio.current_time() - 12
    pipeline.stats.delivery_retries = 1
    line = StatusLine(_Follower(), stream=io.StringIO()).render(pipeline)
    assert line.startswith("broker unreachable, retrying 12s")
    assert "3 files" in line and "1 retry" in line


def test_status_is_not_redrawn_after_a_signal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    status = StatusLine(stream=out)
    pipeline = _Pipeline()
    status(pipeline)
    status.stop_drawing()
    drawn = out.getvalue()
    status(pipeline)
    status.finish()
    assert out.getvalue() == drawn and drawn.endswith("\n")


def test_status_asks_for_ticks_in_quiet_spells_only_as_often_as_it_shows_something(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert StatusLine(stream=Terminal()).quiet_interval(1.0) == 1.0  # redrawn every tick
    log = io.StringIO()
    status = StatusLine(stream=log, log_every=10.0)
    assert status.quiet_interval(1.0) == 10.0  # one tick per log line
    assert StatusLine(stream=io.StringIO(), log_every=0.1).quiet_interval(1.0) == 1.0
    # A quiet tick comes log_every after the tick that logged, which ran a moment late: it logs.
    clock = [1000.0]
    monkeypatch.setattr("streamline.cli._pipelines.time.monotonic", lambda: clock[0])
    pipeline = _Pipeline()
    status(pipeline)
    clock[0] += 10.0 - 0.02
    status(pipeline)
    clock[0] += 5.0  # half way: nothing
    status(pipeline)
    assert log.getvalue().count("streamline: ") == 2
