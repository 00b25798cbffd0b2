"""The strict spec loader: parsed YAML (plain dicts, lists and scalars) to a frozen `MeshSpec`.

It checks shape and types only, collects every problem and raises one `MeshValidationError`.
Semantic checks (duplicates, references, names, port ranges) belong to `validate`. No I/O.
"""

from __future__ import annotations

import difflib
import enum
import reprlib
from collections.abc import Callable, Iterable
from typing import TypeGuard, TypeVar

from mesh_components.errors import MeshValidationError, Problem
from mesh_components.model.destination import (
    CircuitBreakers,
    ConnectionPool,
    Destination,
    DestinationRoute,
    Duration,
    Fault,
    FaultAbort,
    FaultDelay,
    Http2Keepalive,
    Mirror,
    OutlierDetection,
    RateLimit,
    Retries,
    RetryBudget,
    TcpKeepalive,
)
from mesh_components.model.egress import (
    HTTP_DEFAULT_PORTS,
    TLS_DEFAULT_PORTS,
    EgressAddresses,
    EgressHosts,
    EgressRule,
)
from mesh_components.model.ingress import Ingress, IngressSources
from mesh_components.model.mesh import MeshSpec
from mesh_components.model.policy import (
    AccessPolicy,
    HeaderMatch,
    HttpRule,
    PathMatch,
    PathMatchKind,
    PolicyDestination,
)
from mesh_components.model.refs import Identity, ServiceRef
from mesh_components.model.service import (
    Protocol,
    Service,
    ServicePort,
    app_protocol_hint,
    infer_protocol,
    labels,
)
from mesh_components.model.settings import (
    AccessMode,
    CertificateIssuer,
    CertificateSettings,
    CertManagerIssuer,
    EgressMode,
    Interception,
    IssuerKind,
    KeyType,
    LogLevel,
    MeshSettings,
    MtlsMode,
    Observability,
    ProxyPorts,
    ProxySettings,
    Resources,
    SidecarMode,
    Tracing,
    TracingProtocol,
)
from mesh_components.model.split import SplitBackend, TrafficSplit
from mesh_components.model.workload import (
    AppContainer,
    ContainerPort,
    Probe,
    ProbeAction,
    ProbeKind,
    Workload,
    WorkloadKind,
)

T = TypeVar("T")
E = TypeVar("E", bound=enum.StrEnum)

