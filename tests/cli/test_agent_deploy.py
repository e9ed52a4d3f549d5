"""examples/deploy: the sample agent configs pass ``--check``, and the systemd unit and the
Kubernetes DaemonSet agree with them (paths, ports, probes, grace periods)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from cliresults import assert_ok

yaml = pytest.importorskip("yaml", reason="PyYAML (the dev extra) reads the Kubernetes manifests")
tomllib = pytest.importorskip("tomllib", reason="Python 3.11+")

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
SYSTEMD_CONFIG = DEPLOY / "systemd" / "agent.toml"
K8S = DEPLOY / "kubernetes"


def unit_file(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit: ``{section: {key: [values, in order]}}`` (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        text = raw.strip()
        if not text or text.startswith(("#", ";")):
            continue
        if text.startswith("["):
            current = sections.setdefault(text.strip("[]"), {})
            continue
        key, sep, value = text.partition("=")
        assert sep, f"{path}: not Key=Value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("config", [SYSTEMD_CONFIG, K8S / "agent.toml"], ids=["systemd", "kubernetes"])
def test_sample_configs_pass_check(cli, config: Path) -> None:
    # What the unit's EnvironmentFile / the pod's secret provide; no broker is needed.
    result = cli("agent", "--config", str(config), "--check",
                 env={"STREAMLINE_BOOTSTRAP_SERVERS": "", "STREAMLINE_SASL_PASSWORD": "from-the-environment"})
    assert_ok(result)
    assert result.stdout.startswith(f"{config}: OK: ")
    assert len(result.lines) == 1


def test_systemd_unit_matches_its_config() -> None:
    unit = unit_file(DEPLOY / "systemd" / "streamline-agent.service")
    service = unit["Service"]
    config = tomllib.loads(SYSTEMD_CONFIG.read_text())
    start = shlex.split(service["ExecStart"][0])
    assert start[1:4] == ["agent", "--config", "/etc/streamline/agent.toml"]
    assert service["ExecStartPre"] == [" ".join([*start[:4], "--check"])]
    assert service["ExecReload"] == [" ".join([*start[:4], "--check"]), "/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    # Checkpoints in the state directory, the only writable place under ProtectSystem=strict.
    assert service["StateDirectory"] == ["streamline"]
    assert config["checkpoints"].startswith("/var/lib/streamline/")
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadOnlyPaths": "/var/log", "ProtectHome": "yes",
        "PrivateTmp": "yes", "CapabilityBoundingSet": "", "DynamicUser": "yes",
    }.items():
        assert service[key] == [value], key
    # systemd waits longer than the agent drains.
    assert float(service["TimeoutStopSec"][0]) > config["grace"]
    assert config["metrics"].startswith("127.0.0.1:")  # scraped on the host only
    assert "sasl_password" not in config["kafka"]  # secrets come from the EnvironmentFile
    assert service["EnvironmentFile"] == ["-/etc/streamline/agent.env"]


def test_daemonset_mounts_probes_and_limits_match_its_config() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["daemonset.yaml"]
    (generated,) = kustomization["configMapGenerator"]
    assert generated["files"] == ["agent.toml"]
    daemonset = yaml.safe_load((K8S / "daemonset.yaml").read_text())
    assert daemonset["kind"] == "DaemonSet"
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    config = tomllib.loads((K8S / "agent.toml").read_text())

    # The config file is the ConfigMap, mounted where the args read it.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert volumes[mounts["/etc/streamline"]["name"]]["configMap"]["name"] == generated["name"]
    assert container["args"][:3] == ["agent", "--config", "/etc/streamline/agent.toml"]
    # /var/log read-only from the host; checkpoints on a host directory that outlives the pod.
    assert mounts["/var/log"]["readOnly"] is True
    assert volumes[mounts["/var/log"]["name"]]["hostPath"]["path"] == "/var/log"
    checkpoint_mount = next(m for path, m in mounts.items() if config["checkpoints"].startswith(path + "/"))
    assert "hostPath" in volumes[checkpoint_mount["name"]]
    assert not checkpoint_mount.get("readOnly", False)
    for spec in config["inputs"]:
        for pattern in spec["paths"]:
            assert pattern.startswith("/var/log/"), pattern

    # Probes: the metrics port of the config, on all interfaces (the kubelet calls the pod IP).
    host, _, port = config["metrics"].rpartition(":")
    assert host == "0.0.0.0"
    (metrics_port,) = [p for p in container["ports"] if p["name"] == "metrics"]
    assert metrics_port["containerPort"] == int(port)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == port

    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert pod["terminationGracePeriodSeconds"] > config["grace"]  # SIGTERM drains first
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_readme_example_passes_check(cli, tmp_path: Path) -> None:
    readme = (DEPLOY.parents[1] / "README.md").read_text()
    section = readme.split("## Agent config", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "agent.toml"
    config.write_text(example)
    result = cli("agent", "--config", str(config), "--check",
                 env={"STREAMLINE_BOOTSTRAP_SERVERS": "", "STREAMLINE_SASL_PASSWORD": "from-the-environment"})
    assert_ok(result)
    assert result.stdout.startswith(f"{config}: OK: 3 inputs (nginx-access -> nginx-access, billing -> app-{{hostname}}")
