"""Fan out: ship an access log to one topic for everything and another for server errors.

A line's checkpoint advances only when every output that takes it has been acknowledged.

    python examples/fanout.py access.log web_log web_log.errors [--once]
"""

import argparse
import asyncio

from streamline import Checkpoints, Pipeline, Producer, follow, to_topic


def is_server_error(line: bytes) -> bool:
    """Status 5xx in a combined-format access-log line."""
    try:
        status = line.split(b'"', 2)[2].split(None, 1)[0]
    except IndexError:
        return False
    return status.startswith(b"5")


async def main(path: str, everything: str, errors: str, once: bool) -> None:
    async with Producer(acks="all") as producer:
        lines = follow(path, start="beginning", checkpoints=Checkpoints(".streamline/fanout"), stop_at_eof=once)
        stats = await Pipeline(
            lines,
            to=[to_topic(producer, everything), to_topic(producer, errors, where=is_server_error)],
        ).run()
    print(f"shipped {stats.items} lines to {everything}; server errors also to {errors}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("everything")
    parser.add_argument("errors")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.path, args.everything, args.errors, args.once))
    except KeyboardInterrupt:
        pass