# The keys each mapping of the format may hold. Anything else is `spec-unknown-key`.
_TOP_LEVEL = (
    "mesh",
    "services",
    "workloads",
    "splits",
    "policies",
    "destinations",
    "ingress",
    "egress",
)
_MESH = (
    "name",
    "trustDomain",
    "clusterDomain",
    "mtls",
    "access",
    "proxy",
    "certificates",
    "observability",
    "egress",
)
_OBSERVABILITY = ("accessLogs", "tracing")
_TRACING = ("address", "protocol", "samplingPercent")
_CERTIFICATES = ("issuer", "validityHours", "renewBeforeHours", "keyType", "issuerRef")
_ISSUER_REF = ("name", "kind", "group")
_PROXY = (
    "image",
    "initImage",
    "uid",
    "logLevel",
    "concurrency",
    "ports",
    "sidecarMode",
    "resources",
    "drainSeconds",
    "interception",
    "dnsRefresh",
)
_RESOURCES = {
    "cpuRequest": "cpu_request",
    "memoryRequest": "memory_request",
    "cpuLimit": "cpu_limit",
    "memoryLimit": "memory_limit",
}
_INTERCEPTION = (
    "outboundPortExclusions",
    "inboundPortExclusions",
    "outboundIPRangeExclusions",
    "outboundIPRangeInclusions",
)
_PROXY_PORTS = {
    "admin": "admin",
    "outbound": "outbound",
    "inbound": "inbound",
    "prometheus": "prometheus",
    "livenessProbe": "liveness_probe",
    "readinessProbe": "readiness_probe",
    "startupProbe": "startup_probe",
    "healthCheck": "health_check",
}
_SERVICE = ("name", "namespace", "selector", "headless", "ports")
_SERVICE_PORT = ("name", "port", "targetPort", "protocol", "appProtocol")
_WORKLOAD = (
    "name",
    "namespace",
    "kind",
    "serviceAccount",
    "labels",
    "annotations",
    "ports",
    "probes",
    "image",
    "command",
    "args",
    "env",
    "replicas",
    "schedule",
    "proxyLogLevel",
)
_CONTAINER_PORT = ("containerPort", "name")
_PROBE = (
    "kind",
    "container",
    "action",
    "port",
    "path",
    "https",
    "initialDelaySeconds",
    "periodSeconds",
    "failureThreshold",
)
_SPLIT = ("name", "namespace", "service", "backends")
_BACKEND = ("service", "weight")
_POLICY = ("name", "namespace", "destination", "sources", "http", "tcp")
_DESTINATION = ("service", "serviceAccount")
_SOURCE = ("serviceAccount", "namespace")
_HTTP_RULE = ("path", "methods", "headers")
_PATH_MATCH = tuple(kind.value for kind in PathMatchKind)
_TCP = ("ports",)
_DESTINATION_ENTRY = (
    "service",
    "namespace",
    "port",
    "timeout",
    "idleTimeout",
    "connectTimeout",
    "retries",
    "circuitBreakers",
    "outlierDetection",
    "connectionPool",
    "rateLimit",
    "fault",
    "mirror",
    "routes",
)
_RETRIES = ("attempts", "retryOn", "perTryTimeout")
_CIRCUIT_BREAKERS = (
    "maxConnections",
    "maxPendingRequests",
    "maxRequests",
    "maxRetries",
    "retryBudget",
)
_RETRY_BUDGET = ("percent", "minConcurrency")
_OUTLIER = ("enabled", "consecutive5xx", "interval", "baseEjectionTime", "maxEjectionPercent")
_POOL = (
    "idleTimeout",
    "maxRequestsPerConnection",
    "maxConcurrentStreams",
    "tcpKeepalive",
    "http2Keepalive",
)
_TCP_KEEPALIVE = ("time", "interval", "probes")
_HTTP2_KEEPALIVE = ("interval", "timeout")
_RATE_LIMIT = ("requestsPerSecond", "burst")
_FAULT = ("delay", "abort")
_DELAY = ("duration", "percent")
_ABORT = ("status", "percent")
_MIRROR = ("service", "percent")
_ROUTE = ("match", "backend", "rateLimit")
_INGRESS = ("name", "namespace", "service", "ports", "sources", "http")
_INGRESS_SOURCES = ("identities", "ipRanges", "plaintext", "anyAddress")
_EGRESS = ("name", "namespace", "selector", "serviceAccount", "http", "tls", "tcp")
_EGRESS_HOSTS = ("hosts", "ports")
_EGRESS_ADDRESSES = ("cidrs", "ports")

_MESH_DEFAULTS = MeshSettings(name="")
_PROXY_DEFAULTS = ProxySettings()
_CERTIFICATE_DEFAULTS = CertificateSettings()


def load_spec(data: object) -> MeshSpec:
    """Build the model from parsed YAML, or raise one `MeshValidationError` with every problem."""
    problems: list[Problem] = []
    spec = _spec(data, problems)
    if problems or spec is None:
        raise MeshValidationError(problems)
    return spec


