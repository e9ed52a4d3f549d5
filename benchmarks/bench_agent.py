"""The agent with 4 inputs (multiline, JSON-parsed, CRI, plain) next to plain ``ship``, same run.

    python benchmarks/bench_agent.py [--lines 200000] [--rounds 3] [--bootstrap HOST:PORT] [--json FILE]
    python benchmarks/bench_agent.py --lines 2000000        # the issue's 2M-line workload

Three commands, run as a user runs them (subprocesses, ``--once``: each exits after every record
was acknowledged and the checkpoints were saved), interleaved round by round (A, B, C, A, B, C ...):

- ``ship``: ``streamline ship plain.log --once`` of ``--lines`` access-log lines;
- ``agent, 1 plain input``: ``streamline agent --once`` over the same file (plain inputs must keep
  ``ship``'s speed);
- ``agent, 4 inputs``: ``--lines`` lines in total, a quarter each: a Java log whose events are a line
  and three indented continuation lines (``multiline = "indented"``), JSON lines (``parser = "json"``),
  CRI container lines with every tenth line split into a ``P`` and an ``F`` part (``parser = "cri"``),
  and access-log lines (plain).

Every record is read back before the next command runs. Reported: lines/s (wall time) and CPU
seconds per million lines (user + system of the command): on a shared machine the CPU figures and
their ratios are the steadier ones. An input whose multiline/parser settings
this build cannot run is shipped as a plain input instead, and the report says so (the agent's
inputs are built by one function, ``streamline._agent.runner._build``: asked first).
Wall times include interpreter start-up; the figures without it subtract the median wall time of
``streamline --help``. Lines/s are input lines per second (a multiline event counts its lines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._support import STREAMLINE, access_lines, count_messages, startup_seconds

PARTITIONS = 4


@dataclass
class Workload:
    """Files of one run and what must arrive."""

    plain: str  # --lines access-log lines: ship and the one-input agent
    mixed: dict[str, str]  # input name -> file, a quarter of the lines each
    lines: int


def java_events(count: int) -> bytes:
    event = (
        b"2026-12-02 06:00:00,123 ERROR [pool-1-thread-3] c.e.billing.Charge - charge failed rid=%08d\n"
        b"java.lang.IllegalStateException: card declined\n"
        b"\tat com.example.billing.Charge.run(Charge.java:42)\n"
        b"\tat java.base/java.lang.Thread.run(Thread.java:1583)\n"
    )
    return b"".join(event % n for n in range(count))


def json_lines(count: int) -> bytes:
    line = b'{"ts":"2026-12-02T06:00:00.123Z","level":"info","msg":"GET /api/v1/items","status":200,"rid":%d}\n'
    return b"".join(line % n for n in range(count))


def cri_lines(count: int) -> bytes:
    """``count`` CRI records; every tenth was split by the runtime into a ``P`` and an ``F`` line."""
    prefix = b"2026-12-02T06:00:00.123456789Z stdout "
    out = []
    for n in range(count):
        if n % 10 == 9:
            out.append(prefix + b"P GET /api/v1/items?page=7 HTTP/1.1 \n")
            out.append(prefix + b"F 200 rid=%08d\n" % n)
        else:
            out.append(prefix + b"F GET /api/v1/items?page=7 HTTP/1.1 200 rid=%08d\n" % n)
    return b"".join(out)


def write_workload(directory: str, lines: int) -> Workload:
    plain = os.path.join(directory, "plain.log")
    with open(plain, "wb") as f:
        for start in range(0, lines, 100_000):
            f.write(access_lines(start, min(lines, start + 100_000)))
    quarter = lines // 4
    mixed = {name: os.path.join(directory, f"{name}.log") for name in ("java", "api", "containers", "web")}
    with open(mixed["java"], "wb") as f:
        f.write(java_events(quarter // 4))
    with open(mixed["api"], "wb") as f:
        f.write(json_lines(quarter))
    with open(mixed["containers"], "wb") as f:
        f.write(cri_lines(quarter * 10 // 11))  # with the P lines: about `quarter` lines
    with open(mixed["web"], "wb") as f:
        f.write(access_lines(0, quarter))
    return Workload(plain, mixed, lines)


def file_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


#: What each mixed input asks for beyond a plain one (TOML), and what it is.
SETTINGS = {
    "java": ('multiline = "indented"', "multiline (indented continuation lines)"),
    "api": ('parser = "json"', "JSON parser"),
    "containers": ('parser = "cri"', "CRI parser (P/F partial lines)"),
    "web": ("", "plain"),
}


def unsupported(name: str) -> str | None:
    """Why this build cannot run input ``name``'s settings (None: it can)."""
    from streamline._agent import load_config
    from streamline._agent.runner import _build
    from streamline._errors import ConfigurationError

    extra = SETTINGS[name][0]
    if not extra:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.toml")
        with open(path, "w") as f:
            f.write(f'[[inputs]]\nname = "{name}"\npaths = ["{tmp}/x.log"]\ntopic = "t"\n{extra}\n')
        (spec,) = load_config(path, env={}).inputs
        try:
            _build(spec, producer=None, checkpoints_dir=os.path.join(tmp, "c"), once=True, rotate_wait=0.0,
                   strict_checkpoints=False, must_exist=False, max_message_bytes=1 << 20, grace=1.0, on_tick=None)
        except ConfigurationError as exc:
            return str(exc)
    return None


