"""Shared pieces of the checks: Kubernetes name, port and label syntax, paths, and lookups.

Every helper is total: empty strings, duplicates and dangling references never raise, because a
check may see data that an earlier check has already reported.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeAlias, TypeVar

from mesh_components.compiler.index import Selection
from mesh_components.errors import Problem
from mesh_components.model import Labels, MeshSpec, Service, ServiceRef, Workload

Check: TypeAlias = Callable[[MeshSpec], Iterable[Problem]]
"""One check: a pure function from a spec to the problems it finds (none when it is fine)."""

K = TypeVar("K", bound=Hashable)

MIN_PORT, MAX_PORT = 1, 65535
DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
PORT_NAME_MAX = 15

DNS_LABEL_RULE = (
    "a DNS label (RFC 1123): at most 63 lowercase letters, digits or '-', "
    "starting and ending with a letter or digit"
)
DNS_SUBDOMAIN_RULE = "a DNS subdomain (RFC 1123): DNS labels joined by '.', at most 253 characters"
PORT_NAME_RULE = (
    "an IANA service name: at most 15 lowercase letters, digits or '-', with at least one "
    "letter and no leading, trailing or double '-'"
)
PORT_RANGE_RULE = "a port number from 1 to 65535"

# Length limits are checked before these patterns run, so backtracking stays bounded.
_DNS_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_PORT_NAME = re.compile(r"[a-z0-9](?:-?[a-z0-9])*")
_LABEL_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")


def is_dns_label(name: str) -> bool:
    """Namespaces, Services and most of our generated names."""
    return len(name) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    """Most other Kubernetes object names, and domains."""
    return len(name) <= DNS_SUBDOMAIN_MAX and all(map(is_dns_label, name.split(".")))


def is_port_name(name: str) -> bool:
    """IANA_SVC_NAME, what Kubernetes requires of Service and container port names."""
    short = len(name) <= PORT_NAME_MAX
    return short and _PORT_NAME.fullmatch(name) is not None and any(c.isalpha() for c in name)


def is_label_value(value: str) -> bool:
    """A label value: empty, or at most 63 alphanumerics with '-', '_' or '.' inside."""
    return value == "" or (len(value) <= DNS_LABEL_MAX and _LABEL_NAME.fullmatch(value) is not None)


def is_label_key(key: str) -> bool:
    """A label key: an optional DNS-subdomain prefix and '/', then a non-empty label name."""
    prefix, slash, name = key.rpartition("/")
    return (not slash or is_dns_subdomain(prefix)) and name != "" and is_label_value(name)


def in_port_range(port: int) -> bool:
    return MIN_PORT <= port <= MAX_PORT


def suggest_name(name: str, *, subdomain: bool = False) -> str:
    """A valid DNS label (or subdomain) close to `name`, or "" when nothing usable is left."""
    parts = name.lower().split(".") if subdomain else [name.lower()]
    cleaned = (re.sub(r"[^a-z0-9]+", "-", part).strip("-") for part in parts)
    joined = ".".join(part[:DNS_LABEL_MAX].strip("-") for part in cleaned if part)
    return joined[:DNS_SUBDOMAIN_MAX].strip(".-")


def object_path(collection: str, namespace: str, name: str) -> str:
    """`services[shop/web]`: where a namespaced object sits in the declaration."""
    return f"{collection}[{namespace}/{name}]"


def service_path(service: Service | ServiceRef) -> str:
    return object_path("services", service.namespace, service.name)


def workload_path(workload: Workload) -> str:
    return object_path("workloads", workload.namespace, workload.name)


def invalid_name(path: str, name: str, *, subdomain: bool = False) -> Iterator[Problem]:
    """`name-invalid` when `name` is not a DNS label (or subdomain), with a corrected name."""
    if is_dns_subdomain(name) if subdomain else is_dns_label(name):
        return
    suggestion = suggest_name(name, subdomain=subdomain)
    yield Problem(
        path=path,
        code="name-invalid",
        expected=DNS_SUBDOMAIN_RULE if subdomain else DNS_LABEL_RULE,
        found=repr(name),
        fix=f"rename it to {suggestion!r}" if suggestion else "give it a name such as 'web'",
    )


def port_name_fix(name: str) -> str:
    """A fix for an invalid port name: a corrected name when one is close."""
    suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:PORT_NAME_MAX].strip("-")
    if is_port_name(suggestion):
        return f"rename it to {suggestion!r}"
    return "name it after its protocol, e.g. 'http' or 'tcp-db'"


LABEL_KEY_RULE = (
    "a label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit"
)
LABEL_VALUE_RULE = (
    "a label value: empty, or at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit"
)


def label_problems(path: str, pairs: Labels) -> Iterator[Problem]:
    """`label-invalid` for each key or value of a label map that Kubernetes would reject."""
    for key, value in pairs:
        at = f"{path}[{key}]"
        if not is_label_key(key):
            fix = f"rename the key to {_label_key_suggestion(key)!r}"
            yield Problem(at, "label-invalid", LABEL_KEY_RULE, f"key {key!r}", fix)
        if not is_label_value(value):
            fixed = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)[:DNS_LABEL_MAX].strip("-_.")
            fix = f"change the value to {fixed!r}"
            yield Problem(at, "label-invalid", LABEL_VALUE_RULE, f"value {value!r}", fix)


def _label_key_suggestion(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    fixed_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:DNS_LABEL_MAX].strip("-_.") or "app"
    fixed_prefix = suggest_name(prefix, subdomain=True)
    return f"{fixed_prefix}/{fixed_name}" if fixed_prefix else fixed_name


def reserved_ports(spec: MeshSpec) -> dict[int, str]:
    """Each proxy port and the path of the first setting that claims it."""
    owners: dict[int, str] = {}
    for role, port in spec.settings.proxy.ports.all():
        owners.setdefault(port, f"mesh.proxy.ports.{role}")
    return owners


def app_port_problems(path: str, port: int, reserved: dict[int, str]) -> Iterator[Problem]:
    """`port-out-of-range`, or `port-reserved` when an application port is one of the proxy's."""
    if not in_port_range(port):
        fix = "use a port from 1 to 65535"
        yield Problem(path, "port-out-of-range", PORT_RANGE_RULE, str(port), fix)
    elif port in reserved:
        expected = f"a port the sidecar does not own ({', '.join(map(str, sorted(reserved)))})"
        found = f"{port}, the sidecar's {reserved[port]}"
        fix = f"pick another port, or move {reserved[port]} to a free port"
        yield Problem(path, "port-reserved", expected, found, fix)


