"""Where the CLI reaches into typer's internals (only here; tests/cli/test_startup.py fails
loudly when their shape changes).

- :class:`LazyGroup`: the root command imports a command's module only when that command is
  named (or ``--help`` lists them all), so ``streamline produce`` does not pay for ``ship``.
- Plain coercion: typer >= 0.22 converts every option value through a pydantic ``TypeAdapter``;
  importing pydantic and building the adapters costs more than the rest of a one-message
  ``produce``. Our options are only ``str``, ``int``, ``float``, ``bool`` and lists of them, so
  :func:`plain_coercion` converts those directly (anything else keeps typer's own path).
- Global options after the command name: every command also accepts ``-b``, the TLS/SASL
  options and ``--log-level``/``--log-format`` (hidden from its help), so
  ``streamline produce t -b host:9092`` works like ``streamline -b host:9092 produce t``.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import typer.core
import typer.main
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam

__all__ = ["LazyGroup", "plain_coercion"]

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off", ""}


@dataclass(frozen=True)
class _PlainParam(RuntimeParam):
    """str/int/float/bool (or a list of one of them), with the option's min/max."""

    kind: type = str

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if param.multiple or param.nargs == -1:
            return [self._one(item, param, ctx) for item in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        kind = self.kind
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if kind is str:
            return str(value)
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise BadParameter(f"{value!r} is not true or false", ctx=ctx, param=param)
        number: Any
        if isinstance(value, kind) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = kind(str(value).strip())
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise BadParameter(f"{value!r} is not {what}", ctx=ctx, param=param) from None
        info = self.parameter_info
        if info.min is not None and number < info.min:
            if info.clamp:
                return kind(info.min)
            raise BadParameter(f"must be >= {info.min} (got {number})", ctx=ctx, param=param)
        if info.max is not None and number > info.max:
            if info.clamp:
                return kind(info.max)
            raise BadParameter(f"must be <= {info.max} (got {number})", ctx=ctx, param=param)
        return number


class _Argument(typer.core.TyperArgument):
    """An argument shown as click shows it: ``TOPIC`` (optional: ``[TOPIC]``) in the usage line,
    no ``<str>`` after it in the list (typer 0.29 writes ``{topic}`` and ``topic <str>``)."""

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain(desc: Any) -> _PlainParam | None:
    """A :class:`_PlainParam` for a str/int/float/bool (list) parameter, else None."""
    info = desc.parameter_info
    annotation = desc.annotation
    if get_origin(annotation) is list and len(get_args(annotation)) == 1:
        annotation = get_args(annotation)[0]
    if annotation not in (str, int, float, bool) or desc.file_annotation is not None or info.parser is not None:
        return None
    return _PlainParam(parameter_info=info, annotation=desc.annotation, kind=annotation)


_typers_runtime_param = typer.core._TyperParameter.get_runtime_param


def _runtime_param(self: Any) -> Any:
    if self._runtime_param is None:
        self._runtime_param = _plain(self.type_descriptor)
    return self._runtime_param if self._runtime_param is not None else _typers_runtime_param(self)


# Every parameter, including the --help option click creates per context, converts plainly.
typer.core._TyperParameter.get_runtime_param = _runtime_param  # type: ignore[method-assign]


def plain_coercion(command: Any) -> Any:
    """Show ``command``'s (and its subcommands') arguments as click does (:class:`_Argument`);
    parameter values convert without pydantic once this module is imported."""
    for param in command.params:
        if type(param) is typer.core.TyperArgument:
            param.__class__ = _Argument
    for sub in getattr(command, "commands", {}).values():
        plain_coercion(sub)
    return command


def _global_options_after(command: Any, root: Any) -> None:
    """Let ``command`` and every command under it accept the root's options too (hidden)."""
    for sub in getattr(command, "commands", {}).values():
        _global_options_after(sub, root)
    taken = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for param in root.params:
        if not isinstance(param, typer.core.TyperOption) or param.is_eager or param.name == "help":
            continue
        if taken & set(param.opts):
            continue  # the command's own option of that name wins (none today; see the test)
        after = copy.copy(param)  # same flags, metavar and value conversion
        after.hidden, after.expose_value, after.envvar, after.default = True, False, None, None
        after.callback = _store_global(param.name or "")
        command.params.append(after)


def _store_global(name: str) -> Any:
    def store(ctx: Any, param: Any, value: Any) -> None:
        if value is None:
            return
        from ._app import globals_of

        globals_of(ctx).store(name, value)

    return store


class LazyGroup(typer.core.TyperGroup):
    """The root command: each subcommand is built from its module on first use."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = {}  # even those whose module is imported already: built by get_command

    def list_commands(self, ctx: Any) -> list[str]:
        from ._app import COMMANDS

        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is not None:
            return command
        from ._app import COMMANDS, app

        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        importlib.import_module(module, __package__)  # registers its commands on ``app``
        command = _built(app, cmd_name)
        if command is None:  # pragma: no cover - COMMANDS names a module that lacks the command
            return None
        plain_coercion(command)
        _global_options_after(command, self)
        self.commands[cmd_name] = command
        return command


def _built(app: Any, name: str) -> Any:
    """The click command for ``name`` registered on ``app`` (a command or a sub-typer)."""
    for info in app.registered_commands:
        if (info.name or typer.main.get_command_name(info.callback.__name__)) == name:
            return typer.main.get_command_from_info(info, pretty_exceptions_short=True, rich_markup_mode=None)
    for group in app.registered_groups:
        if group.name == name:
            return typer.main.get_group_from_info(
                group, pretty_exceptions_short=True, suggest_commands=True, rich_markup_mode=None
            )
    return None
