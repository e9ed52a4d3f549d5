"""The log agent: one config file, many inputs, one producer (``streamline agent --config``).

``config`` reads and validates the TOML file (every mistake is one line naming the file and the
key path; ``schema`` reads one table, ``inputs`` one ``[[inputs]]`` table), ``claims`` decides which input a file belongs to, ``runner`` runs the inputs and
applies a reloaded config (SIGHUP) without touching the inputs that did not change.

    config = load_config("agent.toml")
    async with Producer(connection=config.kafka.connection) as producer:
        await Agent(config, producer=producer).run()
"""

from .config import AgentConfig, KafkaSettings, Overrides, load_config
from .runner import Agent, RunOptions
from .schema import AgentConfigError

#: The public name of :func:`load_config` (``streamline.load_agent_config``).
load_agent_config = load_config

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentConfigError",
    "KafkaSettings",
    "Overrides",
    "RunOptions",
    "load_agent_config",
    "load_config",
]
