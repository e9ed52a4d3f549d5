"""A tiny HTTP/1.1 server on the command's own event loop: ``/metrics``, ``/healthz``, ``/readyz``.

No web framework: ``asyncio.start_server`` and a responder that reads one request and answers it
(``Connection: close``). Because the handlers run on the loop that does the work, an answer to
``/healthz`` means the loop is responsive; a ticker also measures how late the loop runs timers.

    async with serve_metrics("127.0.0.1:9464"):
        await pipeline.run()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator
from typing import Any

from .._errors import ConfigurationError, StreamlineError
from .readiness import Readiness, default_readiness
from .registry import REGISTRY

DEFAULT_HOST = "127.0.0.1"
_TICK = 0.25
_MAX_REQUEST = 8192
_READ_TIMEOUT = 10.0


def parse_address(address: str) -> tuple[str, int]:
    """``"PORT"``, ``":PORT"``, ``"HOST:PORT"`` or ``"[IPv6]:PORT"`` → ``(host, port)``; loopback by default."""
    text = address.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigurationError(f"--metrics expects [HOST:]PORT, e.g. 127.0.0.1:9464 (got {address!r})") from None
    if not 0 <= port <= 65535:
        raise ConfigurationError(f"--metrics port must be 0-65535 (got {port})")
    return host, port


def require_prometheus_client() -> None:
    """Raise the install hint when the optional ``prometheus_client`` is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "metrics need prometheus-client: pip install 'streamline[metrics]'"
        ) from None


class MetricsServer:
    """Serves the metrics of this process until :meth:`stop` (or the ``async with`` ends).

    ``ready`` answers ``/readyz``: a function returning ``True``/``False`` or ``(ready, reason)``;
    by default the process is ready when every producer it made is connected and every group
    member has partitions or joined and was given none.
    """

    def __init__(self, address: str = f"{DEFAULT_HOST}:9464", *, ready: Readiness | None = None) -> None:
        require_prometheus_client()
        from .collector import new_registry

        self.host, self.port = parse_address(address)
        self.ready = ready or default_readiness
        self._collectors = new_registry()
        self._server: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` actually bound (the real port when 0 was asked for)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StreamlineError(f"metrics address {self.host}:{self.port} is already in use") from None
            raise StreamlineError(f"cannot serve metrics on {self.host}:{self.port}: {exc.strerror or exc}") from None
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._ticker = asyncio.create_task(self._measure_loop_lag())

    async def stop(self) -> None:
        server, self._server = self._server, None
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if server is not None:
            server.close()
            await server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- serving -----------------------------------------------------------------------------
    async def _measure_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(_TICK)
            REGISTRY.loop_lag = max(0.0, loop.time() - before - _TICK)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
                return
            if len(head) > _MAX_REQUEST:
                await self._send(writer, 431, "text/plain", b"request header too large\n", True)
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = request_line.split()
            if len(parts) != 3:
                await self._send(writer, 400, "text/plain", b"bad request\n", True)
                return
            method, target = parts[0], parts[1].split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                await self._send(writer, 405, "text/plain", b"only GET and HEAD\n", True)
                return
            status, content_type, body = self._route(target)
            await self._send(writer, status, content_type, body, method == "GET")
        except (ConnectionError, OSError):
            pass  # the client left
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _route(self, target: str) -> tuple[int, str, bytes]:
        if target == "/metrics":
            from .collector import exposition

            return 200, "text/plain; version=0.0.4; charset=utf-8", exposition(self._collectors)
        if target == "/healthz":
            return 200, "text/plain", f"ok: event loop lag {REGISTRY.loop_lag:.3f}s\n".encode()
        if target == "/readyz":
            ready, reason = _verdict(self.ready)
            return (200 if ready else 503), "text/plain", f"{'ready' if ready else 'not ready'}: {reason}\n".encode()
        if target == "/":
            return 200, "text/plain", b"streamline: /metrics /healthz /readyz\n"
        return 404, "text/plain", b"not found: /metrics /healthz /readyz\n"

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes, with_body: bool) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  431: "Request Header Fields Too Large", 503: "Service Unavailable"}[status]
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        writer.write(head + body if with_body else head)
        await writer.drain()


def _verdict(ready: Readiness) -> tuple[bool, str]:
    try:
        answer: Any = ready()
    except Exception as exc:  # a readiness check that fails means "not ready", with the reason
        return False, f"readiness check failed: {exc}"
    if isinstance(answer, tuple):
        return bool(answer[0]), str(answer[1])
    return bool(answer), "ok" if answer else "not ready"


@contextlib.asynccontextmanager
async def serve_metrics(address: str = f"{DEFAULT_HOST}:9464", *, ready: Readiness | None = None) -> AsyncIterator[
    MetricsServer
]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` while the block runs.

        async with serve_metrics("127.0.0.1:9464") as server:
            print(server.url)
            await pipeline.run()

    A port in use raises :class:`StreamlineError`; a malformed address :class:`ConfigurationError`;
    a missing ``prometheus_client`` a :class:`ConfigurationError` with the install hint.
    """
    server = MetricsServer(address, ready=ready)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
