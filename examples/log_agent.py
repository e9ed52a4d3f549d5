"""The tutorial's log agent: follow access.log and ship every line to Kafka.

Positions are checkpointed only after Kafka acknowledged the lines (acks="all"), so a crash or
kill re-sends at most about a second of lines and loses none. Rotation and truncation are handled.

    python examples/log_agent.py access.log web_log          # tail -F forever (Ctrl-C drains and exits)
    python examples/log_agent.py access.log web_log --once   # ship what is there and exit

The same as `streamline ship access.log --topic web_log`.
"""

import argparse
import asyncio

from streamline import Checkpoints, Pipeline, Producer, follow, to_topic


async def main(path: str, topic: str, once: bool) -> None:
    async with Producer(acks="all") as producer:  # bootstrap from STREAMLINE_BOOTSTRAP_SERVERS
        lines = follow(path, start="beginning", checkpoints=Checkpoints(".streamline/checkpoints"), stop_at_eof=once)
        stats = await Pipeline(lines, to=to_topic(producer, topic)).run()
    print(f"shipped {stats.delivered} lines from {path} to {topic}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("topic")
    parser.add_argument("--once", action="store_true", help="exit after shipping what is there")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.path, args.topic, args.once))
    except KeyboardInterrupt:
        pass
