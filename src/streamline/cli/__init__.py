"""The ``streamline`` command line interface.

Starting it is cheap: :func:`main` answers ``--help`` and ``--version`` without importing typer
(see ``_fast``), reads a plain ``ship`` command line without it too, and a command's module is
imported only when that command runs (see ``_app.COMMANDS``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["app", "main"]

#: SIGHUPs that arrived before ``agent`` installed its reload handler (see :func:`main`).
early_hangups: list[int] = []


def _remember_hangup(signum: int, frame: object) -> None:
    early_hangups.append(signum)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point for ``streamline``."""
    import sys

    from ._fast import answer, read_command, run_command

    args = sys.argv[1:] if argv is None else argv
    if argv is None and next((a for a in args if not a.startswith("-")), None) == "agent":
        # SIGHUP's default action kills the process: `systemctl reload` right after a start must
        # not, so it is remembered from here on and applied once the agent runs.
        import signal

        signal.signal(signal.SIGHUP, _remember_hangup)
    if answer(args):
        return None
    line = read_command(args)
    if line is not None:  # `ship`, read without typer: a following ship keeps no CLI framework
        return run_command(line)
    from ._run import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer application (commands are added as their modules load)
        from ._app import app

        return app
    raise AttributeError(f"module 'streamline.cli' has no attribute {name!r}")
