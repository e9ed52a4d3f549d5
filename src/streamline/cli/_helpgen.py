"""The help texts and the README synopsis, rendered from the CLI itself.

    python -m streamline.cli._helpgen            # rewrite _helptexts.py and the README's synopsis
    python -m streamline.cli._helpgen synopsis   # print the README's CLI synopsis

Run it after changing any help text or option (or merging a branch that did): tests/cli/test_help.py
fails while either is out of date, and until then ``--help`` is answered by typer (slower).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

#: The README's synopsis lines wrap at this width.
SYNOPSIS_WIDTH = 108


def root_command() -> Any:
    import typer

    from ._app import app
    from ._typer_glue import plain_coercion

    return plain_coercion(typer.main.get_command(app))


def command_paths(command: Any | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Every command and group with its path from the root (the root itself first)."""
    import typer

    command = root_command() if command is None else command
    yield command, path
    names = command.list_commands(typer.Context(command)) if hasattr(command, "list_commands") else []
    for name in names:
        sub = command.get_command(typer.Context(command), name)
        yield from command_paths(sub, (*path, name))


def render(path: tuple[str, ...], columns: int = 80) -> str:
    """What typer prints for ``streamline PATH --help`` on a terminal ``columns`` wide."""
    command = root_command()
    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(columns)
    try:
        with contextlib.redirect_stdout(out):
            command.main(args=[*path, "--help"], prog_name="streamline", standalone_mode=False)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue()


def help_texts() -> dict[str, str]:
    """``{"": root help, "produce": ..., "topics create": ...}`` as typer renders them."""
    return {" ".join(path): render(path) for _, path in command_paths()}


#: Commands whose command lines ``_fast`` reads without typer (their parameters are stored).
FAST_COMMANDS = ("ship",)


def parameters() -> dict[str, list[tuple[Any, ...]]]:
    """The options of the root and of each of ``FAST_COMMANDS`` as ``_fast.read_command`` reads
    them: ``(name, opts, kind, multiple, required, default, min, max, envvar, role)``, ``kind``
    one of str/int/float/flag, ``role`` root (before the command name), arg, option or global
    (a root option given after the command name). A command with a parameter outside that
    shape is left out (typer reads its command lines)."""
    import typer

    from ._typer_glue import _plain

    def row(param: Any, role: str) -> tuple[Any, ...] | None:
        desc = getattr(param, "type_descriptor", None)
        plain = _plain(desc) if desc is not None else None
        if plain is None or param.secondary_opts or (param.callback is not None and role != "global"):
            return None
        info = plain.parameter_info
        if getattr(param, "prompt", None) or getattr(param, "count", False):
            return None
        if info.clamp or (param.nargs != 1) != (role == "arg"):
            return None
        if getattr(param, "is_flag", False):
            if plain.kind is not bool or param.default is not False or not param.is_bool_flag:
                return None
            kind = "flag"
        elif plain.kind is bool:
            return None
        else:
            kind = plain.kind.__name__
        default = list(param.default) if isinstance(param.default, (list, tuple)) else param.default
        opts = tuple(param.opts) if role != "arg" else ()
        envvar = param.envvar if isinstance(param.envvar, str) or param.envvar is None else None
        if param.envvar is not None and envvar is None:
            return None
        return (param.name, opts, kind, bool(param.multiple), bool(param.required), default, info.min, info.max,
                envvar, role)

    root = root_command()
    table: dict[str, list[tuple[Any, ...]]] = {"": []}
    for param in root.params:
        if param.name in ("help", "version"):
            continue
        entry = row(param, "root")
        if entry is None:
            return {}
        table[""].append(entry)
    for name in FAST_COMMANDS:
        command = root.get_command(typer.Context(root), name)
        rows = []
        for param in command.params:
            if param.name == "help":
                continue
            role = "arg" if param.param_type_name == "argument" else "global" if param.hidden else "option"
            entry = row(param, role)
            if entry is None:
                break
            rows.append(entry)
        else:
            table[name] = rows
    return table


