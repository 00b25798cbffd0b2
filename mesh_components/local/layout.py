"""Where a local cluster keeps its state, and the names it gives to what it creates.

Everything lives under `/run/mesh-local/<cluster>/` (a tmpfs on most systems, so a reboot
clears it), and every network namespace is named `mlc-<cluster>-...`, so `down` and a fresh
`up` can find and remove all of it by name, even after the runner itself was killed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mesh_components.errors import MeshValidationError, Problem

STATE_ROOT = Path("/run/mesh-local")
NETNS_PREFIX = "mlc-"
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?")


def check_name(name: str) -> str:
    """A cluster name: short enough for every name derived from it."""
    if not _NAME.fullmatch(name):
        expected = "1-20 lowercase letters, digits or '-', starting and ending alphanumeric"
        fix = "pick a name like 'local' or 'bookstore'"
        found = repr(name)  # quoted: a newline or escape in it is shown, not obeyed
        raise MeshValidationError([Problem("--name", "local-name-invalid", expected, found, fix)])
    return name


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths and names of one cluster."""

    cluster: str
    root: Path = STATE_ROOT

    @property
    def state(self) -> Path:
        return self.root / self.cluster

    @property
    def bin(self) -> Path:
        """World-readable scripts (the stub app and the traffic client)."""
        return self.state / "bin"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def pods(self) -> Path:
        return self.state / "pods"

    @property
    def status_file(self) -> Path:
        return self.state / "status.json"

    @property
    def control_socket(self) -> Path:
        return self.state / "control.sock"

    @property
    def log(self) -> Path:
        return self.state / "runner.log"

    @property
    def netns_prefix(self) -> str:
        return f"{NETNS_PREFIX}{self.cluster}-"

    @property
    def node_netns(self) -> str:
        return f"{self.netns_prefix}node"

    def pod_netns(self, number: int) -> str:
        return f"{self.netns_prefix}pod{number}"

    def owns_netns(self, name: str) -> bool:
        """Whether a network namespace is one of this cluster's: cluster `a`'s prefix is also
        the start of cluster `a-b`'s names, so the whole name is matched."""
        return re.fullmatch(rf"{re.escape(self.netns_prefix)}(node|pod\d+)", name) is not None

    def pod_dir(self, pod: str, namespace: str) -> Path:
        return self.pods / f"{namespace}_{pod}"


def netns_path(name: str) -> Path:
    return Path("/run/netns") / name
