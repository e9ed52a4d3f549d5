"""Consume raw access-log lines, parse them into JSON, produce to another topic.

Lines that do not parse go to a dead-letter topic with headers naming the error, the stage and
the origin (topic, partition, offset). Offsets are committed only after the JSON (or the dead
letter) was acknowledged by Kafka.

    python examples/enrich.py web_log web_log.json web_log.dlq [--once]
    streamline run examples/enrich.py:pipeline      # the same, with streamline's signal handling
"""

import argparse
import asyncio
import json
import os
import re

from streamline import OnError, Pipeline, Producer, Stage, consume, to_topic

LINE = re.compile(
    rb'(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) (?P<size>\d+|-)'
)


def parse(msg) -> bytes:
    """One access-log line (a Kafka message) → a JSON document. Raises on lines that do not parse."""
    match = LINE.match(msg.value or b"")
    if match is None:
        raise ValueError("not an access-log line")
    fields = {k: v.decode() for k, v in match.groupdict().items()}
    fields["status"] = int(fields["status"])
    fields["size"] = 0 if fields["size"] == "-" else int(fields["size"])
    return json.dumps(fields).encode()


async def pipeline(source: str = "", target: str = "", dead_letters: str = "", idle_exit: float | None = None):
    """An async generator yielding the Pipeline: `streamline run` sets it up and tears it down."""
    source = source or os.environ.get("ENRICH_SOURCE", "web_log")
    target = target or os.environ.get("ENRICH_TARGET", "web_log.json")
    dead_letters = dead_letters or os.environ.get("ENRICH_DLQ", "web_log.dlq")
    async with Producer(acks="all") as producer:
        stage = Stage(parse, on_error=OnError(retries=0, then="dead_letter", dead_letter_topic=dead_letters))
        group = os.environ.get("ENRICH_GROUP", "enrich")
        messages = consume(source, group=group, start="beginning", ack="manual")
        yield Pipeline(messages, stage, to=to_topic(producer, target))


async def main(source: str, target: str, dead_letters: str, seconds: float | None) -> None:
    async for built in pipeline(source, target, dead_letters):
        if seconds is None:
            await built.run()
        else:  # run for a while, then drain and stop (used by the smoke test)
            async def stop_later() -> None:
                await asyncio.sleep(seconds)
                built.stop()

            stopper = asyncio.create_task(stop_later())
            stats = await built.run()
            await stopper
            print(f"parsed {stats.delivered} lines, dead-lettered {stats.dead_lettered}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("dead_letters")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.source, args.target, args.dead_letters, args.seconds))
    except KeyboardInterrupt:
        pass
