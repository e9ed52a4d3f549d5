"""Files rotated while stopped are found again however they were named (issue 11, point 2),
checkpoint records of files that are gone expire, and copytruncate's copy is read."""

from __future__ import annotations

import json
import os
import time

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._follow import Checkpoints, follow


async def ship_and_ack(paths, cp, count: int) -> None:
    async with follow(paths, start="beginning", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        for line in await take(aiter(f), count):
            line.ack()


async def resume(paths, cp, count: int) -> list[str]:
    async with follow(paths, start="end", checkpoints=Checkpoints(cp), poll_interval=POLL) as f:
        lines = aiter(f)
        got = await take(lines, count)
        await nothing_more(lines, 0.3)
        for line in got:
            line.ack()
    return [line.text for line in got]


async def test_glob_whose_pattern_the_rotated_name_does_not_match(tmp_path) -> None:
    cp, log = tmp_path / "cp", tmp_path / "app.log"
    append(log, numbered("a", 0, 3))
    await ship_and_ack(str(tmp_path / "*.log"), cp, 3)
    append(log, numbered("a", 3, 5))  # written, not shipped, then rotated while stopped
    os.rename(log, tmp_path / "app.log.1")
    append(log, numbered("b", 0, 2))
    got = await resume(str(tmp_path / "*.log"), cp, 4)
    assert got == ["a3", "a4", "b0", "b1"]


async def test_glob_whose_pattern_the_rotated_name_matches(tmp_path) -> None:
    cp, log = tmp_path / "cp", tmp_path / "app.log"
    append(log, numbered("a", 0, 3))
    await ship_and_ack(str(tmp_path / "app.log*"), cp, 3)
    append(log, numbered("a", 3, 5))
    os.rename(log, tmp_path / "app.log.1")
    append(log, numbered("b", 0, 2))
    got = await resume(str(tmp_path / "app.log*"), cp, 4)
    assert sorted(got) == ["a3", "a4", "b0", "b1"]


async def test_symlink_whose_target_rotated_next_to_itself(tmp_path) -> None:
    pods, containers = tmp_path / "pods", tmp_path / "containers"
    pods.mkdir()
    containers.mkdir()
    target, link = pods / "0.log", containers / "app.log"
    append(target, numbered("a", 0, 3))
    link.symlink_to(target)
    cp = tmp_path / "cp"
    await ship_and_ack(str(link), cp, 3)
    append(target, numbered("a", 3, 5))
    os.rename(target, pods / "0.log.20260101-000000")  # kubelet rotates next to the target
    append(target, numbered("b", 0, 2))
    assert await resume(str(link), cp, 4) == ["a3", "a4", "b0", "b1"]
    # The same through a glob over the links.
    append(target, numbered("b", 2, 3))
    os.rename(target, pods / "0.log.20260101-000001")
    append(target, "c0\n")
    assert await resume(str(containers / "*.log"), cp, 2) == ["b2", "c0"]


async def test_records_of_files_gone_expire(tmp_path) -> None:
    cp, log, old = tmp_path / "cp", tmp_path / "app.log", tmp_path / "old.log"
    append(log, "x\n")
    append(old, "y\n")
    await ship_and_ack([str(log), str(old)], cp, 2)
    records = json.loads((cp / "checkpoints.json").read_text())["files"]
    assert len(records) == 2
    # A record no follower tracks any more, last updated long ago: expired at the next save.
    for record in records.values():
        if record["path"] == str(old):
            record["updated"] = time.time() - 7200
    (cp / "checkpoints.json").write_text(json.dumps({"version": 1, "files": records}))
    os.unlink(old)
    append(log, "z\n")
    async with follow(str(log), checkpoints=Checkpoints(cp, expire_after=3600), poll_interval=POLL) as f:
        line, = await take(aiter(f), 1)
        line.ack()
    kept = json.loads((cp / "checkpoints.json").read_text())["files"]
    assert [r["path"] for r in kept.values()] == [str(log)]


async def test_copytruncate_rest_is_read_from_the_copy(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, numbered("a", 0, 2))
        got = await take(lines, 2)
        # Written, then copied and truncated before the follower read it.
        append(log, numbered("a", 2, 2000))
        with open(log, "rb") as source, open(log.with_name("access.log.1"), "wb") as copy:
            copy.write(source.read())
        os.truncate(log, 0)
        append(log, "b0\n")
        got += await take(lines, 1999, timeout=120)
        await nothing_more(lines, 0.3)
    assert [line.text for line in got] == [f"a{i}" for i in range(2000)] + ["b0"]
    assert f.stats.copies_read == 1


async def test_restart_in_the_middle_of_a_rotation_keeps_reading_the_renamed_file(tmp_path) -> None:
    cp, log = tmp_path / "cp", tmp_path / "app.log"
    writer = open(log, "ab", buffering=0)  # the application, which has not reopened yet
    try:
        writer.write(b"a0\n")
        await ship_and_ack(str(log), cp, 1)
        os.rename(log, tmp_path / "app.log.1")  # rotated while stopped...
        append(log, "b0\n")
        async with follow(str(log), checkpoints=Checkpoints(cp), poll_interval=POLL, rotate_wait=60) as f:
            lines = aiter(f)
            got = [line.text for line in await take(lines, 1)]
            writer.write(b"a1\n")  # ...and the application still writes to the renamed file
            got += [line.text for line in await take(lines, 1)]
            await nothing_more(lines, 0.2)
    finally:
        writer.close()
    assert got == ["b0", "a1"]