class _Node:
    """One mapping of the input. Each read checks a key's type and records any problem found."""

    def __init__(
        self,
        raw: dict[object, object],
        path: str,
        problems: list[Problem],
        keys: tuple[str, ...] = (),
    ) -> None:
        self.raw, self.path, self.problems, self.keys = raw, path, problems, keys

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def report(self, path: str, code: str, expected: str, found: str, fix: str = "") -> None:
        self.problems.append(Problem(path, code, expected, found, fix))

    def has(self, key: str) -> bool:
        return key in self.raw

    def misspelt(self, key: str) -> bool:
        """Whether an unknown key here is a near miss of `key` (`serviceAcount`): its
        `spec-unknown-key` problem already says "did you mean", so a missing `key` is not
        reported a second time."""
        unknown = (str(k) for k in self.raw if k not in self.keys)
        return any(_suggest(k, self.keys) == key for k in unknown)

    def missing(self, key: str, code: str, expected: str, fix: str) -> None:
        """Report a missing required `key`, unless a misspelling of it was reported already."""
        if not self.misspelt(key):
            self.report(self.at(key), code, expected, "nothing", fix)

    def read(self, key: str, kind: type[T], expected: str, required: bool = False) -> T | None:
        """The value at `key` if it has type `kind` (a bool is never an int), else None."""
        if key not in self.raw:
            if required:
                self.missing(key, "spec-missing-field", expected, f"add {key!r}")
            return None
        value = self.raw[key]
        if _is(value, kind):
            return value
        fix = f"make {key!r} {expected}"
        self.report(self.at(key), "spec-wrong-type", expected, _describe(value), fix)
        return None

    def text(self, key: str, required: bool = False) -> str | None:
        return self.read(key, str, "a string", required)

    def number(self, key: str, required: bool = False) -> int | None:
        return self.read(key, int, "an integer", required)

    def flag(self, key: str) -> bool | None:
        return self.read(key, bool, "true or false")

    def number_or_text(self, key: str) -> int | str | None:
        if isinstance(self.raw.get(key), str):
            return self.text(key)
        return self.read(key, int, "an integer or a port name")

    def duration(self, key: str, required: bool = False) -> Duration | None:
        """A duration written with one unit: `250ms`, `15s`, `5m`, `1h`."""
        expected = "a duration such as 250ms, 15s, 5m or 1h"
        value = self.raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            fix = f"add a unit: '{value}s'"
            self.report(self.at(key), "spec-wrong-type", expected, _describe(value), fix)
            return None
        text = self.read(key, str, expected, required)
        if text is None:
            return None
        parsed = Duration.parse(text)
        if parsed is None:
            fix = "write one whole number and one unit (ms, s, m or h), e.g. '1500ms' or '90s'"
            self.report(self.at(key), "spec-invalid-value", expected, repr(text), fix)
        return parsed

    def percent(self, key: str) -> float | None:
        """A number (integer or decimal); its range is validation's job."""
        value = self.raw.get(key)
        if isinstance(value, float):
            return value
        return self.read(key, int, "a number from 0 to 100")

    def choice(self, key: str, kind: type[E], required: bool = False) -> E | None:
        allowed = [member.value for member in kind]
        expected = f"one of {', '.join(allowed)}"
        value = self.read(key, str, expected, required)
        if value is None or value in allowed:
            return None if value is None else kind(value)
        hint = _suggest(value, allowed)
        fix = f"did you mean {hint!r}?" if hint else f"use {expected}"
        self.report(self.at(key), "spec-invalid-value", expected, repr(value), fix)
        return None

    def child(self, key: str, keys: tuple[str, ...], required: bool = False) -> _Node | None:
        value = self.read(key, dict, "a mapping", required)
        return None if value is None else _node(value, self.at(key), keys, self.problems)

    def entries(self, key: str, keys: tuple[str, ...], required: bool = False) -> list[_Node]:
        """The mappings listed at `key`; each entry's path names it when it has a string name."""
        items = self.read(key, list, "a list", required) or []
        at, problems = self.at(key), self.problems
        nodes = [_node(x, _entry_path(at, x, i), keys, problems) for i, x in enumerate(items)]
        return [node for node in nodes if node is not None]

    def items(self, key: str, kind: type[T], expected: str) -> list[T]:
        """The list at `key`, keeping only the elements of type `kind` (and reporting the rest)."""
        values = self.read(key, list, f"a list of {expected}s") or []
        for i, value in enumerate(values):
            if not _is(value, kind):
                path, fix = f"{self.at(key)}[{i}]", f"make it a {expected}"
                self.report(path, "spec-wrong-type", f"a {expected}", _describe(value), fix)
        return [value for value in values if _is(value, kind)]

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (labels, a selector, headers)."""
        mapping = self.read(key, dict, "a mapping of strings to strings") or {}
        for name, value in mapping.items():
            if not (isinstance(name, str) and isinstance(value, str)):
                path, found = f"{self.at(key)}.{name}", value if isinstance(name, str) else name
                self.report(path, "spec-wrong-type", "a string", _describe(found), "quote it")
        return {k: v for k, v in mapping.items() if isinstance(k, str) and isinstance(v, str)}

    def refuse_empty(self, key: str) -> None:
        """An empty list where absence means "everything" would silently widen access."""
        if self.raw.get(key) == []:
            expected = f"at least one entry (an empty {key!r} list would allow everything)"
            fix = f"list what to allow, or remove {key!r}"
            self.report(self.at(key), "spec-invalid-value", expected, "an empty list", fix)

    def exactly_one(self, keys: tuple[str, ...]) -> bool:
        """Whether exactly one of `keys` is present; reports `spec-invalid-value` otherwise."""
        present = [key for key in keys if key in self.raw]
        if len(present) == 1:
            return True
        if not present and any(self.misspelt(key) for key in keys):
            return False  # The misspelt key's problem says which one was meant.
        found = " and ".join(present) if present else "none of them"
        expected = f"exactly one of {', '.join(keys)}"
        self.report(self.path, "spec-invalid-value", expected, found, f"keep {expected}")
        return False


def _node(value: object, path: str, keys: tuple[str, ...], problems: list[Problem]) -> _Node | None:
    """Wrap a mapping, reporting a non-mapping and every key the format does not have."""
    if not isinstance(value, dict):
        found = _describe(value)
        problems.append(Problem(path or "(top level)", "spec-wrong-type", "a mapping", found))
        return None
    node = _Node(value, path, problems, keys)
    for key in value:
        if key not in keys:
            hint = _suggest(str(key), keys)
            fix = f"did you mean {hint!r}?" if hint else "remove it"
            expected = f"one of {', '.join(keys)}"
            node.report(node.at(str(key)), "spec-unknown-key", expected, repr(key), fix)
    return node


def _is(value: object, kind: type[T]) -> TypeGuard[T]:
    """`isinstance`, except that a YAML boolean is never an integer."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _entry_path(path: str, item: object, index: int) -> str:
    """`path[name]` when the entry has a string name, else `path[index]`."""
    name = item.get("name") if isinstance(item, dict) else None
    return f"{path}[{name if isinstance(name, str) and name else index}]"