def agent_config(path: str, checkpoints: str, inputs: dict[str, tuple[str, str, str]]) -> None:
    """``inputs``: name -> (file, topic, extra TOML)."""
    text = f'checkpoints = "{checkpoints}"\n'
    for name, (file, topic, extra) in inputs.items():
        text += f'\n[[inputs]]\nname = "{name}"\npaths = ["{file}"]\ntopic = "{topic}"\nstart = "beginning"\n{extra}\n'
    with open(path, "w") as f:
        f.write(text)


async def new_topic(bootstrap: str, prefix: str) -> str:
    from streamline import Admin

    name = f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
    async with Admin(bootstrap) as admin:
        await admin.create_topic(name, partitions=PARTITIONS)
    return name


async def drop(bootstrap: str, topics: list[str]) -> None:
    from streamline import Admin

    async with Admin(bootstrap) as admin:
        for name in topics:
            try:
                await admin.delete_topic(name)
            except Exception:
                pass


async def read_back(bootstrap: str, expected: dict[str, int]) -> None:
    for topic, count in expected.items():
        got = await count_messages(bootstrap, topic, count, timeout=300)
        if got < count:
            raise RuntimeError(f"{topic}: only {got:,} of {count:,} records read back")


async def run_ship(bootstrap: str, work: Workload, tmp: str) -> tuple[float, float]:
    topic = await new_topic(bootstrap, "ship")
    seconds = timed([STREAMLINE, "-b", bootstrap, "ship", work.plain, "--topic", topic, "--from", "beginning",
                         "--once", "-q", "--checkpoints", os.path.join(tmp, f"ck-{topic}")])
    await read_back(bootstrap, {topic: work.lines})
    await drop(bootstrap, [topic])
    return seconds


async def run_agent(
    bootstrap: str, tmp: str, inputs: dict[str, tuple[str, str]], expected: dict[str, int]
) -> tuple[float, float]:
    """``inputs``: name -> (file, extra TOML); ``expected``: name -> records."""
    topics = {name: await new_topic(bootstrap, f"agent-{name}") for name in inputs}
    config = os.path.join(tmp, f"agent-{uuid.uuid4().hex[:6]}.toml")
    agent_config(config, os.path.join(tmp, f"ck-{uuid.uuid4().hex[:6]}"),
                 {name: (file, topics[name], extra) for name, (file, extra) in inputs.items()})
    seconds = timed([STREAMLINE, "-b", bootstrap, "agent", "--config", config, "--once", "-q"])
    await read_back(bootstrap, {topics[name]: count for name, count in expected.items()})
    await drop(bootstrap, list(topics.values()))
    return seconds