def synopsis() -> str:
    """One entry per command: its arguments and every option with its metavar."""
    lines = []
    for command, path in command_paths():
        if hasattr(command, "list_commands"):
            if not path:
                options = [_option(p) for p in command.params if _shown(p)]
                lines.append(_wrap(["streamline", *options, "COMMAND", "[ARGS]..."]))
            continue
        args = [_argument(p) for p in command.params if p.param_type_name == "argument"]
        options = [_option(p) for p in command.params if p.param_type_name == "option" and _shown(p)]
        lines.append(_wrap(["streamline", *path, *args, *options]))
    return "\n".join(lines) + "\n"


def _shown(param: Any) -> bool:
    return not param.hidden and param.name != "help"


def _argument(param: Any) -> str:
    name = param.metavar or param.name.upper()
    name += "..." if param.nargs == -1 else ""
    return name if param.required else f"[{name}]"


def _option(param: Any) -> str:
    flag = max(param.opts, key=len)
    if param.is_flag:
        secondary = max(param.secondary_opts, key=len) if param.secondary_opts else None
        text = f"{flag}|{secondary}" if secondary else flag
    else:
        text = f"{flag} {param.metavar or param.name.upper()}"
    text += "..." if param.multiple else ""
    return text if param.required else f"[{text}]"


def _wrap(tokens: list[str]) -> str:
    """Tokens joined by spaces, wrapped between tokens (never inside ``[--opt VALUE]``)."""
    lines = [tokens[0]]
    for token in tokens[1:]:
        if len(lines[-1]) + 1 + len(token) > SYNOPSIS_WIDTH:
            lines.append("    " + token)
        else:
            lines[-1] += " " + token
    return "\n".join(lines)


def write_help_texts() -> str:
    """Rewrite ``_helptexts.py``; returns its path."""
    from ._fast import fingerprint, typer_fingerprint

    texts = help_texts()
    body = "".join(f"    {name!r}: {text!r},\n" for name, text in texts.items())
    table = parameters()
    params = "{\n" + "".join(
        f"    {name!r}: [\n" + "".join(f"        {entry!r},\n" for entry in rows) + "    ],\n" for name, rows in table.items()
    ) + "}"
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_helptexts.py")
    with open(target, "w", encoding="utf-8") as f:
        f.write(
            '"""Generated by `python -m streamline.cli._helpgen` from the typer CLI: do not edit.\n\n'
            "``streamline PATH --help`` prints ``HELP[PATH]`` without importing typer (see ``_fast``);\n"
            'tests/cli/test_help.py checks every text equals what typer renders.\n"""\n\n'
            "#: The sources these texts were rendered from (``_fast.fingerprint()``); otherwise typer answers.\n"
            f"FINGERPRINT = {fingerprint()!r}\n"
            "#: The typer they were rendered with (``_fast.typer_fingerprint()``); otherwise typer answers ``--help``.\n"
            f"TYPER = {typer_fingerprint()!r}\n\n"
            f"HELP: dict[str, str] = {{\n{body}}}\n\n"
            "#: The parameters of the root and of the commands ``_fast.read_command`` reads without typer.\n"
            f"PARAMS: dict[str, list[tuple[object, ...]]] = {params}\n"
        )
    return target


def write_readme_synopsis() -> str | None:
    """Replace the code block under ``## CLI`` in the checkout's README.md; its path, or None
    outside a source checkout."""
    readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "README.md")
    if not os.path.isfile(readme):
        return None
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    start = text.index(README_BLOCK) + len(README_BLOCK)
    end = text.index("```\n", start)
    with open(readme, "w", encoding="utf-8") as f:
        f.write(text[:start] + synopsis() + text[end:])
    return os.path.normpath(readme)


#: What precedes the synopsis in README.md.
README_BLOCK = "## CLI\n\n```\n"


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["synopsis"]:
        sys.stdout.write(synopsis())
    else:
        print(f"wrote {write_help_texts()}")
        readme = write_readme_synopsis()
        print(f"wrote the synopsis in {readme}" if readme else "no README.md here: synopsis not written")
