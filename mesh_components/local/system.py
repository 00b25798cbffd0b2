"""Running host tools (ip, iptables-restore, mount) and checking that this host can run pods.

A local cluster needs Linux, root and a few tools; `requirements` says in one line what is
missing, so the CLI can print it instead of a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from mesh_components.errors import MeshError

TOOLS = ("ip", "iptables-restore", "nsenter", "unshare", "setpriv", "mount", "umount", "sh")
_TIMEOUT = 30.0


class LocalRunnerError(MeshError):
    """The local runner cannot do what was asked (a host problem or a failed pod)."""


def missing_requirements(extra: Sequence[str] = ()) -> str | None:
    """Why pods cannot run on this host, or None."""
    if not sys.platform.startswith("linux"):
        return "local clusters need Linux (network and mount namespaces)"
    if os.geteuid() != 0:
        return "local clusters need root (network namespaces, iptables, mounts): run with sudo"
    absent = [tool for tool in (*TOOLS, *extra) if shutil.which(tool) is None]
    if absent:
        return f"missing {', '.join(absent)}: apt-get install -y iproute2 iptables util-linux"
    return None


def require(extra: Sequence[str] = ()) -> None:
    reason = missing_requirements(extra)
    if reason:
        raise LocalRunnerError(reason)


def run(argv: Sequence[str], *, stdin: str = "", timeout: float = _TIMEOUT) -> str:
    """Run a host command; a failure raises with its stderr (never with its stdin)."""
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise LocalRunnerError(f"{' '.join(argv[:6])} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def run_quietly(argv: Sequence[str], *, timeout: float = _TIMEOUT) -> bool:
    """Run a cleanup command whose failure is expected when there is nothing to clean."""
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ip_batch(netns: str | None, commands: Sequence[str]) -> None:
    """`ip` commands (without the leading `ip`) in one process, in `netns` or the host."""
    where = ["-n", netns] if netns else []
    run(["ip", *where, "-batch", "-"], stdin="\n".join(commands) + "\n")


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def mountinfo() -> list[str]:
    """The host's mount points (field 5 of /proc/self/mountinfo)."""
    with open("/proc/self/mountinfo") as lines:
        return [line.split()[4] for line in lines]
