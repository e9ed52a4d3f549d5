"""Stopping and failing as a user sees it: signals on a terminal and on pipes, closed pipes,
a broker that is not up yet, usage errors, the status line on a narrow terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

from streamline import EmbeddedBroker
from streamline._broker import free_port

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def clean_env(bootstrap: str | None) -> dict[str, str]:
    """This environment without stray ``STREAMLINE_*`` settings, pointed at ``bootstrap``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    if bootstrap is not None:
        env["STREAMLINE_BOOTSTRAP_SERVERS"] = bootstrap
    return env

NOISE = ("Traceback", "never retrieved", "Unclosed", "Fatal Python error", "Exception ignored")


async def _count(bootstrap: str, topic: str, at_least: int, timeout: float = 60.0) -> int:
    """Messages in ``topic`` once at least ``at_least`` arrived (or the deadline passed); each
    look is a fresh read from the beginning, so the count never includes a record twice."""
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < at_least and time.monotonic() < deadline:
        seen = await _count_once(bootstrap, topic, at_least, min(5.0, max(0.5, deadline - time.monotonic())))
    return seen


async def _count_once(bootstrap: str, topic: str, at_least: int, timeout: float) -> int:
    import asyncio

    from streamline import consume

    seen = 0
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        iterator = stream.batches().__aiter__()
        while seen < at_least and time.monotonic() < deadline:
            try:
                batch = await asyncio.wait_for(iterator.__anext__(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            seen += len(batch)
    return seen


def _read_pty(fd: int, until: bytes | None, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (until is None or until not in out):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    return out


def _spawn_on_terminal(args: list[str], env: dict[str, str], columns: int = 80) -> tuple[int, int]:
    """Run ``streamline args`` with a pseudo-terminal as its controlling terminal (so ^C
    written to it is a real SIGINT); returns (pid, terminal fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.execve(STREAMLINE, [STREAMLINE, *args], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    return pid, fd


def _exit_code(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"streamline did not exit within {timeout}s")


async def test_produce_from_an_open_pipe_stops_on_sigterm(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    proc = subprocess.Popen(
        [STREAMLINE, "produce", topic], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=clean_env(kafka_bootstrap),
    )
    assert proc.stdin is not None
    proc.stdin.write(b"".join(b"line %d\n" % i for i in range(500)))
    proc.stdin.flush()  # and the pipe stays open
    assert await _count(kafka_bootstrap, topic, 500) == 500
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    proc.stdin.close()
    assert proc.returncode == 0, err
    assert err.decode().strip() == f"produced 500 messages to {topic}"
    assert not [n for n in NOISE if n in err.decode()]


async def test_produce_from_a_terminal_stops_on_the_first_ctrl_c(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    pid, fd = _spawn_on_terminal(["produce", topic], clean_env(kafka_bootstrap))
    try:
        os.write(fd, b"typed one\ntyped two\n")
        assert await _count(kafka_bootstrap, topic, 2) == 2
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the foreground process
        output = _read_pty(fd, None, 60)
        code = _exit_code(pid, 60)
    finally:
        os.close(fd)
    text = output.decode(errors="replace")
    assert code == 0, text
    assert f"produced 2 messages to {topic}" in text
    assert not [n for n in NOISE if n in text], text


def test_consume_into_a_closed_pipe_exits_0_quietly(cli, new_topic) -> None:
    topic = new_topic(partitions=1)
    assert cli("produce", topic, input=b"".join(b"m%d\n" % i for i in range(20_000))).returncode == 0
    consumer = subprocess.Popen(
        [STREAMLINE, "consume", topic, "--from", "beginning"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=cli.env(),
    )
    head = subprocess.run(["head", "-1"], stdin=consumer.stdout, capture_output=True, timeout=60)
    assert consumer.stdout is not None
    consumer.stdout.close()  # only `head` held the reading end
    _, err = consumer.communicate(timeout=60)
    assert head.stdout.startswith(b"Partition:0 Offset:0")
    assert consumer.returncode == 0, err
    assert err == b""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-b", "http://localhost:9092", "topics", "list"], "has a scheme"),
        (["-b", "localhost", "topics", "list"], "HOST:PORT[,HOST:PORT...]"),
        (["ship", "x.log", "--topic", "t", "--key", "{field1"], "--key template '{field1' is not valid"),
        (["consume", "t", "--from", "1969-07-20T20:17:00Z"], "before 1970"),
        (["--log-level", "loud", "topics", "list"], "log level must be one of"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message) -> None:
    done = subprocess.run([STREAMLINE, *args], capture_output=True, env=clean_env("localhost:9"), timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert message in err and err.count("\n") == 1 and err.startswith("streamline: error: "), err


def test_an_unresolvable_host_is_named() -> None:
    done = subprocess.run(
        [STREAMLINE, "-b", "no-such-host.invalid:9092", "--connect-timeout", "5", "topics", "list"],
        capture_output=True, env=clean_env(None), timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "streamline: error: cannot reach Kafka at no-such-host.invalid:9092: "
        "cannot resolve host no-such-host.invalid (check the address)\n"
    )


def test_version() -> None:
    from streamline import __version__

    done = subprocess.run([STREAMLINE, "--version"], capture_output=True, env=clean_env(None), timeout=60)
    assert done.returncode == 0 and done.stdout.decode() == f"streamline {__version__}\n"


def test_run_honours_bootstrap_option(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    (tmp_path / "job.py").write_text(textwrap.dedent(f"""
        from streamline import Pipeline, Producer, to_topic

        async def values():
            for i in range(10):
                yield b"v%d" % i

        async def pipeline():
            async with Producer() as producer:  # no address: the CLI's -b must reach it
                yield Pipeline(values(), to=to_topic(producer, {topic!r}))
    """))
    done = subprocess.run(
        [STREAMLINE, "-b", kafka_bootstrap, "run", str(tmp_path / "job.py") + ":pipeline"],
        capture_output=True, env=clean_env(None), timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "10 delivered" in done.stderr.decode()


def _ship_args(bootstrap: str, log, tmp_path, topic: str) -> list[str]:
    return ["-b", bootstrap, "--connect-timeout", "1", "ship", str(log), "--topic", topic, "--from", "beginning",
            "--checkpoints", str(tmp_path / "ckpt")]


async def test_ship_started_before_the_broker_waits_for_it(tmp_path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    log = tmp_path / "app.log"
    log.write_bytes(b"".join(b"early %d\n" % i for i in range(100)))
    proc = subprocess.Popen(
        [STREAMLINE, "--log-format", "json", *_ship_args(bootstrap, log, tmp_path, "early"), "-q"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(None),
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()  # blocks until the first log line
    entry = json.loads(first)
    assert entry["level"] == "warning" and "ship waits and retries" in entry["message"], first
    async with EmbeddedBroker(port=port):
        assert await _count(bootstrap, "early", 100, timeout=120) == 100
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert b"shipped 100 lines" in rest
    assert not [n for n in NOISE if n in (first + rest.decode())]


def test_ship_status_line_fits_a_narrow_terminal_and_stops_on_a_signal(tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"x\n" * 10)
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing there: the status says so
    pid, fd = _spawn_on_terminal(_ship_args(bootstrap, log, tmp_path, "t"), clean_env(None), columns=40)
    try:
        before = _read_pty(fd, b"broker unreachable", 60)
        before += _read_pty(fd, b"\r", 5)
        os.kill(pid, signal.SIGTERM)
        after = _read_pty(fd, None, 60)
        code = _exit_code(pid, 60)
    finally:
        os.close(fd)
    assert code == 0, (before + after)
    drawn = [part for part in (before + after).decode(errors="replace").split("\r\x1b[K")[1:] if part]
    assert any("broker unreachable, retrying" in part for part in drawn), drawn
    status = [part.split("\r\n")[0] for part in drawn]  # a log line may follow on its own line
    assert all(len(part) <= 39 for part in status), status
    assert b"\x1b[K" not in after.split(b"streamline: stopped", 1)[-1]  # nothing redrawn after ^C
    assert b"nothing was shipped" in after


async def test_run_started_before_the_broker_waits_for_it(tmp_path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        from streamline import Pipeline, Producer, to_topic

        async def values():
            for i in range(5):
                yield b"v%d" % i

        async def pipeline():
            async with Producer() as producer:
                yield Pipeline(values(), to=to_topic(producer, "late"))
    """))
    proc = subprocess.Popen(
        [STREAMLINE, "-b", bootstrap, "--connect-timeout", "1", "run", str(tmp_path / "job.py") + ":pipeline"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(None), cwd=tmp_path,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline().decode()
    assert "run waits and retries until it answers" in first, first
    async with EmbeddedBroker(port=port):
        _, rest = proc.communicate(timeout=180)
    assert proc.returncode == 0, rest
    assert b"5 delivered" in rest
