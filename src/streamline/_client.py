"""The one seam between streamline and aiokafka.

Producer, consumer and admin client are built and started here, with the connection settings
applied and start-up bounded by ``connect_timeout``; aiokafka's errors become streamline's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from ._config import ConnectionConfig
from ._errors import BrokerUnavailableError

T = TypeVar("T")


class _HideRefusedPid(logging.Filter):
    """While probing for idempotence: aiokafka logs the broker's refusal at ERROR; streamline
    decides what it means (fall back, or raise IdempotenceRefused) and says so itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Unexpected error during InitProducerIdRequest")


_hide_refused_pid = _HideRefusedPid()


async def start_idempotent(producer: AIOKafkaProducer, config: ConnectionConfig) -> None:
    """:func:`start_bounded` for a producer with idempotence on; a broker that refuses it raises
    :class:`IdempotenceRefused` (without aiokafka's error log line)."""
    sender_log = logging.getLogger("aiokafka.producer.sender")
    sender_log.addFilter(_hide_refused_pid)
    try:
        await start_bounded(producer, config)
    finally:
        sender_log.removeFilter(_hide_refused_pid)


class IdempotenceRefused(BrokerUnavailableError):
    """The broker answered, but not to InitProducerId: it does not support idempotent production."""

    retriable = False


def unavailable(config: ConnectionConfig, detail: str = "") -> BrokerUnavailableError:
    """The one-line error for a cluster that does not answer."""
    why = detail or f"no answer within {config.connect_timeout:g}s"
    return BrokerUnavailableError(f"cannot reach Kafka at {config.bootstrap_servers}: {why}")


async def start_bounded(client: Any, config: ConnectionConfig) -> None:
    """``await client.start()`` within the connect timeout; on failure close it and raise."""
    try:
        await asyncio.wait_for(client.start(), config.connect_timeout)
    except asyncio.TimeoutError:
        await _close_quietly(client)
        raise unavailable(config) from None
    except KafkaConnectionError:
        await _close_quietly(client)
        if config.uses_tls and (problem := await _tls_problem(config)):
            raise unavailable(config, problem) from None
        unresolved = await _unresolved_hosts(config)
        if unresolved:
            raise unavailable(config, f"cannot resolve host {', '.join(unresolved)} (check the address)") from None
        hint = "is a broker running there?"
        if config.uses_sasl:  # aiokafka reports a refused SASL handshake as a failed bootstrap
            hint += f" does it accept SASL {config.sasl_mechanism}?"
        raise unavailable(config, f"connection failed ({hint})") from None
    except KafkaError as exc:
        await _close_quietly(client)
        if getattr(client, "_txn_manager", None) is not None:  # InitProducerId was refused
            raise IdempotenceRefused(
                f"Kafka at {config.bootstrap_servers} refused idempotent production "
                f"({_first_line(exc)}); use idempotent=False"
            ) from None
        raise BrokerUnavailableError(
            f"Kafka at {config.bootstrap_servers} refused the connection: {_first_line(exc)}"
        ) from None
    except OSError as exc:  # TLS handshake failures and the like
        await _close_quietly(client)
        raise BrokerUnavailableError(
            f"cannot connect to Kafka at {config.bootstrap_servers}: {_first_line(exc)}"
        ) from None
    except Exception:
        await _close_quietly(client)
        if not config.uses_sasl:
            raise
        # aiokafka's SCRAM client fails with e.g. KeyError('v') when the server refuses the
        # exchange; its text says nothing useful (and must never carry the password).
        raise BrokerUnavailableError(
            f"Kafka at {config.bootstrap_servers} refused SASL {config.sasl_mechanism} "
            f"authentication as {config.sasl_username!r} (wrong user, password or mechanism?)"
        ) from None


async def _unresolved_hosts(config: ConnectionConfig) -> list[str]:
    """Bootstrap hosts whose names do not resolve (empty when at least one does: then the
    failure is elsewhere)."""
    import socket

    loop = asyncio.get_running_loop()
    hosts = [s.strip().rpartition(":")[0].strip("[]") for s in config.bootstrap_servers.split(",")]
    unresolved = []
    for host in hosts:
        try:
            await asyncio.wait_for(loop.getaddrinfo(host, None), min(5.0, config.connect_timeout))
        except (socket.gaierror, UnicodeError):
            unresolved.append(host)
        except (OSError, asyncio.TimeoutError):
            return []
    return unresolved if len(unresolved) == len(hosts) else []


async def stop_producer(producer: AIOKafkaProducer, timeout: float) -> None:
    """Stop an aiokafka producer within ``timeout`` seconds (plus a moment to close sockets).

    aiokafka's ``stop()`` waits for every queued batch without a limit (a frozen broker keeps it
    waiting for minutes). After ``timeout`` the batches still queued or in flight fail with a
    timeout error, the connections are closed (which ends in-flight requests at once), and the
    stop completes.
    """
    stopping = asyncio.ensure_future(producer.stop())
    done, _ = await asyncio.wait({stopping}, timeout=timeout)
    if done:
        stopping.result()
        return
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:
        batches = [b for queue in accumulator._batches.values() for b in queue]
        batches += list(accumulator._pending_batches)
        accumulator.fail_all(KafkaTimeoutError(f"the producer stopped after {timeout:g}s without an acknowledgement"))
        for batch in batches:  # failed on purpose: asyncio must not report them as forgotten
            for future in (getattr(batch, "future", None), getattr(batch, "_drain_waiter", None)):
                if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
                    future.exception()
    try:
        await asyncio.wait_for(producer.client.close(), 2.0)
    except Exception:
        pass
    done, _ = await asyncio.wait({stopping}, timeout=3.0)
    if not done:
        stopping.cancel()
        await asyncio.wait({stopping})
    if not stopping.cancelled():
        stopping.exception()  # retrieved: the failure is reported through the deliveries