def _suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice, ignoring case (`StatefulSet` for `statefulset`), if any is close."""
    lowered = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return lowered[matches[0]] if matches else None


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    kinds = {int: "integer", float: "number", str: "string"}
    return f"{kinds.get(type(value), type(value).__name__)} {reprlib.repr(value)}"


def _or(value: T | None, default: T) -> T:
    return default if value is None else value


def _build(nodes: Iterable[_Node], build: Callable[[_Node], T | None]) -> tuple[T, ...]:
    """Build every entry (so every problem is found), keeping those that could be built."""
    built = [build(node) for node in nodes]
    return tuple(item for item in built if item is not None)


def _spec(data: object, problems: list[Problem]) -> MeshSpec | None:
    root = _node(data, "", _TOP_LEVEL, problems)
    if root is None:
        return None
    mesh = root.child("mesh", _MESH, required=True)
    settings = None if mesh is None else _settings(mesh)
    services = _build(root.entries("services", _SERVICE), _service)
    workloads = _build(root.entries("workloads", _WORKLOAD), _workload)
    splits = _build(root.entries("splits", _SPLIT), _split)
    policies = _build(root.entries("policies", _POLICY), _policy)
    destinations = _build(root.entries("destinations", _DESTINATION_ENTRY), _destination_entry)
    ingress = _build(root.entries("ingress", _INGRESS), _ingress)
    egress = _build(root.entries("egress", _EGRESS), _egress_rule)
    if settings is None:
        return None
    return MeshSpec(
        settings, services, workloads, splits, policies, destinations, ingress, egress=egress
    )


def _settings(node: _Node) -> MeshSettings | None:
    name = node.text("name", required=True)
    proxy = node.child("proxy", _PROXY)
    certificates = node.child("certificates", _CERTIFICATES)
    observability = node.child("observability", _OBSERVABILITY)
    settings = MeshSettings(
        name=name or "",
        trust_domain=_or(node.text("trustDomain"), _MESH_DEFAULTS.trust_domain),
        cluster_domain=_or(node.text("clusterDomain"), _MESH_DEFAULTS.cluster_domain),
        mtls=_or(node.choice("mtls", MtlsMode), _MESH_DEFAULTS.mtls),
        access=_or(node.choice("access", AccessMode), _MESH_DEFAULTS.access),
        proxy=_PROXY_DEFAULTS if proxy is None else _proxy(proxy),
        certificates=_CERTIFICATE_DEFAULTS if certificates is None else _certificates(certificates),
        observability=Observability() if observability is None else _observability(observability),
        egress=_or(node.choice("egress", EgressMode), _MESH_DEFAULTS.egress),
    )
    return None if name is None else settings


def _certificates(node: _Node) -> CertificateSettings:
    defaults = _CERTIFICATE_DEFAULTS
    issuer_ref = node.child("issuerRef", _ISSUER_REF)
    return CertificateSettings(
        issuer=_or(node.choice("issuer", CertificateIssuer), defaults.issuer),
        validity_hours=_or(node.number("validityHours"), defaults.validity_hours),
        renew_before_hours=_or(node.number("renewBeforeHours"), defaults.renew_before_hours),
        key_type=_or(node.choice("keyType", KeyType), defaults.key_type),
        issuer_ref=None if issuer_ref is None else _issuer_ref(issuer_ref),
    )


def _issuer_ref(node: _Node) -> CertManagerIssuer | None:
    name = node.text("name", required=True)
    kind = _or(node.choice("kind", IssuerKind), IssuerKind.CLUSTER_ISSUER)
    group = _or(node.text("group"), "cert-manager.io")
    return None if name is None else CertManagerIssuer(name, kind, group)


def _proxy(node: _Node) -> ProxySettings:
    ports = node.child("ports", tuple(_PROXY_PORTS))
    resources = node.child("resources", tuple(_RESOURCES))
    interception = node.child("interception", _INTERCEPTION)
    defaults = _PROXY_DEFAULTS
    return ProxySettings(
        image=_or(node.text("image"), defaults.image),
        init_image=_or(node.text("initImage"), defaults.init_image),
        uid=_or(node.number("uid"), defaults.uid),
        log_level=_or(node.choice("logLevel", LogLevel), defaults.log_level),
        concurrency=_or(node.number("concurrency"), defaults.concurrency),
        ports=defaults.ports if ports is None else _proxy_ports(ports),
        sidecar_mode=_or(node.choice("sidecarMode", SidecarMode), defaults.sidecar_mode),
        resources=defaults.resources if resources is None else _resources(resources),
        drain_seconds=_or(node.number("drainSeconds"), defaults.drain_seconds),
        interception=defaults.interception if interception is None else _interception(interception),
        dns_refresh=_or(node.duration("dnsRefresh"), defaults.dns_refresh),
    )


def _resources(node: _Node) -> Resources:
    given = {field: node.text(key) for key, field in _RESOURCES.items()}
    return Resources(**{field: value for field, value in given.items() if value is not None})


def _interception(node: _Node) -> Interception:
    return Interception(
        outbound_port_exclusions=tuple(node.items("outboundPortExclusions", int, "port number")),
        inbound_port_exclusions=tuple(node.items("inboundPortExclusions", int, "port number")),
        outbound_ip_range_exclusions=tuple(node.items("outboundIPRangeExclusions", str, "CIDR")),
        outbound_ip_range_inclusions=tuple(node.items("outboundIPRangeInclusions", str, "CIDR")),
    )


def _proxy_ports(node: _Node) -> ProxyPorts:
    given = {field: node.number(key) for key, field in _PROXY_PORTS.items()}
    return ProxyPorts(**{field: port for field, port in given.items() if port is not None})


def _service(node: _Node) -> Service | None:
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    selector, headless = node.string_map("selector"), node.flag("headless")
    ports = _build(node.entries("ports", _SERVICE_PORT, required=True), _service_port)
    if name is None or namespace is None:
        return None
    return Service(name, namespace, labels(selector), ports, headless=bool(headless))


def _service_port(node: _Node) -> ServicePort | None:
    """A declared `protocol` wins; otherwise `appProtocol`, then the name's prefix (OSM's rule)."""
    name, port = node.text("name", required=True), node.number("port", required=True)
    target = node.number_or_text("targetPort")
    protocol, app_protocol = node.choice("protocol", Protocol), node.text("appProtocol")
    if name is None or port is None:
        return None
    declared = protocol is not None or app_protocol_hint(app_protocol) is not None
    chosen = _or(protocol, infer_protocol(name, app_protocol))
    return ServicePort(name, port, chosen, target, protocol_declared=declared)


def _workload(node: _Node) -> Workload | None:
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    account, kind = _service_account(node), node.choice("kind", WorkloadKind)
    pod_labels = labels(node.string_map("labels"))
    ports = _build(node.entries("ports", _CONTAINER_PORT), _container_port)
    probes = _build(node.entries("probes", _PROBE), _probe)
    annotations, app = labels(node.string_map("annotations")), _app(node)
    log_level = node.choice("proxyLogLevel", LogLevel)
    if name is None or namespace is None or account is None:
        return None
    kind = _or(kind, WorkloadKind.DEPLOYMENT)
    return Workload(
        name, namespace, account, kind, pod_labels, ports, probes, annotations, app, log_level
    )


def _app(node: _Node) -> AppContainer:
    return AppContainer(
        image=_or(node.text("image"), ""),
        command=tuple(node.items("command", str, "string")),
        args=tuple(node.items("args", str, "string")),
        env=tuple(node.string_map("env").items()),
        replicas=_or(node.number("replicas"), 1),
        schedule=_or(node.text("schedule"), ""),
    )


def _service_account(node: _Node) -> str | None:
    """Required: Kubernetes would silently run the pods as `default`, and it is the identity."""
    if not node.has("serviceAccount"):
        expected = "a ServiceAccount name (the workload's identity)"
        fix = "set serviceAccount"
        node.missing("serviceAccount", "workload-no-service-account", expected, fix)
        return None
    return node.text("serviceAccount")


def _container_port(node: _Node) -> ContainerPort | None:
    port, name = node.number("containerPort", required=True), node.text("name")
    return None if port is None else ContainerPort(port, name)


def _probe(node: _Node) -> Probe | None:
    kind, action = node.choice("kind", ProbeKind, True), node.choice("action", ProbeAction, True)
    container, port = node.text("container", required=True), node.number("port", required=True)
    path, https = node.text("path"), node.flag("https")
    delay, period = node.number("initialDelaySeconds"), node.number("periodSeconds")
    failures = node.number("failureThreshold")
    if kind is None or action is None or container is None or port is None:
        return None
    timing = {"initial_delay_seconds": _or(delay, 0), "period_seconds": _or(period, 10)}
    timing["failure_threshold"] = _or(failures, 3)
    return Probe(kind, container, action, port, _or(path, "/"), bool(https), **timing)


def _split(node: _Node) -> TrafficSplit | None:
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    root = node.text("service", required=True)
    backends = _build(node.entries("backends", _BACKEND, required=True), _backend)
    if name is None or namespace is None or root is None:
        return None
    return TrafficSplit(name, namespace, root, backends)


def _backend(node: _Node) -> SplitBackend | None:
    service, weight = node.text("service", required=True), node.number("weight", required=True)
    return None if service is None or weight is None else SplitBackend(service, weight)


def _policy(node: _Node) -> AccessPolicy | None:
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    target = node.child("destination", _DESTINATION, required=True)
    destination = None if target is None else _destination(target, namespace)
    entries = node.entries("sources", _SOURCE, required=True)
    sources = _build(entries, lambda source: _source(source, namespace))
    rules = _build(node.entries("http", _HTTP_RULE), _http_rule)
    tcp = node.child("tcp", _TCP)
    tcp_ports = () if tcp is None else tuple(tcp.items("ports", int, "port number"))
    node.refuse_empty("http")
    if tcp is not None:
        tcp.refuse_empty("ports")
    if name is None or namespace is None or destination is None:
        return None
    return AccessPolicy(name, namespace, destination, sources, rules, tcp is not None, tcp_ports)


def _destination(node: _Node, namespace: str | None) -> PolicyDestination | None:
    """A service or an identity, both in the policy's namespace."""
    service, account = node.text("service"), node.text("serviceAccount")
    if not node.exactly_one(_DESTINATION) or namespace is None:
        return None
    if service is not None:
        return PolicyDestination(service=ServiceRef(namespace, service))
    return None if account is None else PolicyDestination(identity=Identity(namespace, account))


