"""The one seam between streamline and aiokafka.

Producer, consumer and admin client are built and started here, with the connection settings
applied and start-up bounded by ``connect_timeout``; aiokafka's errors become streamline's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

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
    except KafkaConnectionError:
        await _close_quietly(client)
        if config.uses_tls and (problem := await _tls_problem(config)):
            raise unavailable(config, problem) from None
        hint = "is a broker running there?"
        if config.uses_sasl:  # aiokafka reports a refused SASL handshake as a failed bootstrap
            hint += f" does it accept SASL {config.sasl_mechanism}?"
        raise unavailable(config, f"connection failed ({hint})") from None
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


def new_admin(config: ConnectionConfig) -> AIOKafkaAdminClient:
    """An unstarted aiokafka admin client with the connection settings applied."""
    kwargs = config.aiokafka_kwargs()
    return AIOKafkaAdminClient(
        **kwargs, request_timeout_ms=int(config.connect_timeout * 1000)
    )


async def fetch_partitions(client_owner: Any, topics: list[str]) -> dict[str, set[int]]:
    """Fresh partition sets for ``topics`` (empty for a topic the cluster does not have yet)."""
    from ._internals import fetch_partitions as fetch

    return await fetch(client_owner, topics)
