"""More files than the open-file limit (issue 11, point 5): descriptors stay bounded, idle files
are closed and reopened when they grow, EMFILE is not fatal, and every line arrives.

The limit is lowered in a child process (``resource.setrlimit``), so the test process keeps
its own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, resource, sys
    import anyio
    from streamline._follow import follow

    directory, files, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    async def main():
        paths = [os.path.join(directory, f"f{i:04d}.log") for i in range(files)]
        for path in paths:
            with open(path, "w") as file:
                file.write(f"{os.path.basename(path)} first\\n")
        got, most_open = [], 0
        async with follow(os.path.join(directory, "*.log"), start="beginning", poll_interval=0.05) as f:
            lines = aiter(f)
            with anyio.fail_after(120):
                while len(got) < files:
                    got.append((await lines.__anext__()).text)
                    most_open = max(most_open, f.stats.files_open)
                for path in paths:  # every file grows again, after most were closed
                    with open(path, "a") as file:
                        file.write(f"{os.path.basename(path)} second\\n")
                # New files appear while at the limit.
                for i in range(files, files + 20):
                    with open(os.path.join(directory, f"f{i:04d}.log"), "w") as file:
                        file.write(f"f{i:04d}.log first\\n")
                while len(got) < 2 * files + 20:
                    got.append((await lines.__anext__()).text)
                    most_open = max(most_open, f.stats.files_open)
            stats = f.stats
        print(json.dumps({"lines": got, "most_open": most_open, "closed_idle": stats.files_closed_idle,
                          "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))

    asyncio.run(main())
    """
)


def test_three_times_more_files_than_the_descriptor_limit(tmp_path) -> None:
    files, limit = 300, 100
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), str(files), str(limit)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    expected = {f"f{i:04d}.log first" for i in range(files + 20)}
    expected |= {f"f{i:04d}.log second" for i in range(files)}
    assert sorted(result["lines"]) == sorted(expected)  # each line once, none lost
    assert result["soft"] == limit
    assert result["most_open"] <= limit // 2  # the default: half the process limit
    assert result["closed_idle"] > 0


async def test_a_file_closed_for_the_limit_and_rotated_meanwhile_is_read_to_its_end(tmp_path) -> None:
    import os

    from follow_helpers import POLL, append, nothing_more, take
    from streamline._follow import follow

    paths = [tmp_path / f"{name}.log" for name in "abc"]
    for path in paths:
        append(path, f"{path.stem}0\n")
    async with follow([str(p) for p in paths], start="beginning", poll_interval=POLL, max_open_files=1) as f:
        lines = aiter(f)
        assert sorted(line.text for line in await take(lines, 3)) == ["a0", "b0", "c0"]
        await nothing_more(lines, 0.2)
        assert f.stats.files_open <= 1 and f.stats.files_closed_idle >= 2
        closed = next(p for p, tracked in zip(paths, f._reader._tracked(), strict=False) if tracked.fd is None)
        append(closed, f"{closed.stem}1\n")  # grows while closed...
        os.rename(closed, closed.with_name(closed.name + ".1"))  # ...and is rotated before we look
        append(closed, f"{closed.stem}-new\n")
        got = [line.text for line in await take(lines, 2)]
        await nothing_more(lines, 0.2)
    assert got == [f"{closed.stem}1", f"{closed.stem}-new"]


async def test_partial_lines_beyond_the_memory_cap_are_dropped_and_read_again(tmp_path) -> None:
    from follow_helpers import POLL, append, nothing_more, take
    from streamline._follow import follow

    paths = [tmp_path / f"f{i}.log" for i in range(8)]
    for path in paths:
        append(path, f"{path.stem} complete\n{path.stem} partial " + "x" * 5000)  # no newline yet
    async with follow(str(tmp_path / "*.log"), start="beginning", poll_interval=POLL, max_partial_bytes=12_000) as f:
        lines = aiter(f)
        assert len(await take(lines, 8)) == 8
        await nothing_more(lines, 0.3)
        assert f.stats.partial_lines_released > 0
        assert f._reader._held <= 12_000
        for path in paths:
            append(path, " end\n")
        got = [line.text for line in await take(lines, 8)]
        await nothing_more(lines, 0.2)
    assert sorted(got) == sorted(f"{p.stem} partial " + "x" * 5000 + " end" for p in paths)
