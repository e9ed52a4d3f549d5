"""``consume()``: validate the options once, then build the :class:`~.stream.MessageStream`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from .._config import ConnectionConfig
from .._errors import ConfigurationError
from .._internals import ASSIGNORS
from .._validation import Start, check_number, check_topics, parse_start
from .stream import MessageStream

ACK_MODES = ("auto", "manual")


def consume(
    topics: str | Iterable[str],
    *,
    bootstrap_servers: str | list[str] | None = None,
    start: Start | Mapping[int, Start] = "end",
    group: str | None = None,
    ack: str = "auto",
    commit_interval: float = 1.0,
    revoke_timeout: float = 10.0,
    max_batch: int = 10_000,
    max_unacked: int = 100_000,
    partition_refresh_interval: float = 5.0,
    session_timeout: float = 10.0,
    fetch_max_wait: float = 0.5,
    max_poll_interval: float = 300.0,
    assignor: str | Sequence[str] = "roundrobin",
    unreachable_timeout: float | None = None,
    connection: ConnectionConfig | None = None,
) -> MessageStream:
    """Stream messages from every partition of ``topics``.

    >>> async for msg in consume("access-log", start="beginning"):  # doctest: +SKIP
    ...     print(f"Partition:{msg.partition} Offset:{msg.offset} Value:{msg.text}")

    ``async with consume(...) as stream`` closes deterministically and, in a group, counts the
    last message as processed when the block exits without an exception. The bare ``async for``
    form closes on the next event-loop turns after ``break`` (asyncio.run() does not wait for
    that at exit, so a program that ends right after the loop should use ``async with``); in a
    group it re-delivers the message you broke on (it cannot tell a ``break`` from an exception).

    - ``start``: ``"end"`` (alias ``"latest"``, ``"newest"``), ``"beginning"`` (``"earliest"``,
      ``"oldest"``), an offset for every partition, or a ``datetime`` (first message at or after
      it). In a group, ``start`` applies only to partitions without a committed offset.
      Partitions that appear while running are read from their beginning.
      A mapping ``{partition: start}`` reads only the partitions it names (of each topic), each
      from its own start (no group): ``consume("logs", start={0: 5, 1: "beginning"})``; a
      partition named that does not exist yet is read from its start once it appears.
    - ``group``: join this consumer group. A partition's committed offset is 1 + the last
      *contiguous* processed offset: no commit ever passes a message that is not processed.
      Commits happen every ``commit_interval`` seconds, when partitions are revoked, and on
      close (after in-flight work drained, at most ``revoke_timeout`` seconds).
    - ``ack``: ``"auto"`` — a message is processed when the loop body asks for the next one
      (or the ``async with`` block exits cleanly; for :meth:`~MessageStream.batches`, the whole
      batch when the next is requested — a batch in hand when the loop is left is delivered
      again; for :meth:`~MessageStream.run`, when the handler returns). ``"manual"`` — nothing
      is processed until acknowledged with ``msg.ack()`` or ``stream.ack(msg_or_batch)``, from
      any task and in any order::

          async with consume("logs", group="shipper", ack="manual") as stream:
              async for batch in stream.batches():
                  await queue.put(batch)       # a sink calls stream.ack(batch) when done

    - ``max_unacked`` (``ack="manual"`` in a group): **per partition**, how many handed-out
      messages may wait for their acknowledgement; a partition that reaches it is paused (not
      fetched) until acks bring it below. Only offsets are remembered for acks, never
      messages, so memory does not grow with unacknowledged messages the application dropped.
    - ``revoke_timeout``: when partitions are revoked (a rebalance) or the stream closes, wait
      at most this long for their in-flight messages (unfinished handlers, missing acks);
      fetched messages not handed out yet are given up at once. Then commit what is processed
      and let go; unprocessed messages go to the partition's next owner.
    - ``session_timeout``: seconds without a heartbeat before the group evicts this member
      (brokers usually accept 6–1800). ``max_poll_interval``: seconds between two fetches
      before aiokafka gives up the membership. :meth:`~MessageStream.run` keeps fetching (and
      pauses busy partitions) while handlers are slow, so a slow handler does not cost the
      membership; a plain ``async for`` body that takes longer than this does.
    - ``assignor``: the group's partition assignment strategy, ``"roundrobin"`` (aiokafka's
      default), ``"range"`` (Java's and sarama's default) or ``"sticky"``; a list offers
      several (the group picks one every member supports), e.g. ``("roundrobin", "range")``.
    - ``unreachable_timeout``: while the cluster does not answer, the stream retries with
      backoff (``stream.unreachable_for`` tells how long it has been); after this many seconds
      it raises :class:`~streamline.BrokerUnavailableError`. ``None`` (default): retry forever.
    - ``fetch_max_wait``: how long the broker may hold a fetch while no data is there. Kafka
      answers as soon as data arrives; a broker that waits it out (the embedded one does, about
      half of it) adds up to this much latency — lower it for latency-sensitive consumers.
    """
    names = check_topics(topics)
    position = partition_starts(start) if isinstance(start, Mapping) else parse_start(start)
    if group is not None and (not isinstance(group, str) or not group.strip()):
        raise ConfigurationError("group must be a non-empty string")
    if group is not None and isinstance(position, Mapping):
        raise ConfigurationError("a start per partition reads without a group: drop group= or use one start")
    if ack not in ACK_MODES:
        raise ConfigurationError(f"ack must be 'auto' or 'manual' (got {ack!r})")
    check_number("commit_interval", commit_interval, above=0)
    check_number("fetch_max_wait", fetch_max_wait, above=0, maximum=30)
    check_number("session_timeout", session_timeout, minimum=1, maximum=3600)
    check_number("max_poll_interval", max_poll_interval, minimum=1, maximum=86_400)
    check_number("revoke_timeout", revoke_timeout, minimum=0)
    if not revoke_timeout < max_poll_interval:
        raise ConfigurationError(
            f"revoke_timeout must be below max_poll_interval ({max_poll_interval:g}s) (got {revoke_timeout!r})"
        )
    check_number("max_batch", max_batch, minimum=1, integer=True)
    check_number("max_unacked", max_unacked, minimum=1, integer=True)
    check_number("partition_refresh_interval", partition_refresh_interval, above=0)
    check_number("unreachable_timeout", unreachable_timeout, above=0, allow_none=True)
    assignors = check_assignor(assignor)
    connection = ConnectionConfig.from_args(bootstrap_servers, connection)
    return MessageStream(
        names,
        connection=connection,
        start=position,
        group=group,
        ack=ack,
        commit_interval=commit_interval,
        revoke_timeout=revoke_timeout,
        max_batch=max_batch,
        max_unacked=max_unacked,
        partition_refresh_interval=partition_refresh_interval,
        session_timeout=session_timeout,
        max_poll_interval=max_poll_interval,
        fetch_max_wait=fetch_max_wait,
        assignor=assignors,
        unreachable_timeout=unreachable_timeout,
    )


def partition_starts(start: Mapping[int, Start]) -> dict[int, str | int | datetime]:
    """``{partition: start}`` with every start normalised (see ``parse_start``).

    >>> partition_starts({0: "5", 2: "oldest"})
    {0: 5, 2: 'beginning'}
    """
    if not start:
        raise ConfigurationError("start={} names no partition: give at least one {partition: start}")
    starts: dict[int, str | int | datetime] = {}
    for partition, position in start.items():
        if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
            raise ConfigurationError(f"start's keys must be partition numbers >= 0 (got {partition!r})")
        starts[partition] = parse_start(position)
    return starts


def check_assignor(assignor: str | Sequence[str]) -> tuple[str, ...]:
    """``assignor=`` as a tuple of known strategy names."""
    names = (assignor,) if isinstance(assignor, str) else tuple(assignor)
    unknown = [n for n in names if n not in ASSIGNORS]
    if not names or unknown:
        raise ConfigurationError(
            f"assignor must be one or more of {', '.join(ASSIGNORS)} (got {assignor!r})"
        )
    return names