def _source(node: _Node, policy_namespace: str | None) -> Identity | None:
    account, namespace = node.text("serviceAccount", required=True), node.text("namespace")
    namespace = _or(namespace, policy_namespace)
    return None if account is None or namespace is None else Identity(namespace, account)


def _http_rule(node: _Node) -> HttpRule:
    path = node.child("path", _PATH_MATCH)
    methods = tuple(method.upper() for method in node.items("methods", str, "string"))
    headers = sorted(node.string_map("headers").items())
    match = None if path is None else _path_match(path)
    return HttpRule(match, methods, tuple(HeaderMatch(name, regex) for name, regex in headers))


def _path_match(node: _Node) -> PathMatch | None:
    values = {kind: node.text(kind.value) for kind in PathMatchKind}
    if not node.exactly_one(_PATH_MATCH):
        return None
    matches = [PathMatch(kind, value) for kind, value in values.items() if value is not None]
    return matches[0] if matches else None


def _observability(node: _Node) -> Observability:
    tracing = node.child("tracing", _TRACING)
    return Observability(
        access_logs=_or(node.flag("accessLogs"), True),
        tracing=None if tracing is None else _tracing(tracing),
    )


def _tracing(node: _Node) -> Tracing | None:
    address = node.text("address", required=True)
    protocol = _or(node.choice("protocol", TracingProtocol), TracingProtocol.OTLP)
    sampling = _or(node.percent("samplingPercent"), 1)
    return None if address is None else Tracing(address, protocol, sampling)


