"""Answers that need no CLI framework: ``--version`` and the ``--help`` of every command.

Importing typer alone takes longer than the start-up budget of ``streamline --help`` (0.1 s),
so the help texts typer renders are kept in ``_helptexts`` (written by ``python -m
streamline.cli._helpgen``; a test checks they equal what typer renders today) and printed from
there. They are used only while the CLI's sources and typer are the ones they were rendered
from (checksums, :func:`fingerprint` and :func:`typer_fingerprint`): after an edit or a merge
without regenerating them, or with another typer release installed, typer answers, slower but
right. Anything else, or a terminal narrower than the 80 columns they were rendered for, goes
to typer too. The option table ``ship`` is read with (:func:`read_command`) depends on the
sources only: it is what they declare, whichever typer renders it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

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
    from . import _helptexts

    text = _helptexts.HELP.get(" ".join(argv[:-1]))
    return (
        text is not None
        and _helptexts.FINGERPRINT == fingerprint()
        and getattr(_helptexts, "TYPER", None) == typer_fingerprint()
        and _write(text)
    )


def fingerprint() -> str:
    """A checksum of the CLI's sources: this package's modules (but the stored texts)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return _checksum(sorted(os.path.join(here, n) for n in os.listdir(here) if n.endswith(".py") and n != "_helptexts.py"))


def typer_fingerprint() -> str:
    """A checksum of the installed typer's ``__init__`` (its version), without importing it:
    a new typer release may render help differently, so stored texts wait for a regeneration."""
    from importlib.util import find_spec

    typer = find_spec("typer")
    return _checksum([typer.origin] if typer is not None and typer.origin else [])


def _checksum(paths: list[str]) -> str:
    import zlib

    crc = 0
    for path in paths:
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


class Declined(Exception):
    """The command line is not one :func:`read_command` reads: typer reads it."""


class CommandLine:
    """A command line read without typer: the root's options (given before the command name or
    by their ``STREAMLINE_*`` variables), the command's own values, and the global options given
    after the command name, in the order they were given."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.root: dict[str, Any] = {}
        self.values: dict[str, Any] = {}
        self.after: list[tuple[str, Any]] = []


def read_command(argv: list[str], commands: tuple[str, ...] = ("ship",)) -> CommandLine | None:
    """``argv`` read as click would read it, if it runs one of ``commands`` and keeps to plain
    shapes: ``--opt VALUE``, ``--opt=VALUE``, ``-o VALUE``, flags, each non-repeatable option at
    most once, values within their limits, nothing that starts with ``-`` as a value or argument.
    Anything else (``--help``, a typo, a bad value, a missing option, ``--``, an empty
    ``STREAMLINE_*`` variable, completion) returns None and typer reads it, errors included.
    The options come from ``_helptexts.PARAMS``, stored with the help texts and used only
    while :func:`fingerprint` matches."""
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        return None
    if "_STREAMLINE_COMPLETE" in os.environ:
        return None
    from . import _helptexts

    params: dict[str, list[tuple[Any, ...]]] = getattr(_helptexts, "PARAMS", {})  # absent: texts of an older helpgen
    if "" not in params:
        return None
    try:
        root: dict[str, Any] = {}
        index = _read(argv, params[""], root, None)
        command = argv[index] if index < len(argv) else ""
        if command not in commands or command not in params or _helptexts.FINGERPRINT != fingerprint():
            return None
        line = CommandLine(command)
        line.root = root
        _read(argv[index + 1 :], params[command], line.values, line.after)
    except Declined:
        return None
    return line


def _read(
    tokens: list[str], table: list[tuple[Any, ...]], values: dict[str, Any], after: list[tuple[str, Any]] | None
) -> int:
    """Read ``tokens`` into ``values`` (and ``after``); the root (``after`` None) stops at its
    first argument, the command name, and returns its index."""
    by_opt = {opt: entry for entry in table for opt in entry[1]}
    arguments = [entry for entry in table if entry[9] == "arg"]
    positional: list[str] = []
    seen: set[tuple[str, str]] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("-"):
            if after is None:
                break
            positional.append(token)
            i += 1
            continue
        i += 1
        name, has_value, value = token.partition("=")
        entry = by_opt.get(name)
        if entry is None or (has_value and not name.startswith("--")):
            raise Declined
        key, _, kind, multiple, _, _, low, high, _, role = entry
        if kind == "flag":
            if has_value:
                raise Declined
            converted: Any = True
        else:
            if not has_value:
                if i >= len(tokens) or tokens[i].startswith("-"):
                    raise Declined
                value = tokens[i]
                i += 1
            converted = _convert(value, kind, low, high)
        if multiple:
            values.setdefault(key, []).append(converted)
            continue
        if (role, key) in seen:
            raise Declined
        seen.add((role, key))
        if role == "global" and after is not None:
            after.append((key, converted))
        else:
            values[key] = converted
    if arguments:
        if len(arguments) != 1 or not positional:
            raise Declined
        values[arguments[0][0]] = positional
    for key, _opts, kind, multiple, required, default, low, high, envvar, role in table:
        if role in ("global", "arg") or key in values:
            continue
        if envvar is not None and envvar in os.environ:
            text = os.environ[envvar]
            if not text or multiple or kind == "flag":
                raise Declined
            values[key] = _convert(text, kind, low, high)
        elif required:
            raise Declined
        else:
            values[key] = list(default) if isinstance(default, list) else default
    return i


def _convert(text: str, kind: str, low: Any, high: Any) -> Any:
    """As ``_typer_glue._PlainParam`` converts a value; a value it would reject is declined."""
    if kind == "str":
        return text
    try:
        number = (int if kind == "int" else float)(text.strip())
    except ValueError:
        raise Declined from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise Declined
    return number


def run_command(line: CommandLine) -> None:
    """Run a command line :func:`read_command` read, as the typer path would: the root's
    options first (logging configured), then the global options given after the command name,
    then the command; its failures end the same way (``_run.guarded``)."""
    from ._logging import configure
    from ._run import guarded

    configure(debug=os.environ.get("STREAMLINE_DEBUG") == "1")
    guarded(lambda: _as_typer_does(lambda: _invoke(line)))


def _invoke(line: CommandLine) -> Any:
    from ._globals import Globals

    root = dict(line.root)
    log_level, log_format = root.pop("log_level", None), root.pop("log_format", "text")
    globals_ = Globals(root, log_level, log_format)
    globals_.configure_logging()
    for name, value in line.after:
        globals_.store(name, value)
    if line.command == "ship":
        from ._shiprun import ship

        values = dict(line.values)
        return ship(globals_.connection, values.pop("paths"), values.pop("topic"), **values)
    raise AssertionError(line.command)  # pragma: no cover - read_command reads only these


def _as_typer_does(call: Any) -> Any:
    """What typer's ``main`` does around a command (standalone_mode=False): EOF ends like an
    abort (exit 0), Ctrl-C returns 130, a broken pipe exits 1 without complaining at exit."""
    import errno

    try:
        return call()
    except EOFError:
        sys.stderr.write("\n")
        raise SystemExit(0) from None
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _Pacified(sys.stdout)
        sys.stderr = _Pacified(sys.stderr)
        raise SystemExit(1) from None


class _Pacified:
    """click's ``PacifyFlushWrapper``: a stream whose flush ignores a broken pipe."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            import errno

            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
