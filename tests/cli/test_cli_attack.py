"""Attacking the CLI's promises from outside: each bad input is one line on stderr, a non-zero
exit and no traceback; ``--exit-at-end``, ``--offset`` and ``--last`` at the edges of a log;
``topics create --if-not-exists`` raced by several processes.

Records that must land at known offsets are sent one per request (NOTES.md: the embedded
broker's log end is exact only then)."""

from __future__ import annotations

import asyncio
import json
import subprocess

from cliresults import STREAMLINE, assert_ok, assert_one_error, clean_env

from streamline import Admin, Producer, consume


async def one_by_one(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    async with Producer(bootstrap) as producer:
        for partition, n in counts.items():
            for i in range(n):
                await producer.send(topic, f"p{partition}-{i}", partition=partition)


async def values(bootstrap: str, topic: str, n: int) -> list[bytes | None]:
    got: list[bytes | None] = []
    if n == 0:
        return got
    async with consume(topic, bootstrap_servers=bootstrap, start="beginning") as stream:
        async with asyncio.timeout(60):
            async for msg in stream:
                got.append(msg.value)
                if len(got) == n:
                    break
    return got


# -- consume at the edges of the log ------------------------------------------------------------

def test_exit_at_end_on_an_empty_topic_exits_0_at_once_and_prints_nothing(cli, new_topic) -> None:
    topic = new_topic(partitions=3)
    for start in ("beginning", "end"):
        result = cli("consume", topic, "--exit-at-end", "--from", start)
        assert_ok(result)
        assert result.stdout == ""
        assert "waiting" not in result.stderr, str(result)


async def test_exit_at_end_with_uneven_and_empty_partitions_prints_each_once(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=4)
    await one_by_one(kafka_bootstrap, topic, {0: 5, 2: 1, 3: 2})  # partition 1 stays empty
    result = await asyncio.to_thread(cli, "consume", topic, "--exit-at-end", "--from", "beginning", "-f", "{partition}:{offset}")
    assert_ok(result)
    assert sorted(result.lines) == sorted(
        [f"0:{o}" for o in range(5)] + ["2:0"] + [f"3:{o}" for o in range(2)]
    )
    # --last larger than every partition: each from its beginning, nothing twice.
    result = await asyncio.to_thread(cli, "consume", topic, "--exit-at-end", "--last", "1000", "-f", "{partition}:{offset}")
    assert_ok(result)
    assert sorted(result.lines) == sorted([f"0:{o}" for o in range(5)] + ["2:0"] + [f"3:{o}" for o in range(2)])
    result = await asyncio.to_thread(cli, "consume", topic, "--exit-at-end", "--last", "2", "-f", "{partition}:{offset}")
    assert_ok(result)
    assert sorted(result.lines) == sorted(["0:3", "0:4", "2:0", "3:0", "3:1"])


async def test_an_offset_past_the_end_with_exit_at_end_exits_0_without_saying_it_waits(
    cli, kafka_bootstrap, new_topic
) -> None:
    """Nothing is waited for with --exit-at-end: a "waiting for new messages" line would be false."""
    topic = new_topic(partitions=2)
    await one_by_one(kafka_bootstrap, topic, {0: 3, 1: 1})
    result = await asyncio.to_thread(cli, "consume", topic, "--offset", "0:100", "--offset", "1:0", "--exit-at-end",
                                     "-f", "{partition}:{offset}")
    assert_ok(result)
    assert result.lines == ["1:0"]
    assert result.stderr == "", str(result)


async def test_an_offset_past_the_end_waits_then_prints_from_that_offset(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    await one_by_one(kafka_bootstrap, topic, {0: 2})
    proc = cli.popen("consume", topic, "--offset", "0:4", "-f", "{offset} {value}", "--max", "1")
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline().decode()
        assert f"waiting for new messages in {topic}[0]: offset 4 is past its end (2)" in first
        await one_by_one(kafka_bootstrap, topic, {0: 3})  # offsets 2, 3, 4
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)
    assert proc.returncode == 0, err
    assert out.decode().splitlines() == ["4 p0-2"]


# -- produce: bad input is one line -------------------------------------------------------------

async def test_a_json_line_of_megabytes_is_one_error_naming_its_line_and_the_lines_before_are_sent(
    cli, kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=1)
    big = json.dumps({"value": "x" * 3_000_000}).encode()
    data = b'{"value": "first"}\n' + big + b'\n{"value": "after"}\n'
    error = assert_one_error(await asyncio.to_thread(cli, "produce", topic, "-f", "json", input=data), 2)
    assert error.startswith("streamline: error: line 2: "), error
    assert "1,048,576" in error and "--max-message-bytes" in error, error
    assert "sent the 1 message before it, none after" in error, error
    assert_ok(await asyncio.to_thread(cli, "produce", topic, "--value", "marker"))
    assert await values(kafka_bootstrap, topic, 2) == [b"first", b"marker"]
    # The same line fits when the limit allows it.
    result = await asyncio.to_thread(cli, "produce", topic, "-f", "json", "--max-message-bytes", "4000000", input=big + b"\n")
    assert_ok(result)


async def test_a_text_line_of_megabytes_is_one_error_naming_its_line(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    data = b"first\n" + b"y" * 2_500_000 + b"\nafter\n"
    error = assert_one_error(await asyncio.to_thread(cli, "produce", topic, input=data), 2)
    assert error.startswith("streamline: error: line 2: "), error
    assert "sent the 1 message before it, none after" in error, error
    assert_ok(await asyncio.to_thread(cli, "produce", topic, "--value", "marker"))
    assert await values(kafka_bootstrap, topic, 2) == [b"first", b"marker"]


async def test_invalid_utf8_in_a_json_line_is_one_error(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    data = b'{"value": "ok"}\n{"value": "\xff\xfe"}\n{"value": "after"}\n'
    error = assert_one_error(await asyncio.to_thread(cli, "produce", topic, "-f", "json", input=data), 2)
    assert "line 2: not JSON" in error and "sent the 1 message before it" in error
    # Invalid UTF-8 in a text line is just bytes: sent as they are.
    assert_ok(await asyncio.to_thread(cli, "produce", topic, input=b"\xff\xfe raw\n"))
    assert await values(kafka_bootstrap, topic, 2) == [b"ok", b"\xff\xfe raw"]


async def test_out_of_range_json_numbers_are_one_error_naming_the_line(cli, kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    for bad, needle in [
        (b'{"value": "a", "timestamp": 99999999999999999999}', '"timestamp" must be milliseconds'),
        (b'{"value": "a", "partition": 99999999999999999999}', '"partition"'),
        (b'{"value": "a", "timestamp": 1.5}', '"timestamp" must be milliseconds'),
    ]:
        result = await asyncio.to_thread(cli, "produce", topic, "-f", "json", input=b'{"value": "x"}\n' + bad + b"\n")
        error = assert_one_error(result, 2)
        assert error.startswith("streamline: error: line 2: ") and needle in error, error


# -- topics create --if-not-exists from several processes at once -------------------------------

def test_topics_create_if_not_exists_raced_by_four_processes(cli, kafka_bootstrap) -> None:
    import uuid

    from streamline.testing import run_sync

    async def partitions(name: str) -> int:
        async with Admin(kafka_bootstrap) as admin:
            return len((await admin.describe_topic(name)).partitions)

    async def delete(name: str) -> None:
        async with Admin(kafka_bootstrap) as admin:
            await admin.delete_topic(name, missing_ok=True)

    name = f"attack-race-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen([STREAMLINE, "topics", "create", name, "--partitions", "3", "--if-not-exists"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=clean_env(kafka_bootstrap))
        for _ in range(4)
    ]
    try:
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], results
        for out, err in results:
            assert err == b"", err
            assert out.decode() in (f"created topic {name} with 3 partitions\n", f"topic {name} exists already\n")
        assert run_sync(lambda: partitions(name)) == 3
        # Without the flag, the loser's error is one line.
        assert "already exists" in assert_one_error(cli("topics", "create", name), 1)
    finally:
        run_sync(lambda: delete(name))


# -- groups reset-offsets while a member is active ----------------------------------------------

async def test_reset_offsets_execute_refuses_while_a_consume_process_is_in_the_group(
    cli, kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    await one_by_one(kafka_bootstrap, topic, {0: 2, 1: 2})
    member = cli.popen("consume", topic, "--group", group, "--from", "beginning", "-f", "{partition}:{offset}")
    try:
        assert member.stdout is not None
        first = await asyncio.to_thread(member.stdout.readline)  # a member with partitions now
        assert first.strip(), first
        for args in (["--to-earliest"], ["--to-offset", "0"], ["--shift-by", "-1"]):
            refused = await asyncio.to_thread(cli, "groups", "reset-offsets", group, "--topic", topic, *args, "--execute")
            line = assert_one_error(refused, 1)
            assert "active member" in line and group in line, line
        assert member.poll() is None  # untouched
    finally:
        member.terminate()
        member.communicate(timeout=60)  # and closes its pipes


# -- consume --format templates whose format spec cannot apply ----------------------------------

def test_a_template_whose_format_spec_does_not_fit_the_field_is_a_usage_error(cli) -> None:
    """Found before connecting (exit 2), not as "unexpected ValueError" at the first message."""
    for template in ["{value:d}", "{offset:s}", "{key!z}", "{timestamp_iso:d}"]:
        result = cli("consume", "some-topic", "-f", template, "--exit-at-end", env={"STREAMLINE_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
        line = assert_one_error(result, 2)
        assert line.startswith(f"streamline: error: bad --format template {template!r}: "), line
    # Format specs that fit their field stay allowed.
    from streamline.cli._consume_format import renderer

    assert renderer("{offset:>6} {value!r} {timestamp:,} {partition:03d}")


# -- produce: a line that can never fit is refused as soon as that is known ---------------------

def test_a_line_longer_than_any_record_is_refused_before_its_end_arrives(cli, kafka_bootstrap, new_topic) -> None:
    """A writer that sends one endless line (no newline, pipe left open): the line cannot fit in
    --max-message-bytes whatever follows, so produce stops with one error instead of holding
    ever more of it in memory (and re-copying it on every read: 450 s for a 200 MB line)."""
    topic = new_topic(partitions=1)
    proc = subprocess.Popen(
        [STREAMLINE, "produce", topic, "--max-message-bytes", "100000"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(kafka_bootstrap),
    )
    assert proc.stdin is not None
    try:
        try:
            proc.stdin.write(b"first\n" + b"z" * 3_000_000)  # and then nothing: the line never ends
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it stopped reading before all of it: what the test wants
        proc.wait(timeout=90)  # stdin stays open (communicate() would close it)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError("produce kept waiting for the end of a line that cannot fit") from None
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    assert proc.stderr is not None and proc.stdout is not None
    with proc.stderr, proc.stdout:
        err = proc.stderr.read()
    lines = err.decode().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, err)
    assert lines[0].startswith("streamline: error: line 2: ") and "--max-message-bytes 100,000" in lines[0], lines[0]
    assert "sent the 1 message before it, none after" in lines[0]
