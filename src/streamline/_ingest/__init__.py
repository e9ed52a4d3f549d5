"""What one input of the log agent does to its lines between the file and Kafka.

``spec`` holds the description shared by ``streamline ship``'s flags and the agent's config file
(``streamline agent --config``); ``build_input`` (in ``build``) turns one :class:`InputSpec` into a
follower and a pipeline ready to run with a shared producer. ``build`` is imported on first use:
importing the specs (every CLI start does) must not import the pipeline and the Kafka client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .spec import InputSpec, Metadata, Multiline, Parser

if TYPE_CHECKING:
    from .build import BuiltInput, build_input
    from .records import ParseError

_LAZY = {"BuiltInput": ".build", "build_input": ".build", "ParseError": ".records"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = ["BuiltInput", "InputSpec", "Metadata", "Multiline", "ParseError", "Parser", "build_input"]
