"""The typer application object and the options every command shares."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="streamline",
    help="Move data through Apache Kafka: produce, consume, follow files, ship logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
