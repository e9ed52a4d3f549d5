"""Bad input without a broker: odd bytes in files, files that are not files, unreadable files,
invalid option values, and brokers that do not resolve or do not answer.

The promise every time: a typed exception (library) or one ``streamline: error:`` line and a
non-zero exit (CLI), no traceback, no hang past the configured timeout, nothing accepted lost.
docs/reliability.md maps each kind of bad input to the test that covers it (here or elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streamline import (
    Admin,
    BrokerUnavailableError,
    ConfigurationError,
    ConnectionConfig,
    Producer,
    StreamlineError,
    consume,
    follow,
)
from streamline._follow import LineTooLongError

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")
UNRESOLVABLE = "nonexistent.invalid:9092"  # .invalid never resolves (RFC 6761)

# Root ignores file permissions; dropping the two DAC capabilities makes a mode-000 file unreadable.
HANG_GUARD = 120.0  # seconds: only a real hang reaches it; a loaded machine only makes runs slower

DROP_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


def unprivileged(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be denied")
    return [*DROP_DAC, "--", *argv]


def run_cli(*args: str, timeout: float = HANG_GUARD, privileged: bool = True) -> tuple[int, str, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    argv = [STREAMLINE, *args]
    started = time.monotonic()
    proc = subprocess.run(
        argv if privileged else unprivileged(argv),
        capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=timeout,
    )
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"), time.monotonic() - started


def one_error_line(code: int, out: str, err: str, expected_code: int) -> str:
    assert code == expected_code, (code, out, err)
    assert "Traceback" not in out + err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("streamline: error: "), err
    return lines[0]


async def read_all(path: Path | str, **options: object) -> list[bytes]:
    async with follow(path, start="beginning", stop_at_eof=True, **options) as lines:  # type: ignore[arg-type]
        return [line.data async for line in lines]


# -- bytes in files ------------------------------------------------------------------------------


async def test_invalid_utf8_nul_crlf_and_no_final_newline_pass_through(tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_bytes(b"bad \xff\xfe\xc3\x28 utf8\nnul \x00 byte\x00\ncrlf\r\nlone\rcr\n\nlast, no newline")
    async with follow(log, start="beginning", stop_at_eof=True) as lines:
        got = [line async for line in lines]
    assert [line.data for line in got] == [
        b"bad \xff\xfe\xc3\x28 utf8", b"nul \x00 byte\x00", b"crlf", b"lone\rcr", b"", b"last, no newline",
    ]
    assert got[0].text == "bad \ufffd\ufffd\ufffd( utf8"  # .text never raises
    assert got[-1].offset + len(b"last, no newline") == log.stat().st_size  # no byte lost


async def test_empty_file_yields_nothing_and_ends(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.touch()
    assert await asyncio.wait_for(read_all(log), HANG_GUARD) == []


async def test_a_10_mb_line_is_split_skipped_or_an_error_by_policy(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    big = bytes(range(33, 127)) * (10 * 1024 * 1024 // 94 + 1)
    big = big[: 10 * 1024 * 1024]
    log.write_bytes(b"before\n" + big + b"\nafter\n")

    pieces = await read_all(log)  # default: split into max_line_bytes (1 MiB) pieces, nothing lost
    assert pieces[0] == b"before" and pieces[-1] == b"after"
    assert b"".join(pieces[1:-1]) == big and max(map(len, pieces)) <= 1 << 20

    async with follow(log, start="beginning", stop_at_eof=True, long_lines="skip") as lines:
        assert [line.data async for line in lines] == [b"before", b"after"]
        assert lines.stats.skipped_long_lines == 1  # counted, not silent

    with pytest.raises(LineTooLongError, match=r"big\.log.*max_line_bytes") as info:
        await read_all(log, long_lines="error")
    assert isinstance(info.value, StreamlineError)
    assert "\n" not in str(info.value)


async def test_file_replaced_by_a_directory_keeps_what_was_read_and_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\ntwo\n")
    async with follow(log, start="beginning", poll_interval=0.05) as follower:
        lines = aiter(follower)
        got = [await asyncio.wait_for(anext(lines), HANG_GUARD) for _ in range(2)]
        with open(log, "ab") as f:
            f.write(b"three\n")
        log.rename(tmp_path / "app.log.1")
        log.mkdir()  # the path is now a directory: not followed, not an error
        got.append(await asyncio.wait_for(anext(lines), HANG_GUARD))  # the renamed file is read to its end
        await asyncio.sleep(0.3)  # a few scans see the directory
        log.rmdir()
        log.write_bytes(b"four\n")
        got.append(await asyncio.wait_for(anext(lines), HANG_GUARD))
    assert [line.data for line in got] == [b"one", b"two", b"three", b"four"]


def _unblock_fifo(path: Path) -> None:
    """Open the FIFO for writing (and close it) so a reader stuck in open(2) gets EOF."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # nobody is blocked reading it
    os.close(fd)


