"""The tutorial's producer, written with streamline: send one message and print where it landed.

    python examples/produce.py                              # "this is a test log" to web_log
    python examples/produce.py "GET / 200" --topic web_log

The broker address comes from STREAMLINE_BOOTSTRAP_SERVERS (default localhost:9092); for a local
one, run `streamline broker` in another terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streamline import Producer, StreamlineError


async def main(topic: str, value: str) -> None:
    # acks="all" is sarama's RequiredAcks = WaitForAll: send() returns only once every in-sync
    # replica has the message, so the offset printed below is durable. (It is also the default.)
    async with Producer(acks="all") as producer:
        md = await producer.send(topic, value)
    print(f"partition: {md.partition}, offset: {md.offset}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Send one message to Kafka.")
    parser.add_argument("value", nargs="?", default="this is a test log", help="message value")
    parser.add_argument("--topic", default="web_log", help="topic to write to (default: web_log)")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.topic, args.value))
    except StreamlineError as exc:  # one line a user can act on, e.g. "cannot reach Kafka at ..."
        sys.exit(f"produce.py: error: {exc}")
