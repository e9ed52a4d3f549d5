"""Fixtures of the fault-injection suite (see docs/reliability.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest

from streamline import EmbeddedBroker
from streamline._broker import free_port
from tcp_proxy import TcpProxy


@dataclass
class ProxiedBroker:
    """A fresh embedded broker whose clients all go through ``proxy`` (it advertises the proxy)."""

    bootstrap: str
    proxy: TcpProxy


@pytest.fixture
def proxied_broker() -> Iterator[ProxiedBroker]:
    broker_port, proxy_port = free_port(), free_port()
    with TcpProxy(broker_port, port=proxy_port) as proxy:
        with EmbeddedBroker(port=broker_port, advertised_port=proxy_port):
            yield ProxiedBroker(f"127.0.0.1:{proxy_port}", proxy)
