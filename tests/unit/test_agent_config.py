"""The agent's config file: what a valid file gives, and one line naming file + key path for every mistake."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from streamline._agent import AgentConfigError, Overrides, load_config
from streamline._agent.claims import claimed_twice, covers, first_wins_excludes, glob_problem, may_overlap
from streamline._agent.runner import effective_specs
from streamline._ingest.spec import InputSpec, Metadata, Multiline, Parser

ENV: dict[str, str] = {}  # no STREAMLINE_* variables leak into these tests

FULL = """
# The whole vocabulary, comments included.
checkpoints = "state/checkpoints"
metrics = "0.0.0.0:9464"
grace = 12.5
rotate_wait = 5
linger = 0.02

[kafka]
bootstrap_servers = "k1:9092,k2:9092"
security_protocol = "SASL_PLAINTEXT"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "shipper"
sasl_password = "s3cret"
connect_timeout = 20
acks = 1
compression = "gzip"
max_message_bytes = 2097152

[[inputs]]
name = "nginx-access"
paths = ["/var/log/nginx/access.log"]
topic = "nginx-access"
key = "{field1}"
start = "beginning"

[[inputs]]
name = "java"
paths = ["logs/java/*.log"]
exclude = ["*.gz", "logs/java/debug-*.log"]
topic = "app-{hostname}"
long_lines = "skip"
max_line_bytes = 65536
multiline = { pattern = '^\\d{4}-\\d{2}-\\d{2}', negate = true, match = "after", max_lines = 200, timeout = 2.5 }
[inputs.metadata]
headers = ["host", "path", "offset"]
envelope = true
fields = { env = "prod", team = "payments" }

[[inputs]]
name = "containers"
paths = ["/var/log/containers/*.log"]
topic = "k8s-{name}"
parser = "cri"

[[inputs]]
name = "access-json"
paths = ["/srv/api/access.json"]
topic = "api"
[inputs.parser]
kind = "regex"
pattern = '(?P<ip>\\S+) (?P<status>\\d{3})'
on_invalid = "skip"
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str, overrides: Overrides | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(AgentConfigError) as info:
        load_config(path, overrides, env=ENV)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    return message[len(str(path)) + 2 :]


MINIMAL = """
[[inputs]]
name = "app"
paths = ["/var/log/app.log"]
topic = "app"
"""


def test_the_full_example_gives_the_specs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env=ENV)
    assert config.checkpoints == str(tmp_path / "state" / "checkpoints")
    assert config.metrics == "0.0.0.0:9464"
    assert (config.grace, config.rotate_wait, config.linger) == (12.5, 5.0, 0.02)
    kafka = config.kafka
    assert kafka.connection.bootstrap_servers == "k1:9092,k2:9092"
    assert kafka.connection.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.connection.sasl_password is not None and kafka.connection.sasl_password.get() == "s3cret"
    assert kafka.connection.connect_timeout == 20.0
    assert (kafka.acks, kafka.compression, kafka.max_message_bytes) == (1, "gzip", 2097152)
    access, java, containers, regex = config.inputs
    assert access == InputSpec(
        name="nginx-access", paths=("/var/log/nginx/access.log",), topic="nginx-access", key="{field1}", start="beginning"
    )
    assert java.paths == (str(tmp_path / "logs" / "java" / "*.log"),)  # relative to the file
    assert java.exclude == ("*.gz", str(tmp_path / "logs" / "java" / "debug-*.log"))
    assert (java.long_lines, java.max_line_bytes) == ("skip", 65536)
    assert java.multiline == Multiline(pattern=r"^\d{4}-\d{2}-\d{2}", negate=True, match="after", max_lines=200, timeout=2.5)
    assert java.metadata == Metadata(headers=("host", "path", "offset"), envelope=True, fields={"env": "prod", "team": "payments"})
    assert containers.parser == Parser("cri")
    assert regex.parser == Parser("regex", pattern=r"(?P<ip>\S+) (?P<status>\d{3})", on_invalid="skip")
    assert config.checkpoints_for(java) == os.path.join(config.checkpoints, "java")
    assert "4 inputs" in config.summary() and "java -> app-{hostname}" in config.summary()


def test_defaults_of_a_minimal_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env=ENV)
    assert config.checkpoints == "/var/lib/streamline/checkpoints"
    assert config.metrics is None
    assert config.linger == 0.005  # the follower's default
    assert (config.kafka.acks, config.kafka.compression, config.kafka.max_message_bytes) == ("all", None, 1048576)
    assert config.kafka.connection.bootstrap_servers == "localhost:9092"
    (spec,) = config.inputs
    assert (spec.start, spec.long_lines, spec.multiline, spec.parser, spec.metadata) == ("end", "split", None, None, Metadata())


