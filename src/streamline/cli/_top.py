"""``streamline top ADDR``: a live view of a running ``ship``/``run``/``consume`` from its /metrics."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import typer

from ._app import app

Labels = tuple[tuple[str, str], ...]


@dataclass
class Sample:
    """One scrape: ``values[name][labels] = value`` (counters under their ``_total`` name)."""

    at: float
    values: dict[str, dict[Labels, float]] = field(default_factory=dict)
    ready: str = "?"

    def total(self, name: str) -> float:
        return sum(self.values.get(name, {}).values())

    def series(self, name: str) -> dict[Labels, float]:
        return self.values.get(name, {})


def base_url(address: str) -> str:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or a URL → ``http://host:port``."""
    text = address.strip().rstrip("/")
    if text.endswith("/metrics"):
        text = text[: -len("/metrics")]
    if text.startswith(("http://", "https://")):
        return text
    from .._metrics import parse_address

    host, port = parse_address(text)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def parse_exposition(text: str, at: float) -> Sample:
    """Parse the Prometheus text format with ``prometheus_client``'s parser."""
    from prometheus_client.parser import text_string_to_metric_families

    sample = Sample(at)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted(s.labels.items()))
            sample.values.setdefault(s.name, {})[labels] = s.value
    return sample


def scrape(url: str, timeout: float = 5.0) -> Sample:
    """Fetch ``url/metrics`` (and ``/readyz``); one-line :class:`StreamlineError` when unreachable."""
    from .._errors import StreamlineError

    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StreamlineError(f"cannot read {url}/metrics: {reason}") from None
    sample = parse_exposition(text, time.monotonic())
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=timeout) as response:
            sample.ready = response.read().decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        sample.ready = exc.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError):
        sample.ready = "unknown"
    return sample


