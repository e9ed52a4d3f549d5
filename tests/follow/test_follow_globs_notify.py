"""Points 8-9: globs (new files, per-file order, fairness) and change notification vs polling."""

from __future__ import annotations

import os
import time

import anyio

from follow_helpers import POLL, append, nothing_more, numbered, take
from streamline._follow import follow, watch
from streamline._follow.files import CHUNK_BYTES
from streamline._follow.reader import RESCAN_SECONDS


async def test_new_files_matching_a_glob_are_picked_up(tmp_path) -> None:
    (tmp_path / "a.log").write_text("a0\n")
    (tmp_path / "ignored.txt").write_text("x\n")
    async with follow(str(tmp_path / "*.log"), start="beginning", poll_interval=POLL) as f:
        lines = aiter(f)
        assert [line.text for line in await take(lines, 1)] == ["a0"]
        (tmp_path / "b.log").write_text("b0\nb1\n")
        append(tmp_path / "a.log", "a1\n")
        got = await take(lines, 3)
        await nothing_more(lines, 0.2)
        assert f.stats.files == 2
    by_file: dict[str, list[str]] = {}
    for line in got:
        by_file.setdefault(line.path.rsplit("/", 1)[1], []).append(line.text)
    assert by_file == {"a.log": ["a1"], "b.log": ["b0", "b1"]}


async def test_each_file_in_order_and_a_busy_file_does_not_starve_the_others(tmp_path) -> None:
    busy, quiet = tmp_path / "busy.log", tmp_path / "quiet.log"
    busy.write_text(numbered("busy", 0, 400_000))  # several chunks
    quiet.write_text("quiet0\nquiet1\n")
    async with follow(str(tmp_path / "*.log"), start="beginning", stop_at_eof=True) as f:
        order = [line async for line in f]
    busy_lines = [line.text for line in order if line.path.endswith("busy.log")]
    assert busy_lines == [f"busy{i}" for i in range(400_000)]
    first_quiet = next(i for i, line in enumerate(order) if line.path.endswith("quiet.log"))
    # Round-robin with at most one chunk per turn: the quiet file comes within the first chunk.
    assert first_quiet <= CHUNK_BYTES // len("busy0\n") + 1


async def test_rotated_file_matched_by_the_glob_is_not_read_twice(tmp_path) -> None:
    log = tmp_path / "app.log"
    log.write_text("")
    async with follow(str(tmp_path / "app.log*"), poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "one\n")
        await take(lines, 1)
        log.rename(tmp_path / "app.log.1")
        append(log, "two\n")
        assert [line.text for line in await take(lines, 1)] == ["two"]
        await nothing_more(lines, 0.4)


async def test_notification_reacts_long_before_the_poll_interval(log) -> None:
    async with follow(log, poll_interval=3600.0) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.2)
        assert f._reader._waiter.notifying
        append(log, "now\n")
        await take(lines, 1, timeout=120)  # the hourly poll could not have delivered it


async def test_polling_when_notification_is_off(log) -> None:
    async with follow(log, notify=False, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "polled\n")
        assert [line.text for line in await take(lines, 1)] == ["polled"]
        assert not f._reader._waiter.notifying


async def test_falls_back_to_polling_when_notification_is_unavailable(log, monkeypatch) -> None:
    def unavailable(*args: object) -> None:
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(watch, "Inotify", unavailable)  # Linux: inotify directly
    monkeypatch.setattr(watch, "RustNotify", unavailable)  # then watchfiles
    async with follow(log, poll_interval=POLL) as f:
        lines = aiter(f)
        append(log, "still works\n")
        assert [line.text for line in await take(lines, 1)] == ["still works"]
        assert not f._reader._waiter.notifying


async def test_watchfiles_takes_over_where_inotify_is_unavailable(log, monkeypatch) -> None:
    monkeypatch.setattr(watch, "Inotify", None)  # as on macOS: watchfiles' backend
    async with follow(log, poll_interval=3600.0) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.2)
        assert f._reader._waiter.notifying and f._reader._waiter._watcher is not None
        append(log, "now\n")
        assert [line.text for line in await take(lines, 1, timeout=120)] == ["now"]  # not the hourly poll


