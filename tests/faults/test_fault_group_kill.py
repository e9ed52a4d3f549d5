"""Group members SIGKILLed mid-batch, repeatedly, each replaced by a new member: every message is
processed at least once and the group's commits end at the log end."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import anyio
import pytest

from faultkit import LONG, report
from streamline import GroupAdmin, Producer

pytestmark = pytest.mark.faults

MEMBER = str(Path(__file__).parent.parent / "integration" / "group_member.py")
KILLS = 10 if LONG else 3
PARTITIONS = 6
MESSAGES = 6000 if LONG else 2400


def processed(logs: list[Path]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for log in logs:
        if log.exists():
            for entry in log.read_text().splitlines():
                p, o = entry.split()
                out[int(p)].append(int(o))
    return out


@pytest.mark.timeout(600 if LONG else 150)
async def test_members_killed_mid_batch_process_everything_at_least_once(kafka_bootstrap, new_topic, tmp_path) -> None:
    topic = new_topic(partitions=PARTITIONS)
    group = f"g-{topic}"
    # Batches of records per partition: each fetch hands a member many messages at once.
    async with Producer(kafka_bootstrap) as producer:
        for start in range(0, MESSAGES, 600):
            await producer.send_many(topic, [(f"k{i}".encode(), f"m{i}".encode()) for i in range(start, start + 600)])
    logs: list[Path] = []
    errs = []
    procs: list[subprocess.Popen] = []

    def spawn() -> None:
        log = tmp_path / f"member{len(logs)}.log"
        err = open(tmp_path / f"member{len(logs)}.err", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        errs.append(err)
        procs.append(subprocess.Popen([sys.executable, MEMBER, kafka_bootstrap, topic, group, str(log), "0.005"],
                                      stdout=subprocess.DEVNULL, stderr=err))

    kills_mid_batch = 0
    try:
        spawn()
        spawn()
        for k in range(KILLS):
            victim = len(procs) - 2  # the older of the two live members
            with anyio.fail_after(60):  # the victim is busy: its log grows
                while True:
                    before = logs[victim].stat().st_size if logs[victim].exists() else 0
                    await asyncio.sleep(0.3)
                    if before and logs[victim].stat().st_size > before:
                        break
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            kills_mid_batch += 1
            spawn()
        with anyio.fail_after(90):
            while sum(len(set(v)) for v in processed(logs).values()) < MESSAGES:
                await asyncio.sleep(0.3)
        with anyio.fail_after(90):  # the live members commit everything (offsets are contiguous)
            while True:
                async with GroupAdmin(kafka_bootstrap) as groups:
                    info = await groups.describe_group(group, topics=[topic])
                ends = {p: max(offsets) + 1 for p, offsets in processed(logs).items()}
                if {p.partition: p.committed for p in info.partitions} == ends:
                    break
                await asyncio.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for err in errs:
            err.close()
    done = processed(logs)
    lines = sum(len(v) for v in done.values())
    unique = sum(len(set(v)) for v in done.values())
    report("group_member_sigkill", kills=kills_mid_batch, messages=MESSAGES, processed=lines,
           unique=unique, duplicates=lines - unique)
    assert [p.returncode for p in procs[:KILLS]] == [-signal.SIGKILL] * KILLS
    assert all(p.returncode == 0 for p in procs[KILLS:]), [e.name for e in errs]
    assert unique == MESSAGES  # every message at least once
