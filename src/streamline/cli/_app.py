"""The typer application object and the connection options every command shares.

Commands live in their own modules and are imported only when named on the command line (or
listed by ``--help``): ``COMMANDS`` maps each to its module, in the order ``--help`` lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ._globals import Globals
from ._typer_glue import LazyGroup

if TYPE_CHECKING:
    from .._config import ConnectionConfig

#: Every command, in the order ``streamline --help`` lists them, and the module defining it.
COMMANDS: dict[str, str] = {
    "produce": "._produce",
    "consume": "._consume",
    "ship": "._ship",
    "agent": "._agent",
    "run": "._run_pipeline",
    "topics": "._topics",
    "groups": "._groups",
    "cluster": "._topics",
    "top": "._top",
    "follow": "._follow",
    "broker": "._broker",
    "demo": "._demo",
}

app = typer.Typer(
    name="streamline",
    help=(
        "Move data through Apache Kafka: produce, consume, follow files, ship logs.\n\n"
        "The options below apply to every command and may also follow the command name.\n\n"
        "Example: streamline -b kafka1:9092 consume web_log --from beginning"
    ),
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"streamline {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    bootstrap_servers: str | None = typer.Option(
        None, "--bootstrap-servers", "-b", envvar="STREAMLINE_BOOTSTRAP_SERVERS", metavar="HOST:PORT",
        help="Kafka bootstrap servers, comma-separated for several. Default: localhost:9092.",
    ),
    connect_timeout: float | None = typer.Option(
        None, "--connect-timeout", envvar="STREAMLINE_CONNECT_TIMEOUT", metavar="SECONDS",
        help="Seconds to wait for the cluster to answer before failing. Default: 15.",
    ),
    security_protocol: str | None = typer.Option(
        None, "--security-protocol", envvar="STREAMLINE_SECURITY_PROTOCOL", metavar="PROTOCOL",
        help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (inferred from the options below).",
    ),
    sasl_mechanism: str | None = typer.Option(
        None, "--sasl-mechanism", envvar="STREAMLINE_SASL_MECHANISM", metavar="MECHANISM",
        help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.",
    ),
    sasl_username: str | None = typer.Option(
        None, "--sasl-username", envvar="STREAMLINE_SASL_USERNAME", metavar="USER", help="SASL user name.",
    ),
    sasl_password: str | None = typer.Option(
        None, "--sasl-password", envvar="STREAMLINE_SASL_PASSWORD", metavar="PASSWORD", show_default=False,
        help="SASL password (prefer the environment variable: arguments show in `ps`).",
    ),
    ssl_cafile: str | None = typer.Option(
        None, "--ssl-cafile", envvar="STREAMLINE_SSL_CAFILE", metavar="FILE", help="CA bundle to verify the brokers.",
    ),
    ssl_certfile: str | None = typer.Option(
        None, "--ssl-certfile", envvar="STREAMLINE_SSL_CERTFILE", metavar="FILE", help="Client certificate (PEM).",
    ),
    ssl_keyfile: str | None = typer.Option(
        None, "--ssl-keyfile", envvar="STREAMLINE_SSL_KEYFILE", metavar="FILE", help="Client private key (PEM).",
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", envvar="STREAMLINE_LOG_LEVEL", metavar="LEVEL",
        help="debug, info, warning (default), error or critical. Set, it shows aiokafka's messages too (condensed).",
    ),
    log_format: str = typer.Option(
        "text", "--log-format", envvar="STREAMLINE_LOG_FORMAT", metavar="FORMAT",
        help="text or json (one object per line).",
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    globals_ = Globals(
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
        },
        log_level,
        log_format,
    )
    globals_.configure_logging()
    ctx.obj = globals_


def globals_of(ctx: Any) -> Globals:
    """The :class:`Globals` of this invocation (a fresh one when the root callback did not run)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def connection(ctx: typer.Context) -> ConnectionConfig:
    """The connection settings of this invocation (validated; may raise ConfigurationError)."""
    return globals_of(ctx).connection()