def _destination_entry(node: _Node) -> Destination | None:
    service, namespace = node.text("service", required=True), node.text("namespace", True)
    port = node.number("port")
    blocks = {
        "retries": _maybe(node.child("retries", _RETRIES), _retries),
        "circuit_breakers": _maybe(
            node.child("circuitBreakers", _CIRCUIT_BREAKERS), _circuit_breakers
        ),
        "outlier_detection": _maybe(node.child("outlierDetection", _OUTLIER), _outlier),
        "connection_pool": _maybe(node.child("connectionPool", _POOL), _pool),
        "rate_limit": _maybe(node.child("rateLimit", _RATE_LIMIT), _rate_limit),
        "fault": _maybe(node.child("fault", _FAULT), _fault),
        "mirror": _maybe(node.child("mirror", _MIRROR), _mirror),
    }
    timeouts = {
        "timeout": node.duration("timeout"),
        "idle_timeout": node.duration("idleTimeout"),
        "connect_timeout": node.duration("connectTimeout"),
    }
    routes = _build(node.entries("routes", _ROUTE), _route)
    node.refuse_empty("routes")
    if service is None or namespace is None:
        return None
    return Destination(service, namespace, port, routes=routes, **timeouts, **blocks)  # type: ignore[arg-type]


def _maybe(node: _Node | None, build: Callable[[_Node], T]) -> T | None:
    return None if node is None else build(node)


