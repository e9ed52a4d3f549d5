"""Reference peers for ``python -m benchmarks --peers``: rsyslog, syslog-ng, confluent-kafka, FastStream.

Each peer is measured only when it can run here; otherwise its rows say why it was skipped
(:class:`Unavailable` carries the one-line reason). rsyslog and syslog-ng are fetched as Debian
packages into ``.bench-cache/`` and run from there (see ``_debian.py``); nothing is installed.
"""

from __future__ import annotations


class Unavailable(Exception):
    """A peer cannot run on this machine; ``str()`` is the reason shown in the results."""
