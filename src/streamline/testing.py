"""A pytest plugin with a Kafka to test against.

Enable it with ``-p streamline.testing`` or ``pytest_plugins = ["streamline.testing"]``::

    async def test_roundtrip(kafka_bootstrap, new_topic):
        topic = new_topic(partitions=4)
        async with Producer(kafka_bootstrap) as producer:
            await producer.send(topic, "hello")

The broker is chosen once per session, in this order: ``STREAMLINE_TEST_BOOTSTRAP`` (any
cluster) → testcontainers Kafka when a Docker daemon answers → the embedded broker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from ._admin import Admin
from ._broker import EmbeddedBroker

T = TypeVar("T")

KAFKA_IMAGE = "apache/kafka:3.9.1"


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    Safe from sync fixtures whether or not the calling thread already runs a loop.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()  # type: ignore[arg-type]


def _docker_answers(timeout: float = 2.0) -> bool:
    """True when a Docker daemon answers ``GET /_ping`` (unix socket or ``DOCKER_HOST=tcp://``)."""
    import socket

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            if not os.path.exists(path):
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = path
        elif host.startswith("tcp://"):
            name, _, port = host[len("tcp://") :].rstrip("/").rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (name, int(port))
        else:
            return False
        with sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
            return reply.startswith(b"HTTP/1.") and b" 200 " in reply
    except (OSError, ValueError):
        return False


class KafkaUnderTest:
    """The cluster a test session uses: its address and which kind it is."""

    def __init__(self, bootstrap_servers: str, kind: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        #: ``"external"``, ``"container"`` or ``"embedded"``.
        self.kind = kind

    @property
    def embedded(self) -> bool:
        """True on the embedded (Tansu) broker, which has documented deviations from Kafka."""
        return self.kind == "embedded"


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaUnderTest]:
    """The session's Kafka (see the module docstring for how it is chosen)."""
    external = os.environ.get("STREAMLINE_TEST_BOOTSTRAP")
    if external:
        yield KafkaUnderTest(external, "external")
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield KafkaUnderTest(container.get_bootstrap_server(), "container")
        return
    with EmbeddedBroker() as broker:
        yield KafkaUnderTest(broker.bootstrap_servers, "embedded")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: KafkaUnderTest) -> str:
    """``host:port`` of the session's Kafka."""
    return kafka.bootstrap_servers


_counter = itertools.count()


@pytest.fixture
def new_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Factory: ``new_topic(partitions=1)`` creates a uniquely named topic and returns its name.

    Topics are deleted after the test.
    """
    created: list[str] = []
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]

    def make(partitions: int = 1, **config: Any) -> str:
        name = f"t-{base}-{next(_counter)}-{uuid.uuid4().hex[:6]}"

        async def create() -> None:
            async with Admin(kafka_bootstrap) as admin:
                await admin.create_topic(name, partitions=partitions, config=config or None)

        run_sync(create)
        created.append(name)
        return name

    yield make

    async def cleanup() -> None:
        async with Admin(kafka_bootstrap) as admin:
            for name in created:
                try:
                    await admin.delete_topic(name)
                except Exception:
                    pass

    if created:
        run_sync(cleanup)