def test_command_line_overrides_the_file(tmp_path: Path) -> None:
    overrides = Overrides(
        connection={"bootstrap_servers": "cli:9092", "sasl_username": None},
        checkpoints="/tmp/cli-checkpoints",
        metrics="9999",
        acks="0",
        compression="none",
        max_message_bytes=4096,
        grace=1.0,
        rotate_wait=0.0,
        linger=0.0,
    )
    config = load_config(write(tmp_path, FULL.replace("max_line_bytes = 65536", "")), overrides, env=ENV)
    assert config.kafka.connection.bootstrap_servers == "cli:9092"
    assert config.kafka.connection.sasl_username == "shipper"  # None: the file decides
    assert (config.checkpoints, config.metrics, config.grace, config.rotate_wait) == ("/tmp/cli-checkpoints", "9999", 1.0, 0.0)
    assert config.linger == 0.0
    assert (config.kafka.acks, config.kafka.compression, config.kafka.max_message_bytes) == (0, None, 4096)


def test_multiline_and_parser_shortcuts(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + 'multiline = "python"\nparser = "json"\n'), env=ENV)
    assert config.inputs[0].multiline == Multiline(preset="python")
    assert config.inputs[0].parser == Parser("json")


def test_specs_compare_equal_when_the_file_did_not_change(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    assert load_config(path, env=ENV) == load_config(path, env=ENV)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # syntax and file-level problems
        ("checkpoints = \n", "not valid TOML: "),
        (MINIMAL + "[kafak]\nacks = 1\n", "kafak: unknown key; did you mean 'kafka'?"),
        ("checkpoints = 'x'\n", "inputs: missing; expected at least one [[inputs]] table"),
        ("inputs = []\n", "inputs: expected one or more [[inputs]] tables (got an empty array)"),
        ("inputs = 'app'\n", "inputs: expected one or more [[inputs]] tables (got a string)"),
        # unknown keys, with the closest known one
        (MINIMAL + "topc = 'x'\n", "inputs[0].topc: unknown key; did you mean 'topic'?"),
        (MINIMAL + "[inputs.multiline]\npatern = 'x'\n", "inputs[0].multiline.patern: unknown key; did you mean 'pattern'?"),
        ("[kafka]\nbootstrap = 'x'\n" + MINIMAL, "kafka.bootstrap: unknown key; did you mean 'bootstrap_servers'?"),
        (MINIMAL + "zzz = 1\n", "inputs[0].zzz: unknown key; known keys: name, paths"),
        # wrong types
        ("grace = 'long'\n" + MINIMAL, "grace: expected a number > 0 (got a string 'long')"),
        ("grace = 0\n" + MINIMAL, "grace: expected a number > 0 (got 0)"),
        ("linger = -1\n" + MINIMAL, "linger: expected a number >= 0 (got -1)"),
        ("[kafka]\nmax_message_bytes = 10\n" + MINIMAL, "kafka.max_message_bytes: expected an integer >= 1024 (got 10)"),
        ("[kafka]\nmax_message_bytes = 1.5e6\n" + MINIMAL, "kafka.max_message_bytes: expected an integer >= 1024 (got a float 1500000.0)"),
        ("[kafka]\nacks = 2\n" + MINIMAL, "kafka.acks: expected 0, 1 or 'all' (got 2)"),
        ("[kafka]\nacks = true\n" + MINIMAL, "kafka.acks: expected 0, 1 or 'all' (got a boolean)"),
        ("[kafka]\ncompression = 'brotli'\n" + MINIMAL, "kafka.compression: expected one of 'gzip', 'snappy', 'lz4', 'zstd', 'none' (got 'brotli')"),
        ("kafka = 3\n" + MINIMAL, "kafka: expected a table (got an integer)"),
        ("[kafka]\nsecurity_protocol = 'TLS'\n" + MINIMAL, "kafka: security protocol must be one of"),
        ("[kafka]\nssl_cafile = 'missing-ca.pem'\n" + MINIMAL, "kafka.ssl_cafile: no such file: "),
        ("metrics = 'host:port'\n" + MINIMAL, "metrics: expects [HOST:]PORT"),
        (MINIMAL.replace('paths = ["/var/log/app.log"]', "paths = 3"), "inputs[0].paths: expected an array of strings (got an integer 3)"),
        (MINIMAL.replace('paths = ["/var/log/app.log"]', "paths = []"), "inputs[0].paths: expected at least one entry"),
        (MINIMAL.replace('paths = ["/var/log/app.log"]', 'paths = ["/a", 7]'), "inputs[0].paths[1]: expected a non-empty string (got an integer 7)"),
        (MINIMAL.replace('paths = ["/var/log/app.log"]', ""), "inputs[0].paths: missing; expected an array of strings"),
        (MINIMAL + "start = 'middle'\n", "inputs[0].start: expected one of 'beginning', 'end' (got 'middle')"),
        (MINIMAL + "long_lines = 1\n", "inputs[0].long_lines: expected one of 'split', 'skip' (got an integer 1)"),
        (MINIMAL + "max_line_bytes = 0\n", "inputs[0].max_line_bytes: expected an integer >= 1 (got 0)"),
        (MINIMAL + "max_line_bytes = 2000000\n", "inputs[0].max_line_bytes: 2000000 does not fit in a record of kafka.max_message_bytes 1048576"),
        (MINIMAL + "[inputs.metadata]\nenvelope = 'yes'\n", "inputs[0].metadata.envelope: expected true or false (got a string 'yes')"),
        (MINIMAL + "[inputs.metadata]\nheaders = ['hostname']\n", "inputs[0].metadata.headers[0]: expected one of host, path, offset, input, stream (got 'hostname')"),
        (MINIMAL + "[inputs.metadata]\nheaders = ['host', 'host']\n", "inputs[0].metadata.headers[1]: 'host' is listed twice"),
        (MINIMAL + "[inputs.metadata]\nfields = { env = 1 }\n", "inputs[0].metadata.fields.env: expected a string (got an integer 1)"),
        (MINIMAL + "[inputs.metadata]\nfields = { message = 'x' }\n", "inputs[0].metadata.fields.message: 'message' is set by the agent itself"),
        (MINIMAL + "[inputs.metadata]\nfields = 'env=prod'\n", "inputs[0].metadata.fields: expected a table (got a string)"),
        # names
        (MINIMAL.replace('name = "app"', ""), "inputs[0].name: missing; expected a name for this input"),
        (MINIMAL.replace('name = "app"', 'name = "my app"'), "inputs[0].name: expected 1-100 letters, digits"),
        (MINIMAL.replace('name = "app"', 'name = ".."'), "inputs[0].name: expected 1-100 letters"),
        (MINIMAL + MINIMAL.replace("/var/log/app.log", "/var/log/b.log"),
         "inputs[1].name: 'app' is already the name of inputs[0]; input names must be unique"),
        # globs
        (MINIMAL.replace("/var/log/app.log", "/var/log/**/*.log"), "inputs[0].paths[0]: '/var/log/**/*.log': '**' does not recurse here"),
        (MINIMAL.replace("/var/log/app.log", "/var/log/{a,b}.log"), "inputs[0].paths[0]: '/var/log/{a,b}.log': braces {a,b} are not glob syntax"),
        (MINIMAL.replace("/var/log/app.log", "/var/log/[ab.log"), "inputs[0].paths[0]: '/var/log/[ab.log': '[' in '[ab.log' is not closed"),
        (MINIMAL.replace("/var/log/app.log", "~/app.log"), "inputs[0].paths[0]: '~/app.log': '~' is not expanded here"),
        (MINIMAL.replace("/var/log/app.log", "/var/log/"), "inputs[0].paths[0]: '/var/log/': names a directory"),
        (MINIMAL + "exclude = ['[x']\n", "inputs[0].exclude[0]: '[x': '[' in '[x' is not closed"),
        # topics and keys
        (MINIMAL.replace('topic = "app"', 'topic = "app logs"'), "inputs[0].topic: invalid topic name 'app logs': topic names are 1-249"),
        (MINIMAL.replace('topic = "app"', 'topic = ".."'), "inputs[0].topic: invalid topic name '..'"),
        (MINIMAL.replace('topic = "app"', 'topic = "' + "x" * 250 + '"'), "inputs[0].topic: invalid topic name"),
        (MINIMAL.replace('topic = "app"', 'topic = "logs/{name}"'), "inputs[0].topic: the text around the placeholders of 'logs/{name}' breaks the rule"),
        (MINIMAL.replace('topic = "app"', 'topic = "logs-{host}"'), "inputs[0].topic: unknown placeholder {host}; expected {name}, {path}, {hostname}, {input}"),
        (MINIMAL.replace('topic = "app"', 'topic = "logs-{name"'), "inputs[0].topic: 'logs-{name' is not a valid template"),
        (MINIMAL.replace('topic = "app"', ""), "inputs[0].topic: missing; expected the topic"),
        (MINIMAL.replace('topic = "app"', 'topic = ""'), "inputs[0].topic: expected a non-empty string"),
        (MINIMAL + "key = '{field10}'\n", "inputs[0].key: unknown placeholder {field10}"),
        # regular expressions, compiled
        (MINIMAL + "[inputs.multiline]\npattern = '^(foo'\n", "inputs[0].multiline.pattern: not a valid regular expression: missing ), unterminated subpattern at position 1"),
        (MINIMAL + "[inputs.parser]\nkind = 'regex'\npattern = '(?P<x'\n", "inputs[0].parser.pattern: not a valid regular expression"),
        (MINIMAL + "[inputs.parser]\nkind = 'regex'\npattern = '\\\\S+'\n", "inputs[0].parser.pattern: expected named groups"),
        (MINIMAL + "[inputs.parser]\nkind = 'regex'\n", "inputs[0].parser.pattern: missing; expected a regular expression"),
        (MINIMAL + "[inputs.parser]\nkind = 'json'\npattern = 'x'\n", "inputs[0].parser.pattern: only the regex parser takes a pattern"),
        (MINIMAL + "[inputs.parser]\nkind = 'xml'\n", "inputs[0].parser.kind: expected one of 'json', 'regex', 'cri', 'docker' (got 'xml')"),
        (MINIMAL + "[inputs.parser]\non_invalid = 'skip'\n", "inputs[0].parser.kind: missing; expected json, regex, cri or docker"),
        (MINIMAL + "[inputs.parser]\nkind = 'json'\non_invalid = 'drop'\n", "inputs[0].parser.on_invalid: expected one of 'send', 'skip', 'stop'"),
        (MINIMAL + "[inputs.multiline]\nnegate = true\n", "inputs[0].multiline: expected a 'pattern' or a 'preset'"),
        (MINIMAL + "[inputs.multiline]\npreset = 'java'\n", "inputs[0].multiline.preset: expected one of 'indented', 'python', 'timestamp' (got 'java')"),
        (MINIMAL + "[inputs.multiline]\npreset = 'python'\npattern = 'x'\n", "inputs[0].multiline.pattern: expected either 'pattern' or 'preset', not both"),
        (MINIMAL + "[inputs.multiline]\npreset = 'python'\nmatch = 'around'\n", "inputs[0].multiline.match: expected one of 'after', 'before'"),
        (MINIMAL + "[inputs.multiline]\npreset = 'python'\ntimeout = 0\n", "inputs[0].multiline.timeout: expected a number > 0 (got 0)"),
        (MINIMAL + "[inputs.multiline]\npreset = 'python'\nmax_lines = 0\n", "inputs[0].multiline.max_lines: expected an integer >= 1 (got 0)"),
        (MINIMAL + "multiline = 3\n", "inputs[0].multiline: expected a table (got an integer)"),
    ],
)
def test_every_mistake_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(expected), message


