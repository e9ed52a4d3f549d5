"""``streamline topics list | create | describe | delete``."""

from __future__ import annotations

import sys

import typer

from ._app import app, connection
from ._run import run_async

topics_app = typer.Typer(help="List, create, describe and delete topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Print one topic name per line."""
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
    name: str = typer.Argument(..., help="Topic name."),
    partitions: int = typer.Option(1, "--partitions", "-p", min=1, help="Number of partitions."),
    replication_factor: int = typer.Option(1, "--replication-factor", "-r", min=1, help="Copies of each partition."),
) -> None:
    """Create a topic."""
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            await admin.create_topic(name, partitions=partitions, replication_factor=replication_factor)
        sys.stdout.write(f"created topic {name} with {partitions} partition{'s' if partitions != 1 else ''}\n")

    run_async(main)


@topics_app.command("describe")
def describe_command(ctx: typer.Context, name: str = typer.Argument(..., help="Topic name.")) -> None:
    """Print a topic's partitions with their leader, replicas and in-sync replicas."""
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            info = await admin.describe_topic(name)
        sys.stdout.write(
            f"Topic: {info.name}  Partitions: {len(info.partitions)}  "
            f"ReplicationFactor: {info.replication_factor}\n"
        )
        for p in info.partitions:
            sys.stdout.write(
                f"  Partition: {p.partition}  Leader: {p.leader}  "
                f"Replicas: {','.join(map(str, p.replicas))}  Isr: {','.join(map(str, p.isr))}\n"
            )

    run_async(main)


@topics_app.command("delete")
def delete_command(ctx: typer.Context, name: str = typer.Argument(..., help="Topic name.")) -> None:
    """Delete a topic."""
    from .._admin import Admin
    from .._validation import check_topic

    check_topic(name)
    admin = Admin(connection=connection(ctx))

    async def main() -> None:
        async with admin:
            await admin.delete_topic(name)
        sys.stdout.write(f"deleted topic {name}\n")

    run_async(main)
