"""Entry point: runs the CLI and turns expected failures into one line and an exit code.

Exit codes: 0 success (also after Ctrl-C / SIGTERM, and when the reader of stdout went away),
1 a runtime failure (broker unreachable, topic missing, grace period exceeded, ...), 2 bad usage
or an invalid option value, 130 a second signal. ``STREAMLINE_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``streamline: error: message`` to stderr and exit."""
    sys.stderr.write(f"streamline: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def run_async(make: Callable[[], Awaitable[T]]) -> T | None:
    """Run a command's coroutine with the one shutdown path (see ``_shutdown``): the first
    SIGINT/SIGTERM stops it gracefully (exit 0), a second exits 130 within about two seconds."""
    import asyncio

    from ._shutdown import SECOND_SIGNAL_EXIT, begin

    shutdown = begin()

    async def runner() -> T:
        shutdown.install()  # removed only when the loop closes: cleanup is covered too
        return await make()

    try:
        result: T | None = asyncio.run(runner())
    except (KeyboardInterrupt, asyncio.CancelledError):
        result = None
        if not shutdown.signals:
            raise SystemExit(0) from None
    except BrokenPipeError:
        reader_left()
    if shutdown.signals >= 2:
        raise SystemExit(SECOND_SIGNAL_EXIT)
    return result


def reader_left() -> NoReturn:
    """``streamline consume t | head -1``: the reader went away. That is not an error: exit 0
    quietly (and keep Python from complaining while flushing stdout at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI with typer (``streamline.cli.main`` answers ``--help``/``--version`` first)."""
    import typer

    try:  # typer >= 0.22 vendors click
        from typer._click import exceptions as click_exc
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import exceptions as click_exc  # type: ignore[no-redef,import-not-found,unused-ignore]

    from ._app import app
    from ._logging import configure
    from ._typer_glue import plain_coercion

    command = plain_coercion(typer.main.get_command(app))
    # Until the options are read: streamline's warnings only (aiokafka's failures are reported
    # by streamline's own one-line errors); `--log-level` and friends reconfigure this.
    configure(debug=os.environ.get("STREAMLINE_DEBUG") == "1")

    def typer_main() -> Any:
        try:
            return command.main(args=argv, prog_name="streamline", standalone_mode=False)
        except typer.Exit as exc:
            raise SystemExit(exc.exit_code) from None
        except typer.Abort:
            raise SystemExit(0) from None
        except click_exc.NoArgsIsHelpError as exc:
            exc.show()
            raise SystemExit(2) from None
        except click_exc.UsageError as exc:
            fail(usage_error(exc), 2)

    return guarded(typer_main)


def guarded(call: Callable[[], Any]) -> None:
    """Run a command (``call``): its expected failures become one line and an exit code
    (``ConfigurationError`` 2, other failures 1), a non-zero int result the exit code."""
    from .._errors import ConfigurationError, StreamlineError

    debug = os.environ.get("STREAMLINE_DEBUG") == "1"
    try:
        result = call()
    except ConfigurationError as exc:
        fail(str(exc), 2)
    except StreamlineError as exc:
        if debug:
            raise
        fail(str(exc), 1)
    except BrokenPipeError:
        reader_left()
    except KeyboardInterrupt:
        raise SystemExit(0) from None
    except FileNotFoundError as exc:
        if debug:
            raise
        fail(f"{exc.strerror or 'not found'}: {exc.filename}" if exc.filename else str(exc), 1)
    except OSError as exc:
        if debug:
            raise
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 1)
    except Exception as exc:
        if debug:
            raise
        fail(f"unexpected {type(exc).__name__}: {exc} (set STREAMLINE_DEBUG=1 for a traceback)", 1)
    if isinstance(result, int) and result:
        raise SystemExit(result)
    return None


def usage_error(exc: Any) -> str:
    """One line: what is wrong, then the usage of the command it concerns."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    usage = " ".join(ctx.get_usage().split())
    help_ = f"{ctx.command_path} --help"
    return f"{message} {usage} (see {help_})"


if __name__ == "__main__":  # pragma: no cover
    main()
