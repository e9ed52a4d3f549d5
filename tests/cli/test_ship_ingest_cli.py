"""`streamline ship`'s multiline, parser and metadata flags: every mistake is one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--multiline", "("], "multiline pattern '(' is not a valid regex"),
        (["--multiline", "indented", "--multiline-negate"], "--multiline indented is a preset"),
        (["--multiline", "^x", "--multiline-match", "sideways"], "--multiline-match must be one of after, before"),
        (["--multiline-negate"], "--multiline-negate and --multiline-match need --multiline"),
        (["--parser", "xml"], "--parser must be one of json, regex, cri, docker"),
        (["--parser", "regex"], "--regex PATTERN goes with --parser regex"),
        (["--parser", "regex", "--regex", r"\S+"], "has no named group"),
        (["--parser", "regex", "--regex", "(?P<a>"], "is not valid"),
        (["--regex", "(?P<a>x)"], "--regex needs --parser regex"),
        (["--parser", "json", "--on-invalid", "explode"], "--on-invalid must be one of send, skip, stop"),
        (["--header", "pid"], "--header 'pid': use host, path, offset, input, stream or a static field K=V"),
        (["--header", "=v"], "a static field needs a name"),
        (["--topic", "logs-{field1}"], "--topic template has unknown placeholder {field1}"),
        (["--topic", "bad topic-{name}"], "invalid topic name"),
    ],
)
def test_bad_ingest_flags_are_one_line_and_exit_2(args: list[str], fragment: str, tmp_path) -> None:
    log = tmp_path / "a.log"
    log.write_text("x\n")
    topic = [] if "--topic" in args else ["--topic", "t"]
    done = subprocess.run(
        [STREAMLINE, "-b", "127.0.0.1:1", "ship", str(log), *topic, *args, "--once", "--checkpoints", str(tmp_path / "c")],
        capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    err = done.stderr.decode()
    assert done.returncode == 2, (args, err)
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1, err