def repeated(keys: Iterable[K]) -> Iterator[tuple[int, K]]:
    """Each (index, key) whose key already appeared at a lower index."""
    seen: set[K] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield index, key
        seen.add(key)


def counted_twice(keys: Iterable[K]) -> dict[K, int]:
    """The keys that appear more than once, with their counts."""
    return {key: count for key, count in Counter(keys).items() if count > 1}


def services_by_ref(spec: MeshSpec) -> dict[ServiceRef, Service]:
    """Services by namespace and name; the first declaration wins over duplicates."""
    found: dict[ServiceRef, Service] = {}
    for service in spec.services:
        found.setdefault(service.ref, service)
    return found


def workloads_by_namespace(spec: MeshSpec) -> dict[str, tuple[Workload, ...]]:
    grouped: dict[str, list[Workload]] = defaultdict(list)
    for workload in spec.workloads:
        grouped[workload.namespace].append(workload)
    return {namespace: tuple(workloads) for namespace, workloads in grouped.items()}


def selected(service: Service, selection: Selection) -> list[Workload]:
    """The workloads whose pods `service` selects: same namespace, every selector pair present."""
    return selection.of(service)


def listed(workloads: Iterable[Workload]) -> str:
    """`workloads[shop/a], workloads[shop/b]`, sorted and without repeats."""
    return ", ".join(sorted({workload_path(w) for w in workloads}))


def duplicates(collection: str, noun: str, refs: Iterable[tuple[str, str]]) -> Iterator[Problem]:
    """`<noun>-duplicate` once per (namespace, name) declared more than once in `collection`."""
    for (namespace, name), count in counted_twice(refs).items():
        expected = f"one {noun} per namespace and name"
        fix = "remove the extra declarations, or rename all but one"
        path = object_path(collection, namespace, name)
        yield Problem(path, f"{noun}-duplicate", expected, f"{count} of them", fix)


def namespaced_names(collection: str, items: Iterable[tuple[str, str]]) -> Iterator[Problem]:
    """`name-invalid` for each (namespace, name) pair that is not a pair of DNS labels."""
    for namespace, name in items:
        path = object_path(collection, namespace, name)
        yield from invalid_name(f"{path}.namespace", namespace)
        yield from invalid_name(f"{path}.name", name)
