"""``streamline follow``: print lines of files as they are written, like ``tail -F``."""

from __future__ import annotations

import os
import sys

import typer

from ._app import app
from ._run import run_async


def parse_start(value: str) -> str | int:
    """``--from``: ``end``, ``beginning`` or a byte offset."""
    if value in ("end", "beginning"):
        return value
    if value.isdigit():
        return int(value)
    raise typer.BadParameter(f"expected end, beginning or a byte offset (got {value!r})")


@app.command("follow")
def follow_command(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="Files or quoted globs to follow."),
    start: str = typer.Option("end", "--from", metavar="WHERE", help="end, beginning, or a byte OFFSET."),
    must_exist: bool = typer.Option(False, "--must-exist", help="Fail if a file is missing."),
    checkpoints: str | None = typer.Option(
        None, "--checkpoints", metavar="DIR", help="Save positions here after printing; resume."
    ),
    once: bool = typer.Option(False, "--once", help="Exit 0 once every file is read to its end."),
    exclude: list[str] = typer.Option([], "--exclude", metavar="PATTERN", help="Skip files matching PATTERN (path or name)."),
) -> None:
    """Print the lines of PATH... as they are appended; survives rotation and truncation.

    Lines are printed byte for byte, without their line ending, followed by a newline. With
    --checkpoints a line counts as done once printed; a restart resumes after it.

    Example: streamline follow /var/log/syslog --from beginning --once
    """
    from .._follow import follow
    from .._follow.files import path_problems

    # Like tail: a directory or an unreadable file is an error (exit 1); a missing file is
    # waited for (an error only with --must-exist).
    for problem in path_problems(paths):
        if must_exist or not isinstance(problem, FileNotFoundError):
            raise problem
    follower = follow(
        paths,
        start=parse_start(start),  # type: ignore[arg-type]  # checked by parse_start
        must_exist=must_exist,
        checkpoints=os.path.expanduser(checkpoints) if checkpoints else checkpoints,  # `--checkpoints=~/x`
        stop_at_eof=once,
        exclude=exclude,
    )

    async def main() -> None:
        out = sys.stdout.buffer
        async with follower:
            async for batch in follower.batches():
                out.write(b"\n".join(batch.data))
                out.write(b"\n")
                out.flush()
                batch.ack()

    run_async(main)
