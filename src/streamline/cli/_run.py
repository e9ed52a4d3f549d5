"""Entry point: runs the typer app and turns expected failures into one line + exit code."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point for ``streamline``."""
    from ._app import app

    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
