"""The ``streamline`` command line interface."""

from __future__ import annotations

# Importing a command module registers its commands on ``app``.
from . import (  # noqa: F401
    _agent,
    _broker,
    _consume,
    _demo,
    _follow,
    _groups,
    _produce,
    _run_pipeline,
    _ship,
    _top,
    _topics,
)
from ._app import app
from ._run import main

__all__ = ["app", "main"]
