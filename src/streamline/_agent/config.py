"""The agent's config file (TOML): the Kafka connection, where checkpoints go, and the inputs.

TOML because Python reads it with the standard library (``tomllib``: no dependency), it has
comments, and nesting is spelled out (``[[inputs]]``, ``[inputs.multiline]``) instead of carried by
indentation, so a misplaced space cannot silently move a key into another table.

    config = load_config("agent.toml")
    for spec in config.inputs:
        print(spec.name, spec.paths, spec.topic)

Relative paths in the file are relative to the file's directory. Command-line options (and
their ``STREAMLINE_*`` variables) override the file: see :class:`Overrides`.
"""

from __future__ import annotations

import os
import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config import ConnectionConfig
from .._errors import ConfigurationError
from .._ingest.spec import InputSpec, Metadata, Multiline, Parser
from .._validation import COMPRESSIONS, TOPIC_RULE, Acks, check_acks, check_topic
from .claims import find_conflict, glob_problem
from .schema import AgentConfigError, Table, type_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, from PyPI (a dependency on 3.10 only)
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_CHECKPOINTS = "/var/lib/streamline/checkpoints"
DEFAULT_GRACE = 30.0
DEFAULT_ROTATE_WAIT = 30.0
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576

TOP_KEYS = ("checkpoints", "metrics", "grace", "rotate_wait", "kafka", "inputs")
CONNECTION_KEYS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
    "connect_timeout",
    "client_id",
)
KAFKA_KEYS = (*CONNECTION_KEYS, "acks", "compression", "max_message_bytes")
INPUT_KEYS = (
    "name",
    "paths",
    "exclude",
    "topic",
    "key",
    "start",
    "long_lines",
    "max_line_bytes",
    "multiline",
    "parser",
    "metadata",
)
MULTILINE_KEYS = ("pattern", "negate", "match", "preset", "max_lines", "max_bytes", "timeout")
PARSER_KEYS = ("kind", "pattern", "on_invalid")
METADATA_KEYS = ("headers", "envelope", "fields")
HEADER_NAMES = ("host", "path", "offset", "input", "stream")
#: Names the envelope and the metadata headers use themselves: a static field may not take them.
RESERVED_FIELDS = ("@timestamp", "host", "path", "offset", "input", "message", "stream")
TOPIC_PLACEHOLDERS = ("name", "path", "hostname", "input")
KEY_PLACEHOLDERS = ("path", "name", "hostname", "input", *(f"field{i}" for i in range(1, 10)))
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_TOPIC_TEXT_RE = re.compile(r"[A-Za-z0-9._-]*")


@dataclass(frozen=True)
class KafkaSettings:
    """The one producer every input shares: where Kafka is and how records are sent."""

    connection: ConnectionConfig
    acks: Acks = "all"
    compression: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class AgentConfig:
    """A validated config file (with command-line overrides applied).

        config = load_agent_config("agent.toml")
        print(config.summary())                       # 2 inputs (web -> web, app -> app); ...
        for spec in config.inputs:                    # InputSpec: name, paths, topic, multiline, ...
            print(spec.name, config.checkpoints_for(spec))
    """

    path: str
    kafka: KafkaSettings
    checkpoints: str
    inputs: tuple[InputSpec, ...]
    metrics: str | None = None
    grace: float = DEFAULT_GRACE
    rotate_wait: float = DEFAULT_ROTATE_WAIT

    def checkpoints_for(self, spec: InputSpec) -> str:
        """Each input's checkpoints live in their own directory, named after the input."""
        return os.path.join(self.checkpoints, spec.name)

    def summary(self) -> str:
        """One line: what this config ships where."""
        routes = ", ".join(f"{s.name} -> {s.topic}" for s in self.inputs)
        metrics = f"; metrics on {self.metrics}" if self.metrics else ""
        return (
            f"{len(self.inputs)} input{'' if len(self.inputs) == 1 else 's'} ({routes}); "
            f"kafka {self.kafka.connection.bootstrap_servers}; checkpoints in {self.checkpoints}{metrics}"
        )


