"""The clients a streamline user mixes it with: librdkafka (confluent-kafka, from the dev extra)
and the tutorial's Go programs (sarama, built here once per session when ``go`` and sarama are
installed; skipped with the reason otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator

import pytest
from goclients import GO_EXAMPLES, GoConsumer, GoPrograms, gopath_with_sarama


@pytest.fixture(scope="session")
def go_programs() -> Iterator[GoPrograms]:
    """Build examples/go/{producer,consumer} once (GOPATH mode, as Debian packages sarama)."""
    go = shutil.which("go")
    gopath = gopath_with_sarama()
    if go is None or gopath is None:
        pytest.skip(
            "needs Go and sarama (Debian: apt-get install golang-go golang-github-shopify-sarama-dev)"
        )
    with tempfile.TemporaryDirectory(prefix="streamline-go-") as tmp:
        env = dict(os.environ, GO111MODULE="off", GOPATH=os.pathsep.join([tmp, *gopath]), GOFLAGS="")
        env.setdefault("GOCACHE", os.path.join(tempfile.gettempdir(), f"streamline-go-cache-{os.getuid()}"))
        build = subprocess.run(
            [go, "build", "-o", tmp + "/", "./producer", "./consumer"],
            cwd=GO_EXAMPLES, env=env, capture_output=True, text=True, timeout=600,
        )
        assert build.returncode == 0, f"go build failed:\n{build.stderr}"
        yield GoPrograms(os.path.join(tmp, "producer"), os.path.join(tmp, "consumer"))


@pytest.fixture
def go_consumer(go_programs: GoPrograms, kafka_bootstrap: str) -> Iterator[Callable[[str], GoConsumer]]:
    """Factory: start the Go consumer on a topic and wait until every partition consumer started."""
    started: list[GoConsumer] = []

    def start(topic: str) -> GoConsumer:
        consumer = GoConsumer(go_programs, kafka_bootstrap, topic)
        started.append(consumer)
        consumer.wait_for(lambda lines: any(line.startswith(GoConsumer.READY) for line in lines))
        return consumer

    yield start
    for consumer in started:
        consumer.close()