async def _tls_problem(config: ConnectionConfig) -> str | None:
    """Why a TLS handshake with the first bootstrap server fails, if it does (aiokafka only
    logs the reason and raises a bare connection error)."""
    import ssl

    host, _, port = config.bootstrap_servers.split(",")[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, int(port), ssl=config.ssl_context(), server_hostname=host),
            min(5.0, config.connect_timeout),
        )
    except ssl.SSLCertVerificationError as exc:
        return f"TLS certificate verification failed: {exc.verify_message} (check the CA file)"
    except ssl.SSLError as exc:
        return f"TLS handshake failed: {exc.reason or _first_line(exc)}"
    except (OSError, asyncio.TimeoutError):
        return None
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass
    return None


async def bounded(aw: Awaitable[T], config: ConnectionConfig, what: str) -> T:
    """Await a metadata-style request within the connect timeout."""
    try:
        return await asyncio.wait_for(aw, config.connect_timeout)
    except asyncio.TimeoutError:
        raise unavailable(config, f"no answer to {what} within {config.connect_timeout:g}s") from None


async def _close_quietly(client: Any) -> None:
    try:
        if isinstance(client, AIOKafkaAdminClient):
            await client.close()
        else:
            await client.stop()
    except Exception:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def new_producer(config: ConnectionConfig, **options: Any) -> AIOKafkaProducer:
    """An unstarted aiokafka producer with the connection settings applied."""
    return AIOKafkaProducer(**config.aiokafka_kwargs(), **options)


def new_consumer(config: ConnectionConfig, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """An unstarted aiokafka consumer with the connection settings applied."""
    return AIOKafkaConsumer(*topics, **config.aiokafka_kwargs(), **options)


def build_records_as(consumer: AIOKafkaConsumer, cls: type) -> bool:
    """Have a started consumer's fetcher build every record it parses as ``cls`` (a subclass
    of aiokafka's ``ConsumerRecord`` with the same fields) instead of ``ConsumerRecord``.

    aiokafka builds each record in ``PartitionRecords._consumer_record(tp, record)``, looked
    up on the instance for every record; the fetcher keeps one ``PartitionRecords`` per
    partition in ``Fetcher._records``. Giving each new one our builder as an instance attribute
    makes the records ``Message`` from the start — re-labelling them afterwards costs ~8% of
    consume throughput — and touches nothing outside this consumer (no global patch).
    aiokafka 0.11–0.14 share that shape; on anything else this returns False, changes nothing,
    and the caller re-labels.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    records = getattr(fetcher, "_records", None)
    if type(records) is not OrderedDict or not _builds_per_instance():
        return False
    building = _BuildingRecords(record_builder(cls))
    building.update(records)
    fetcher._records = building  # type: ignore[union-attr]
    return True


def record_builder(cls: type) -> Callable[[Any, Any], Any]:
    """``build(tp, record)``: what aiokafka's ``PartitionRecords._consumer_record`` does
    without deserializers (streamline sets none), building ``cls``."""

    def build(tp: Any, record: Any) -> Any:
        key = record.key
        value = record.value
        return cls(
            tp.topic, tp.partition, record.offset, record.timestamp, record.timestamp_type,
            key, value, record.checksum, -1 if key is None else len(key),
            -1 if value is None else len(value), tuple(record.headers),
        )

    return build


class _BuildingRecords(OrderedDict):  # type: ignore[type-arg]
    """The fetcher's per-partition results; hands each new one the record builder."""

    def __init__(self, build: Callable[[Any, Any], Any]) -> None:
        super().__init__()
        self._build = build

    def __setitem__(self, tp: Any, result: Any) -> None:
        partition_records = getattr(result, "_partition_records", None)  # a FetchError has none
        if partition_records is not None:
            partition_records._consumer_record = self._build
        super().__setitem__(tp, result)


def _builds_per_instance() -> bool:
    from aiokafka.consumer import fetcher

    records = getattr(fetcher, "PartitionRecords", None)
    build = getattr(getattr(records, "_consumer_record", None), "__code__", None)
    unpack = getattr(getattr(records, "_unpack_records", None), "__code__", None)
    return (
        build is not None and unpack is not None
        and build.co_varnames[:3] == ("self", "tp", "record")
        and "_consumer_record" in unpack.co_names
    )


def new_admin(config: ConnectionConfig) -> AIOKafkaAdminClient:
    """An unstarted aiokafka admin client with the connection settings applied."""
    kwargs = config.aiokafka_kwargs()
    return AIOKafkaAdminClient(
        **kwargs, request_timeout_ms=int(config.connect_timeout * 1000)
    )


async def fetch_partitions(client_owner: Any, topics: list[str]) -> dict[str, set[int]]:
    """Fresh partition sets for ``topics`` (empty for a topic the cluster does not have yet).

    ``client_owner`` is an aiokafka consumer or producer; this asks the cluster, not the cache.
    """
    cluster = await client_owner._client.fetch_all_metadata()
    return {t: set(cluster.partitions_for_topic(t) or ()) for t in topics}


async def delete_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> dict[str, int]:
    """Send DeleteGroups for ``groups`` to their coordinators; the error code per group.

    aiokafka's admin client has no public call for it (0.14), so the request goes through its
    ``_send_request_to_node``: a private name, used here only.
    """
    from aiokafka.protocol.admin import DeleteGroupsRequest

    codes: dict[str, int] = {}
    for group in groups:
        node = await admin.find_coordinator(group)
        response = await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
        for entry in response.to_object()["results"]:
            codes[entry["group_id"]] = entry["error_code"]
    return codes
