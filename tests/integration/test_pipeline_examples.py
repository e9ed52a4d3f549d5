"""The pipeline examples, run as a user would, against the real broker."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamline import Producer, consume
from streamline.cli._demo import access_log_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


def run_example(name: str, *args: str, bootstrap: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "STREAMLINE_BOOTSTRAP_SERVERS": bootstrap, "ENRICH_GROUP": f"enrich-{args[0]}"}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True, timeout=timeout
    )


async def read(bootstrap: str, topic: str, count: int, timeout: float = 30) -> list:
    got: list = []

    async def run() -> None:
        async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
            async for msg in stream:
                got.append(msg)
                if len(got) == count:
                    return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_log_agent_ships_the_file(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=2)
    lines = access_log_lines(500)
    (tmp_path / "access.log").write_bytes(b"\n".join(lines) + b"\n")
    done = run_example("log_agent.py", "access.log", topic, "--once", bootstrap=kafka_bootstrap, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"shipped 500 lines" in done.stdout
    assert sorted(m.value for m in await read(kafka_bootstrap, topic, 500)) == sorted(lines)
    assert (tmp_path / ".streamline" / "checkpoints" / "checkpoints.json").is_file()


async def test_consume_print_prints_the_tutorial_format(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        for i in range(3):
            await producer.send(topic, f"hello {i}")
    done = await asyncio.to_thread(
        run_example, "consume_print.py", topic, "--from", "beginning", "--max", "3", bootstrap=kafka_bootstrap, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [f"Partition:0 Offset:{i} Key: Value:hello {i}" for i in range(3)]


async def test_fanout_routes_server_errors_to_a_second_topic(kafka_bootstrap, new_topic, tmp_path) -> None:
    everything, errors = new_topic(partitions=2), new_topic(partitions=1)
    lines = access_log_lines(600)  # every sixth line has status 500
    (tmp_path / "access.log").write_bytes(b"\n".join(lines) + b"\n")
    done = run_example("fanout.py", "access.log", everything, errors, "--once", bootstrap=kafka_bootstrap, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert len(await read(kafka_bootstrap, everything, 600)) == 600
    server_errors = [line for line in lines if b'" 500 ' in line]
    got = await read(kafka_bootstrap, errors, len(server_errors))
    assert sorted(m.value for m in got) == sorted(server_errors)


async def test_enrich_parses_and_dead_letters(kafka_bootstrap, new_topic, tmp_path) -> None:
    source, target, dlq = new_topic(partitions=2), new_topic(partitions=2), new_topic(partitions=1)
    good = access_log_lines(50)
    bad = [b"garbage line one", b"\xff\xfe not utf-8 either"]
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(source, good[:25] + bad + good[25:])
    done = await asyncio.to_thread(
        run_example, "enrich.py", source, target, dlq, "--seconds", "15", bootstrap=kafka_bootstrap, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    parsed = [json.loads(m.value) for m in await read(kafka_bootstrap, target, 50)]
    assert {p["ip"] for p in parsed} == {line.split(b" ", 1)[0].decode() for line in good}
    assert all(isinstance(p["status"], int) for p in parsed)
    dead = await read(kafka_bootstrap, dlq, 2)
    assert sorted(m.value for m in dead) == sorted(bad)
    for m in dead:
        headers = dict(m.headers)
        assert headers["streamline.error"].startswith(b"ValueError: not an access-log line")
        assert headers["streamline.stage"] == b"parse"
        assert headers["streamline.origin.topic"] == source.encode()
        assert int(headers["streamline.origin.partition"]) in (0, 1)
        assert int(headers["streamline.origin.offset"]) >= 0


@pytest.mark.timeout(300)  # hang guard: the waits inside are conditions with their own deadlines
async def test_streamline_run_drains_on_sigterm(kafka_bootstrap, new_topic, tmp_path) -> None:
    source, target, dlq = new_topic(partitions=1), new_topic(partitions=1), new_topic(partitions=1)
    async with Producer(kafka_bootstrap) as producer:
        await producer.send_many(source, access_log_lines(20))
    env = {
        **os.environ,
        "STREAMLINE_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ENRICH_SOURCE": source,
        "ENRICH_TARGET": target,
        "ENRICH_DLQ": dlq,
        "ENRICH_GROUP": f"enrich-{source}",
    }
    proc = subprocess.Popen(
        [STREAMLINE, "run", str(EXAMPLES / "enrich.py") + ":pipeline"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    got = await read(kafka_bootstrap, target, 20, timeout=120)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert b"pipeline finished: 20 in, 20 delivered" in err
    assert len(got) == 20