def _num(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _bytes(value: float) -> str:
    for limit, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= limit:
            return f"{value / limit:.1f} {suffix}"
    return f"{value:.0f} B"


def _rate(now: Sample, before: Sample | None, name: str) -> str:
    if before is None or now.at <= before.at:
        return "-"
    return _num(max(0.0, now.total(name) - before.total(name)) / (now.at - before.at)) + "/s"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _left_cut(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def render(url: str, now: Sample, before: Sample | None, width: int, height: int = 60) -> str:
    """The screen: one line per area, then the files furthest behind and partitions by lag."""
    lines = [f"streamline top  {url}  {now.ready}"]
    if now.series("streamline_pipeline_items_total"):
        lines.append(
            f"pipeline  in {_num(now.total('streamline_pipeline_items_total'))} "
            f"({_rate(now, before, 'streamline_pipeline_items_total')})  "
            f"delivered {_num(now.total('streamline_pipeline_delivered_total'))} "
            f"({_rate(now, before, 'streamline_pipeline_delivered_total')})  "
            f"in-flight {_num(now.total('streamline_pipeline_in_flight_batches'))}  "
            f"retries {_num(now.total('streamline_pipeline_delivery_retries_total'))}  "
            f"dead-lettered {_num(now.total('streamline_pipeline_dead_lettered_total'))}  "
            f"skipped {_num(now.total('streamline_pipeline_skipped_total'))}"
        )
    if any(
        dict(labels).get("kind") == "follower" and value
        for labels, value in now.series("streamline_tracked_objects").items()
    ):
        age = now.series("streamline_follow_checkpoint_age_seconds")
        lines.append(
            f"follow    lines {_num(now.total('streamline_follow_lines_total'))} "
            f"({_rate(now, before, 'streamline_follow_lines_total')})  "
            f"read {_bytes(now.total('streamline_follow_bytes_total'))}  "
            f"files {_num(now.total('streamline_follow_files_open'))} open / "
            f"{_num(now.total('streamline_follow_files_known'))} known  "
            f"behind {_bytes(now.total('streamline_follow_behind_bytes'))}"
        )
        lines.append(
            f"          checkpoint saved {f'{max(age.values()):.1f}s ago' if age else '-'}  "
            f"rotations {_num(now.total('streamline_follow_rotations_total'))}  "
            f"truncations {_num(now.total('streamline_follow_truncations_total'))}  "
            f"long lines split {_num(now.total('streamline_follow_long_lines_split_total'))} "
            f"skipped {_num(now.total('streamline_follow_long_lines_skipped_total'))}"
        )
    if now.series("streamline_produced_records_total") or now.series("streamline_delivery_errors_total"):
        lines.append(
            f"produce   records {_num(now.total('streamline_produced_records_total'))} "
            f"({_rate(now, before, 'streamline_produced_records_total')})  "
            f"retries {_num(now.total('streamline_delivery_retries_total'))}  "
            f"errors {_num(now.total('streamline_delivery_errors_total'))}"
        )
    lag = now.series("streamline_consumer_lag_messages")
    if now.series("streamline_consumer_messages_total") or lag or now.series("streamline_consumer_assigned_partitions"):
        lines.append(
            f"consume   messages {_num(now.total('streamline_consumer_messages_total'))} "
            f"({_rate(now, before, 'streamline_consumer_messages_total')})  "
            f"lag {_num(sum(lag.values()))}  "
            f"partitions {_num(now.total('streamline_consumer_assigned_partitions'))}  "
            f"rebalances {_num(now.total('streamline_consumer_rebalances_total'))}  "
            f"dead-lettered {_num(now.total('streamline_consumer_dead_lettered_total'))}"
        )
    room = max(0, height - len(lines) - 3)
    files = now.series("streamline_follow_file_behind_bytes")
    if files and room:
        read = now.series("streamline_follow_file_read_bytes")
        acked = now.series("streamline_follow_file_acknowledged_bytes")
        path_width = max(10, width - 3 * 12 - 3)
        lines.append("")
        lines.append(f"{'FILE':<{path_width}} {'READ':>11} {'ACKED':>11} {'BEHIND':>11}")
        ranked = sorted(files.items(), key=lambda item: -item[1])[: room // 2 or 1]
        for labels, behind in ranked:
            path = dict(labels).get("path", "?")
            lines.append(
                f"{_left_cut(path, path_width):<{path_width}} {_bytes(read.get(labels, 0)):>11} "
                f"{_bytes(acked.get(labels, 0)):>11} {_bytes(behind):>11}"
            )
    if lag and room:
        committed = now.series("streamline_consumer_committed_offset")
        lines.append("")
        lines.append(f"{'GROUP':<16} {'TOPIC':<24} {'PART':>5} {'LAG':>10} {'COMMITTED':>12}")
        for labels, value in sorted(lag.items(), key=lambda item: -item[1])[: room // 2 or 1]:
            names = dict(labels)
            lines.append(
                f"{_cut(names.get('group', ''), 16):<16} {_cut(names.get('topic', ''), 24):<24} "
                f"{names.get('partition', ''):>5} {_num(value):>10} {_num(committed.get(labels, -1)):>12}"
            )
    errors = now.total("streamline_delivery_errors_total") + now.total("streamline_pipeline_dead_lettered_total")
    if errors:
        lines.append("")
        lines.append(f"errors: {_num(errors)} deliveries failed or dead-lettered")
    return "\n".join(_cut(line, width) for line in lines)


@app.command("top")
def top_command(
    address: str = typer.Argument("127.0.0.1:9464", metavar="ADDR:PORT", help="[HOST:]PORT or URL of a --metrics endpoint."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, metavar="SECONDS", help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Print one snapshot (two scrapes INTERVAL apart) and exit."),
) -> None:
    """A live view of a running ship, run or consume, read from its --metrics endpoint (like vector top).

    Rates, delivered and in-flight batches, files and bytes behind, consumer lag, errors;
    refreshed in place every INTERVAL seconds; Ctrl-C leaves.

    Example: streamline top 127.0.0.1:9464 --once
    """
    from .._metrics import require_prometheus_client

    require_prometheus_client()
    url = base_url(address)
    before = scrape(url)
    out = sys.stdout
    live = not once and out.isatty()
    if once:
        time.sleep(interval)
        size = shutil.get_terminal_size((100, 40))
        out.write(render(url, scrape(url), before, size.columns, size.lines) + "\n")
        return
    while True:
        size = shutil.get_terminal_size((100, 40))
        now = scrape(url)
        screen = render(url, now, before, size.columns, size.lines)
        out.write(("\x1b[H\x1b[2J" if live else "\n") + screen + "\n")
        out.flush()
        before = now
        time.sleep(interval)
