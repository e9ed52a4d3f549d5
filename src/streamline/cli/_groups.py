"""``streamline groups list | describe | reset-offsets | delete``: consumer groups, offsets and lag."""

from __future__ import annotations

import sys

import typer

from ._app import app, connection
from ._run import run_async

groups_app = typer.Typer(
    help=(
        "List consumer groups; show their members, offsets and lag; reset offsets; delete groups.\n\n"
        "Example: streamline groups describe shipper"
    ),
    no_args_is_help=True,
)
app.add_typer(groups_app, name="groups")


@groups_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Print one consumer group name per line.

    Example: streamline groups list
    """
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
    group: str = typer.Argument(..., metavar="GROUP", help="Consumer group name."),
    topics: list[str] | None = typer.Option(None, "--topic", "-t", metavar="TOPIC", help="Only this topic (repeatable)."),
) -> None:
    """Print a group's state, its members, then per partition: TOPIC PARTITION COMMITTED LOG-END LAG.

    Members: MEMBER CLIENT-ID HOST PARTITIONS (topic:partition,...). COMMITTED is the next offset
    the group reads ("-" when it committed nothing yet); LAG is LOG-END - COMMITTED.

    Example: streamline groups describe shipper --topic web_log
    """
    from .._groups import GroupAdmin
    from .._validation import check_topics
    from ._topics import write_table

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
        if info.members:
            write_table(
                [["MEMBER", "CLIENT-ID", "HOST", "PARTITIONS"]]
                + [
                    [m.member_id, m.client_id or "-", m.host or "-",
                     ",".join(f"{t}:{p}" for t, p in m.assignment) or "-"]
                    for m in info.members
                ]
            )
            sys.stdout.write("\n")
        write_table(
            [["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"]]
            + [
                [
                    p.topic,
                    str(p.partition),
                    "-" if p.committed is None else str(p.committed),
                    str(p.log_end),
                    "-" if p.lag is None else str(p.lag),
                ]
                for p in info.partitions
            ]
        )

    run_async(main)


@groups_app.command("reset-offsets")
def reset_offsets_command(
    ctx: typer.Context,
    group: str = typer.Argument(..., metavar="GROUP", help="Consumer group name."),
    topics: list[str] = typer.Option(..., "--topic", "-t", metavar="TOPIC", help="Topic to reset (repeatable)."),
    to_earliest: bool = typer.Option(False, "--to-earliest", help="The earliest offset still kept."),
    to_latest: bool = typer.Option(False, "--to-latest", help="The log end: skip everything there is."),
    to_datetime: str | None = typer.Option(
        None, "--to-datetime", metavar="TIME", help="The first offset at or after an ISO-8601 time."
    ),
    to_offset: int | None = typer.Option(None, "--to-offset", min=0, metavar="N", help="Offset N in every partition."),
    shift_by: int | None = typer.Option(None, "--shift-by", metavar="N", help="Move the committed offsets by N."),
    execute: bool = typer.Option(False, "--execute", help="Commit the new offsets (default: only show them)."),
) -> None:
    """Show, and with --execute commit, new offsets for a group with no active members.

    Prints TOPIC PARTITION CURRENT NEW; offsets are clamped to what each partition keeps.
    Without --execute nothing changes (a dry run, as kafka-consumer-groups.sh).

    Example: streamline groups reset-offsets shipper --topic web_log --to-earliest --execute
    """
    from .._errors import ConfigurationError
    from .._groups import GroupAdmin
    from .._validation import check_time, check_topics
    from ._topics import write_table

    check_topics(topics)
    chosen = [
        (flag, value)
        for flag, value in (
            ("--to-earliest", "earliest" if to_earliest else None),
            ("--to-latest", "latest" if to_latest else None),
            ("--to-datetime", check_time(to_datetime, "--to-datetime") if to_datetime is not None else None),
            ("--to-offset", to_offset),
            ("--shift-by", shift_by),
        )
        if value is not None
    ]
    if len(chosen) != 1:
        raise ConfigurationError(
            "give exactly one of --to-earliest, --to-latest, --to-datetime TIME, --to-offset N, --shift-by N"
        )
    flag, value = chosen[0]
    groups = GroupAdmin(connection=connection(ctx))

    async def main() -> None:
        async with groups:
            if flag == "--shift-by":
                plan = await groups.reset_offsets(group, topics, shift_by=shift_by, execute=execute)
            else:
                plan = await groups.reset_offsets(group, topics, to=value, execute=execute)
        write_table(
            [["TOPIC", "PARTITION", "CURRENT", "NEW"]]
            + [[r.topic, str(r.partition), "-" if r.current is None else str(r.current), str(r.new)] for r in plan]
        )
        if execute:
            sys.stderr.write(f"committed new offsets for group {group} on {len(plan)} partitions\n")
        else:
            sys.stderr.write("dry run: nothing changed; add --execute to commit these offsets\n")

    run_async(main)


@groups_app.command("delete")
def delete_command(
    ctx: typer.Context,
    group: str = typer.Argument(..., metavar="GROUP", help="Consumer group name."),
    if_exists: bool = typer.Option(False, "--if-exists", help="A missing group is not an error."),
) -> None:
    """Delete a consumer group with no active members, and its committed offsets.

    Example: streamline groups delete old-shipper
    """
    from .._groups import GroupAdmin

    groups = GroupAdmin(connection=connection(ctx))

    async def main() -> None:
        async with groups:
            deleted = await groups.delete_group(group, missing_ok=if_exists)
        sys.stdout.write(f"deleted group {group}\n" if deleted else f"group {group} does not exist\n")

    run_async(main)