async def test_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    try:
        try:
            await asyncio.wait_for(read_all(fifo, must_exist=True), HANG_GUARD)
        except asyncio.TimeoutError:
            pytest.fail(f"follow() on a FIFO still waits after {HANG_GUARD:g} s")
        except (StreamlineError, OSError):
            pass  # refused with a typed error: what we want
        else:
            pytest.fail("follow() on a FIFO neither refused it nor waited")
    finally:
        _unblock_fifo(fifo)


async def test_file_replaced_by_a_fifo_keeps_what_was_read_and_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"one\n")
    try:
        async with follow(log, start="beginning", poll_interval=0.05) as follower:
            lines = aiter(follower)
            assert (await asyncio.wait_for(anext(lines), HANG_GUARD)).data == b"one"
            log.rename(tmp_path / "app.log.1")
            os.mkfifo(log)
            await asyncio.sleep(0.5)  # a scan tries the FIFO
            os.unlink(log)
            log.write_bytes(b"two\n")
            assert (await asyncio.wait_for(anext(lines), HANG_GUARD)).data == b"two"
    finally:
        if log.exists() and not log.is_file():
            _unblock_fifo(log)


PERMISSION_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from streamline import follow

    async def main():
        try:
            async with follow(sys.argv[1], start="beginning", stop_at_eof=True, must_exist=True) as lines:
                print("lines", [line.data async for line in lines])
        except OSError as exc:
            print("raised", type(exc).__name__, exc.filename)

    asyncio.run(asyncio.wait_for(main(), 120))
    """
)


def test_permission_denied_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_bytes(b"x\n")
    log.chmod(0)
    proc = subprocess.run(
        unprivileged([sys.executable, "-c", PERMISSION_SCRIPT, str(log)]),
        capture_output=True, timeout=HANG_GUARD,
    )
    assert proc.stdout.decode().split() == ["raised", "PermissionError", str(log)], proc.stderr.decode()


def test_cli_follow_permission_denied_is_one_line_exit_1(tmp_path: Path) -> None:
    log = tmp_path / "secret.log"
    log.write_bytes(b"x\n")
    log.chmod(0)
    code, out, err, _ = run_cli("follow", str(log), "--from", "beginning", "--once", privileged=False)
    assert "Permission denied" in one_error_line(code, out, err, 1)


def test_cli_follow_of_a_directory_is_one_line_exit_1(tmp_path: Path) -> None:
    code, out, err, _ = run_cli("follow", str(tmp_path), "--once")
    assert "Is a directory" in one_error_line(code, out, err, 1)


def test_cli_follow_of_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.log"
    os.mkfifo(fifo)
    proc = subprocess.Popen([STREAMLINE, "follow", str(fifo), "--once", "--must-exist"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        _, err = proc.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        _unblock_fifo(fifo)
        pytest.fail(f"streamline follow on a FIFO still runs after {HANG_GUARD:g} s")
    assert proc.returncode == 1 and err.decode().startswith("streamline: error: ")


# -- option values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragment",
    [
        pytest.param(["produce", "bad/topic", "--value", "x"], "invalid topic name", id="produce-topic"),
        pytest.param(["produce", "x" * 250, "--value", "x"], "1-249 characters", id="produce-long-topic"),
        pytest.param(["consume", "..", "--max", "1"], "invalid topic name", id="consume-topic"),
        pytest.param(["ship", "a.log", "--topic", "spaced topic"], "invalid topic name", id="ship-topic"),
        pytest.param(["topics", "create", "bad topic"], "invalid topic name", id="topics-create"),
        # `--from -5` means the last 5 messages of each partition (kcat's -o -5), so it is valid.
        pytest.param(["consume", "t", "--last", "-3"], "--last", id="negative-last"),
        pytest.param(["consume", "t", "--offset", "0:-1"], "--offset", id="negative-offset"),
        pytest.param(["produce", "t", "--value", "x", "--partition", "-1"], "partition", id="negative-partition"),
        pytest.param(["consume", "t", "--from", "12abc"], "ISO-8601", id="offset-garbage"),
        pytest.param(["follow", "a.log", "--from", "-3"], "byte offset", id="follow-offset"),
        pytest.param(["consume", "t", "--from", "2026-13-45T00:00:00"], "ISO-8601", id="impossible-time"),
        pytest.param(["consume", "t", "--from", "yesterday noon"], "ISO-8601", id="words-for-time"),
        pytest.param(["produce", "t", "--value", "x", "--header", "novalue"], "key=value", id="header-no-equals"),
        pytest.param(["produce", "t", "--value", "x", "--header", "=v"], "key=value", id="header-empty-name"),
        pytest.param(["produce", "t", "--value", "x", "--compression", "brotli"], "gzip, snappy, lz4, zstd", id="produce-compression"),
        pytest.param(["ship", "a.log", "--topic", "t", "--compression", "zip"], "gzip, snappy, lz4, zstd", id="ship-compression"),
        pytest.param(["ship", "a.log", "--topic", "t", "--acks", "2"], "acks", id="ship-acks"),
        pytest.param(["ship", "a.log", "--topic", "t", "--key", "{nope}"], "placeholder", id="ship-key"),
        pytest.param(["--connect-timeout", "soon", "topics", "list"], "--connect-timeout", id="connect-timeout"),
        pytest.param(["-b", "no-port", "topics", "list"], "HOST:PORT", id="bootstrap-format"),
    ],
)
def test_bad_values_are_one_line_and_exit_2_before_any_connection(tmp_path: Path, args: list[str], fragment: str) -> None:
    # 127.0.0.1:1 refuses connections: a validation that came too late would fail differently.
    code, out, err, _ = run_cli("-b", "127.0.0.1:1", *args) if args[0] != "-b" else run_cli(*args)
    assert fragment in one_error_line(code, out, err, 2)


def test_library_rejects_bad_values_with_configuration_errors() -> None:
    bad_calls = [
        lambda: Producer("127.0.0.1:1", compression="brotli"),  # type: ignore[arg-type]
        lambda: Producer("127.0.0.1:1", acks=2),  # type: ignore[arg-type]
        lambda: consume("bad/topic", bootstrap_servers="127.0.0.1:1"),
        lambda: consume("t", bootstrap_servers="127.0.0.1:1", start=-1),
        lambda: consume("t", bootstrap_servers="127.0.0.1:1", start="2026-02-30T00:00:00"),
        lambda: ConnectionConfig.resolve("nohost", env={}),
        lambda: follow("a.log", start=-5),  # type: ignore[arg-type]
        lambda: follow("a.log", max_line_bytes=0),
    ]
    for call in bad_calls:
        with pytest.raises(ConfigurationError) as info:
            call()
        assert "\n" not in str(info.value)


async def test_library_rejects_bad_headers_and_topics_on_send() -> None:
    async def attempts(producer: Producer) -> None:
        for kwargs in ({"headers": [("", b"x")]}, {"headers": [("k", 5)]}, {"headers": "k=v"}):
            with pytest.raises(ConfigurationError):
                await producer.send("t", "v", **kwargs)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="invalid topic name"):
            await producer.send("a b", "v")

    # Validation happens before the network: the producer is never started.
    await attempts(Producer("127.0.0.1:1"))


# -- brokers that do not resolve or do not answer ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["produce", "t", "--value", "x"], id="produce"),
        pytest.param(["consume", "t", "--max", "1"], id="consume"),
        pytest.param(["topics", "list"], id="topics"),
        pytest.param(["groups", "list"], id="groups"),
        pytest.param(["ship", "NONE", "--topic", "t", "--once"], id="ship"),
    ],
)
@pytest.mark.parametrize("where", ["unresolvable", "silent"])
def test_cli_broker_that_does_not_resolve_or_answer(tmp_path: Path, silent_broker: str, args: list[str], where: str) -> None:
    address = UNRESOLVABLE if where == "unresolvable" else silent_broker
    log = tmp_path / "a.log"
    log.write_bytes(b"accepted line\n")
    if args[0] == "ship":
        args = [str(log) if a == "NONE" else a for a in args] + ["--checkpoints", str(tmp_path / "ck")]
    code, out, err, seconds = run_cli("-b", address, "--connect-timeout", "3", *args)
    message = one_error_line(code, out, err, 1)
    assert address in message
    if where == "silent":
        # --connect-timeout was the bound it gave up on (the default is 15 s), and it did wait for it.
        # No upper bound on the seconds: a hang past the timeout trips run_cli's hang guard instead.
        assert "no answer within 3s" in message, message
        assert seconds >= 3, f"gave up after {seconds:.1f}s, before --connect-timeout 3"
    else:
        assert "cannot resolve host" in message, message  # not a wait for the connect timeout
    if args[0] == "ship":  # nothing was acknowledged, so no position may have been saved past 0
        assert log.read_bytes() == b"accepted line\n"
        saved = tmp_path / "ck" / "checkpoints.json"
        assert not saved.exists() or '"position": 0' in saved.read_text() or "position" not in saved.read_text()


@pytest.mark.parametrize("where", ["unresolvable", "silent"])
async def test_library_broker_that_does_not_resolve_or_answer(silent_broker: str, where: str) -> None:
    address = UNRESOLVABLE if where == "unresolvable" else silent_broker
    config = ConnectionConfig.resolve(address, connect_timeout=2, env={})

    async def enter(client: object) -> None:
        async with client:  # type: ignore[attr-defined]
            pass

    for client in (Producer(connection=config), consume("t", connection=config), Admin(connection=config)):
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError) as info:
            # A hang past connect_timeout ends here as a TimeoutError, not as BrokerUnavailableError.
            await asyncio.wait_for(enter(client), HANG_GUARD)
        assert address in str(info.value) and "\n" not in str(info.value)
        if where == "silent":  # it gave up on connect_timeout (not the 15 s default), having waited for it
            assert "no answer" in str(info.value) and "within 2s" in str(info.value), str(info.value)
            assert time.monotonic() - started >= 2
        else:
            assert "cannot resolve host" in str(info.value), str(info.value)
