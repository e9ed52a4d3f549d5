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