def _retries(node: _Node) -> Retries:
    defaults = Retries()
    on = node.items("retryOn", str, "retry condition")
    node.refuse_empty("retryOn")
    return Retries(
        attempts=_or(node.number("attempts"), defaults.attempts),
        retry_on=tuple(on) if node.has("retryOn") else defaults.retry_on,
        per_try_timeout=node.duration("perTryTimeout"),
    )


def _circuit_breakers(node: _Node) -> CircuitBreakers:
    defaults = CircuitBreakers()
    budget = node.child("retryBudget", _RETRY_BUDGET)
    return CircuitBreakers(
        max_connections=_or(node.number("maxConnections"), defaults.max_connections),
        max_pending_requests=_or(node.number("maxPendingRequests"), defaults.max_pending_requests),
        max_requests=_or(node.number("maxRequests"), defaults.max_requests),
        max_retries=node.number("maxRetries"),
        retry_budget=None if budget is None else _retry_budget(budget),
    )


def _retry_budget(node: _Node) -> RetryBudget:
    defaults = RetryBudget()
    return RetryBudget(
        percent=_or(node.percent("percent"), defaults.percent),
        min_concurrency=_or(node.number("minConcurrency"), defaults.min_concurrency),
    )


def _outlier(node: _Node) -> OutlierDetection:
    defaults = OutlierDetection()
    return OutlierDetection(
        enabled=_or(node.flag("enabled"), defaults.enabled),
        consecutive_5xx=_or(node.number("consecutive5xx"), defaults.consecutive_5xx),
        interval=_or(node.duration("interval"), defaults.interval),
        base_ejection_time=_or(node.duration("baseEjectionTime"), defaults.base_ejection_time),
        max_ejection_percent=_or(node.number("maxEjectionPercent"), defaults.max_ejection_percent),
    )


def _pool(node: _Node) -> ConnectionPool:
    defaults = ConnectionPool()
    tcp = node.child("tcpKeepalive", _TCP_KEEPALIVE)
    http2 = node.child("http2Keepalive", _HTTP2_KEEPALIVE)
    return ConnectionPool(
        idle_timeout=_or(node.duration("idleTimeout"), defaults.idle_timeout),
        max_requests_per_connection=node.number("maxRequestsPerConnection"),
        max_concurrent_streams=node.number("maxConcurrentStreams"),
        tcp_keepalive=defaults.tcp_keepalive if tcp is None else _tcp_keepalive(tcp),
        http2_keepalive=None if http2 is None else _http2_keepalive(http2),
    )


def _tcp_keepalive(node: _Node) -> TcpKeepalive:
    defaults = TcpKeepalive()
    return TcpKeepalive(
        time=_or(node.duration("time"), defaults.time),
        interval=_or(node.duration("interval"), defaults.interval),
        probes=_or(node.number("probes"), defaults.probes),
    )


def _http2_keepalive(node: _Node) -> Http2Keepalive | None:
    interval, timeout = node.duration("interval", required=True), node.duration("timeout")
    if interval is None:
        return None
    return Http2Keepalive(interval, _or(timeout, Http2Keepalive(interval).timeout))


