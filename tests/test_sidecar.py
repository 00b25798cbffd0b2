"""The sidecar container: its fields in both modes, and its flags and hooks run for real
against Envoy (the classic-mode hold and drain scripts run under bash, as in the Envoy image).
"""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mesh_components import names
from mesh_components.compiler.plan import WorkloadPlan
from mesh_components.emit.kubernetes.sidecar import (
    drain_script,
    envoy_args,
    hold_script,
    sidecar_container,
)
from mesh_components.model import (
    LogLevel,
    MeshSettings,
    Probe,
    ProbeAction,
    ProbeKind,
    ProxySettings,
    Resources,
    SidecarMode,
)
from tests.envoy_tool import envoy_or_skip, http_get, validate_config
from tests.test_probes import http_app, live_settings, plan, static_envoy

NATIVE = MeshSettings(name="test")
CLASSIC = MeshSettings(name="test", proxy=ProxySettings(sidecar_mode=SidecarMode.CLASSIC))


def test_a_workload_log_level_overrides_the_mesh_one() -> None:
    args = sidecar_container(NATIVE, LogLevel.DEBUG)["args"]
    assert args[args.index("--log-level") + 1] == "debug"
    args = sidecar_container(NATIVE)["args"]
    assert args[args.index("--log-level") + 1] == NATIVE.proxy.log_level.value == "info"


def test_the_sidecar_runs_envoy_explicitly_on_the_config_volume() -> None:
    proxy = ProxySettings(concurrency=4, log_level=LogLevel.WARNING, drain_seconds=7)
    container = sidecar_container(MeshSettings(name="test", proxy=proxy))
    assert container["name"] == names.PROXY_CONTAINER
    assert container["image"] == proxy.image
    assert container["command"] == ["envoy"]
    assert container["args"] == [
        "-c", "/etc/mesh/config/bootstrap.yaml",
        "--reject-unknown-dynamic-fields",
        "--concurrency", "4",
        "--log-level", "warning",
        "--drain-time-s", "7",
        "--drain-strategy", "immediate",
        "--file-flush-interval-msec", "1000",
        "--disable-hot-restart",
    ]  # fmt: skip
    assert container["volumeMounts"] == [
        {"name": names.CONFIG_VOLUME, "mountPath": names.CONFIG_DIR, "readOnly": True},
        {"name": names.CERTS_VOLUME, "mountPath": names.CERTS_DIR, "readOnly": True},
    ]


def test_the_sidecar_names_its_reachable_ports_and_hides_admin() -> None:
    ports = {p["name"]: p["containerPort"] for p in sidecar_container(NATIVE)["ports"]}
    assert ports == {
        "mesh-metrics": 15010,
        "mesh-liveness": 15901,
        "mesh-readiness": 15902,
        "mesh-startup": 15903,
        "mesh-health": 15904,
    }
    assert all(len(name) <= 15 for name in ports)