@dataclass(frozen=True)
class Overrides:
    """What the command line says instead of the file (None: the file decides)."""

    connection: Mapping[str, Any] = field(default_factory=dict)
    checkpoints: str | None = None
    metrics: str | None = None
    acks: str | None = None
    compression: str | None = None
    max_message_bytes: int | None = None
    grace: float | None = None
    rotate_wait: float | None = None


def load_config(
    path: str | os.PathLike[str], overrides: Overrides | None = None, *, env: Mapping[str, str] | None = None
) -> AgentConfig:
    """Read and validate the agent config at ``path``; raise :class:`AgentConfigError` (one line
    naming the file, the key path and what is expected) at the first mistake.

        config = load_config("/etc/streamline/agent.toml", Overrides(checkpoints="/tmp/c"))
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise AgentConfigError(f"{file}: no such config file") from None
    except IsADirectoryError:
        raise AgentConfigError(f"{file}: is a directory, not a config file") from None
    except PermissionError:
        raise AgentConfigError(f"{file}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise AgentConfigError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, file, overrides or Overrides(), env=env)


def parse_config(
    data: Mapping[str, Any], file: str, overrides: Overrides | None = None, *, env: Mapping[str, str] | None = None
) -> AgentConfig:
    """Validate already-parsed TOML ``data`` (``file`` names it in errors)."""
    overrides = overrides or Overrides()
    base = os.path.dirname(os.path.abspath(file))
    top = Table(file, "", data, allowed=TOP_KEYS)
    kafka = _kafka(top, base, overrides, env)

    checkpoints = overrides.checkpoints or _local(base, top.nonempty("checkpoints", DEFAULT_CHECKPOINTS))
    metrics = overrides.metrics or top.nonempty("metrics")
    if metrics:
        from .._metrics import parse_address

        try:
            parse_address(metrics)
        except ConfigurationError as exc:
            if overrides.metrics:
                raise
            raise top.error(str(exc).replace("--metrics ", ""), "metrics") from None
    grace = overrides.grace if overrides.grace is not None else top.number("grace", DEFAULT_GRACE, above=0)
    rotate_wait = (
        overrides.rotate_wait
        if overrides.rotate_wait is not None
        else top.number("rotate_wait", DEFAULT_ROTATE_WAIT, minimum=0)
    )

    top.require("inputs", "at least one [[inputs]] table")
    raw_inputs = top.data["inputs"]
    if not isinstance(raw_inputs, list) or not raw_inputs:
        what = type_name(raw_inputs) if not isinstance(raw_inputs, list) else "an empty array"
        raise top.error(f"expected one or more [[inputs]] tables (got {what})", "inputs")
    inputs: list[InputSpec] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_inputs):
        spec = _input(Table(file, f"inputs[{i}]", raw, allowed=INPUT_KEYS), base, kafka.max_message_bytes)
        if spec.name in names:
            raise AgentConfigError(
                f"{file}: inputs[{i}].name: {spec.name!r} is already the name of inputs[{names[spec.name]}]; "
                "input names must be unique (they name each input's checkpoint directory)"
            )
        names[spec.name] = i
        inputs.append(spec)
    conflict = find_conflict(inputs)
    if conflict is not None:
        i, k, message = conflict
        raise AgentConfigError(f"{file}: inputs[{i}].paths[{k}]: {message}")
    return AgentConfig(
        path=file,
        kafka=kafka,
        checkpoints=checkpoints,
        inputs=tuple(inputs),
        metrics=metrics,
        grace=grace,
        rotate_wait=rotate_wait,
    )


def _local(base: str, path: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))


def _kafka(top: Table, base: str, overrides: Overrides, env: Mapping[str, str] | None) -> KafkaSettings:
    table = top.table("kafka", allowed=KAFKA_KEYS) or Table(top.file, "kafka", {}, allowed=KAFKA_KEYS)
    options: dict[str, Any] = {}
    for name in CONNECTION_KEYS:
        if name == "connect_timeout":
            value = table.number(name, None, above=0)
        else:
            value = table.nonempty(name)
        if value is not None and name.startswith("ssl_"):
            value = _local(base, value)
            if not overrides.connection.get(name) and not os.path.isfile(value):
                raise table.error(f"no such file: {value}", table.path(name))
        if value is not None:
            options[name] = value
    for name, value in overrides.connection.items():
        if value is not None and value != "":
            options[name] = value
    try:
        connection = ConnectionConfig.resolve(env=env, **options)
    except ConfigurationError as exc:
        raise table.error(str(exc)) from None

    acks: Any = overrides.acks
    if acks is None and table.has("acks"):
        acks = table.data["acks"]
        if isinstance(acks, bool) or not isinstance(acks, (int, str)):
            raise table.error(f"expected 0, 1 or 'all' (got {type_name(acks)})", table.path("acks"))
        try:
            check_acks(acks)
        except ConfigurationError:
            raise table.error(f"expected 0, 1 or 'all' (got {acks!r})", table.path("acks")) from None
    compression = overrides.compression or table.string("compression", None, choices=(*COMPRESSIONS, "none"))
    if compression == "none":
        compression = None
    max_message_bytes = overrides.max_message_bytes or table.integer(
        "max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES, minimum=1024
    )
    return KafkaSettings(
        connection=connection,
        acks=check_acks(acks) if acks is not None else "all",
        compression=compression,
        max_message_bytes=max_message_bytes,
    )


def _input(table: Table, base: str, max_message_bytes: int) -> InputSpec:
    table.require("name", "a name for this input (letters, digits, '.', '_', '-')")
    name = table.string("name")
    if not _NAME_RE.fullmatch(name) or name in (".", ".."):
        raise table.error(
            f"expected 1-100 letters, digits, '.', '_' or '-', not '.' or '..' (got {name!r}); "
            "it names the input's checkpoint directory",
            table.path("name"),
        )
    paths = table.strings("paths", required=True)
    for k, pattern in enumerate(paths):
        problem = glob_problem(pattern)
        if problem:
            raise table.error(f"{pattern!r}: {problem}", f"{table.path('paths')}[{k}]")
    exclude = table.strings("exclude")
    for k, pattern in enumerate(exclude):
        problem = glob_problem(pattern)
        if problem:
            raise table.error(f"{pattern!r}: {problem}", f"{table.path('exclude')}[{k}]")
    table.require("topic", "the topic (or a template such as 'logs-{hostname}') this input ships to")
    topic = table.nonempty("topic")
    _check_template(table, "topic", topic, TOPIC_PLACEHOLDERS)
    key = table.nonempty("key")
    if key is not None:
        _check_template(table, "key", key, KEY_PLACEHOLDERS)
    start = table.string("start", "end", choices=("beginning", "end"))
    long_lines = table.string("long_lines", "split", choices=("split", "skip"))
    max_line_bytes = table.integer("max_line_bytes", None, minimum=1)
    if max_line_bytes is not None:
        from ..cli._ship import line_bytes_for

        room = line_bytes_for(max_message_bytes, key)
        if max_line_bytes > room:
            raise table.error(
                f"{max_line_bytes} does not fit in a record of kafka.max_message_bytes {max_message_bytes} "
                f"(at most {room} with this key); raise kafka.max_message_bytes",
                table.path("max_line_bytes"),
            )
    return InputSpec(
        name=name,
        paths=tuple(_local(base, p) for p in paths),
        topic=topic,
        key=key,
        exclude=tuple(_local(base, p) if "/" in p else p for p in exclude),
        start=start,
        long_lines=long_lines,
        max_line_bytes=max_line_bytes,
        multiline=_multiline(table),
        parser=_parser(table),
        metadata=_metadata(table),
    )


def _check_template(table: Table, key: str, template: str, allowed: tuple[str, ...]) -> None:
    where = table.path(key)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise table.error(f"{template!r} is not a valid template: {exc}; write {{{{ and }}}} for braces", where) from None
    placeholders = [name for _, name, _, _ in parsed if name is not None]
    for name in placeholders:
        if name not in allowed:
            raise table.error(
                f"unknown placeholder {{{name}}}; expected {', '.join('{' + a + '}' for a in allowed)}", where
            )
    if key != "topic":
        return
    if not placeholders:
        try:
            check_topic(template)
        except ConfigurationError:
            raise table.error(f"invalid topic name {template!r}: {TOPIC_RULE}", where) from None
        return
    literal = "".join(text for text, _, _, _ in parsed)
    if not _TOPIC_TEXT_RE.fullmatch(literal) or len(literal) > 249:
        raise table.error(f"the text around the placeholders of {template!r} breaks the rule: {TOPIC_RULE}", where)


def _compile(table: Table, key: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise table.error(f"not a valid regular expression: {exc}", table.path(key)) from None


def _multiline(parent: Table) -> Multiline | None:
    if not parent.has("multiline"):
        return None
    if isinstance(parent.data["multiline"], str):  # multiline = "indented": a preset
        table = Table(parent.file, parent.path("multiline"), {"preset": parent.data["multiline"]}, allowed=MULTILINE_KEYS)
    else:
        sub = parent.table("multiline", allowed=MULTILINE_KEYS)
        assert sub is not None
        table = sub
    preset = table.string("preset", None, choices=("indented", "python", "timestamp"))
    pattern = table.nonempty("pattern")
    if preset is None and pattern is None:
        raise table.error("expected a 'pattern' or a 'preset' (indented, python, timestamp)")
    if preset is not None and pattern is not None:
        raise table.error("expected either 'pattern' or 'preset', not both", table.path("pattern"))
    if pattern is not None:
        _compile(table, "pattern", pattern)
    defaults = Multiline()
    return Multiline(
        pattern=pattern,
        negate=table.boolean("negate", defaults.negate),
        match=table.string("match", defaults.match, choices=("after", "before")),
        preset=preset,
        max_lines=table.integer("max_lines", defaults.max_lines, minimum=1),
        max_bytes=table.integer("max_bytes", defaults.max_bytes, minimum=1),
        timeout=table.number("timeout", defaults.timeout, above=0),
    )


def _parser(parent: Table) -> Parser | None:
    if not parent.has("parser"):
        return None
    if isinstance(parent.data["parser"], str):  # parser = "json"
        table = Table(parent.file, parent.path("parser"), {"kind": parent.data["parser"]}, allowed=PARSER_KEYS)
    else:
        sub = parent.table("parser", allowed=PARSER_KEYS)
        assert sub is not None
        table = sub
    table.require("kind", "json, regex, cri or docker")
    kind = table.string("kind", choices=("json", "regex", "cri", "docker"))
    pattern = table.nonempty("pattern")
    if kind == "regex":
        table.require("pattern", "a regular expression with named groups, e.g. '(?P<ip>\\S+) '")
        compiled = _compile(table, "pattern", pattern)
        if not compiled.groupindex:
            raise table.error("expected named groups such as (?P<status>\\d+): they become the JSON fields", table.path("pattern"))
    elif pattern is not None:
        raise table.error(f"only the regex parser takes a pattern (this one is {kind!r})", table.path("pattern"))
    return Parser(kind, pattern=pattern, on_invalid=table.string("on_invalid", "send", choices=("send", "skip", "stop")))


def _metadata(parent: Table) -> Metadata:
    table = parent.table("metadata", allowed=METADATA_KEYS)
    if table is None:
        return Metadata()
    headers = table.strings("headers")
    for k, header in enumerate(headers):
        if header not in HEADER_NAMES:
            raise table.error(
                f"expected one of {', '.join(HEADER_NAMES)} (got {header!r})", f"{table.path('headers')}[{k}]"
            )
        if header in headers[:k]:
            raise table.error(f"{header!r} is listed twice", f"{table.path('headers')}[{k}]")
    fields: dict[str, str] = {}
    sub = table.table("fields", allowed=[str(k) for k in table.data.get("fields", {})] if isinstance(table.data.get("fields"), Mapping) else [])
    if sub is not None:
        for name, value in sub.data.items():
            if name in RESERVED_FIELDS:
                raise sub.error(f"{name!r} is set by the agent itself; choose another field name", sub.path(name))
            if not isinstance(value, str):
                raise sub.error(f"expected a string (got {type_name(value)} {value!r})", sub.path(name))
            fields[name] = value
    return Metadata(headers=headers, envelope=table.boolean("envelope", False), fields=fields)
