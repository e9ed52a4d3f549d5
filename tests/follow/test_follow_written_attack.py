"""Attacks on inotify's "written" events: a write makes the reader fstat the file it holds and
not look at its path. Renames, truncations and replacements that land together with writes
(all between two looks of the follower: everything a test does between two awaits is queued
as one batch of events) must still lose no line."""

from __future__ import annotations

import os
from pathlib import Path

from follow_helpers import POLL, append, numbered, take

from streamline._follow import follow


def texts(lines) -> list[str]:
    return [line.text for line in lines]


def by_prefix(lines, prefix: str) -> list[str]:
    return [t for t in texts(lines) if t.startswith(prefix)]


async def test_rename_and_create_in_one_gap_while_the_writer_keeps_writing_the_old_file(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    writer = open(log, "ab", buffering=0)  # noqa: ASYNC230 - the application's, kept open
    try:
        async with follow(str(log), start="beginning", poll_interval=POLL) as f:
            lines = aiter(f)
            writer.write(numbered("a", 0, 5).encode())
            assert texts(await take(lines, 5)) == [f"a{i}" for i in range(5)]
            # One burst, no await in between: events for all of it queue up together.
            writer.write(numbered("a", 5, 10).encode())
            log.rename(tmp_path / "app.log.1")
            writer.write(numbered("a", 10, 15).encode())
            append(log, numbered("b", 0, 5))
            writer.write(numbered("a", 15, 20).encode())
            append(log, numbered("b", 5, 10))
            got = await take(lines, 25)
            assert by_prefix(got, "a") == [f"a{i}" for i in range(5, 20)]
            assert by_prefix(got, "b") == [f"b{i}" for i in range(10)]
            # The old file keeps growing after the rotation was seen (writes to a file no
            # longer at a followed path), and the new one too.
            writer.write(b"a20\n")
            append(log, "b10\n")
            got = await take(lines, 2)
            assert sorted(texts(got)) == ["a20", "b10"]
    finally:
        writer.close()


async def test_copytruncate_between_writes_in_one_gap(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with follow(str(log), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, numbered("a", 0, 3))
        assert texts(await take(lines, 3)) == ["a0", "a1", "a2"]
        append(log, numbered("a", 3, 8))  # not read yet when the copy is made
        (tmp_path / "app.log.1").write_bytes(log.read_bytes())
        os.truncate(log, 0)
        append(log, numbered("c", 0, 4))
        got = await take(lines, 9)
        assert by_prefix(got, "a") == [f"a{i}" for i in range(3, 8)]
        assert by_prefix(got, "c") == [f"c{i}" for i in range(4)]


async def test_truncate_and_rewrite_to_the_same_size_then_more_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with follow(str(log), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, numbered("old", 0, 10))
        assert texts(await take(lines, 10)) == [f"old{i}" for i in range(10)]
        # Same size, other bytes (O_TRUNC then write): only "written" events, and the size
        # the reader knows is the size it sees.
        with open(log, "wb") as rewrite:  # noqa: ASYNC230
            rewrite.write(numbered("new", 0, 10).encode())
        assert log.stat().st_size == len(numbered("old", 0, 10))
        append(log, "tail\n")
        # The rewritten file is read again from its start: all of its lines, then "tail".
        assert texts(await take(lines, 11)) == [f"new{i}" for i in range(10)] + ["tail"]


async def test_truncate_and_rewrite_to_the_same_size_alone(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    async with follow(str(log), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "old-0\nold-1\n")
        assert texts(await take(lines, 2)) == ["old-0", "old-1"]
        with open(log, "wb") as rewrite:  # noqa: ASYNC230
            rewrite.write(b"new-0\nnew-1\n")  # the same 12 bytes, other lines
        assert texts(await take(lines, 2)) == ["new-0", "new-1"]


async def test_replaced_by_mv_of_a_file_with_the_same_first_kib(tmp_path: Path) -> None:
    head = b"".join(b"header line %04d of a long preamble\n" % i for i in range(40))  # > 1 KiB
    log = tmp_path / "app.log"
    log.write_bytes(head + b"old tail\n")
    async with follow(str(log), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        got = await take(lines, 41)
        assert texts(got)[-1] == "old tail"
        other = tmp_path / "staging.tmp"
        other.write_bytes(head + b"new 0\nnew 1\n")  # same first KiB
        os.replace(other, log)
        append(log, "new 2\n")
        got = await take(lines, 43)
        assert texts(got)[-3:] == ["new 0", "new 1", "new 2"]
        assert texts(got)[:40] == head.decode().splitlines()  # the new file, read from 0


async def test_many_files_written_at_once(tmp_path: Path) -> None:
    paths = [tmp_path / f"f{i:03d}.log" for i in range(200)]
    for path in paths:
        path.write_bytes(b"")
    async with follow(str(tmp_path / "*.log"), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        for round_ in range(3):  # each round: every file written, some renamed and recreated
            for i, path in enumerate(paths):
                append(path, f"{path.name}:{round_}\n")
                if round_ == 1 and i % 50 == 0:
                    path.rename(path.with_suffix(".old"))
                    append(path, f"{path.name}:{round_}:new\n")
        got = texts(await take(lines, 3 * 200 + 4))
    assert len(got) == len(set(got))
    expected = {f"{p.name}:{r}" for p in paths for r in range(3)}
    expected |= {f"{p.name}:1:new" for i, p in enumerate(paths) if i % 50 == 0}
    assert set(got) == expected
