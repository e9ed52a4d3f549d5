"""What a following ``ship`` does about its memory (``cli/_memory.py``): when it gives the freed
heap back, and aiokafka's codec library loaded on first use only."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from streamline.cli._memory import TrimWhenQuiet


class Ticks:
    """A pipeline's counters, moved by hand between ticks."""

    def __init__(self) -> None:
        self.stats = SimpleNamespace(items=0, delivered=0, in_flight=0)

    def move(self, lines: int = 10, *, in_flight: int = 0) -> None:
        self.stats.items += lines
        self.stats.delivered += lines
        self.stats.in_flight = in_flight


def test_trims_after_start_up_and_when_quiet_after_a_burst() -> None:
    trims: list[int] = []
    trim = TrimWhenQuiet(trim=lambda: trims.append(1))
    pipeline = Ticks()
    trim(pipeline)
    assert len(trims) == 1  # start-up is over: its garbage goes back
    for _ in range(5):  # lines keep coming: the buffers would be faulted in again at once
        pipeline.move()
        trim(pipeline)
    assert len(trims) == 1
    trim(pipeline)  # a quiet tick after the burst
    assert len(trims) == 2
    for _ in range(5):  # an idle ship does nothing more
        trim(pipeline)
    assert len(trims) == 2 and trim.trims == 2


def test_while_lines_keep_coming_at_most_every_few_ticks() -> None:
    trims: list[int] = []
    trim = TrimWhenQuiet(every=3, trim=lambda: trims.append(1))
    pipeline = Ticks()
    trim(pipeline)
    for _ in range(9):
        pipeline.move()
        trim(pipeline)
    assert len(trims) == 1 + 3
    trim(pipeline)  # quiet right after a periodic trim: nothing moved since
    assert len(trims) == 4


def test_no_trim_while_batches_are_in_flight() -> None:
    trims: list[int] = []
    trim = TrimWhenQuiet(trim=lambda: trims.append(1))
    pipeline = Ticks()
    trim(pipeline)
    pipeline.move(in_flight=2)
    trim(pipeline)
    trim(pipeline)  # nothing moved, but the broker has not answered yet
    assert len(trims) == 1
    pipeline.stats.delivered += 1
    pipeline.stats.in_flight = 0
    trim(pipeline)  # an acknowledgement is movement too
    trim(pipeline)
    assert len(trims) == 2


def test_the_status_line_still_runs_every_tick() -> None:
    seen: list[object] = []
    trim = TrimWhenQuiet(seen.append, trim=lambda: None)
    pipeline = Ticks()
    for _ in range(3):
        trim(pipeline)
    assert seen == [pipeline] * 3


def test_cramjam_is_loaded_when_first_used() -> None:
    code = (
        "import sys\n"
        "from streamline.cli._memory import defer_cramjam\n"
        "assert defer_cramjam()\n"
        "assert not defer_cramjam()  # once\n"
        "import aiokafka, aiokafka.codec as codec\n"
        "assert 'cramjam.cramjam' not in sys.modules, 'loaded with aiokafka'\n"
        "assert codec.has_snappy() and codec.has_lz4() and codec.has_zstd()\n"
        "data = b'GET /index.html 200\\n' * 100\n"
        "assert codec.zstd_decode(codec.zstd_encode(data)) == data\n"
        "assert 'cramjam.cramjam' in sys.modules\n"
        "assert codec.snappy_decode(codec.snappy_encode(data)) == data\n"
        "assert codec.lz4_decode(codec.lz4_encode(data)) == data\n"
        "import cramjam\n"
        "from cramjam import snappy\n"
        "assert cramjam.snappy is snappy and type(cramjam).__name__ == 'module'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_cramjam_already_imported_is_left_alone() -> None:
    code = (
        "import cramjam\n"
        "from streamline.cli._memory import defer_cramjam\n"
        "assert not defer_cramjam()\n"
        "import sys\n"
        "assert sys.modules['cramjam'] is cramjam\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
