"""The agent's reload decisions, with stand-in pipelines: what is left alone, stopped, started."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from streamline._agent import Agent, RunOptions, load_config
from streamline._ingest.spec import InputSpec


class FakePipeline:
    """Runs until stopped, like a following pipeline; ``fail`` makes run() raise at once."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.stopped = anyio.Event()
        self.fail = fail
        self.stats = SimpleNamespace(delivered=0, bytes=0)

    def stop(self) -> None:
        self.stopped.set()

    def abort(self) -> None:
        self.stopped.set()

    async def run(self) -> Any:
        if self.fail is not None:
            raise self.fail
        await self.stopped.wait()
        return self.stats


@dataclass
class Built:
    spec: InputSpec
    pipeline: FakePipeline
    follower: Any = field(default_factory=lambda: SimpleNamespace(stats=SimpleNamespace(status_parts=list)))

    def status_parts(self) -> list[str]:
        return list(self.follower.stats.status_parts())


class Builder:
    def __init__(self) -> None:
        self.built: list[Built] = []
        self.failing: dict[str, Exception] = {}
        self.options: list[dict[str, Any]] = []

    def __call__(self, spec: InputSpec, **options: Any) -> Built:
        self.options.append(options)
        built = Built(spec, FakePipeline(self.failing.pop(spec.name, None)))
        self.built.append(built)
        return built

    def last(self, name: str) -> Built:
        return [b for b in self.built if b.spec.name == name][-1]


def config_text(*inputs: tuple[str, str], extra: str = "") -> str:
    text = extra + "\n"
    for name, paths in inputs:
        text += f'[[inputs]]\nname = "{name}"\npaths = [{paths}]\ntopic = "{name}"\n\n'
    return textwrap.dedent(text)


async def until(condition: Any) -> None:
    with anyio.fail_after(60):  # a generous deadline, not a timing assertion
        while not condition():  # noqa: ASYNC110 - polling a plain condition
            await anyio.sleep(0.01)


@pytest.fixture
def setup(tmp_path: Path) -> Any:
    path = tmp_path / "agent.toml"

    def make(*inputs: tuple[str, str], extra: str = "") -> tuple[Agent, Builder, list[str]]:
        path.write_text(config_text(*inputs, extra=extra))
        builder, said = Builder(), []
        agent = Agent(
            load_config(path, env={}),
            producer=None,
            options=RunOptions(),
            load=lambda: load_config(path, env={}),
            say=said.append,
            build=builder,
        )
        return agent, builder, said

    make.path = path  # type: ignore[attr-defined]
    return make


async def test_reload_starts_stops_restarts_and_leaves_the_rest_alone(setup: Any) -> None:
    agent, builder, said = setup(("a", "'/l/a.log'"), ("b", "'/l/b.log'"), ("c", "'/l/c.log'"))
    path = setup.path
    async with anyio.create_task_group() as tg:
        tg.start_soon(agent.run)
        await until(lambda: len(builder.built) == 3)
        first = {b.spec.name: b for b in builder.built}
        assert builder.options[0]["checkpoints_dir"] == "/var/lib/streamline/checkpoints/a"
        assert builder.options[0]["linger"] == 0.005  # the config's (default) linger reaches each input

        path.write_text(config_text(("a", "'/l/a.log'"), ("b", "'/l/b.log', '/l/b2.log'"), ("d", "'/l/d.log'")))
        assert await agent.reload()
        assert said[-1] == f"reloaded {path}: started d; restarted b; stopped c; 1 unchanged"
        assert agent.inputs["a"].built is first["a"] and not first["a"].pipeline.stopped.is_set()
        assert first["b"].pipeline.stopped.is_set() and agent.inputs["b"].built is builder.last("b")
        assert builder.last("b").spec.paths == ("/l/b.log", "/l/b2.log")
        assert first["c"].pipeline.stopped.is_set() and "c" not in agent.inputs
        assert "b: shipped 0 lines (0.0 MB) to b; checkpoints in /var/lib/streamline/checkpoints/b" in said

        # The same file again: nothing happens to anything.
        count = len(builder.built)
        assert await agent.reload()
        assert said[-1] == f"reloaded {path}: 3 unchanged" and len(builder.built) == count

        # A file with a mistake: refused, everything keeps running.
        path.write_text(config_text(("a", "'/l/a.log'")).replace("topic", "topc"))
        assert not await agent.reload()
        assert len(builder.built) == count and all(r.running for r in agent.inputs.values())

        agent.stop()
    assert all(b.pipeline.stopped.is_set() for b in builder.built)


async def test_an_earlier_input_that_may_claim_a_later_ones_files_restarts_it(setup: Any) -> None:
    agent, builder, said = setup(("web", "'/l/web-*.log'"), ("other", "'/m/*.log'"))
    path = setup.path
    async with anyio.create_task_group() as tg:
        tg.start_soon(agent.run)
        await until(lambda: len(builder.built) == 2)
        assert builder.last("web").spec.exclude == ()
        # A new first input whose glob may match web's files: web now excludes it (first wins).
        path.write_text(config_text(("app", "'/l/*-app.log'"), ("web", "'/l/web-*.log'"), ("other", "'/m/*.log'")))
        assert await agent.reload()
        assert said[-1] == f"reloaded {path}: started app; restarted web; 1 unchanged"
        assert builder.last("web").spec.exclude == ("/l/*-app.log",)
        assert builder.last("other").spec.exclude == ()
        agent.stop()


async def test_a_failed_input_is_reported_and_a_reload_starts_it_again(setup: Any) -> None:
    agent, builder, said = setup(("ok", "'/l/ok.log'"), ("bad", "'/l/bad.log'"))
    builder.failing["bad"] = OSError(13, "Permission denied", "/l/bad.log")
    async with anyio.create_task_group() as tg:
        tg.start_soon(agent.run)
        await until(lambda: agent.failed)
        (failed,) = agent.failed
        assert failed.name == "bad"
        assert agent.ready() == (False, "input bad failed: [Errno 13] Permission denied: '/l/bad.log'")
        assert agent.inputs["ok"].running
        assert await agent.reload()
        assert said[-1] == f"reloaded {setup.path}: restarted bad; 1 unchanged"
        assert not agent.failed and agent.inputs["bad"].running
        agent.stop()


async def test_kafka_changes_wait_for_a_restart(setup: Any, caplog: pytest.LogCaptureFixture) -> None:
    agent, builder, said = setup(("a", "'/l/a.log'"))
    path = setup.path
    async with anyio.create_task_group() as tg:
        tg.start_soon(agent.run)
        await until(lambda: len(builder.built) == 1)
        path.write_text(config_text(("a", "'/l/a.log'"), extra='grace = 5\n[kafka]\nacks = 1\n'))
        assert await agent.reload()
        assert "kafka, grace changed in" in caplog.text and "takes a restart of the agent" in caplog.text
        assert agent.config.kafka.acks == "all" and agent.config.grace == 30.0  # the running values
        assert said[-1] == f"reloaded {path}: 1 unchanged"
        agent.stop()


async def test_a_stop_before_the_inputs_were_built_is_kept(setup: Any) -> None:
    agent, builder, _ = setup(("a", "'/l/a.log'"), ("b", "'/l/b.log'"))
    agent.stop()  # a signal before the inputs were built: they start stopped
    with anyio.fail_after(60):
        await agent.run()
    assert len(builder.built) == 2 and all(b.pipeline.stopped.is_set() for b in builder.built)
