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
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._config import ConnectionConfig
from .._errors import ConfigurationError
from .._ingest.spec import InputSpec
from .._validation import COMPRESSIONS, Acks, check_acks
from .claims import find_conflict
from .inputs import INPUT_KEYS, local_path, read_input
from .schema import AgentConfigError, Table, type_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, from PyPI (a dependency on 3.10 only)
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DEFAULT_CHECKPOINTS = "/var/lib/streamline/checkpoints"
DEFAULT_GRACE = 30.0
DEFAULT_ROTATE_WAIT = 30.0
DEFAULT_LINGER = 0.005  # the follower's (``follow(linger=)``, ``ship --linger``)
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576

TOP_KEYS = ("checkpoints", "metrics", "grace", "rotate_wait", "linger", "kafka", "inputs")
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
    linger: float = DEFAULT_LINGER

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
    linger: float | None = None


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

    checkpoints = overrides.checkpoints or local_path(base, top.nonempty("checkpoints", DEFAULT_CHECKPOINTS))
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
    linger = overrides.linger if overrides.linger is not None else top.number("linger", DEFAULT_LINGER, minimum=0)

    top.require("inputs", "at least one [[inputs]] table")
    raw_inputs = top.data["inputs"]
    if not isinstance(raw_inputs, list) or not raw_inputs:
        what = type_name(raw_inputs) if not isinstance(raw_inputs, list) else "an empty array"
        raise top.error(f"expected one or more [[inputs]] tables (got {what})", "inputs")
    inputs: list[InputSpec] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_inputs):
        spec = read_input(Table(file, f"inputs[{i}]", raw, allowed=INPUT_KEYS), base, kafka.max_message_bytes)
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
        linger=linger,
    )


def _kafka(top: Table, base: str, overrides: Overrides, env: Mapping[str, str] | None) -> KafkaSettings:
    table = top.table("kafka", allowed=KAFKA_KEYS) or Table(top.file, "kafka", {}, allowed=KAFKA_KEYS)
    options: dict[str, Any] = {}
    for name in CONNECTION_KEYS:
        if name == "connect_timeout":
            value = table.number(name, None, above=0)
        else:
            value = table.nonempty(name)
        if value is not None and name.startswith("ssl_"):
            value = local_path(base, value)
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
