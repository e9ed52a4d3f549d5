"""Points 1-3 and 7: the API, where following starts, line framing, missing and deleted files."""

from __future__ import annotations

import os

import anyio
import pytest

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._errors import ConfigurationError
from streamline._follow import Follower, Line, follow


async def test_async_with_and_line_fields(log) -> None:
    append(log, "old line\n")
    async with follow(log, poll_interval=POLL) as follower:
        assert isinstance(follower, Follower)
        lines = aiter(follower)
        append(log, "first\nsecond\r\n")
        first, second = await take(lines, 2)
    assert isinstance(first, Line)
    assert (first.path, first.data, first.text) == (str(log), b"first", "first")
    assert (first.offset, first.end_offset) == (9, 15)
    assert (second.data, second.offset, second.end_offset) == (b"second", 15, 23)
    stat = os.stat(log)
    assert (first.identity.device, first.identity.inode) == (stat.st_dev, stat.st_ino)


async def test_plain_async_for(log) -> None:
    append(log, numbered("l", 0, 3))
    seen = []
    async for line in follow(log, start="beginning", poll_interval=POLL):
        seen.append(line.text)
        if len(seen) == 3:
            break
    assert seen == ["l0", "l1", "l2"]


async def test_start_end_beginning_and_offset(log) -> None:
    append(log, "zero\none\ntwo\n")
    async with follow(log, start="beginning", stop_at_eof=True) as f:
        assert [line.text async for line in f] == ["zero", "one", "two"]
    async with follow(log, start=5, stop_at_eof=True) as f:  # the tutorial's SeekInfo
        assert [line.text async for line in f] == ["one", "two"]
    async with follow(log, start="end", poll_interval=POLL) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.2)
        append(log, "three\n")
        assert [line.text for line in await take(lines, 1)] == ["three"]


async def test_start_end_backs_up_to_a_partial_last_line(log) -> None:
    append(log, "done\nhalf a li")  # the writer is in the middle of a line
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "ne\n")
        assert [line.text for line in await take(lines, 1)] == ["half a line"]


async def test_partial_line_held_until_newline(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "GET /ind")
        await nothing_more(lines, 0.3)
        append(log, "ex.html HTTP/1.1\n")
        (line,) = await take(lines, 1)
    assert line.data == b"GET /index.html HTTP/1.1"


async def test_bytes_pass_through_unchanged(log) -> None:
    payload = [b"\xff\xfe invalid utf-8", b"nul\x00inside", bytes(range(0, 10)), b"caf\xc3\xa9", b"cr\ronly"]
    append(log, b"".join(p + b"\n" for p in payload[:3]) + payload[3] + b"\r\n" + payload[4] + b"\n")
    async with follow(log, start="beginning", stop_at_eof=True) as f:
        got = [line async for line in f]
    assert [line.data for line in got] == payload
    assert got[0].text == "\ufffd\ufffd invalid utf-8"
    assert got[3].text == "café"


async def test_missing_file_is_awaited(tmp_path) -> None:
    path = tmp_path / "later.log"
    async with follow(path, poll_interval=POLL) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.2)
        path.write_text("created\n")  # a file that appears is read from its beginning
        assert [line.text for line in await take(lines, 1)] == ["created"]


async def test_must_exist_raises_at_once_naming_the_path(tmp_path) -> None:
    path = tmp_path / "missing.log"
    with anyio.fail_after(60):  # a hang guard: without must_exist it would wait for the file forever
        with pytest.raises(FileNotFoundError) as info:
            async with follow(path, must_exist=True):
                pass
    assert info.value.filename == str(path)
    with pytest.raises(FileNotFoundError, match="No file matches"):
        async for _ in follow(str(tmp_path / "*.nothing"), must_exist=True):
            pass


async def test_a_directory_is_refused_with_must_exist_and_a_warning_without(tmp_path) -> None:
    with pytest.raises(IsADirectoryError):
        async with follow(tmp_path, must_exist=True):
            pass
    other = tmp_path / "other.log"
    other.write_text("still shipped\n")
    async with follow([tmp_path, other], start="beginning", stop_at_eof=True) as f:
        assert [line.text async for line in f] == ["still shipped"]
        assert f.warnings == [f"{tmp_path}: Is a directory"]
        assert f.stats.warnings == 1


async def test_list_of_paths(tmp_path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("a1\n")
    b.write_text("b1\n")
    async with follow([a, str(b)], start="beginning", stop_at_eof=True) as f:
        got = sorted([(os.path.basename(line.path), line.text) async for line in f])
    assert got == [("a.log", "a1"), ("b.log", "b1")]


async def test_final_unterminated_line_is_emitted_when_the_file_is_finished(log) -> None:
    append(log, "a\nlast, no newline")
    async with follow(log, start="beginning", stop_at_eof=True) as f:
        assert [line.text async for line in f] == ["a", "last, no newline"]


async def test_deleted_file_with_reopen_waits_for_the_path(log) -> None:
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "before\n")
        await take(lines, 1)
        log.unlink()
        await nothing_more(lines, 0.3)
        log.write_text("after\n")
        assert [line.text for line in await take(lines, 1)] == ["after"]


async def test_deleted_file_without_reopen_is_finished_and_iteration_ends(log) -> None:
    append(log, "one\n")
    got = []
    with anyio.fail_after(60):
        async with follow(log, start="beginning", reopen=False, poll_interval=POLL, rotate_wait=0.2) as f:
            async for line in f:
                got.append(line.text)
                if line.text == "one":
                    append(log, "two\n")  # written just before the deletion: still read
                    log.unlink()
    assert got == ["one", "two"]


@pytest.mark.parametrize(
    "options",
    [
        {"start": "middle"},
        {"start": -1},
        {"poll_interval": 0},
        {"max_line_bytes": 0},
        {"long_lines": "truncate"},
        {"rate_limit": -5},
        {"rotate_wait": -1},
        {"max_open_files": 0},
        {"max_partial_bytes": -1},
    ],
)
def test_invalid_options_are_rejected_at_construction(log, options) -> None:
    with pytest.raises(ConfigurationError):
        follow(log, **options)


def test_no_paths_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        follow([])