def _rate_limit(node: _Node) -> RateLimit | None:
    rate, burst = node.number("requestsPerSecond", required=True), node.number("burst")
    return None if rate is None else RateLimit(rate, burst)


def _fault(node: _Node) -> Fault:
    delay, abort = node.child("delay", _DELAY), node.child("abort", _ABORT)
    return Fault(
        delay=None if delay is None else _delay(delay),
        abort=None if abort is None else _abort(abort),
    )


def _delay(node: _Node) -> FaultDelay | None:
    duration, percent = node.duration("duration", required=True), node.percent("percent")
    return None if duration is None else FaultDelay(duration, _or(percent, 100))


def _abort(node: _Node) -> FaultAbort | None:
    status, percent = node.number("status", required=True), node.percent("percent")
    return None if status is None else FaultAbort(status, _or(percent, 100))


def _mirror(node: _Node) -> Mirror | None:
    service, percent = node.text("service", required=True), node.percent("percent")
    return None if service is None else Mirror(service, _or(percent, 100))


def _route(node: _Node) -> DestinationRoute:
    match = node.child("match", _HTTP_RULE)
    limit = node.child("rateLimit", _RATE_LIMIT)
    return DestinationRoute(
        match=HttpRule() if match is None else _http_rule(match),
        backend=node.text("backend"),
        rate_limit=None if limit is None else _rate_limit(limit),
    )


def _ingress(node: _Node) -> Ingress | None:
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    service = node.text("service", required=True)
    ports = tuple(node.items("ports", int, "port number"))
    if not node.has("ports"):
        expected, fix = "the service ports to open", "add 'ports', e.g. [8080]"
        node.missing("ports", "spec-missing-field", expected, fix)
    sources = node.child("sources", _INGRESS_SOURCES, required=True)
    built = None if sources is None else _ingress_sources(sources, namespace)
    rules = _build(node.entries("http", _HTTP_RULE), _http_rule)
    for key in ("ports", "http"):
        node.refuse_empty(key)
    if name is None or namespace is None or service is None or built is None:
        return None
    return Ingress(name, namespace, service, ports, built, rules)


def _ingress_sources(node: _Node, namespace: str | None) -> IngressSources:
    """Identities default to the entry's namespace, as a policy's sources do."""
    entries = node.entries("identities", _SOURCE)
    for key in ("identities", "ipRanges"):
        node.refuse_empty(key)
    return IngressSources(
        identities=_build(entries, lambda source: _source(source, namespace)),
        ip_ranges=tuple(node.items("ipRanges", str, "CIDR")),
        plaintext=bool(node.flag("plaintext")),
        any_address=bool(node.flag("anyAddress")),
    )


def _egress_rule(node: _Node) -> EgressRule | None:
    """Emptiness, syntax and scope are validation's job (`validate.egress`)."""
    name, namespace = node.text("name", required=True), node.text("namespace", required=True)
    selector = labels(node.string_map("selector")) if node.has("selector") else None
    account = node.text("serviceAccount")
    http = _maybe(node.child("http", _EGRESS_HOSTS), lambda n: _egress_hosts(n, HTTP_DEFAULT_PORTS))
    tls = _maybe(node.child("tls", _EGRESS_HOSTS), lambda n: _egress_hosts(n, TLS_DEFAULT_PORTS))
    tcp = _maybe(node.child("tcp", _EGRESS_ADDRESSES), _egress_addresses)
    if name is None or namespace is None:
        return None
    return EgressRule(name, namespace, selector, account, http, tls, tcp)


def _egress_hosts(node: _Node, default_ports: tuple[int, ...]) -> EgressHosts:
    hosts = tuple(node.items("hosts", str, "host name"))
    ports = tuple(node.items("ports", int, "port number")) if node.has("ports") else default_ports
    _require(node, "hosts", "a list of host names")
    return EgressHosts(hosts, ports)


def _egress_addresses(node: _Node) -> EgressAddresses:
    cidrs = tuple(node.items("cidrs", str, "CIDR"))
    ports = tuple(node.items("ports", int, "port number"))
    _require(node, "cidrs", "a list of IPv4 ranges such as 203.0.113.0/24")
    _require(node, "ports", "a list of port numbers")
    return EgressAddresses(cidrs, ports)


def _require(node: _Node, key: str, expected: str) -> None:
    if not node.has(key):
        node.missing(key, "spec-missing-field", expected, f"add {key!r}")
