"""``streamline groups list | describe``: consumer groups, their committed offsets and lag."""

from __future__ import annotations

import sys

import typer

from ._app import app, connection
from ._run import run_async

groups_app = typer.Typer(help="List consumer groups; show their offsets and lag.", no_args_is_help=True)
app.add_typer(groups_app, name="groups")


@groups_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Print one consumer group name per line."""
    from .._groups import GroupAdmin

    groups = GroupAdmin(connection=connection(ctx))

    async def main() -> None:
        async with groups:
            for name in await groups.list_groups():
                sys.stdout.write(name + "\n")

    run_async(main)


@groups_app.command("describe")
def describe_command(
    ctx: typer.Context,
    group: str = typer.Argument(..., help="Consumer group name."),
    topics: list[str] | None = typer.Option(None, "--topic", "-t", help="Only this topic (repeatable)."),
) -> None:
    """Print a group's state, then per partition: TOPIC PARTITION COMMITTED LOG-END LAG.

    COMMITTED is the next offset the group reads ("-" when it committed nothing yet); LAG is
    LOG-END - COMMITTED.
    """
    from .._groups import GroupAdmin
    from .._validation import check_topics

    if topics:
        check_topics(topics)
    groups = GroupAdmin(connection=connection(ctx))

    async def main() -> None:
        async with groups:
            info = await groups.describe_group(group, topics=topics or None)
        if info.note:
            sys.stderr.write(f"streamline: note: {info.note}; showing offsets only\n")
        sys.stdout.write(
            f"Group: {info.group}  State: {info.state}  Members: {len(info.members)}  Lag: {info.lag}\n"
        )
        rows = [("TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG")] + [
            (
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                str(p.log_end),
                "-" if p.lag is None else str(p.lag),
            )
            for p in info.partitions
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() + "\n")

    run_async(main)
