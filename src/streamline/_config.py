"""Connection settings: bootstrap servers, TLS and SASL, from arguments or ``STREAMLINE_*`` variables.

Precedence for every field: an explicit argument, then the environment variable, then the default.
A password is kept in a :class:`Secret`, whose ``repr`` and ``str`` never show it.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ._errors import ConfigurationError

DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_CONNECT_TIMEOUT = 15.0

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# field name -> environment variable
ENV_VARS: Mapping[str, str] = {
    "bootstrap_servers": "STREAMLINE_BOOTSTRAP_SERVERS",
    "security_protocol": "STREAMLINE_SECURITY_PROTOCOL",
    "sasl_mechanism": "STREAMLINE_SASL_MECHANISM",
    "sasl_username": "STREAMLINE_SASL_USERNAME",
    "sasl_password": "STREAMLINE_SASL_PASSWORD",
    "ssl_cafile": "STREAMLINE_SSL_CAFILE",
    "ssl_certfile": "STREAMLINE_SSL_CERTFILE",
    "ssl_keyfile": "STREAMLINE_SSL_KEYFILE",
    "connect_timeout": "STREAMLINE_CONNECT_TIMEOUT",
    "client_id": "STREAMLINE_CLIENT_ID",
}


class Secret:
    """A string that does not reveal itself in ``repr``, ``str``, logs or tracebacks.

    >>> s = Secret("hunter2")
    >>> s, str(s), s.get()
    (Secret('**********'), '**********', 'hunter2')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret value (only pass it to the client library)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:  # pragma: no cover - never pickle secrets by accident
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class ConnectionConfig:
    """Where the cluster is and how to talk to it securely.

    Unset fields come from ``STREAMLINE_*`` environment variables (see :meth:`resolve`).

    >>> cfg = ConnectionConfig.resolve("broker:9093", security_protocol="SASL_SSL",
    ...     sasl_mechanism="SCRAM-SHA-512", sasl_username="app", sasl_password="s3cret")
    >>> "s3cret" in repr(cfg)
    False
    """

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = field(default=None, repr=True)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    client_id: str = "streamline"

    def __post_init__(self) -> None:
        if isinstance(self.sasl_password, str):
            object.__setattr__(self, "sasl_password", Secret(self.sasl_password))
        _validate(self)

    @classmethod
    def resolve(
        cls,
        bootstrap_servers: str | list[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> ConnectionConfig:
        """Build a config from arguments, then ``STREAMLINE_*`` variables, then defaults.

        >>> ConnectionConfig.resolve(env={}).bootstrap_servers
        'localhost:9092'
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigurationError(
                f"unknown connection option(s): {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        if isinstance(bootstrap_servers, (list, tuple)):
            bootstrap_servers = ",".join(bootstrap_servers)
        overrides["bootstrap_servers"] = bootstrap_servers
        for name in known:
            value = overrides.get(name)
            if value is None or value == "":
                value = env.get(ENV_VARS[name]) or None
            if value is not None:
                values[name] = value
        if "connect_timeout" in values:
            try:
                values["connect_timeout"] = float(values["connect_timeout"])
            except ValueError:
                raise ConfigurationError(
                    f"connect timeout must be a number of seconds (got {values['connect_timeout']!r})"
                ) from None
        if "security_protocol" in values:
            values["security_protocol"] = str(values["security_protocol"]).upper()
        else:
            values["security_protocol"] = _infer_protocol(values)
        if "sasl_mechanism" in values:
            values["sasl_mechanism"] = str(values["sasl_mechanism"]).upper()
        return cls(**values)

    @classmethod
    def from_args(
        cls, bootstrap_servers: str | list[str] | None, connection: ConnectionConfig | None
    ) -> ConnectionConfig:
        """What Producer, consume and Admin do with their two connection arguments: an explicit
        ``bootstrap_servers`` overrides the given (or environment-resolved) config."""
        if connection is None:
            return cls.resolve(bootstrap_servers)
        if bootstrap_servers is None:
            return connection
        servers = bootstrap_servers if isinstance(bootstrap_servers, str) else ",".join(bootstrap_servers)
        return connection.with_overrides(bootstrap_servers=servers)

    def with_overrides(self, **changes: Any) -> ConnectionConfig:
        """Return a copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for aiokafka, verifying the server against ``ssl_cafile`` (or system CAs)."""
        if not self.uses_tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"cannot load client certificate {self.ssl_certfile}: {exc}"
                ) from None
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments shared by aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "client_id": self.client_id,
        }
        if self.uses_tls:
            try:
                kwargs["ssl_context"] = self.ssl_context()
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(f"cannot load CA file {self.ssl_cafile}: {exc}") from None
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get() if self.sasl_password else None
        return kwargs


def _infer_protocol(values: Mapping[str, Any]) -> str:
    tls = bool(values.get("ssl_cafile") or values.get("ssl_certfile"))
    sasl = bool(values.get("sasl_username") or values.get("sasl_mechanism"))
    if sasl:
        return "SASL_SSL" if tls else "SASL_PLAINTEXT"
    return "SSL" if tls else "PLAINTEXT"


_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\]")


def check_address(server: str) -> str:
    """One bootstrap server: ``HOST:PORT`` (an IPv6 host in brackets); no scheme, no path.

    >>> check_address("kafka-1.internal:9092")
    'kafka-1.internal:9092'
    """
    form = "must be HOST:PORT[,HOST:PORT...] (e.g. localhost:9092)"
    if "://" in server:
        raise ConfigurationError(f"bootstrap server {server!r} has a scheme; Kafka addresses {form}")
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not _HOST.fullmatch(host):
        raise ConfigurationError(f"bootstrap server {server!r} {form}")
    return server


def _validate(cfg: ConnectionConfig) -> None:
    if not cfg.bootstrap_servers or not cfg.bootstrap_servers.strip():
        raise ConfigurationError("bootstrap servers must not be empty (e.g. localhost:9092)")
    for server in cfg.bootstrap_servers.split(","):
        check_address(server.strip())
    if cfg.security_protocol not in SECURITY_PROTOCOLS:
        raise ConfigurationError(
            f"security protocol must be one of {', '.join(SECURITY_PROTOCOLS)} "
            f"(got {cfg.security_protocol!r})"
        )
    if cfg.uses_sasl:
        if cfg.sasl_mechanism is None:
            raise ConfigurationError(
                f"security protocol {cfg.security_protocol} needs a SASL mechanism: "
                f"one of {', '.join(SASL_MECHANISMS)}"
            )
        if cfg.sasl_mechanism not in SASL_MECHANISMS:
            raise ConfigurationError(
                f"SASL mechanism must be one of {', '.join(SASL_MECHANISMS)} (got {cfg.sasl_mechanism!r})"
            )
        if not cfg.sasl_username or cfg.sasl_password is None:
            raise ConfigurationError(
                f"SASL mechanism {cfg.sasl_mechanism} needs a username and a password"
            )
    elif cfg.sasl_mechanism is not None:
        raise ConfigurationError(
            f"a SASL mechanism was given but security protocol is {cfg.security_protocol}; "
            "use SASL_PLAINTEXT or SASL_SSL"
        )
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(cfg, name)
        if path is not None and not os.path.isfile(path):
            raise ConfigurationError(f"{name.replace('_', ' ')} {path} does not exist or is not a file")
    if cfg.ssl_keyfile and not cfg.ssl_certfile:
        raise ConfigurationError("an ssl keyfile needs an ssl certfile")
    if not cfg.connect_timeout > 0:
        raise ConfigurationError(
            f"connect timeout must be a positive number of seconds (got {cfg.connect_timeout})"
        )
