"""Shared test set-up: tests/support is importable, and fixtures several suites use."""

import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from streamline.testing import KafkaUnderTest

sys.path.insert(0, str(Path(__file__).parent / "support"))

# Hypothesis fails an example that takes over 200 ms by default: a speed limit, which a loaded
# 2-core machine breaks. Properties are about results; no deadline for any of them.
settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")

# A shell starts background jobs (`pytest &`) with SIGINT ignored, and every `streamline` the
# tests start would inherit that and rightly ignore the Ctrl-C the CLI tests send. Give the
# children the disposition an interactive user's process has.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a server that accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed: the test is over
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(5)
        for conn in held:
            conn.close()


@pytest.fixture
def deviation(kafka: KafkaUnderTest, request: pytest.FixtureRequest) -> Callable[[str], None]:
    """``deviation("what Tansu does instead")``: the test asserts Kafka's behaviour; on the embedded
    broker it is a strict xfail with that reason, so it passes on a real cluster, shows the
    deviation on the embedded one, and fails loudly (XPASS) once the embedded broker is fixed."""

    def expect(reason: str) -> None:
        if kafka.embedded:
            request.applymarker(pytest.mark.xfail(reason=f"embedded broker (Tansu 0.6.0) deviation: {reason}", strict=True))

    return expect
