"""Network namespaces for tests that run the init container's rules for real (root only).

`Namespace` is a uniquely named namespace that is always deleted. `serve` runs a tiny
accept-and-report server in one: each connection is answered with the listener's label and the
connection's original destination. `dial` connects from a given UID and reports who answered.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

PREFIX = "mesh-test"
TOOLS = ("ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save")
TOOLS_WITH_SETPRIV = (*TOOLS, "setpriv")
_TIMEOUT = 10.0

_SERVER = r"""
import selectors, socket, struct, sys
sel = selectors.DefaultSelector()
args = sys.argv[1:]
for label, host, port in zip(args[::3], args[1::3], args[2::3]):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, int(port)))
    sock.listen(64)
    sel.register(sock, selectors.EVENT_READ, label)

def original(conn):
    if conn.family == socket.AF_INET:
        try:  # SO_ORIGINAL_DST: the destination before REDIRECT, as Envoy's original_dst reads it
            raw = conn.getsockopt(socket.SOL_IP, 80, 16)
            port, addr = struct.unpack("!2xH4s8x", raw)
            return f"{socket.inet_ntoa(addr)}:{port}"
        except OSError:
            pass
    host, port = conn.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        with conn:
            conn.sendall(f"{key.data} {original(conn)}\n".encode())
"""

_CLIENT = r"""
import json, socket, sys
timeout, answers = float(sys.argv[1]), {}
for target in sys.argv[2:]:
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.settimeout(timeout)
    try:
        sock.connect((host, int(port)))
        answers[target] = sock.makefile().readline().strip()
    except OSError as error:
        answers[target] = f"error: {type(error).__name__}"
    finally:
        sock.close()
print(json.dumps(answers))
"""


def missing() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    absent = [tool for tool in TOOLS_WITH_SETPRIV if shutil.which(tool) is None]
    if absent:
        return f"missing {', '.join(absent)}: apt-get install -y iptables iproute2 util-linux"
    return None


def unique_token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(3)}"


def run(argv: Sequence[str], *, stdin: str = "", timeout: float = _TIMEOUT) -> str:
    """Run a command, fail with its stderr, and return its stdout."""
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)!r} exited {done.returncode}: {done.stderr}")
    return done.stdout


def namespaces() -> list[str]:
    """The names `ip netns list` shows."""
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line]


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str

    def argv(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, stdin: str = "", timeout: float = _TIMEOUT) -> str:
        return run(self.argv(*command), stdin=stdin, timeout=timeout)

    def batch(self, *commands: str) -> None:
        """`ip` commands (without the leading `ip`) run in this namespace in one go."""
        run(["ip", "-n", self.name, "-batch", "-"], stdin="\n".join(commands) + "\n")


@contextmanager
def namespace(name: str) -> Iterator[Namespace]:
    """A fresh namespace with loopback up, deleted on the way out even after a failure."""
    run(["ip", "netns", "add", name])
    try:
        created = Namespace(name)
        created.run("ip", "link", "set", "lo", "up")
        yield created
    finally:
        delete = ["ip", "netns", "delete", name]
        subprocess.run(delete, check=False, capture_output=True, timeout=_TIMEOUT)


def link(a: Namespace, b: Namespace, name: str = "eth0") -> None:
    """A veth pair between `a` and `b`, both ends called `name` and up. Nothing else sees it."""
    run(["ip", "link", "add", name, "netns", a.name, "type", "veth", "peer", name, "netns", b.name])
    for ns in (a, b):
        ns.batch(f"link set {name} up")


@functools.cache
def interpreter() -> str:
    """A Python that a non-root UID can run (a venv's may live under an unreadable home)."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        probe = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", candidate, "-c", ""]
        if (
            subprocess.run(probe, check=False, capture_output=True, timeout=_TIMEOUT).returncode
            == 0
        ):
            return candidate
    raise AssertionError("no Python interpreter that a non-root UID can run")


@contextmanager
def serve(ns: Namespace, listeners: dict[str, tuple[str, int]]) -> Iterator[None]:
    """Listeners in `ns` (label -> host, port), answering `<label> <original destination>`."""
    args = [str(part) for label, (host, port) in listeners.items() for part in (label, host, port)]
    argv = ns.argv(interpreter(), "-I", "-c", _SERVER, *args)
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _await_ready(server)
        yield
    finally:
        server.terminate()
        try:
            server.communicate(timeout=2)  # Also closes the pipes.
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate(timeout=2)


def _await_ready(server: subprocess.Popen[str]) -> None:
    assert server.stdout is not None and server.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if selector.select(timeout=5) and server.stdout.readline().strip() == "ready":
            return
    server.kill()
    _, errors = server.communicate(timeout=2)
    raise AssertionError(f"server did not start: {errors}")


def dial(
    ns: Namespace, uid: int | None, targets: Sequence[str], timeout: float = 1.0
) -> dict[str, str]:
    """Connect to each `host:port` from `uid` (None: root); the answer or `error: <kind>`."""
    become = (
        [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    )
    argv = [*become, interpreter(), "-I", "-c", _CLIENT, str(timeout), *targets]
    answers: dict[str, str] = json.loads(ns.run(*argv, timeout=len(targets) * timeout + 5))
    return answers
