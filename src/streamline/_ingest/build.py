"""``build_input``: one :class:`InputSpec` to a follower and a pipeline, ready to run.

``streamline ship`` builds its single input here, and ``streamline agent`` builds each input
of its config file here, all with one shared producer. Nothing is started: the caller awaits
``built.pipeline.run()`` (several inputs' pipelines may run concurrently).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigurationError
from .._follow import Checkpoints, Follower, follow
from .._follow.watch import BUSY_GAP
from .._pipeline import Pipeline, TopicSink
from .._pipeline.batch import Batch
from .records import RecordBuilder
from .spec import InputSpec
from .templates import TopicTemplate, compile_key_template, line_bytes_for


@dataclass
class BuiltInput:
    """One input ready to run: ``await built.pipeline.run()``.

    ``records`` counts events that did not parse (``None`` for inputs that send lines as they
    are, the fast path).
    """

    spec: InputSpec
    follower: Follower
    pipeline: Pipeline
    records: RecordBuilder | None = None

    def status_parts(self) -> list[str]:
        """Short figures worth a status line (only those that are not zero): the follower's
        (long lines, warnings, a failing checkpoint save) and events that did not parse."""
        parts: list[str] = self.follower.status_parts()
        parts.extend(self.parse_parts())
        return parts

    def parse_parts(self) -> list[str]:
        """``["3 events did not parse, 3 skipped"]`` (empty while every event parsed)."""
        records = self.records
        if records is None or not records.invalid:
            return []
        skipped = f", {records.skipped:,} skipped" if records.skipped else ""
        return [f"{records.invalid:,} event{'' if records.invalid == 1 else 's'} did not parse{skipped}"]

    # A status line shows a follower's figures; given a BuiltInput it shows the parse figures too.
    @property
    def stats(self) -> Any:
        """The follower's figures (files, bytes behind ...)."""
        return self.follower.stats

    @property
    def checkpoints(self) -> Any:
        """The follower's checkpoints (when they were last saved)."""
        return self.follower.checkpoints


class _PerFileTopicSink:
    """A topic per file (a topic template): each batch is one file's lines, so it goes to one
    topic; deliveries are those of a :class:`TopicSink` per topic (retries included)."""

    def __init__(self, producer: Any, topic: TopicTemplate, items: Callable[[Batch], list[Any]] | None) -> None:
        self.producer = producer
        self.topic = topic
        self.name = f"topic:{topic.template}"
        self._items = items
        self._sinks: dict[str, TopicSink] = {}

    async def submit(self, batch: Batch) -> Awaitable[Any]:
        topic = self.topic.for_file(batch.origin.path)  # type: ignore[attr-defined]  # a FileOrigin
        sink = self._sinks.get(topic)
        if sink is None:
            if len(self._sinks) > 10_000:
                self._sinks.clear()
            sink = self._sinks[topic] = TopicSink(self.producer, topic, items=self._items)
        return await sink.submit(batch)


def build_input(
    spec: InputSpec,
    *,
    producer: Any,
    checkpoints_dir: str,
    once: bool = False,
    rotate_wait: float = 30.0,
    linger: float = BUSY_GAP,
    strict_checkpoints: bool = False,
    must_exist: bool = False,
    max_message_bytes: int = 1_048_576,
    grace: float = 30.0,
    on_tick: Callable[[Pipeline], Any] | None = None,
) -> BuiltInput:
    """Build the follower and the pipeline of one input (nothing is started or opened).

    ``checkpoints_dir`` is the exact directory of this input's checkpoints: ``ship`` passes its
    ``--checkpoints`` directory as it is (so an upgrade resumes where it was), the agent
    ``os.path.join(dir, spec.name)`` for each input. ``producer`` may be shared by several
    inputs; the caller starts and stops it. Errors in the spec raise
    :class:`~streamline.ConfigurationError` with one line naming what is wrong.

        built = build_input(InputSpec("app", ("app.log",), "logs"), producer=producer,
                            checkpoints_dir=".streamline/checkpoints")
        await built.pipeline.run()
    """
    if not spec.paths:
        raise ConfigurationError(f"input {spec.name!r} has no paths")
    topic = TopicTemplate(spec.topic, input_name=spec.name)
    metadata = spec.metadata
    plain = spec.parser is None and not metadata.headers and not metadata.envelope and not metadata.fields
    line_limit = line_bytes_for(
        max_message_bytes,
        spec.key,
        headers=bool(metadata.headers or metadata.fields),
        envelope=metadata.envelope,
    )
    max_line_bytes = spec.max_line_bytes
    if max_line_bytes is None:
        max_line_bytes = line_limit
    elif max_line_bytes > line_limit:
        raise ConfigurationError(
            f"--max-line-bytes {max_line_bytes} does not fit in a record of --max-message-bytes "
            f"{max_message_bytes} (at most {line_limit} with this --key); raise --max-message-bytes"
        )
    records: RecordBuilder | None = None
    items: Callable[[Batch], list[Any]] | None
    if plain:  # the fast path: values are the lines, keys (if any) from the template
        items = compile_key_template(spec.key, input_name=spec.name) if spec.key else None
    else:
        records = RecordBuilder(spec, max_value_bytes=max_message_bytes - 4096 - 512)
        items = records.items
    container = spec.parser.kind if spec.parser and spec.parser.kind in ("cri", "docker") else None
    follower = follow(
        list(spec.paths),
        start=spec.start,
        checkpoints=Checkpoints(checkpoints_dir, strict=strict_checkpoints),
        stop_at_eof=once,
        max_line_bytes=max_line_bytes,
        long_lines=spec.long_lines,
        exclude=list(spec.exclude),
        must_exist=must_exist,
        rotate_wait=rotate_wait,
        multiline=spec.multiline,
        container=container,
        linger=linger,
    )
    sink: Any = (
        TopicSink(producer, topic.template, items=items)
        if topic.constant
        else _PerFileTopicSink(producer, topic, items)
    )
    pipeline = Pipeline(follower, to=sink, grace=grace, on_tick=on_tick)
    return BuiltInput(spec, follower, pipeline, records)
