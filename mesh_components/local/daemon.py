"""The runner behind the CLI: a detached process that owns one cluster until `local down`.

`python -m mesh_components.local.daemon NAME DIR` starts the cluster, prints `ready` (or
`error: ...`) on its stdout for the waiting `local up`, then serves one JSON request per
connection on `<state>/control.sock`: {"op": "update", "dir": ...} or {"op": "down"} (whose
reply counts what it removed, for `local down` to print).
SIGTERM also takes the cluster down. Its own log is `<state>/runner.log`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mesh_components.errors import MeshError
from mesh_components.local.cluster import LocalCluster
from mesh_components.local.manifests import read_dir
from mesh_components.local.system import LocalRunnerError


def serve(cluster: LocalCluster) -> None:
    """Answer control requests until one says `down`."""
    path = cluster.layout.control_socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(4)
        while True:
            conn, _ = server.accept()
            with conn:
                request = json.loads(conn.makefile().readline() or "{}")
                reply, done = handle(cluster, request)
                conn.sendall(json.dumps(reply).encode() + b"\n")
            if done:
                return


def handle(cluster: LocalCluster, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    op = request.get("op")
    try:
        if op == "update":
            report = cluster.update(read_dir(Path(request["dir"])))
            return {"ok": True, "message": str(report)}, False
        if op == "down":
            removed = cluster.down()
            return {"ok": True, "message": str(removed), "removed": asdict(removed)}, True
        if op == "status":
            return {"ok": True, "status": cluster.status()}, False
    except MeshError as error:
        return {"ok": False, "error": str(error)}, False
    except Exception as error:  # The cluster stays up; the caller learns what failed.
        traceback.print_exc()
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}, False
    return {"ok": False, "error": f"unknown request {op!r}"}, False


def main(name: str, directory: str) -> int:
    cluster = LocalCluster(name)
    try:
        cluster.start(read_dir(Path(directory)))
    except MeshError as error:
        print(f"error: {error}", flush=True)
        return 2
    except Exception as error:  # Reported to `local up`, which prints it.
        print(f"error: {type(error).__name__}: {error}", flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: _exit_down(cluster))
    log_to(cluster.layout.log)
    print("ready", flush=True)
    detach_stdout()
    try:
        serve(cluster)
    except Exception:  # Never leave a cluster without its runner.
        traceback.print_exc()
        cluster.down()
        return 1
    return 0


def launch(module: str, *arguments: str, what: str) -> int:
    """Start `python -m module arguments` detached (it outlives the command that started it),
    and wait for its first line: its pid once it says `ready`, else its error, raised."""
    argv = [sys.executable, "-m", module, *arguments]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if first != "ready":
        rest = process.stdout.read()
        process.wait(timeout=LAUNCH_TIMEOUT)
        raise LocalRunnerError((first + rest).removeprefix("error: ") or f"the {what} died")
    return process.pid


LAUNCH_TIMEOUT = 300.0


def _exit_down(cluster: LocalCluster) -> None:
    cluster.down()
    os._exit(0)


def log_to(log: Path) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 2)
    os.close(fd)


def detach_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