def loadavg() -> list[str]:
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def p_lines(path: str) -> int:
    with open(path, "rb") as f:
        return f.read().count(b" stdout P ")


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one command, start to exit.

    CPU time is what to compare on a shared machine: other work stretches wall time, not it.
    """
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:5])}... exited {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        from streamline import EmbeddedBroker

        broker = EmbeddedBroker()
        await broker.__aenter__()
        bootstrap = broker.bootstrap_servers
    try:
        with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
            work = write_workload(tmp, args.lines)
            mixed_lines = sum(file_lines(p) for p in work.mixed.values())
            why_not = {name: unsupported(name) for name in SETTINGS}
            inputs: dict[str, tuple[str, str]] = {}
            expected: dict[str, int] = {}
            for name, file in work.mixed.items():
                extra = SETTINGS[name][0]
                configured = why_not[name] is None
                inputs[name] = (file, extra if configured else "")  # else: shipped as a plain input
                records = file_lines(file)
                if configured and name == "java":
                    records //= 4  # one record per event of four lines
                elif configured and name == "containers":
                    records -= p_lines(file)  # a P line joins the F line after it
                expected[name] = records
            for name, reason in why_not.items():
                if reason:
                    print(f"could not configure input {name!r} as {SETTINGS[name][1]}: {reason}; shipped as a plain input")
            startup = startup_seconds(3)
            print(f"workload: {work.lines:,} lines for ship and the 1-input agent; {mixed_lines:,} lines over 4 inputs; "
                  f"start-up {startup:.2f} s; load {loadavg()}")
            results: dict[str, list[float]] = {"ship": [], "agent_plain": [], "agent_mixed": []}
            cpu: dict[str, list[float]] = {"ship": [], "agent_plain": [], "agent_mixed": []}
            for round_ in range(args.rounds):
                measured = {
                    "ship": await run_ship(bootstrap, work, tmp),
                    "agent_plain": await run_agent(bootstrap, tmp, {"web": (work.plain, "")}, {"web": work.lines}),
                    "agent_mixed": await run_agent(bootstrap, tmp, inputs, expected),
                }
                for key, (wall, used) in measured.items():
                    results[key].append(wall)
                    cpu[key].append(used)
                print(f"round {round_ + 1}: " + ", ".join(
                    f"{k} {wall:.2f} s ({used:.2f} CPU s)" for k, (wall, used) in measured.items()))
    finally:
        if broker is not None:
            await broker.__aexit__(None, None, None)

    def rate(seconds: float, lines: int, bare: bool = False) -> float:
        return lines / max(1e-6, seconds - (startup if bare else 0.0))

    ship = [rate(s, work.lines) for s in results["ship"]]
    plain = [rate(s, work.lines) for s in results["agent_plain"]]
    mixed = [rate(s, mixed_lines) for s in results["agent_mixed"]]
    ship_bare = [rate(s, work.lines, True) for s in results["ship"]]
    plain_bare = [rate(s, work.lines, True) for s in results["agent_plain"]]
    mixed_bare = [rate(s, mixed_lines, True) for s in results["agent_mixed"]]
    cpu_per_m = {
        "ship": [c / work.lines * 1e6 for c in cpu["ship"]],
        "agent_plain": [c / work.lines * 1e6 for c in cpu["agent_plain"]],
        "agent_mixed": [c / mixed_lines * 1e6 for c in cpu["agent_mixed"]],
    }
    cpu_plain_ratio = [a / s for a, s in zip(cpu_per_m["agent_plain"], cpu_per_m["ship"], strict=True)]
    cpu_mixed_ratio = [a / s for a, s in zip(cpu_per_m["agent_mixed"], cpu_per_m["ship"], strict=True)]
    plain_ratio = [p / s for p, s in zip(plain, ship, strict=True)]
    mixed_ratio = [m / s for m, s in zip(mixed, ship, strict=True)]
    report = {
        "lines": work.lines,
        "rounds": args.rounds,
        "unconfigured_inputs": {k: v for k, v in why_not.items() if v},
        "ship_lines_per_s": statistics.median(ship),
        "agent_plain_lines_per_s": statistics.median(plain),
        "agent_mixed_lines_per_s": statistics.median(mixed),
        "ship_lines_per_s_excluding_startup": statistics.median(ship_bare),
        "agent_plain_lines_per_s_excluding_startup": statistics.median(plain_bare),
        "agent_mixed_lines_per_s_excluding_startup": statistics.median(mixed_bare),
        "agent_plain_vs_ship": statistics.median(plain_ratio),
        "agent_mixed_vs_ship": statistics.median(mixed_ratio),
        "ship_cpu_s_per_million_lines": statistics.median(cpu_per_m["ship"]),
        "agent_plain_cpu_s_per_million_lines": statistics.median(cpu_per_m["agent_plain"]),
        "agent_mixed_cpu_s_per_million_lines": statistics.median(cpu_per_m["agent_mixed"]),
        "agent_plain_vs_ship_cpu": statistics.median(cpu_plain_ratio),
        "agent_mixed_vs_ship_cpu": statistics.median(cpu_mixed_ratio),
        "loadavg": loadavg(),
    }
    print(f"ship --once                 {report['ship_lines_per_s']:>12,.0f} lines/s "
          f"({report['ship_lines_per_s_excluding_startup']:,.0f} without start-up)")
    print(f"agent --once, 1 plain input {report['agent_plain_lines_per_s']:>12,.0f} lines/s "
          f"({report['agent_plain_lines_per_s_excluding_startup']:,.0f} without start-up); "
          f"vs ship {report['agent_plain_vs_ship']:.2f}x (rounds {spread(plain_ratio)})")
    print(f"agent --once, 4 inputs      {report['agent_mixed_lines_per_s']:>12,.0f} lines/s "
          f"({report['agent_mixed_lines_per_s_excluding_startup']:,.0f} without start-up); "
          f"vs ship {report['agent_mixed_vs_ship']:.2f}x (rounds {spread(mixed_ratio)})")
    print(f"CPU s per 1M lines (includes start-up): ship {report['ship_cpu_s_per_million_lines']:.2f}, "
          f"agent 1 plain input {report['agent_plain_cpu_s_per_million_lines']:.2f} "
          f"({report['agent_plain_vs_ship_cpu']:.2f}x ship, rounds {spread(cpu_plain_ratio)}), "
          f"agent 4 inputs {report['agent_mixed_cpu_s_per_million_lines']:.2f} "
          f"({report['agent_mixed_vs_ship_cpu']:.2f}x ship, rounds {spread(cpu_mixed_ratio)})")
    print(f"load average at the end: {' '.join(report['loadavg'])}")  # type: ignore[arg-type]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="lines per command (default 200,000; the issue: 2,000,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMLINE_BOOTSTRAP_SERVERS"),
                        help="Kafka to use (default: an embedded broker)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.lines < 1000 or args.rounds < 1:
        parser.error("--lines must be >= 1000 and --rounds >= 1")
    started = time.monotonic()
    report = asyncio.run(main_async(args))
    print(f"({time.monotonic() - started:.0f} s in all)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
