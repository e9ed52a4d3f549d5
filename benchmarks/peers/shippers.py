"""The log shippers compared on one file → one topic: streamline ship, rsyslog, syslog-ng.

Each is a daemon following ``path`` from its beginning and producing every line, as is, to
``topic`` with ``acks=all``. rsyslog and syslog-ng are the "tuned" configurations of
docs/performance.md (small linger, large batches, inotify or a short poll); they come from Debian
packages unpacked into the benchmark cache (``_debian.py``) and run with their own configuration,
pid and state files in ``workdir``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

from . import Unavailable
from ._daemon import Daemon
from ._debian import Unpacked, missing_libraries, unpack

STREAMLINE = os.path.join(os.path.dirname(sys.executable), "streamline")


class Shipper(Protocol):
    name: str

    def start(self, path: Path, topic: str, bootstrap: str, workdir: Path) -> Daemon: ...


class StreamlineShip:
    """``streamline ship PATH --topic T --from beginning`` (follow mode; ``once``: with ``--once``)."""

    def __init__(self, *, once: bool = False) -> None:
        self.once = once
        self.name = "streamline --once" if once else "streamline"

    def start(self, path: Path, topic: str, bootstrap: str, workdir: Path) -> Daemon:
        return Daemon(
            self.name,
            [STREAMLINE, "-b", bootstrap, "ship", str(path), "--topic", topic, "--from", "beginning",
             "--checkpoints", str(workdir / "checkpoints"), "-q", *(["--once"] if self.once else [])],
            env=dict(os.environ), log=workdir / "streamline.log", may_exit=self.once,
        )


RSYSLOG_PACKAGES = ["rsyslog", "rsyslog-kafka", "libestr0", "libfastjson4", "liblognorm5"]

RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="line" type="string" string="%msg%")
input(type="imfile" file="{path}" tag="bench" ruleset="ship" freshStartTail="off")
ruleset(name="ship" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="4096") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="line" partitions.auto="on"
         confParam=["request.required.acks=-1", "queue.buffering.max.ms=5", "batch.num.messages=10000",
                    "queue.buffering.max.messages=1000000", "enable.idempotence=false"])
}}
"""


class Rsyslog:
    """rsyslog 8: imfile (inotify) → omkafka, librdkafka from the confluent-kafka wheel."""

    name = "rsyslog"

    def __init__(self, unpacked: Unpacked) -> None:
        self.unpacked = unpacked
        self.binary = unpacked.root / "usr" / "sbin" / "rsyslogd"
        found = sorted(unpacked.root.glob("usr/lib/*/rsyslog/omkafka.so"))
        if not self.binary.exists() or not found:
            raise Unavailable(f"rsyslogd or omkafka.so missing under {unpacked.root}")
        self.modules = found[0].parent
        missing = missing_libraries(unpacked, [self.binary, self.modules / "omkafka.so", self.modules / "imfile.so"])
        if missing:
            raise Unavailable(f"rsyslog needs libraries not found here: {', '.join(missing)}")

    @classmethod
    def prepare(cls) -> Rsyslog:
        return cls(unpack("rsyslog", RSYSLOG_PACKAGES))

    def config(self, path: Path, topic: str, bootstrap: str, work: Path) -> str:
        return RSYSLOG_CONF.format(path=path, topic=topic, bootstrap=bootstrap, work=work)

    def start(self, path: Path, topic: str, bootstrap: str, workdir: Path) -> Daemon:
        work = workdir / "rsyslog"
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "rsyslog.conf"
        conf.write_text(self.config(path, topic, bootstrap, work))
        return Daemon(
            self.name,
            [str(self.binary), "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid"), "-M", str(self.modules)],
            env=self.unpacked.env(), log=work / "rsyslogd.log",
        )


SYSLOG_NG_PACKAGES = ["syslog-ng-core", "syslog-ng-mod-rdkafka", "libivykis0", "libpcre3", "libnet1", "libjson-c5"]

SYSLOG_NG_CONF = """\
@version: {version}
options {{ stats-freq(0); log-fifo-size(200000); }};
source s_bench {{
  file("{path}" flags(no-parse) follow-freq({follow_freq}) log-fetch-limit(10000) log-iw-size(200000));
}};
destination d_kafka {{
  kafka-c(bootstrap-servers("{bootstrap}") topic("{topic}") message("$MSG") workers(1)
          config("acks" => "all" "linger.ms" => "5" "batch.num.messages" => "10000"
                 "queue.buffering.max.messages" => "1000000" "enable.idempotence" => "false"));
}};
log {{ source(s_bench); destination(d_kafka); flags(flow-control); }};
"""


class SyslogNg:
    """syslog-ng: file() → kafka-c, librdkafka from the confluent-kafka wheel.

    A plain file is polled (no inotify for file()): ``follow-freq`` 10 ms instead of the default 1 s.
    """

    name = "syslog-ng"
    follow_freq = 0.01

    def __init__(self, unpacked: Unpacked) -> None:
        self.unpacked = unpacked
        self.binary = unpacked.root / "usr" / "sbin" / "syslog-ng"
        found = sorted(unpacked.root.glob("usr/lib/syslog-ng/*/libkafka.so"))
        if not self.binary.exists() or not found:
            raise Unavailable(f"syslog-ng or its kafka module (libkafka.so) missing under {unpacked.root}")
        self.modules = found[0].parent
        self.version = self.modules.name  # e.g. 3.38
        missing = missing_libraries(unpacked, [self.binary, found[0], self.modules / "libaffile.so"])
        if missing:
            raise Unavailable(f"syslog-ng needs libraries not found here: {', '.join(missing)}")

    @classmethod
    def prepare(cls) -> SyslogNg:
        return cls(unpack("syslog-ng", SYSLOG_NG_PACKAGES))

    def config(self, path: Path, topic: str, bootstrap: str) -> str:
        return SYSLOG_NG_CONF.format(
            version=self.version, path=path, topic=topic, bootstrap=bootstrap, follow_freq=self.follow_freq
        )

    def start(self, path: Path, topic: str, bootstrap: str, workdir: Path) -> Daemon:
        work = workdir / "syslog-ng"
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "syslog-ng.conf"
        conf.write_text(self.config(path, topic, bootstrap))
        return Daemon(
            self.name,
            [str(self.binary), "-F", "--no-caps", "-f", str(conf), "-p", str(work / "syslog-ng.pid"),
             "-R", str(work / "syslog-ng.persist"), "-c", str(work / "syslog-ng.ctl"),
             f"--module-path={self.modules}"],
            env=self.unpacked.env(), log=work / "syslog-ng.log",
        )