def test_the_sidecar_runs_as_the_proxy_uid_with_nothing_else() -> None:
    proxy = ProxySettings(uid=1337)
    context = sidecar_container(MeshSettings(name="test", proxy=proxy))["securityContext"]
    assert context == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsGroup": 1337,
        "runAsNonRoot": True,
        "runAsUser": 1337,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_empty_resources_are_left_out() -> None:
    assert sidecar_container(NATIVE)["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }
    bare = ProxySettings(resources=Resources("", "", "", ""))
    assert "resources" not in sidecar_container(MeshSettings(name="test", proxy=bare))


def test_readiness_is_envoys_own_served_on_the_prometheus_port() -> None:
    probe = sidecar_container(NATIVE)["readinessProbe"]
    assert probe["httpGet"] == {"path": "/ready", "port": 15010, "scheme": "HTTP"}


def test_a_native_sidecar_restarts_always_and_holds_the_app_with_a_startup_probe() -> None:
    container = sidecar_container(NATIVE)
    assert container["restartPolicy"] == "Always"
    assert container["startupProbe"]["httpGet"] == container["readinessProbe"]["httpGet"]
    assert container["startupProbe"]["periodSeconds"] == 1
    assert "lifecycle" not in container  # stopped after the app: nothing left to drain


def test_a_classic_sidecar_holds_the_app_in_post_start_and_drains_in_pre_stop() -> None:
    container = sidecar_container(CLASSIC)
    assert "restartPolicy" not in container
    assert "startupProbe" not in container
    hooks = container["lifecycle"]
    assert hooks["postStart"]["exec"]["command"] == ["/bin/bash", "-c", hold_script(CLASSIC.proxy)]
    assert hooks["preStop"]["exec"]["command"] == ["/bin/bash", "-c", drain_script(CLASSIC.proxy)]
    assert "/drain_listeners?graceful&inboundonly" in drain_script(CLASSIC.proxy)
    assert drain_script(CLASSIC.proxy).endswith("sleep 10")


# Run for real.


@pytest.mark.envoy
def test_envoy_accepts_the_sidecar_flags(tmp_path: Path, envoy_binary: Path) -> None:
    settings = live_settings()
    with static_envoy(tmp_path, plan(()), settings):
        pass
    args = envoy_args(settings.proxy)
    args[1] = str(tmp_path / "bootstrap.yaml")
    command = [str(envoy_binary), "--mode", "validate", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert validate_config((tmp_path / "bootstrap.yaml").read_text())[0]


@pytest.mark.envoy
def test_envoy_exits_at_once_on_sigterm_so_the_drain_must_come_first(tmp_path: Path) -> None:
    """Measured: Envoy does not drain on SIGTERM; it exits (in about 15 ms), resetting any
    request in flight. Hence the preStop drain in classic mode."""
    with static_envoy(tmp_path, plan(()), live_settings()) as envoy:
        started = time.monotonic()
        envoy.send_signal(signal.SIGTERM)
        envoy.wait(timeout=5)
        assert time.monotonic() - started < 1


@pytest.mark.envoy
@pytest.mark.skipif(shutil.which("bash") is None, reason="the hooks are bash scripts")
def test_the_hold_script_returns_only_once_envoy_is_ready(tmp_path: Path) -> None:
    settings = live_settings()
    hold = subprocess.Popen(["bash", "-c", hold_script(settings.proxy)])
    try:
        time.sleep(0.5)
        assert hold.poll() is None, "returned before Envoy started"
        with static_envoy(tmp_path, plan(()), settings):
            assert hold.wait(timeout=10) == 0
    finally:
        hold.kill()
        hold.wait()


@pytest.mark.envoy
@pytest.mark.skipif(shutil.which("bash") is None, reason="the hooks are bash scripts")
def test_the_drain_script_drains_inbound_listeners_and_keeps_envoy_up(tmp_path: Path) -> None:
    settings = live_settings(drain_seconds=2)
    ports = settings.proxy.ports
    with http_app() as app:
        probe = Probe(ProbeKind.READINESS, "web", ProbeAction.HTTP, app, "/ready")
        with sidecar_envoy(tmp_path, plan((probe,)), settings) as envoy:
            assert _connection_header(ports.readiness_probe) is None
            drain = subprocess.Popen(["bash", "-c", drain_script(settings.proxy)])
            try:
                time.sleep(0.5)
                # Still served, but every response now asks the client to reconnect elsewhere.
                assert _connection_header(ports.readiness_probe) == "close"
                assert drain.wait(timeout=10) == 0
            finally:
                drain.kill()
                drain.wait()
            # After the drain time the inbound listeners are closed; Envoy itself stays up
            # (answering its admin interface) until the kubelet's SIGTERM.
            assert _status(ports.readiness_probe, "/web") == 0
            assert envoy.poll() is None
            assert _status(ports.admin, "/ready") == 200


@contextmanager
def sidecar_envoy(
    tmp_path: Path, plan_: WorkloadPlan, settings: MeshSettings
) -> Iterator[subprocess.Popen[bytes]]:
    """Envoy run with exactly the sidecar's flags (drain time and strategy matter here), on
    the static bootstrap of `plan_`."""
    with static_envoy(tmp_path, plan_, settings):
        pass  # writes the bootstrap and certificates, and checks that they start
    args = envoy_args(settings.proxy)
    args[1] = str(tmp_path / "bootstrap.yaml")
    log = tmp_path / "sidecar.log"
    command = [str(envoy_or_skip()), *args, "--log-path", str(log)]
    envoy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while _status(settings.proxy.ports.admin, "/ready") != 200:
            assert envoy.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield envoy
    finally:
        envoy.kill()
        envoy.wait()


def _status(port: int, path: str) -> int:
    try:
        return http_get(port, path)[0]
    except OSError:
        return 0


def _connection_header(port: int) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/web")
        response = connection.getresponse()
        response.read()
        return response.getheader("connection")
    finally:
        connection.close()
