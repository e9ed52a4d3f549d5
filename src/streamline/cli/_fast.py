"""Answers that need no CLI framework: ``--version`` and the ``--help`` of every command.

Importing typer alone takes longer than the start-up budget of ``streamline --help`` (0.1 s),
so the help texts typer renders are kept in ``_helptexts`` (written by ``python -m
streamline.cli._helpgen``; a test checks they equal what typer renders today) and printed from
there. They are used only while the CLI's sources and typer are the ones they were rendered
from (a checksum, :func:`fingerprint`): after an edit or a merge without regenerating them,
typer answers, slower but right. Anything else, or a terminal narrower than the 80 columns
they were rendered for, goes to typer too.
"""

from __future__ import annotations

import os
import sys

HELP_FLAGS = ("--help", "-h")
#: The width the stored texts were rendered at (click wraps at min(columns, 80) - 2).
COLUMNS = 80


def answer(argv: list[str]) -> bool:
    """Print the answer to ``argv`` and return True, if it is ``--version`` or a stored help."""
    if argv == ["--version"]:
        from .. import __version__

        return _write(f"streamline {__version__}\n")
    if not argv or argv[-1] not in HELP_FLAGS or terminal_columns() < COLUMNS:
        return False
    from ._helptexts import FINGERPRINT, HELP

    text = HELP.get(" ".join(argv[:-1]))
    return text is not None and FINGERPRINT == fingerprint() and _write(text)


def fingerprint() -> str:
    """A checksum of what the help texts are rendered from: this package's modules (but the
    stored texts) and typer's ``__init__`` (its version)."""
    import zlib
    from importlib.util import find_spec

    here = os.path.dirname(os.path.abspath(__file__))
    typer = find_spec("typer")
    sources = sorted(os.path.join(here, n) for n in os.listdir(here) if n.endswith(".py") and n != "_helptexts.py")
    crc = 0
    for path in [*sources, *([typer.origin] if typer is not None and typer.origin else [])]:
        with open(path, "rb") as f:
            crc = zlib.crc32(os.path.basename(path).encode() + b"\0" + f.read(), crc)
    return f"{crc:08x}"


def terminal_columns() -> int:
    """The width click's help formatter sees (``shutil.get_terminal_size`` without importing shutil)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else COLUMNS


def _write(text: str) -> bool:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        from ._run import reader_left

        reader_left()
    return True
