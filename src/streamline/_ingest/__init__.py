"""What one input of the log agent does to its lines between the file and Kafka.

``spec`` holds the description shared by ``streamline ship``'s flags and the agent's config file
(``streamline agent --config``); ``build_input`` (in ``build``) turns one :class:`InputSpec` into a
follower and a pipeline ready to run with a shared producer.
"""

from .build import BuiltInput, build_input
from .records import ParseError
from .spec import InputSpec, Metadata, Multiline, Parser

__all__ = ["BuiltInput", "InputSpec", "Metadata", "Multiline", "ParseError", "Parser", "build_input"]
