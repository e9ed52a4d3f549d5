"""Print every message of a topic, from all partitions, in the tutorial's format.

    python examples/consume_print.py web_log --from beginning --max 10
"""

import argparse
import asyncio

from streamline import consume


async def main(topic: str, start: str, limit: int | None) -> None:
    seen = 0
    async with consume(topic, start=start) as messages:
        async for msg in messages:
            print(f"Partition:{msg.partition} Offset:{msg.offset} Key:{msg.key_text} Value:{msg.text}")
            seen += 1
            if limit is not None and seen >= limit:
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topic")
    parser.add_argument("--from", dest="start", default="end")
    parser.add_argument("--max", dest="limit", type=int)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.topic, args.start, args.limit))
    except KeyboardInterrupt:
        pass
