"""A TCP proxy for fault injection: forward to the broker, cut every connection, restore.
With ``tls=`` it also terminates TLS in front of a plaintext broker.

Runs its own event loop in a thread, so it works from sync and async tests alike.
:func:`proxied_broker` starts an embedded broker behind one.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class TcpProxy:
    """``with TcpProxy(target_port) as proxy: ... proxy.cut(); ... proxy.restore()``.

    While cut, open connections are closed and new ones are accepted and dropped at once, like a
    broker that went away. Without ``port`` it listens on a port the system picks, held from
    the start (``proxy.port`` once entered); ``target_port`` may be set later, before the first
    connection.
    """

    def __init__(
        self,
        target_port: int | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.tls = tls  # a server context: accept TLS and forward plaintext (TLS termination)
        self.target_port = target_port
        self.port = port or 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False

    def __enter__(self) -> "TcpProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self) -> None:
        """Close every connection and refuse service until :meth:`restore`."""
        self._cut = True
        asyncio.run_coroutine_threadsafe(self._close_all(), self._loop).result(5)

    def restore(self) -> None:
        self._cut = False

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, ssl=self.tls, ssl_handshake_timeout=5 if self.tls else None
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._close_all()
        if self._server is not None:
            await self._server.wait_closed()

    async def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)


@contextmanager
def proxied_broker(**proxy_options: Any) -> Iterator[tuple[TcpProxy, Any]]:
    """An embedded broker whose clients all go through a proxy (it advertises the proxy's port):
    ``with proxied_broker() as (proxy, broker): bootstrap = f"127.0.0.1:{proxy.port}"``.

    Both ports are taken when bound, never chosen first and bound later: a port picked free and
    bound a moment later can be taken meanwhile by any connection on the machine."""
    from streamline import EmbeddedBroker

    with TcpProxy(**proxy_options) as proxy, EmbeddedBroker(advertised_port=proxy.port) as broker:
        proxy.target_port = broker.port
        yield proxy, broker
