"""`streamline ship` with multiline events, parsers and metadata, checked on the broker (issue 17
points 2-4): events arrive whole, rotation in the middle of an event, container partial lines,
headers and the envelope as a consumer sees them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

from shipping import start_ship

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def ship_once(bootstrap: str, topic: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLINE_")}
    return subprocess.run(
        [STREAMLINE, "-b", bootstrap, "ship", *args, "--topic", topic, "--from", "beginning",
         "--checkpoints", str(tmp_path / "cp"), "--once", "-q"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=env,
    )


async def read_messages(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list:
    """Messages of ``topic`` from the beginning until ``count`` arrived (or ``timeout``)."""
    from streamline import consume

    messages: list = []
    deadline = time.monotonic() + timeout
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        iterator = stream.batches().__aiter__()
        while len(messages) < count and time.monotonic() < deadline:
            try:
                messages.extend(await asyncio.wait_for(iterator.__anext__(), deadline - time.monotonic()))
            except (asyncio.TimeoutError, StopAsyncIteration):
                break
    return messages


def java_event(n: int, frames: int) -> bytes:
    lines = [b"2024-01-01 12:00:%02d ERROR request %d failed" % (n % 60, n)]
    lines.append(b"java.lang.IllegalStateException: event %d" % n)
    lines += [b"\tat com.example.Service.call%d(Service.java:%d)" % (n, k) for k in range(frames)]
    return b"\n".join(lines)


async def test_multiline_events_arrive_whole_with_their_headers(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=2)
    log = tmp_path / "app.log"
    events = [java_event(n, n % 5) for n in range(200)]
    log.write_bytes(b"\n".join(events) + b"\n")
    done = ship_once(
        kafka_bootstrap, topic, tmp_path, str(log), "--multiline", "timestamp",
        "--header", "host", "--header", "path", "--header", "offset", "--header", "input", "--header", "env=prod",
    )
    assert done.returncode == 0, done.stderr
    assert "shipped 200 lines" in done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 200)
    assert sorted(m.value for m in messages) == sorted(events)
    data = log.read_bytes()
    for m in messages:
        headers = dict(m.headers)
        assert headers["host"] == socket.gethostname().encode()
        assert headers["path"] == str(log).encode()
        assert headers["input"] == b"ship" and headers["env"] == b"prod"
        offset = int(headers["offset"])
        assert data[offset : offset + len(m.value)] == m.value  # the event's first byte


async def test_a_rotation_in_the_middle_of_an_event_neither_merges_nor_loses_lines(
    kafka_bootstrap, new_topic, tmp_path
) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    ship = start_ship(
        kafka_bootstrap, topic, [str(log)], tmp_path / "cp", "--multiline", "indented",
        "--multiline-timeout", "2", "--rotate-wait", "3", log=tmp_path / "ship.out",
    )
    try:
        with open(log, "ab") as out:  # noqa: ASYNC230  # the writer keeps its descriptor across the rename
            out.write(b"first\n  a1\n")
            out.flush()
            messages = await read_messages(kafka_bootstrap, topic, 1, timeout=60)
            assert [m.value for m in messages] == [b"first\n  a1"]  # handed out at its timeout
            out.write(b"second\n  b1\n")
            out.flush()
            os.rename(log, tmp_path / "app.log.1")  # rotation inside "second"
            out.write(b"  b2\n  b3\n")  # the rest of the event lands in the rotated file
            out.flush()
            log.write_bytes(b"  orphan\nthird\n  c1\n")  # the new file starts with a continuation
        messages = await read_messages(kafka_bootstrap, topic, 4, timeout=60)
        values = [m.value for m in messages]
        assert sorted(values) == sorted([b"first\n  a1", b"second\n  b1\n  b2\n  b3", b"  orphan", b"third\n  c1"])
    finally:
        ship.terminate()
        assert ship.wait(60) == 0, (tmp_path / "ship.out").read_text()[-2000:]


def cri(stream: str, flag: str, text: str) -> bytes:
    return f"2024-05-06T07:08:09.000000001Z {stream} {flag} {text}\n".encode()


async def test_cri_partial_lines_are_reassembled_with_their_stream(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "pod_app_0.log"
    big = "x" * 20_000
    log.write_bytes(
        cri("stdout", "P", big) + cri("stdout", "P", big) + cri("stdout", "F", "end")
        + cri("stderr", "F", "warning: disk") + cri("stdout", "F", "")
    )
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log), "--parser", "cri", "--header", "stream")
    assert done.returncode == 0, done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 3)
    got = [(m.value, dict(m.headers)["stream"]) for m in messages]
    assert got == [((big + big + "end").encode(), b"stdout"), (b"warning: disk", b"stderr"), (b"", b"stdout")]


async def test_docker_json_file_lines_split_at_16k_are_joined(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "container-json.log"

    def rec(text: str, stream: str = "stdout") -> bytes:
        return json.dumps({"log": text, "stream": stream, "time": "2024-05-06T07:08:09.1Z"}).encode() + b"\n"

    part = "y" * 16384
    log.write_bytes(rec(part) + rec(part) + rec("tail\n") + rec("short\n", "stderr"))
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log), "--parser", "docker", "--envelope")
    assert done.returncode == 0, done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 2)
    records = [json.loads(m.value) for m in messages]
    assert [(r["message"], r["stream"], r["@timestamp"]) for r in records] == [
        (part + part + "tail", "stdout", "2024-05-06T07:08:09.1Z"),
        ("short", "stderr", "2024-05-06T07:08:09.1Z"),
    ]
    assert records[1]["offset"] == len(rec(part)) * 2 + len(rec("tail\n"))
    assert records[0]["path"] == str(log) and records[0]["input"] == "ship"


async def test_json_and_regex_parsers_and_invalid_lines(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.json"
    log.write_bytes(b'{"level": "info", "msg": "up"}\nnot json\n{"level": "warn"}\n')
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log), "--parser", "json", "--envelope")
    assert done.returncode == 0, done.stderr
    assert "1 event did not parse" in done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 3)
    records = [json.loads(m.value) for m in messages]
    assert [r.get("level") for r in records] == ["info", None, "warn"]
    assert records[1]["message"] == "not json" and "parse_error" in records[1]

    topic = new_topic(partitions=1)
    access = tmp_path / "access.log"
    access.write_bytes(b'10.0.0.1 - - "GET /a" 200\n10.0.0.2 - - "POST /b" 500\ngarbage\n')
    done = subprocess.run(  # noqa: ASYNC221
        [STREAMLINE, "-b", kafka_bootstrap, "ship", str(access), "--topic", topic, "--from", "beginning",
         "--checkpoints", str(tmp_path / "cp2"), "--once", "-q", "--parser", "regex",
         "--regex", r'^(?P<ip>\S+) \S+ \S+ "(?P<request>[^"]*)" (?P<status>\d+)', "--on-invalid", "skip"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 2)
    assert [json.loads(m.value) for m in messages] == [
        {"ip": "10.0.0.1", "request": "GET /a", "status": "200"},
        {"ip": "10.0.0.2", "request": "POST /b", "status": "500"},
    ]


async def test_on_invalid_stop_is_one_clear_error(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "app.json"
    log.write_bytes(b'{"ok": 1}\nbroken\n')
    done = ship_once(kafka_bootstrap, topic, tmp_path, str(log), "--parser", "json", "--on-invalid", "stop")
    assert done.returncode != 0
    assert "event at byte 10 not JSON" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_java_stack_trace_in_cri_logs_is_one_record(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    log = tmp_path / "pod_java_0.log"
    log.write_bytes(
        cri("stderr", "F", "ERROR request failed") + cri("stderr", "P", "\tat com.example.A.run(")
        + cri("stderr", "F", "A.java:10)") + cri("stderr", "F", "\tat com.example.B.run(B.java:20)")
        + cri("stdout", "F", "INFO next")
    )
    done = ship_once(
        kafka_bootstrap, topic, tmp_path, str(log), "--parser", "cri", "--multiline", "indented", "--envelope"
    )
    assert done.returncode == 0, done.stderr
    messages = await read_messages(kafka_bootstrap, topic, 2)
    records = [json.loads(m.value) for m in messages]
    assert [(r["message"], r["stream"]) for r in records] == [
        ("ERROR request failed\n\tat com.example.A.run(A.java:10)\n\tat com.example.B.run(B.java:20)", "stderr"),
        ("INFO next", "stdout"),
    ]
