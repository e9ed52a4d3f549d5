"""``streamline ship`` command lines read without typer (``cli/_fast.read_command``).

A following ``ship`` should not keep typer, click and their imports in memory (issue 18), so a
plain ship command line is read from the option table stored with the help texts. It must mean
exactly what typer makes of it: every line below is run both ways, in process, up to the point
where ``ship`` would start, and what ``ship`` receives (its arguments, the resolved connection
settings, the logging set-up) must be equal. Lines the fast reader does not take (``--``, a
repeated option, an out-of-range value, ...) go to typer, which answers as before.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import pytest

from streamline.cli import _fast, _shiprun

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")

READ_BY_BOTH = [
    ["ship", "a.log", "--topic", "t"],
    ["ship", "a.log", "b.log", "-t", "t", "--once", "-q"],
    ["-b", "h1:9092", "ship", "a.log", "--topic=t", "--from", "beginning", "--checkpoints", "cp"],
    ["--bootstrap-servers=h1:9092,h2:9092", "--connect-timeout", " 2.5 ", "ship", "a.log", "-t", "t"],
    ["ship", "a.log", "-t", "t", "-b", "h2:9092", "--log-level", "info", "--log-format", "json"],
    ["--log-level", "error", "ship", "a.log", "-t", "t", "--log-level", "debug"],
    ["-b", "h1:9092", "ship", "-t", "t", "a.log", "-b", "h3:9092", "b.log"],
    ["ship", "a.log", "-t", "{name}", "-k", "{hostname}", "--acks", "1", "--compression", "gzip"],
    ["ship", "a.log", "-t", "t", "--grace", "0.1", "--status-every", "1e1", "--max-message-bytes", "1_048_576"],
    ["ship", "a.log", "-t", "t", "--max-line-bytes", "100", "--long-lines", "skip", "--rotate-wait", "0"],
    ["ship", "a.log", "-t", "t", "--linger", "0.02"],
    ["ship", "a.log", "-t", "t", "--exclude", "*.gz", "--exclude", "x.log", "--must-exist", "--strict-checkpoints"],
    ["ship", "a.log", "-t", "t", "--multiline", "^\\s", "--multiline-negate", "--multiline-match", "before",
     "--multiline-timeout", "0.5", "--multiline-max-lines", "7"],
    ["ship", "a.log", "-t", "t", "--parser", "regex", "--regex", "(?P<x>.)", "--on-invalid", "skip"],
    ["ship", "a.log", "-t", "t", "--header", "host", "--header", "K=V", "--envelope", "--metrics", "9100"],
    ["--security-protocol", "SASL_PLAINTEXT", "--sasl-mechanism", "PLAIN", "--sasl-username", "u",
     "--sasl-password", "p", "ship", "a.log", "-t", "t"],
    ["ship", "a.log", "-t", "t", "--acks", "nonsense", "--from", "middle"],  # checked by ship itself
    ["-b", "ship", "ship", "a.log", "-t", "t"],  # the first "ship" is -b's value
]

ENVIRONMENTS = [
    {},
    {"STREAMLINE_BOOTSTRAP_SERVERS": "env:9092", "STREAMLINE_LOG_LEVEL": "warning", "STREAMLINE_METRICS": "9200"},
    {"STREAMLINE_CONNECT_TIMEOUT": "7", "STREAMLINE_LOG_FORMAT": "json", "STREAMLINE_SASL_USERNAME": "envuser",
     "STREAMLINE_SASL_PASSWORD": "envpass"},
]

DECLINED = [
    ["ship", "a.log"],  # --topic missing: typer says so
    ["ship", "--topic", "t"],  # no PATH
    ["ship", "a.log", "-t", "t", "-t", "u"],  # repeated
    ["ship", "a.log", "-t", "t", "--grace", "0"],  # below its minimum
    ["ship", "a.log", "-t", "t", "--linger", "-0.001"],  # below its minimum
    ["ship", "a.log", "-t", "t", "--grace", "soon"],
    ["ship", "a.log", "-t", "t", "--once=yes"],
    ["ship", "a.log", "-qt", "t"],
    ["ship", "a.log", "-t", "t", "--tpoic", "u"],
    ["ship", "-t", "t", "--", "a.log"],
    ["ship", "a.log", "-t", "-x"],
    ["ship", "a.log", "-t", "t", "--help"],
    ["--version", "ship", "a.log", "-t", "t"],
    ["produce", "t", "--value", "x"],
    ["ship", "-", "-t", "t"],
]


class Called(Exception):
    """Raised by the stand-in for ``ship``: what it was called with, and nothing started."""


def _capture(connection: Any, paths: list[str], topic: str, **options: Any) -> None:
    logger = logging.getLogger("streamline")
    handlers = [(type(h).__name__, type(h.formatter).__name__, h.level) for h in logging.getLogger().handlers]
    try:
        settings: Any = connection()
    except Exception as exc:  # the error itself is compared
        settings = (type(exc).__name__, str(exc))
    raise Called((list(paths), topic, options, settings, logger.getEffectiveLevel(), handlers))


def _by_typer(argv: list[str]) -> Any:
    from streamline.cli import _ship  # registers the command
    from streamline.cli._helpgen import root_command

    try:
        root_command().main(args=argv, prog_name="streamline", standalone_mode=False)
    except Called as called:
        return called.args[0]
    raise AssertionError(f"typer did not call ship for {argv}: {_ship}")


def _by_fast_reader(argv: list[str]) -> Any:
    line = _fast.read_command(argv)
    assert line is not None, f"the fast reader declined {argv}"
    try:
        _fast._invoke(line)
    except Called as called:
        return called.args[0]
    raise AssertionError(f"the fast reader did not call ship for {argv}")


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamline.cli import _ship

    monkeypatch.setattr(_shiprun, "ship", _capture)
    monkeypatch.setattr(_ship, "ship", _capture)
    for name in list(os.environ):
        if name.startswith("STREAMLINE_") or name == "_STREAMLINE_COMPLETE":
            monkeypatch.delenv(name)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("streamline").level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("streamline").setLevel(saved[2])


def test_the_stored_options_are_current() -> None:
    from streamline.cli._helpgen import parameters
    from streamline.cli._helptexts import FINGERPRINT, PARAMS, TYPER

    assert FINGERPRINT == _fast.fingerprint(), "run python -m streamline.cli._helpgen"
    assert "ship" in PARAMS
    if TYPER != _fast.typer_fingerprint():  # the table is what our sources declare; typer may word it anew
        pytest.skip("another typer than the table was read with: run python -m streamline.cli._helpgen")
    assert parameters() == PARAMS


def test_another_typer_release_still_reads_ship_without_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A new typer release (CI installs the newest) must neither fail the stored-text checks nor
    # send `ship` through typer: the option table depends on our sources only.
    monkeypatch.setattr(_fast, "typer_fingerprint", lambda: "00000000")
    line = _fast.read_command(["ship", "/var/log/app.log", "--topic", "logs"])
    assert line is not None and line.command == "ship"
    monkeypatch.setattr(_fast, "fingerprint", lambda: "00000000")  # an edit since: typer reads it
    assert _fast.read_command(["ship", "/var/log/app.log", "--topic", "logs"]) is None


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=["no-env", "env-a", "env-b"])
@pytest.mark.parametrize("argv", READ_BY_BOTH, ids=lambda a: " ".join(a)[:60])
def test_the_fast_reader_means_what_typer_means(
    stand_in: None, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _by_fast_reader(argv) == _by_typer(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a)[:60])
def test_anything_else_is_left_to_typer(stand_in: None, argv: list[str]) -> None:
    assert _fast.read_command(argv) is None


def test_an_empty_variable_is_left_to_typer(stand_in: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMLINE_LOG_LEVEL", "")
    assert _fast.read_command(["ship", "a.log", "-t", "t"]) is None
    monkeypatch.setenv("STREAMLINE_LOG_LEVEL", "info")
    monkeypatch.setenv("STREAMLINE_CONNECT_TIMEOUT", "soon")
    assert _fast.read_command(["ship", "a.log", "-t", "t"]) is None


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    return subprocess.run([STREAMLINE, *args], capture_output=True, text=True, env={**clean, **(env or {})},
                          stdin=subprocess.DEVNULL, timeout=60)


@pytest.mark.parametrize(
    "args",
    [
        ("--topic", "bad topic!"),
        ("--topic", "t", "--from", "middle"),
        ("--topic", "t", "--must-exist"),
        ("--topic", "t", "--log-level", "loud"),
        ("--topic", "t", "--parser", "regex"),
        ("--topic", "t", "--metrics", "not-a-port"),
        ("--topic", "t", "--acks", "2", "--header", "=v"),
    ],
)
def test_errors_read_the_same_both_ways(tmp_path: Any, args: tuple[str, ...]) -> None:
    # `--` before the path: the same command line for click, declined by the fast reader.
    missing = str(tmp_path / "missing.log")
    fast = _run("-b", "127.0.0.1:1", "ship", missing, *args)
    typer_read = _run("-b", "127.0.0.1:1", "ship", *args, "--", missing)
    assert (fast.returncode, fast.stderr, fast.stdout) == (typer_read.returncode, typer_read.stderr, typer_read.stdout)
    assert fast.returncode == 2 and fast.stderr.startswith("streamline: error: "), fast.stderr
    assert len(fast.stderr.splitlines()) == 1, fast.stderr
