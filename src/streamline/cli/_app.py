"""The typer application object and the connection options every command shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from .._config import ConnectionConfig

app = typer.Typer(
    name="streamline",
    help="Move data through Apache Kafka: produce, consume, follow files, ship logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    """Connection options given before the command name (or by ``STREAMLINE_*`` variables)."""

    options: dict[str, Any] = field(default_factory=dict)

    def connection(self) -> ConnectionConfig:
        from .._config import ConnectionConfig

        return ConnectionConfig.resolve(**self.options)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"streamline {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    bootstrap_servers: str | None = typer.Option(
        None, "--bootstrap-servers", "-b", envvar="STREAMLINE_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT]. Default: localhost:9092.",
    ),
    connect_timeout: float | None = typer.Option(
        None, "--connect-timeout", envvar="STREAMLINE_CONNECT_TIMEOUT",
        help="Seconds to wait for the cluster to answer before failing. Default: 15.",
    ),
    security_protocol: str | None = typer.Option(
        None, "--security-protocol", envvar="STREAMLINE_SECURITY_PROTOCOL",
        help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (inferred from the options below).",
    ),
    sasl_mechanism: str | None = typer.Option(
        None, "--sasl-mechanism", envvar="STREAMLINE_SASL_MECHANISM",
        help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
    ),
    sasl_username: str | None = typer.Option(
        None, "--sasl-username", envvar="STREAMLINE_SASL_USERNAME", help="SASL user name.",
    ),
    sasl_password: str | None = typer.Option(
        None, "--sasl-password", envvar="STREAMLINE_SASL_PASSWORD", show_default=False,
        help="SASL password (prefer the environment variable: arguments show in `ps`).",
    ),
    ssl_cafile: str | None = typer.Option(
        None, "--ssl-cafile", envvar="STREAMLINE_SSL_CAFILE", help="CA bundle to verify the brokers.",
    ),
    ssl_certfile: str | None = typer.Option(
        None, "--ssl-certfile", envvar="STREAMLINE_SSL_CERTFILE", help="Client certificate (PEM).",
    ),
    ssl_keyfile: str | None = typer.Option(
        None, "--ssl-keyfile", envvar="STREAMLINE_SSL_KEYFILE", help="Client private key (PEM).",
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", envvar="STREAMLINE_LOG_LEVEL",
        help="debug, info, warning (default), error or critical. Set, it shows aiokafka's messages too (condensed).",
    ),
    log_format: str = typer.Option(
        "text", "--log-format", envvar="STREAMLINE_LOG_FORMAT", help="text or json (one object per line)."
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    import os

    from ._logging import configure

    configure(log_level, log_format, debug=os.environ.get("STREAMLINE_DEBUG") == "1")
    ctx.obj = Globals(
        {
            "bootstrap_servers": bootstrap_servers,
            "connect_timeout": connect_timeout,
            "security_protocol": security_protocol,
            "sasl_mechanism": sasl_mechanism,
            "sasl_username": sasl_username,
            "sasl_password": sasl_password,
            "ssl_cafile": ssl_cafile,
            "ssl_certfile": ssl_certfile,
            "ssl_keyfile": ssl_keyfile,
        }
    )


def connection(ctx: typer.Context) -> ConnectionConfig:
    """The connection settings of this invocation (validated; may raise ConfigurationError)."""
    root = ctx.find_root()
    globals_ = root.obj if isinstance(root.obj, Globals) else Globals()
    return globals_.connection()
