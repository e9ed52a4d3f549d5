"""The one seam between streamline and aiokafka.

Producer, consumer and admin client are built and started here, with the connection settings
applied and start-up bounded by ``connect_timeout``; aiokafka's errors become streamline's.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from ._config import ConnectionConfig
from ._errors import BrokerUnavailableError

if TYPE_CHECKING:  # imported when an admin client is made: a producer never needs it
    from aiokafka.admin import AIOKafkaAdminClient

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
    from ._internals import fail_queued_batches

    fail_queued_batches(
        producer, KafkaTimeoutError(f"the producer stopped after {timeout:g}s without an acknowledgement")
    )
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
        admin = sys.modules.get("aiokafka.admin")  # imported if an admin client was made
        if admin is not None and isinstance(client, admin.AIOKafkaAdminClient):
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
    from aiokafka.admin import AIOKafkaAdminClient

    kwargs = config.aiokafka_kwargs()
    return AIOKafkaAdminClient(
        **kwargs, request_timeout_ms=int(config.connect_timeout * 1000)
    )


async def fetch_partitions(client_owner: Any, topics: list[str]) -> dict[str, set[int]]:
    """Fresh partition sets for ``topics`` (empty for a topic the cluster does not have yet)."""
    from ._internals import fetch_partitions as fetch

    return await fetch(client_owner, topics)


async def delete_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> dict[str, int]:
    """Send DeleteGroups for ``groups`` to their coordinators; the error code per group."""
    from ._internals import send_delete_groups

    codes: dict[str, int] = {}
    for group in groups:
        codes.update(await send_delete_groups(admin, group))
    return codes
