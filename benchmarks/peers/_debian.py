"""Debian packages unpacked into a private directory: rsyslog and syslog-ng without installing them.

``apt-get download`` + ``dpkg -x`` into ``<cache>/debian/<name>/root``: no maintainer scripts run,
no service is installed or started, the machine's own logging is never touched. The daemons then
run in the foreground with their own configuration, pid and work files (see ``rsyslog.py`` and
``syslog_ng.py``).

librdkafka comes from the confluent-kafka wheel (2.x), not from Debian: Debian bookworm's
librdkafka 2.0 cannot parse the embedded broker's ApiVersions v3 answer (see docs/performance.md).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import Unavailable

#: Override with STREAMLINE_BENCH_CACHE; default ``.bench-cache/`` at the repository root (git-ignored).
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".bench-cache"
_MARKER = ".unpacked"


def cache_dir() -> Path:
    return Path(os.environ.get("STREAMLINE_BENCH_CACHE") or DEFAULT_CACHE)


@dataclass(frozen=True)
class Unpacked:
    """A private root with the packages' files, and the library path their programs need."""

    root: Path
    library_path: list[str]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = ":".join([*self.library_path, env.get("LD_LIBRARY_PATH", "")]).rstrip(":")
        return env


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("W:")]
    return lines[-1].strip() if lines else "no output"


def download(name: str, packages: list[str], *, cache: Path | None = None) -> Path:
    """Unpack ``packages`` (and only those: no dependency resolution) into a cached private root.

    Raises :class:`Unavailable` with the reason when apt cannot be used.
    """
    base = (cache or cache_dir()) / "debian" / name
    root = base / "root"
    marker = base / _MARKER
    wanted = " ".join(sorted(packages))
    if marker.exists() and marker.read_text().strip() == wanted:
        return root
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not found: {name} is fetched from Debian packages (see docs/performance.md)")
    shutil.rmtree(base, ignore_errors=True)
    debs = base / "debs"
    debs.mkdir(parents=True)
    # The sandbox user cannot write into a private directory; we only download, never install.
    command = ["apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", *packages]
    try:
        result = _run(command, debs, 300)
        if result.returncode != 0 and os.geteuid() == 0:
            # A fresh machine may have no package lists yet: refresh them once and try again.
            if _run(["apt-get", "-q", "update"], debs, 300).returncode == 0:
                result = _run(command, debs, 300)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"apt-get download {' '.join(packages)} timed out") from None
    if result.returncode != 0:
        raise Unavailable(f"apt-get download {' '.join(packages)} failed: {_last_line(result.stderr)}")
    for deb in sorted(debs.glob("*.deb")):
        unpacked = _run(["dpkg", "-x", str(deb), str(root)], base, 120)
        if unpacked.returncode != 0:
            raise Unavailable(f"dpkg -x {deb.name} failed: {_last_line(unpacked.stderr)}")
    shutil.rmtree(debs, ignore_errors=True)
    marker.write_text(wanted + "\n")
    return root


def wheel_librdkafka() -> Path:
    """The librdkafka 2.x shipped inside the confluent-kafka wheel."""
    try:
        import confluent_kafka
    except ImportError:
        raise Unavailable(
            "needs confluent-kafka (pip install confluent-kafka) for its librdkafka 2.x: Debian bookworm's "
            "librdkafka 2.0 cannot parse the embedded broker's ApiVersions v3 answer"
        ) from None
    package = Path(confluent_kafka.__file__).resolve().parent
    found = sorted(glob.glob(str(package.parent / "confluent_kafka.libs" / "librdkafka*.so*")))
    if not found:
        raise Unavailable(f"no librdkafka*.so in {package.parent / 'confluent_kafka.libs'} (a source build?)")
    return Path(found[0])


def unpack(name: str, packages: list[str], *, cache: Path | None = None) -> Unpacked:
    """:func:`download` plus a library path: the wheel's librdkafka first, then every library dir."""
    root = download(name, packages, cache=cache)
    link_dir = root.parent / "librdkafka"
    link_dir.mkdir(exist_ok=True)
    link = link_dir / "librdkafka.so.1"
    target = wheel_librdkafka()
    if not link.is_symlink() or Path(os.readlink(link)) != target:
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    dirs = sorted({os.path.dirname(p) for p in glob.glob(str(root / "**" / "*.so*"), recursive=True)})
    return Unpacked(root=root, library_path=[str(link_dir), *dirs])


def missing_libraries(unpacked: Unpacked, binaries: list[Path]) -> list[str]:
    """Shared libraries ``ldd`` cannot find for ``binaries`` with the private library path."""
    if shutil.which("ldd") is None:
        return []
    missing: set[str] = set()
    for binary in binaries:
        result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, env=unpacked.env())
        missing.update(line.split()[0] for line in result.stdout.splitlines() if "not found" in line)
    return sorted(missing)
