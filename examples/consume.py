"""The tutorial's consumer, written with streamline: print the messages of every partition of a topic.

    python examples/consume.py                              # web_log, new messages, until Ctrl-C
    python examples/consume.py --topic web_log --from beginning --max 10

The broker address comes from STREAMLINE_BOOTSTRAP_SERVERS (default localhost:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Optional

from streamline import StreamlineError, consume


async def main(topic: str, start: str, limit: Optional[int]) -> None:
    # The Go version asks for the topic's partitions and starts one ConsumePartition goroutine
    # per partition at OffsetNewest. consume() does all of that: it assigns every partition
    # (also ones added later) and fans them into one stream, each starting at `start`.
    # `async with` closes the consumer the moment the block is left — also when the program
    # ends right after a `break` (the bare `async for msg in consume(...)` form closes on the
    # event loop's next turns, which asyncio.run() does not wait for at exit).
    seen = 0
    async with consume(topic, start=start) as messages:
        async for msg in messages:
            # key_text and text decode the bytes as UTF-8 ("" for a missing key, like sarama's nil).
            print(f"Partition:{msg.partition} Offset:{msg.offset} Key:{msg.key_text} Value:{msg.text}", flush=True)
            seen += 1
            if limit is not None and seen >= limit:
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Print a topic's messages from every partition.")
    parser.add_argument("--topic", default="web_log", help="topic to read (default: web_log)")
    parser.add_argument(
        "--from", dest="start", default="end",
        help="end (default: new messages only), beginning, an offset, or an ISO-8601 time",
    )
    parser.add_argument("--max", type=int, default=None, help="stop after this many messages")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.topic, args.start, args.max))
    except KeyboardInterrupt:  # Ctrl-C is how the tutorial's consumer stops
        pass
    except StreamlineError as exc:
        sys.exit(f"consume.py: error: {exc}")
