"""Drawing the benchmark curves with matplotlib (the ``bench`` extra), headless (Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def matplotlib_missing() -> str | None:
    """Why no PNG can be drawn here, or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib not installed (pip install -e '.[bench]')"
    return None


def figure(title: str, xlabel: str, ylabel: str, *, log_x: bool = True) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_x:
        ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.3)
    return fig, ax


def save(fig: Any, path: Path, m: dict[str, float]) -> None:
    import matplotlib.pyplot as plt

    if "loadavg_1m" in m:
        fig.text(0.99, 0.01, f"load average {m['loadavg_1m']:.1f} on {int(m['cpus'])} CPUs at the start",
                 ha="right", va="bottom", fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def series(ax: Any, points: list[tuple[int, float]], label: str, **style: Any) -> None:
    if points:
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label, **style)
        ax.set_xticks([x for x, _ in points], [f"{x:,}" for x, _ in points])
