"""``streamline follow`` run as a user runs it: the installed command, as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([STREAMLINE, *args], capture_output=True, timeout=timeout)


def read_until(process: subprocess.Popen[bytes], count: int, timeout: float = 60) -> list[bytes]:
    lines: list[bytes] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while len(lines) < count and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip(b"\n"))
    return lines


def test_prints_appended_lines_like_tail_f_and_exits_0_on_ctrl_c(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old\n")
    process = subprocess.Popen(
        [STREAMLINE, "follow", str(log), "--from", "beginning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert read_until(process, 1, timeout=60) == [b"old"]  # started: what follows is appended
        with open(log, "ab") as file:
            file.write(b"new 1\nnew \xff 2\r\n")
        assert read_until(process, 2) == [b"new 1", b"new \xff 2"]
        os.rename(log, tmp_path / "access.log.1")
        log.write_bytes(b"rotated\n")
        assert read_until(process, 1) == [b"rotated"]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0
    assert b"Traceback" not in err


def test_from_beginning_once(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    result = run("follow", str(log), "--from", "beginning", "--once")
    assert (result.returncode, result.stdout) == (0, b"one\ntwo\n")


def test_checkpoints_resume(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    cp = str(tmp_path / "cp")
    assert run("follow", str(log), "--from", "beginning", "--once", "--checkpoints", cp).stdout == b"one\ntwo\n"
    with open(log, "ab") as file:
        file.write(b"three\n")
    result = run("follow", str(log), "--from", "beginning", "--once", "--checkpoints", cp)
    assert (result.returncode, result.stdout) == (0, b"three\n")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--must-exist"], b"No such file"),
        ([], b"Is a directory"),
    ],
)
def test_one_line_errors(tmp_path: Path, args: list[str], message: bytes) -> None:
    target = tmp_path / "missing.log" if args else tmp_path
    result = run("follow", str(target), *args)
    assert result.returncode == 1
    assert result.stderr.startswith(b"streamline: error: ") and message in result.stderr
    assert result.stderr.count(b"\n") == 1


def test_corrupt_checkpoint_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "checkpoints.json").write_text("garbage")
    log = tmp_path / "a.log"
    log.write_text("x\n")
    result = run("follow", str(log), "--checkpoints", str(tmp_path / "cp"))
    assert result.returncode == 1
    assert str(tmp_path / "cp" / "checkpoints.json").encode() in result.stderr


def test_bad_from_value_is_a_usage_error(tmp_path: Path) -> None:
    result = run("follow", str(tmp_path / "a.log"), "--from", "middle")
    assert result.returncode == 2 and b"streamline: error:" in result.stderr
