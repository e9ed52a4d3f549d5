"""``peers_clients``: produce and consume against confluent-kafka and FastStream (see ``clients.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .._support import Context, Row, count_messages, fmt_rate, rate
from . import Unavailable
from .base import PeerCase

PARTITIONS = 4


class PeersClients(PeerCase):
    NAME = "peers_clients"
    WHAT = "produce and consume"

    def clients(self) -> dict[str, str]:
        """Peer client name -> version, recording the others in :attr:`skipped`."""
        from .clients import require

        self.skipped = {}
        ready = {}
        for name, distribution, module, install in (
            ("confluent", "confluent-kafka", "confluent_kafka", "confluent-kafka"),
            ("faststream", "faststream", "faststream.kafka", "faststream[kafka]"),
        ):
            try:
                ready[name] = require(distribution, module, install)
            except Unavailable as exc:
                self.skipped[name] = str(exc)
        return ready

    async def measure(self, ctx: Context) -> dict[str, float]:
        from streamline import Producer

        from .. import case_produce
        from . import clients

        sizes = self.sizes(ctx)
        ready = self.clients()
        n = sizes.produce_messages
        data = case_produce.values(n)
        producers: list[tuple[str, Callable[[str, str], Any]]] = [
            ("streamline", lambda b, t: case_produce.streamline_send_many(b, t, data)),
        ]
        if "confluent" in ready:
            producers.append(("confluent", lambda b, t: asyncio.to_thread(case_produce.confluent_produce, b, t, data)))
        if "faststream" in ready:
            producers.append(("faststream", lambda b, t: clients.faststream_publish_batch(b, t, data, PARTITIONS)))
        result: dict[str, float] = {"produce_messages": float(n)}
        for name, run in self.ordered(producers):
            topic = await ctx.new_topic(f"peers-produce-{name}", PARTITIONS)
            elapsed = await run(ctx.bootstrap, topic)
            arrived = await read_count(ctx.bootstrap, topic, n + 1)  # + the warm-up
            if arrived < n + 1:
                raise RuntimeError(f"{self.NAME}/produce {name}: only {arrived:,} of {n + 1:,} messages read back")
            result[f"produce_{name}_msgs_per_s"] = rate(n, elapsed)
            ctx.log(f"  {self.NAME} produce {name:12s} {rate(n, elapsed):>12,.0f} msg/s")
            await ctx.drop_topics()

        n = sizes.consume_messages
        topic = await ctx.new_topic("peers-consume", PARTITIONS)
        async with Producer(ctx.bootstrap) as producer:
            await producer.send_many(topic, [b"%0100d" % i for i in range(n)])
        consumers: list[tuple[str, Callable[[], Any]]] = [
            ("streamline", lambda: clients.streamline_consume(ctx.bootstrap, topic, n)),
        ]
        if "confluent" in ready:
            consumers.append(("confluent", lambda: asyncio.to_thread(
                clients.confluent_consume, ctx.bootstrap, topic, n, PARTITIONS)))
        if "faststream" in ready:
            consumers.append(("faststream", lambda: clients.faststream_consume_batches(ctx.bootstrap, topic, n, PARTITIONS)))
        result["consume_messages"] = float(n)
        for name, run in self.ordered(consumers):
            counted, elapsed, from_ready = await run()
            result[f"consume_{name}_msgs_per_s"] = rate(counted, elapsed)
            result[f"consume_from_ready_{name}_msgs_per_s"] = rate(n, from_ready)
            ctx.log(f"  {self.NAME} consume {name:12s} {rate(counted, elapsed):>12,.0f} msg/s "
                    f"from the first delivery to the last, {rate(n, from_ready):,.0f} from ready")
        await ctx.drop_topics()
        self.add_ratios(result, self.ratio_pairs())
        return result

    def ratio_pairs(self) -> list[tuple[str, str, str]]:
        return [
            (f"ratio_{op}_vs_{peer}", f"{op}_streamline_msgs_per_s", f"{op}_{peer}_msgs_per_s")
            for op in ("produce", "consume", "consume_from_ready") for peer in ("confluent", "faststream")
        ]

    def rows(self, m: dict[str, float]) -> list[Row]:
        labels = {
            "produce": ("send_many", {"confluent": "confluent-kafka produce+flush",
                                      "faststream": "FastStream publish_batch (2,000 per call)"}),
            "consume": ("async for msg in consume()", {"confluent": "confluent-kafka consume(num_messages=1000)",
                                                      "faststream": "FastStream batch subscriber"}),
            "consume_from_ready": ("the same", {"confluent": "confluent-kafka, clock from assign() (start-up in)",
                                                "faststream": "FastStream, clock from broker.start() (start-up in)"}),
        }
        out = []
        for op, (ours_label, peers) in labels.items():
            if f"{op}_streamline_msgs_per_s" not in m:
                continue
            ours = m[f"{op}_streamline_msgs_per_s"]
            count = int(m[f"{op.split('_')[0]}_messages"])
            for name, label in peers.items():
                if f"{op}_{name}_msgs_per_s" not in m:
                    continue
                peer = m[f"{op}_{name}_msgs_per_s"]
                out.append(Row(self.NAME, f"{op.split('_')[0]} {count:,}: {ours_label} vs {label}",
                               fmt_rate(peer), fmt_rate(ours), self.ratio(m, f"ratio_{op}_vs_{name}"), "reference",
                               "info"))
        return out + self.skip_rows()


async def read_count(bootstrap: str, topic: str, expected: int) -> int:
    return await count_messages(bootstrap, topic, expected, timeout=60 + expected / 20_000)
