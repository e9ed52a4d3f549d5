"""The ``streamline`` command line interface."""

from __future__ import annotations

from ._app import app
from ._run import main

# Importing a command module registers its commands on ``app``.
from . import _broker, _consume, _demo, _produce, _topics  # noqa: E402,F401

__all__ = ["app", "main"]

try:  # the follower's command lives in its own module
    from . import _follow  # noqa: F401
except ImportError:  # pragma: no cover - only while that module is being written
    pass
