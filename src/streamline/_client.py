"""The one seam between streamline and aiokafka.

Producer, consumer and admin client are built and started here, with the connection settings
applied and start-up bounded by ``connect_timeout``; aiokafka's errors become streamline's.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from ._config import ConnectionConfig
from ._errors import BrokerUnavailableError

T = TypeVar("T")


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
    except KafkaConnectionError as exc:
        await _close_quietly(client)
        raise unavailable(config, "connection failed (is a broker running there?)") from None
    except KafkaError as exc:
        await _close_quietly(client)
        raise BrokerUnavailableError(
            f"Kafka at {config.bootstrap_servers} refused the connection: {_first_line(exc)}"
        ) from None
    except OSError as exc:  # TLS handshake failures and the like
        await _close_quietly(client)
        raise BrokerUnavailableError(
            f"cannot connect to Kafka at {config.bootstrap_servers}: {_first_line(exc)}"
        ) from None


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
    except Exception:  # noqa: BLE001 - best effort while already failing
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
