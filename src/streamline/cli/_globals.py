"""The connection and logging options every command shares (``-b``, TLS/SASL, ``--log-level``).

Kept apart from ``_app`` (which builds the typer application) so that a command run without
typer (``ship``, see ``_fast``) resolves them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._config import ConnectionConfig


@dataclass
class Globals:
    """Connection options given before (or after) the command name, or by ``STREAMLINE_*`` variables."""

    options: dict[str, Any] = field(default_factory=dict)
    log_level: str | None = None
    log_format: str = "text"

    def connection(self) -> ConnectionConfig:
        from .._config import ConnectionConfig

        return ConnectionConfig.resolve(**self.options)

    def configure_logging(self) -> None:
        import os

        from ._logging import configure

        configure(self.log_level, self.log_format, debug=os.environ.get("STREAMLINE_DEBUG") == "1")

    def store(self, name: str, value: Any) -> None:
        """A global option given after the command name: it wins over the one before it."""
        if value is None:
            return
        if name in ("log_level", "log_format"):
            setattr(self, name, value)
            self.configure_logging()
        else:
            self.options[name] = value
