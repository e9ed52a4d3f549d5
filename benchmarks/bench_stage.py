"""Micro-benchmark: a Pipeline with one trivial synchronous stage over 200k values.

    python -m benchmarks.bench_stage [--values 200000] [--runs 3]

Prints values/s per batch size (1, 10, 100, 1000 values per batch) for the default stage and,
when the installed version has it, for ``Stage(fn, thread=False)`` (on the event loop), so the
cost of the one thread hop per batch can be read off directly.
"""

from __future__ import annotations

import argparse
import inspect
import time

import anyio

from streamline import Pipeline, Stage


def inc(value: int) -> int:
    return value + 1


async def one_run(values: int, per_batch: int, thread: bool | None) -> float:
    async def source():  # type: ignore[no-untyped-def]
        chunk = list(range(per_batch))
        for _ in range(values // per_batch):
            yield chunk

    seen = [0]

    def sink(batch: list[int]) -> None:
        seen[0] += len(batch)

    stage = Stage(inc) if thread is None else Stage(inc, thread=thread)  # type: ignore[call-arg]
    began = time.perf_counter()
    await Pipeline(source(), stage, to=sink).run()
    elapsed = time.perf_counter() - began
    assert seen[0] == values - values % per_batch, seen[0]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    modes: list[bool | None] = [None]
    if "thread" in inspect.signature(Stage.__init__).parameters:
        modes = [True, False]
    for per_batch in (1, 10, 100, 1000):
        for mode in modes:
            best = min(anyio.run(one_run, args.values, per_batch, mode) for _ in range(args.runs))
            label = "default" if mode is None else f"thread={mode}"
            print(f"batch={per_batch:>5} {label:<13} {args.values / best:>12,.0f} values/s  ({best:.3f} s)")


if __name__ == "__main__":
    main()
