"""The last step before a container's command: its mounts, then its user, then exec.

Run as root inside the pod's network namespace and a fresh private mount namespace
(`nsenter --net=... unshare --mount --propagation private python -I launcher.py SPEC`;
standard library only, so a container starts without importing this package):

- a read-only overlay adds missing mount points over their nearest existing ancestor (the
  skeleton lives in the state dir), so nothing is created on the host's file system;
- each volume, the pod's resolv.conf, /etc/hosts, /etc/hostname, /dev/shm and /tmp are bind
  mounts, and only this container's mount namespace ever sees them;
- `setpriv` sets the UID, GID, capability bounding set and no_new_privs, then execs.

Mounts vanish with the namespace when the container's last process exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _mount(*argv: str) -> None:
    subprocess.run(["mount", *argv], check=True, capture_output=True)


def _is_mount_point(path: str) -> bool:
    with open("/proc/self/mountinfo") as lines:
        return any(line.split()[4] == path for line in lines)


def prepare(spec: dict[str, Any]) -> None:
    """The pod's hostname (in this UTS namespace), then every mount of the spec, in order."""
    name = str(spec["hostname"]).encode()
    if ctypes.CDLL(None, use_errno=True).sethostname(name, len(name)) != 0:
        raise OSError(ctypes.get_errno(), "sethostname")
    if _is_mount_point("/run/netns"):
        # Copies of other pods' namespace handles would keep those namespaces alive.
        subprocess.run(["umount", "--lazy", "/run/netns"], check=False, capture_output=True)
    for overlay in spec["overlays"]:
        lower = f"{overlay['skeleton']}:{overlay['target']}"
        _mount("-t", "overlay", "overlay", "-o", f"ro,lowerdir={lower}", overlay["target"])
    for mount in spec["mounts"]:
        _mount("--bind", mount["source"], mount["target"])
        if mount["readonly"]:
            _mount("-o", "remount,bind,ro", mount["target"])


def command(spec: dict[str, Any]) -> list[str]:
    """`setpriv ... -- argv` for the spec's user, groups and capabilities."""
    user = spec["user"]
    argv = ["setpriv", f"--reuid={user['uid']}", f"--regid={user['gid']}"]
    groups = user.get("groups") or []
    argv.append(f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups")
    if user.get("caps") is not None:
        keep = "".join(f",+{cap}" for cap in user["caps"])
        argv += [f"--bounding-set=-all{keep}", "--inh-caps=-all"]
    if user.get("no_new_privs"):
        argv.append("--no-new-privs")
    return [*argv, "--", *spec["argv"]]


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[1]).read_text())
    prepare(spec)
    os.chdir(str(spec.get("cwd") or "/"))
    env = {str(k): str(v) for k, v in spec["env"].items()}
    final = command(spec)
    os.execvpe(final[0], final, env)


if __name__ == "__main__":
    main(sys.argv)
