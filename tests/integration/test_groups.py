"""Consumer groups on a real broker: manual acks, ordered concurrency, slow handlers, rebalances,
a member killed with SIGKILL, and lag.

Records are produced one per request: the embedded broker answers ListOffsets(latest) with
(last batch base offset + 1) after multi-record batches, which would skew the log end.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import anyio
import pytest

from streamline import GroupAdmin, GroupError, Producer, StreamlineError, consume

MEMBER = str(Path(__file__).with_name("group_member.py"))
FAST = dict(session_timeout=6, commit_interval=0.3)


async def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> dict[int, list[int]]:
    """Single-record sends; returns the offsets per partition."""
    offsets: dict[int, list[int]] = defaultdict(list)
    async with Producer(bootstrap) as producer:
        for i in range(max(per_partition.values())):
            for p, n in per_partition.items():
                if i < n:
                    md = await producer.send(topic, f"p{p}-{i}", partition=p)
                    offsets[p].append(md.offset)
    return offsets


async def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    async with GroupAdmin(bootstrap) as groups:
        try:
            info = await groups.describe_group(group, topics=[topic])
        except GroupError:  # not created yet: no member joined, nothing committed
            return {}
    return {p.partition: p.committed for p in info.partitions if p.committed is not None}


async def test_describing_an_unknown_group_is_a_group_error(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=1)
    async with GroupAdmin(kafka_bootstrap) as groups:
        with pytest.raises(GroupError, match="does not exist"):
            await groups.describe_group("no-such-group", topics=[topic])
        assert "no-such-group" not in await groups.list_groups()


async def test_manual_acks_commit_the_contiguous_prefix_and_close_waits_for_late_acks(
    kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce(kafka_bootstrap, topic, {0: 10})

    # Round 1: 0-2 and 4-5 acknowledged, 3 never: the commit stops at 3.
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, ack="manual",
                     start="beginning", revoke_timeout=0.5, **FAST)
    async with stream:
        got = []
        async for batch in stream.batches():
            got.extend(batch)
            if len(got) >= 10:
                break
        by_offset = {m.offset: m for m in got}
        stream.ack([by_offset[0], by_offset[1], by_offset[2]])
        by_offset[5].ack()
        by_offset[4].ack()
        assert stream.committable() == {(topic, 0): 3}
    assert await committed(kafka_bootstrap, group, topic) == {0: 3}

    # Round 2: redelivered from 3; 3 is acknowledged late, by another task, while closing.
    # revoke_timeout: past the test's 120 s timeout (and below max_poll_interval, as it must be).
    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, ack="manual",
                     start="beginning", revoke_timeout=250, **FAST)
    async with anyio.create_task_group() as tg:
        async with stream:
            got = []
            async for batch in stream.batches():
                got.extend(batch)
                if len(got) >= 7:
                    break
            assert got[0].offset == 3
            stream.ack(got[1:])

            async def late() -> None:
                await asyncio.sleep(0.5)
                got[0].ack()

            tg.start_soon(late)
            started = time.monotonic()
        # close waited for the late ack (sent 0.5 s after `started`), no longer: waiting for the 250 s of
        # revoke_timeout would trip the test's timeout instead.
        assert time.monotonic() - started > 0.3
    assert await committed(kafka_bootstrap, group, topic) == {0: 10}


async def test_run_keeps_partition_order_under_concurrency_and_reports_zero_lag(
    kafka_bootstrap, new_topic
) -> None:
    topic = new_topic(partitions=4)
    group = f"g-{topic}"
    produced = await produce(kafka_bootstrap, topic, {p: 30 for p in range(4)})
    seen: dict[int, list[int]] = defaultdict(list)
    running = 0
    most = 0
    done = anyio.Event()

    async def handle(msg) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.002 * (msg.offset % 3))  # uneven: partitions interleave
        running -= 1
        seen[msg.partition].append(msg.offset)
        if sum(map(len, seen.values())) == 120:
            done.set()

    async with consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", **FAST) as stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(stream.run, handle, concurrency=2))
            with anyio.fail_after(90):
                await done.wait()
            tg.cancel_scope.cancel()
    assert {p: offs for p, offs in seen.items()} == {p: produced[p] for p in range(4)}  # in order, once
    assert most == 2
    async with GroupAdmin(kafka_bootstrap) as groups:
        info = await groups.describe_group(group, topics=[topic])
        assert group in await groups.list_groups()
    assert [(p.partition, p.committed, p.log_end, p.lag) for p in info.partitions] == [
        (p, 30, 30, 0) for p in range(4)
    ]


async def test_a_handler_slower_than_max_poll_interval_keeps_its_membership(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    await produce(kafka_bootstrap, topic, {0: 5, 1: 5})
    seen: list[tuple[int, int]] = []
    done = anyio.Event()

    async def handle(msg) -> None:
        if msg.offset == 0 and msg.partition == 0:
            await asyncio.sleep(4.5)  # longer than max_poll_interval (2 s)
        seen.append((msg.partition, msg.offset))
        if len(seen) == 10:
            done.set()

    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                     max_poll_interval=2, revoke_timeout=1, max_batch=2, **FAST)
    async with stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(partial(stream.run, handle, concurrency=2))
            with anyio.fail_after(90):
                await done.wait()
            tg.cancel_scope.cancel()
        assert stream.rebalances == 0  # never evicted, never re-joined
    assert sorted(seen) == [(p, o) for p in (0, 1) for o in range(5)]  # each once
    # Partition 1 was not held up by partition 0's slow handler.
    assert seen.index((1, 4)) < seen.index((0, 0))


async def test_rebalance_while_handlers_are_slow_hands_over_without_gaps(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=4)
    group = f"g-{topic}"
    produced = await produce(kafka_bootstrap, topic, {p: 40 for p in range(4)})
    processed: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    total = 160

    def handler(name: str):
        async def handle(msg) -> None:
            await asyncio.sleep(0.2)
            processed[name].append((msg.partition, msg.offset))
        return handle

    def union() -> set[tuple[int, int]]:
        return set(processed["a"]) | set(processed["b"])

    a = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", revoke_timeout=3, **FAST)
    b = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", revoke_timeout=3, **FAST)
    async with a, anyio.create_task_group() as tg:
        tg.start_soon(partial(a.run, handler("a"), concurrency=4))
        with anyio.fail_after(90):
            while len(processed["a"]) < 4:
                await asyncio.sleep(0.05)
        async with b:
            tg.start_soon(partial(b.run, handler("b"), concurrency=4))
            with anyio.fail_after(60):
                while len(union()) < total:
                    await asyncio.sleep(0.05)
            tg.cancel_scope.cancel()
    assert a.rebalances >= 1
    assert processed["b"], "the second member never got a partition"
    assert union() == {(p, o) for p in range(4) for o in produced[p]}
    # Per partition and per member, in order; the new owner starts where the old one's commit
    # left off: a message is processed twice at most if it was in flight at the hand-over.
    for name in ("a", "b"):
        for p in range(4):
            offs = [o for q, o in processed[name] if q == p]
            assert offs == sorted(offs)
    duplicates = len(processed["a"]) + len(processed["b"]) - total
    assert duplicates <= 4


async def test_three_member_processes_one_killed_mid_stream(kafka_bootstrap, new_topic, tmp_path) -> None:
    """Every message is processed at least once; no committed offset ever passes an unprocessed one."""
    topic = new_topic(partitions=6)
    group = f"g-{topic}"
    logs = [tmp_path / f"member{i}.log" for i in range(3)]
    errs = [open(tmp_path / f"member{i}.err", "wb") for i in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, MEMBER, kafka_bootstrap, topic, group, str(log), "0.02"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        for log, err in zip(logs, errs)
    ]
    produced: dict[int, list[int]] = defaultdict(list)
    checks = 0

    def processed_by(log: Path) -> dict[int, set[int]]:
        out: dict[int, set[int]] = defaultdict(set)
        if log.exists():
            for line in log.read_text().splitlines():
                p, o = line.split()
                out[int(p)].add(int(o))
        return out

    def processed() -> dict[int, set[int]]:
        out: dict[int, set[int]] = defaultdict(set)
        for log in logs:
            for p, offsets in processed_by(log).items():
                out[p] |= offsets
        return out

    async def check_commits() -> None:
        # Committed offsets first, logs second: a commit follows its log lines, so this order
        # can only make the check stricter.
        nonlocal checks
        offsets = await committed(kafka_bootstrap, group, topic)
        done = processed()
        for p, offset in offsets.items():
            # Single-record sends: a partition's offsets are 0, 1, 2, ... without gaps.
            missing = [o for o in range(offset) if o not in done[p]]
            assert not missing, f"partition {p} committed {offset} but {missing[:5]} were never processed"
        checks += 1

    async def produce_stream() -> None:
        async with Producer(kafka_bootstrap) as producer:
            for i in range(1200):
                md = await producer.send(topic, f"m{i}", partition=i % 6)
                produced[md.partition].append(md.offset)
                if i % 6 == 5:
                    await asyncio.sleep(0.05)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(produce_stream)
            with anyio.fail_after(90):
                while not all(log.exists() and log.stat().st_size for log in logs):
                    await check_commits()
                    await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)
            procs[0].send_signal(signal.SIGKILL)  # mid-stream, with messages in flight
            procs[0].wait()
            produced_at_kill = sum(map(len, produced.values()))
            victim = processed_by(logs[0])
            for _ in range(6):
                await check_commits()
                await asyncio.sleep(0.25)
        # All produced; wait until every message is in some member's log.
        with anyio.fail_after(90):
            while True:
                await check_commits()
                done = processed()
                if all(set(produced[p]) <= done[p] for p in range(6)):
                    break
                await asyncio.sleep(0.3)
        # The survivors commit everything within a few commit intervals.
        with anyio.fail_after(90):
            while await committed(kafka_bootstrap, group, topic) != {p: produced[p][-1] + 1 for p in range(6)}:
                await check_commits()
                await asyncio.sleep(0.3)
    finally:
        for proc in procs[1:]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs[1:]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for err in errs:
            err.close()
    assert [proc.returncode for proc in procs] == [-signal.SIGKILL, 0, 0], [
        (tmp_path / f"member{i}.err").read_text()[-2000:] for i in range(3)
    ]
    assert checks >= 10
    assert produced_at_kill < 1200, "the member was killed after the stream ended"
    # The survivors took over the victim's partitions and went on from where it stopped.
    survivors = [processed_by(log) for log in logs[1:]]
    for p, offsets in victim.items():
        assert any(max(s[p], default=-1) > max(offsets) for s in survivors), p
    await check_commits()
    lines = sum(len(log.read_text().splitlines()) for log in logs)
    assert lines >= 1200  # at least once; duplicates are the killed member's unacknowledged work


async def test_a_cpu_bound_synchronous_handler_does_not_cost_the_membership(kafka_bootstrap, new_topic) -> None:
    """A sync handler that burns CPU for longer than the session timeout runs in a thread (one
    hop per batch): heartbeats go on, the member is never evicted, nothing is handled twice."""
    topic = new_topic(partitions=1)
    group = f"g-{topic}"
    await produce(kafka_bootstrap, topic, {0: 3})
    seen: list[int] = []

    def burn(msg) -> None:
        if msg.offset == 0:
            deadline = time.monotonic() + 8  # longer than session_timeout (6 s)
            while time.monotonic() < deadline:
                sum(range(10_000))
        seen.append(msg.offset)

    stream = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", **FAST)
    async with stream:
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream.run, burn)
            with anyio.fail_after(60):
                while len(seen) < 3:
                    await asyncio.sleep(0.05)
            tg.cancel_scope.cancel()
        assert stream.rebalances == 0  # never evicted, never re-joined
    assert seen == [0, 1, 2]
    assert await committed(kafka_bootstrap, group, topic) == {0: 3}


async def test_assignment_strategies_must_be_shared_and_the_error_names_them(kafka_bootstrap, new_topic) -> None:
    topic = new_topic(partitions=2)
    group = f"g-{topic}"
    await produce(kafka_bootstrap, topic, {0: 1, 1: 1})
    ranged = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning", assignor="range", **FAST)
    both = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                   assignor=["roundrobin", "range"], **FAST)
    only_rr = consume(topic, bootstrap_servers=kafka_bootstrap, group=group, start="beginning",
                      assignor="roundrobin", **FAST)
    async with ranged:
        with anyio.fail_after(60):
            first = await ranged.__anext__()
        async with both:  # offers range too: joins the same group
            async with anyio.create_task_group() as tg:
                tg.start_soon(ranged.__anext__)  # keep the first member polling through the rebalance
                with anyio.fail_after(60):
                    while not both.assignment():
                        with anyio.move_on_after(0.5):
                            await both.__anext__()
                tg.cancel_scope.cancel()
            async with only_rr:
                with pytest.raises(StreamlineError, match="roundrobin.*range, roundrobin, sticky"), anyio.fail_after(60):
                    await only_rr.__anext__()
    assert first.topic == topic