TWO = """
[[inputs]]
name = "a"
paths = [{a}]
topic = "a"
{a_extra}

[[inputs]]
name = "b"
paths = [{b}]
topic = "b"
{b_extra}
"""


def two(a: str, b: str, a_extra: str = "", b_extra: str = "") -> str:
    return TWO.format(a=a, b=b, a_extra=a_extra, b_extra=b_extra)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (two("'/var/log/x.log'", "'/var/log/x.log'"), "inputs[1].paths[0]: '/var/log/x.log' is also inputs[0].paths[0]"),
        (two("'/var/log/*.log'", "'/var/log/x.log'"), "inputs[1].paths[0]: every file '/var/log/x.log' matches is also matched by inputs[0].paths[0]"),
        (two("'/var/log/x.log'", "'/var/log/*.log'"), "inputs[1].paths[0]: '/var/log/*.log' matches every file of inputs[0].paths[0]"),
        (two("'/var/log/*.log'", "'/var/log/app-*.log'"), "inputs[1].paths[0]: every file '/var/log/app-*.log' matches is also matched"),
        (two("'/var/log/*/*.log'", "'/var/log/*/*.log'"), "inputs[1].paths[0]: '/var/log/*/*.log' is also inputs[0].paths[0]"),
        (two("'/var/log/a.log', '/var/log/c/*'", "'/var/log/c/d'"), "inputs[1].paths[0]: every file '/var/log/c/d' matches is also matched by inputs[0].paths[1]"),
    ],
)
def test_two_inputs_claiming_the_same_file(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(tmp_path, text)
    assert message.startswith(expected), message
    assert "a file belongs to one input" in message


@pytest.mark.parametrize(
    "text",
    [
        two("'/var/log/a.log'", "'/var/log/b.log'"),
        two("'/var/log/nginx/*.log'", "'/var/log/app/*.log'"),
        two("'/var/log/*.log'", "'/var/log/*/x.log'"),  # other depth: '*' does not cross '/'
        two("'/var/log/*.log'", "'/var/log/x.log'", a_extra="exclude = ['x.log']"),  # handed over on purpose
        two("'/var/log/*.log'", "'/var/log/nginx*.log'", a_extra="exclude = ['nginx*']"),
        two("'/var/log/*-app.log'", "'/var/log/web-*.log'"),  # may overlap: settled at run time
    ],
)
def test_inputs_that_do_not_visibly_share_a_file_are_accepted(tmp_path: Path, text: str) -> None:
    assert len(load_config(write(tmp_path, text), env=ENV).inputs) == 2


def test_override_values_from_the_command_line_are_checked(tmp_path: Path) -> None:
    from streamline import ConfigurationError

    with pytest.raises(ConfigurationError, match="metrics port must be 0-65535"):
        load_config(write(tmp_path, MINIMAL), Overrides(metrics="70000"), env=ENV)


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(AgentConfigError, match=r"nope.toml: no such config file$"):
        load_config(tmp_path / "nope.toml", env=ENV)
    with pytest.raises(AgentConfigError, match=r": is a directory, not a config file$"):
        load_config(tmp_path, env=ENV)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe = 1")
    with pytest.raises(AgentConfigError, match=r"not UTF-8 text|not valid TOML"):
        load_config(binary, env=ENV)


# -- which input a file belongs to ------------------------------------------------------------


def spec(name: str, *paths: str, exclude: tuple[str, ...] = ()) -> InputSpec:
    return InputSpec(name=name, paths=paths, topic=name, exclude=exclude)


def test_overlap_rules() -> None:
    assert may_overlap("/l/*-app.log", "/l/web-*.log")
    assert may_overlap("/l/x.log", "/l/*.log")
    assert not may_overlap("/l/a/*.log", "/l/b/*.log")
    assert not may_overlap("/l/*.log", "/l/*/*.log")
    assert not may_overlap("/l/x.txt", "/l/*.log")
    assert covers("/l/*.log", "/l/app-*.log") and not covers("/l/app-*.log", "/l/*.log")
    assert covers("/l/x[ab].log", "/l/x[ab].log")
    assert glob_problem("/var/log/*.log") is None and glob_problem("/var/log/x[0-9].log") is None


def test_later_inputs_exclude_the_globs_of_earlier_ones_that_may_overlap() -> None:
    inputs = (
        spec("web", "/l/web-*.log"),
        spec("app", "/l/*-app.log"),
        spec("other", "/m/*.log"),
        spec("rest", "/l/*.log", exclude=("*-app.log", "web-*")),
    )
    assert first_wins_excludes(inputs) == [(), ("/l/web-*.log",), (), ("/l/web-*.log", "/l/*-app.log")]
    effective = effective_specs(inputs)
    assert effective[1].exclude == ("/l/web-*.log",)
    assert effective[0] is inputs[0] and effective[2] is inputs[2]
    # An earlier input's exclude hands files over: its glob is not excluded by the later one.
    handed = (spec("all", "/l/*.log", exclude=("nginx*",)), spec("nginx", "/l/nginx*.log"))
    assert first_wins_excludes(handed) == [(), ()]


def test_files_matched_by_two_inputs_are_found_on_disk(tmp_path: Path) -> None:
    for name in ("web-app.log", "web-db.log", "mail-app.log", "other.txt"):
        (tmp_path / name).write_text("x\n")
    inputs = (spec("web", f"{tmp_path}/web-*.log"), spec("app", f"{tmp_path}/*-app.log"), spec("txt", f"{tmp_path}/*.txt"))
    assert claimed_twice(inputs) == [(f"{tmp_path}/web-app.log", "web", "app")]
    assert claimed_twice((inputs[0], inputs[2])) == []