async def test_notification_wakes_the_follower_at_a_steady_rate(log) -> None:
    """Append -> line handed out, at ~200 lines/s, with polling slowed to once an hour: every line must come
    through notification. (Latency figures belong to the benchmarks, not to assertions here.)"""
    async with follow(log, poll_interval=3600.0) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.1)
        for i in range(150):
            append(log, f"line {i}\n")
            (line,) = await take(lines, 1, timeout=120)  # the hourly poll could not deliver it
            assert line.text == f"line {i}"
            await anyio.sleep(0.002)


async def test_watchfiles_rust_notify_still_has_the_shape_watch_py_relies_on(tmp_path) -> None:
    """watch.py is the one place that uses watchfiles' private RustNotify: fail loudly here if
    its constructor, ``watch(debounce_ms, step_ms, timeout_ms, stop_event)`` or results change."""
    assert watch.RustNotify is not None
    watcher = watch.RustNotify([str(tmp_path)], False, False, 0, False, True)
    try:
        assert watcher.watch(10, 5, 20, None) == "timeout"
        (tmp_path / "new.log").write_text("x\n")
        changes = watcher.watch(10, 5, 2000, None)
        assert isinstance(changes, set) and changes
        kind, path = next(iter(changes))
        assert isinstance(kind, int) and path.startswith(str(tmp_path))
        (tmp_path / "new.log").write_text("y\n")
        changes = watcher.watch(10, 5, 2000, None)
        assert (watch.MODIFIED, str(tmp_path / "new.log")) in changes
    finally:
        watcher.close()


async def test_a_write_to_one_of_many_files_does_not_look_at_every_file(tmp_path) -> None:
    paths = [tmp_path / f"f{i}.log" for i in range(50)]
    for path in paths:
        append(path, "")
    async with follow(str(tmp_path / "*.log"), poll_interval=0.05) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.3)
        assert f._reader._waiter.notifying and f._reader._all_watched
        looks = f._reader._scan_now
        count = [0]

        async def counted() -> None:
            count[0] += 1
            await looks()

        f._reader._scan_now = counted  # type: ignore[method-assign]
        started = time.monotonic()
        for i in range(20):
            append(paths[7], f"line {i}\n")
            assert [line.text for line in await take(lines, 1)] == [f"line {i}"]
        elapsed = time.monotonic() - started
    # Polling would look at everything every 0.05 s, and a look after every wake-up at least
    # 20 times; notification of writes to a followed file only measures that file. Full looks
    # still happen every RESCAN_SECONDS, however long this took on a busy machine.
    assert count[0] <= elapsed / RESCAN_SECONDS + 2


async def test_writes_to_other_files_in_the_directory_do_not_trigger_full_looks(tmp_path) -> None:
    ours, other = tmp_path / "app.log", tmp_path / "syslog"
    append(ours, "")
    append(other, "")
    async with follow(str(tmp_path / "*.log"), poll_interval=0.05) as f:
        lines = aiter(f)
        await nothing_more(lines, 0.3)
        looks = f._reader._scan_now
        count = [0]

        async def counted() -> None:
            count[0] += 1
            await looks()

        f._reader._scan_now = counted  # type: ignore[method-assign]
        started = time.monotonic()
        for i in range(20):
            append(other, f"noise {i}\n")  # a busy neighbour
            await nothing_more(lines, 0.05)
        append(ours, "ours\n")
        assert [line.text for line in await take(lines, 1)] == ["ours"]
        elapsed = time.monotonic() - started
    assert count[0] <= elapsed / RESCAN_SECONDS + 2


async def test_a_write_needs_no_look_at_the_path_any_other_change_does(tmp_path) -> None:
    """inotify's "written" (the file's bytes changed) leaves the file at its path, so only its
    size is taken; "modified" (attributes, link count: maybe a deletion or rename) makes the
    reader check that the path still holds the file, and take a full look when it does not."""
    log = tmp_path / "app.log"
    append(log, "")
    async with follow(str(log)) as f:
        reader, path = f._reader, os.path.realpath(log)
        append(log, "one\n")
        assert reader._grown_only({(watch.WRITTEN, path)})
        assert [line.text for line in await take(aiter(f), 1)] == ["one"]
        log.rename(tmp_path / "app.log.1")
        append(log, "")  # another file at the path now
        assert not reader._grown_only({(watch.MODIFIED, path)})
