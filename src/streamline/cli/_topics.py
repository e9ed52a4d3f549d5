"""``streamline topics list | create | describe | alter | delete | offsets`` and ``streamline cluster``."""

from __future__ import annotations

import sys

import typer

from ._app import app, connection
from ._run import run_async

topics_app = typer.Typer(
    help=(
        "List, create, describe, alter and delete topics; show their offsets.\n\n"
        "Example: streamline topics create web_log --partitions 3"
    ),
    no_args_is_help=True,
)
app.add_typer(topics_app, name="topics")

_CONFIG_HELP = "A topic setting K=V, e.g. retention.ms=86400000 or cleanup.policy=compact (repeatable)."


def parse_configs(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a pair without ``=`` or with an empty name is a usage error."""
    from .._errors import ConfigurationError

    configs: dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"--config takes K=V, e.g. retention.ms=86400000 (got {pair!r})")
        configs[name.strip()] = value
    return configs


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@topics_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Print one topic name per line.

    Example: streamline topics list
    """
    from .._admin import Admin

    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            for name in await admin.list_topics():
                sys.stdout.write(name + "\n")

    run_async(main)


@topics_app.command("create")
def create_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="TOPIC", help="Topic name."),
    partitions: int = typer.Option(1, "--partitions", "-p", min=1, metavar="N", help="Number of partitions."),
    replication_factor: int = typer.Option(1, "--replication-factor", "-r", min=1, metavar="N", help="Copies of each partition."),
    config: list[str] | None = typer.Option(None, "--config", "-c", metavar="K=V", help=_CONFIG_HELP),
    if_not_exists: bool = typer.Option(False, "--if-not-exists", help="An existing topic is not an error."),
) -> None:
    """Create a topic.

    Example: streamline topics create web_log --partitions 3 --config retention.ms=86400000
    """
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    configs = parse_configs(config)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            existed = if_not_exists and await admin.topic_exists(name)
            if not existed:
                await admin.create_topic(
                    name, partitions=partitions, replication_factor=replication_factor,
                    config=configs, exist_ok=if_not_exists,
                )
        if existed:
            sys.stdout.write(f"topic {name} exists already\n")
        else:
            sys.stdout.write(f"created topic {name} with {_plural(partitions, 'partition')}\n")

    run_async(main)


@topics_app.command("describe")
def describe_command(ctx: typer.Context, name: str = typer.Argument(..., metavar="TOPIC", help="Topic name.")) -> None:
    """Print a topic's partitions (leader, replicas, in-sync replicas) and its configuration.

    Example: streamline topics describe web_log
    """
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            info = await admin.describe_topic(name)
            configs = await admin.describe_configs(name)
        sys.stdout.write(
            f"Topic: {info.name}  Partitions: {len(info.partitions)}  "
            f"ReplicationFactor: {info.replication_factor}\n"
        )
        for p in info.partitions:
            sys.stdout.write(
                f"  Partition: {p.partition}  Leader: {p.leader}  "
                f"Replicas: {','.join(map(str, p.replicas))}  Isr: {','.join(map(str, p.isr))}\n"
            )
        sys.stdout.write("Configs:" + ("" if configs else " (none reported)") + "\n")
        for key, value in configs.items():
            sys.stdout.write(f"  {key}={value}\n")

    run_async(main)


@topics_app.command("alter")
def alter_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="TOPIC", help="Topic name."),
    config: list[str] | None = typer.Option(None, "--config", "-c", metavar="K=V", help=_CONFIG_HELP),
    partitions: int | None = typer.Option(
        None, "--partitions", "-p", min=1, metavar="N", help="Grow the topic to N partitions (never shrinks)."
    ),
) -> None:
    """Change a topic's settings or grow its partition count.

    Example: streamline topics alter web_log --config retention.ms=3600000 --partitions 6
    """
    from .._admin import Admin
    from .._errors import ConfigurationError
    from .._validation import check_topic

    check_topic(name)
    configs = parse_configs(config)
    if not configs and partitions is None:
        raise ConfigurationError("nothing to change: give --config K=V and/or --partitions N")
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            if configs:
                await admin.alter_configs(name, configs)
                sys.stdout.write(f"set {', '.join(f'{k}={v}' for k, v in configs.items())} on topic {name}\n")
            if partitions is not None:
                await admin.create_partitions(name, partitions)
                sys.stdout.write(f"topic {name} now has {_plural(partitions, 'partition')}\n")

    run_async(main)


@topics_app.command("offsets")
def offsets_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="TOPIC", help="Topic name."),
    time: str | None = typer.Option(
        None, "--time", "-t", metavar="TIME",
        help="Also show the first offset at or after this ISO-8601 time (naive times are local time).",
    ),
) -> None:
    """Print PARTITION LOW HIGH MESSAGES per partition (kafka-get-offsets), and AT-TIME with --time.

    Example: streamline topics offsets web_log --time 2026-12-01T00:00:00Z
    """
    from .._admin import Admin
    from .._validation import check_time, check_topic

    check_topic(name)
    when = check_time(time, "--time") if time is not None else None
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            offsets = await admin.topic_offsets(name, at=when)
        header = ["PARTITION", "LOW", "HIGH", "MESSAGES"] + (["AT-TIME"] if when else [])
        rows = [header] + [
            [str(p.partition), str(p.low), str(p.high), str(p.high - p.low)]
            + ([("-" if p.at is None else str(p.at))] if when else [])
            for p in offsets
        ]
        write_table(rows)

    run_async(main)


def write_table(rows: list[list[str]]) -> None:
    """Left-aligned columns separated by two spaces, like the kafka-*.sh tools print."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


@app.command("cluster")
def cluster_command(ctx: typer.Context) -> None:
    """Print the cluster id, the controller, every broker and the topic count (kcat -L in short).

    Example: streamline -b kafka1:9092 cluster
    """
    from .._admin import Admin

    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            info = await admin.describe_cluster()
        sys.stdout.write(
            f"Cluster: {info.cluster_id or '-'}  Controller: "
            f"{'-' if info.controller_id is None else info.controller_id}  "
            f"Brokers: {len(info.brokers)}  Topics: {info.topics}\n"
        )
        for b in info.brokers:
            role = "  (controller)" if b.node_id == info.controller_id else ""
            rack = f"  rack {b.rack}" if b.rack else ""
            sys.stdout.write(f"  broker {b.node_id} at {b.host}:{b.port}{rack}{role}\n")

    run_async(main)


@topics_app.command("delete")
def delete_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="TOPIC", help="Topic name."),
    if_exists: bool = typer.Option(False, "--if-exists", help="A missing topic is not an error."),
) -> None:
    """Delete a topic.

    Example: streamline topics delete web_log --if-exists
    """
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            deleted = await admin.delete_topic(name, missing_ok=if_exists)
        sys.stdout.write(f"deleted topic {name}\n" if deleted else f"topic {name} does not exist\n")

    run_async(main)
