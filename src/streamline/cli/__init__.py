"""The ``streamline`` command line interface.

Starting it is cheap: :func:`main` answers ``--help`` and ``--version`` without importing typer
(see ``_fast``), and a command's module is imported only when that command runs (see
``_app.COMMANDS``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point for ``streamline``."""
    import sys

    from ._fast import answer

    if answer(sys.argv[1:] if argv is None else argv):
        return None
    from ._run import main as run

    return run(argv)


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer application (commands are added as their modules load)
        from ._app import app

        return app
    raise AttributeError(f"module 'streamline.cli' has no attribute {name!r}")
