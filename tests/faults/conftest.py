"""Fixtures of the fault-injection suite (see docs/reliability.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import pytest

from tcp_proxy import TcpProxy, proxied_broker as start_proxied_broker


@dataclass
class ProxiedBroker:
    """A fresh embedded broker whose clients all go through ``proxy`` (it advertises the proxy)."""

    bootstrap: str
    proxy: TcpProxy


@pytest.fixture
def proxied_broker() -> Iterator[ProxiedBroker]:
    with start_proxied_broker() as (proxy, _):
        yield ProxiedBroker(f"127.0.0.1:{proxy.port}", proxy)
