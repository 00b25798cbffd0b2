"""The components' arguments: TypedDicts with one docstring per field, mirroring the spec format.

Every field has the meaning of the spec key of the same name in camelCase (`docs/spec-format.md`),
so a spec and a program describe a mesh the same way and are validated by the same checks.
Topology fields are plain values, never Outputs: the proxy configs depend on them, and
`pulumi preview --diff` can only show the routes that change if they are known at preview.

No `from __future__ import annotations` here: Pulumi's component provider reads these
annotations at run time to publish the schema other languages use.

`unknown_keys` reads the same annotations to refuse a key no TypedDict here names: a typo, or a
spec file's camelCase name (`serviceAccount` for `service_account`), which would otherwise be
taken silently beside the snake_case one.
"""

import difflib
from collections.abc import Mapping
from typing import Any, NotRequired, Required, TypedDict, get_args, get_origin, is_typeddict

import pulumi

from mesh_components.errors import Problem
from mesh_components.model.writer import camel


class ProxyPortsArgs(TypedDict):
    """Ports the sidecar owns in every pod (OSM's defaults)."""

    admin: NotRequired[int]
    """Envoy's admin port, bound to 127.0.0.1 (15000)."""
    outbound: NotRequired[int]
    """Where outbound traffic is redirected (15001)."""
    inbound: NotRequired[int]
    """Where inbound traffic is redirected (15003)."""
    prometheus: NotRequired[int]
    """Prometheus stats (15010)."""


class ResourcesArgs(TypedDict):
    """The sidecar container's requests and limits, as Kubernetes quantities ("" leaves one
    unset)."""

    cpu_request: NotRequired[str]
    """CPU request (100m)."""
    memory_request: NotRequired[str]
    """Memory request (128Mi)."""
    cpu_limit: NotRequired[str]
    """CPU limit (none)."""
    memory_limit: NotRequired[str]
    """Memory limit (512Mi)."""


class InterceptionArgs(TypedDict):
    """Which traffic the init container redirects through the sidecar. Exclusions bypass the
    mesh entirely (no mTLS, no policy)."""

    outbound_port_exclusions: NotRequired[list[int]]
    """Destination ports the app reaches directly."""
    inbound_port_exclusions: NotRequired[list[int]]
    """Local ports reached directly, without the sidecar."""
    outbound_ip_range_exclusions: NotRequired[list[str]]
    """CIDRs the app reaches directly."""
    outbound_ip_range_inclusions: NotRequired[list[str]]
    """Only these CIDRs are redirected (default: every address)."""


class ProxyArgs(TypedDict):
    """How every sidecar runs."""

    image: NotRequired[str]
    """The Envoy image (envoyproxy/envoy:v1.40.0)."""
    init_image: NotRequired[str]
    """The init container's image: needs sh, iptables-restore and ip6tables-restore."""
    uid: NotRequired[int]
    """The proxy's UID, exempted from traffic redirection (1500)."""
    log_level: NotRequired[str]
    """Envoy's log level: trace, debug, info, warning, error, critical or off."""
    concurrency: NotRequired[int]
    """Envoy worker threads (2)."""
    sidecar_mode: NotRequired[str]
    """`native` (an init container with restartPolicy Always, Kubernetes 1.29+) or `classic`."""
    drain_seconds: NotRequired[int]
    """How long the sidecar drains connections on shutdown (10)."""
    dns_refresh: NotRequired[str]
    """How often a sidecar re-resolves each destination's pods ("500ms"; 50ms to 60s)."""
    ports: NotRequired[ProxyPortsArgs]
    """The proxy's ports."""
    resources: NotRequired[ResourcesArgs]
    """The sidecar's requests and limits."""
    interception: NotRequired[InterceptionArgs]
    """Which traffic is redirected through the sidecar."""


class IssuerRefArgs(TypedDict):
    """A cert-manager issuer."""

    name: str
    """The Issuer's or ClusterIssuer's name."""
    kind: NotRequired[str]
    """`ClusterIssuer` (default) or `Issuer` (one per meshed namespace)."""
    group: NotRequired[str]
    """The issuer's API group (cert-manager.io)."""


class CertificatesArgs(TypedDict):
    """Identity certificates: who issues them, and their lifetimes."""

    issuer: NotRequired[str]
    """`builtin` (the mesh's CA, at deploy time) or `cert-manager`."""
    validity_hours: NotRequired[int]
    """Leaf validity (2160 hours, 90 days)."""
    renew_before_hours: NotRequired[int]
    """Re-issue this long before expiry (720 hours, 30 days)."""
    key_type: NotRequired[str]
    """`ecdsa-p256`, `rsa-2048` or `rsa-3072`."""
    issuer_ref: NotRequired[IssuerRefArgs]
    """cert-manager mode: the issuer that signs."""


class TracingArgs(TypedDict):
    """Spans to a collector."""

    address: str
    """The collector's `host:port` (a DNS name)."""
    protocol: NotRequired[str]
    """`otlp` (gRPC, default) or `zipkin` (JSON over HTTP)."""
    sampling_percent: NotRequired[float]
    """Share of the requests that start a trace (1)."""


class ObservabilityArgs(TypedDict):
    """What every sidecar reports."""

    access_logs: NotRequired[bool]
    """One JSON line per request or connection on the sidecar's stdout (true)."""
    tracing: NotRequired[TracingArgs]
    """Spans to an OTLP or Zipkin collector (none by default)."""


class MeshArgs(TypedDict):
    """A mesh: its settings, its CA and the namespaces it manages."""

    name: NotRequired[str]
    """The mesh's name (default: the component's name)."""
    namespaces: NotRequired[list[str]]
    """Namespaces the mesh manages: auto-injection covers their workloads."""
    create_namespaces: NotRequired[bool]
    """Whether the mesh creates those namespaces (true); false when another stack owns them."""
    trust_domain: NotRequired[str]
    """SPIFFE trust domain of every identity (cluster.local)."""
    cluster_domain: NotRequired[str]
    """The cluster's DNS domain (cluster.local)."""
    mtls: NotRequired[str]
    """`strict` (default) or `permissive`."""
    access: NotRequired[str]
    """`policy` (default: deny unless allowed) or `open`."""
    proxy: NotRequired[ProxyArgs]
    """How every sidecar runs."""
    certificates: NotRequired[CertificatesArgs]
    """Who issues identity certificates, and their lifetimes."""
    observability: NotRequired[ObservabilityArgs]
    """Access logs and tracing."""
    egress: NotRequired[str]
    """What happens to traffic leaving the mesh that no egress rule allows: `deny` (default)
    or `passthrough` (forwarded unchanged, for migrations). See docs/egress.md."""
    ca: NotRequired[pulumi.Input[str]]
    """The CA file's text (a Pulumi secret), as `render --ca-file` reads it. Required unless
    cert-manager issues the certificates."""
    config_updates: NotRequired[str]
    """`rollout` (default: a changed config replaces its ConfigMap and rolls the pods) or
    `hot-reload` (ConfigMaps and Secrets updated in place; the provider must set
    enableConfigMapMutable and enableSecretMutable)."""
    create_service_accounts: NotRequired[bool]
    """Whether the mesh creates the ServiceAccount each injected workload runs as (true), unless
    the program declares that ServiceAccount itself; false when they all come from elsewhere
    (a Helm chart, another stack)."""


class ServicePortArgs(TypedDict):
    """One port of a service."""

    name: str
    """The port's name."""
    port: int
    """The port clients call."""
    target_port: NotRequired[int]
    """The pod's port (default: `port`)."""
    target_port_name: NotRequired[str]
    """Or the name of a container port."""
    protocol: NotRequired[str]
    """`http`, `http2`, `grpc` or `tcp` (default: from appProtocol or the name, else http)."""
    app_protocol: NotRequired[str]
    """Kubernetes' appProtocol, a protocol hint."""


class MeshServiceArgs(TypedDict):
    """A service in the mesh."""

    namespace: str
    """Its namespace."""
    ports: list[ServicePortArgs]
    """Its ports."""
    name: NotRequired[str]
    """The Service's name (default: the component's name)."""
    selector: NotRequired[dict[str, str]]
    """Pod labels it selects."""
    headless: NotRequired[bool]
    """`clusterIP: None`: clients dial pod IPs (StatefulSets, databases)."""


class BackendArgs(TypedDict):
    """One backend of a split."""

    service: str
    """A service in the split's namespace."""
    weight: int
    """Its share of the traffic (0 keeps it idle)."""


class TrafficSplitArgs(TypedDict):
    """Weighted traffic from a root service to its backends."""

    namespace: str
    """The namespace of the root service and the backends."""
    service: str
    """The root service clients call."""
    backends: list[BackendArgs]
    """The backends and their weights."""
    name: NotRequired[str]
    """The split's name (default: the component's name)."""


class DestinationArgs(TypedDict):
    """Exactly one of `service` or `service_account`."""

    service: NotRequired[str]
    """That Service's ports."""
    service_account: NotRequired[str]
    """Every service port on the pods of that identity."""


class SourceArgs(TypedDict):
    """An identity allowed to call."""

    service_account: str
    """The caller's ServiceAccount."""
    namespace: NotRequired[str]
    """Its namespace (default: the policy's)."""


class PathArgs(TypedDict):
    """Exactly one of `exact`, `prefix` or `regex`."""

    exact: NotRequired[str]
    """The whole path."""
    prefix: NotRequired[str]
    """A path prefix, at a segment boundary."""
    regex: NotRequired[str]
    """An RE2 regex on the whole path."""


class HttpRuleArgs(TypedDict):
    """Allowed HTTP requests: every field given must match."""

    path: NotRequired[PathArgs]
    """The path."""
    methods: NotRequired[list[str]]
    """One of these methods."""
    headers: NotRequired[dict[str, str]]
    """Header name to a regex on its whole value."""


class TcpArgs(TypedDict):
    """Allowed TCP ports."""

    ports: NotRequired[list[int]]
    """These ports (default: every TCP port of the destination)."""


class AccessPolicyArgs(TypedDict):
    """Who may call a destination, and which requests."""

    namespace: str
    """The policy's namespace, which is the destination's."""
    destination: DestinationArgs
    """A service, or an identity."""
    sources: list[SourceArgs]
    """The identities allowed."""
    name: NotRequired[str]
    """The policy's name (default: the component's name)."""
    http: NotRequired[list[HttpRuleArgs]]
    """Allowed HTTP requests (default: all, on HTTP ports)."""
    tcp: NotRequired[TcpArgs]
    """Allowed TCP ports."""


class RetriesArgs(TypedDict):
    """Retries by the client's sidecar, each to another pod when there is one."""

    attempts: NotRequired[int]
    """Retries after the first try (2; 0 turns retries off)."""
    retry_on: NotRequired[list[str]]
    """Envoy retry conditions (connect-failure, refused-stream, reset-before-request)."""
    per_try_timeout: NotRequired[str]
    """Each try's timeout, e.g. `2s` (none: the route timeout bounds them all)."""


class RetryBudgetArgs(TypedDict):
    """Retries in flight as a share of active requests."""

    percent: NotRequired[float]
    """The share (20)."""
    min_concurrency: NotRequired[int]
    """Retries always allowed in flight (3)."""


class CircuitBreakersArgs(TypedDict):
    """Limits on one client sidecar's traffic to one backend port (past them: 503 at once)."""

    max_connections: NotRequired[int]
    """Connections (1024)."""
    max_pending_requests: NotRequired[int]
    """Requests waiting for a connection (1024)."""
    max_requests: NotRequired[int]
    """Requests in flight (1024)."""
    max_retries: NotRequired[int]
    """A fixed cap on retries in flight, instead of the retry budget."""
    retry_budget: NotRequired[RetryBudgetArgs]
    """The retry budget (20 %, at least 3), unless `max_retries` is set."""


class OutlierDetectionArgs(TypedDict):
    """Ejection of failing pods, on by default."""

    enabled: NotRequired[bool]
    """Whether failing pods are ejected (true)."""
    consecutive_5xx: NotRequired[int]
    """Errors in a row, connect failures included, that eject a pod (5)."""
    interval: NotRequired[str]
    """How often ejections are reconsidered (10s)."""
    base_ejection_time: NotRequired[str]
    """The first ejection's length, longer each time (30s)."""
    max_ejection_percent: NotRequired[int]
    """Never more than this share of the pods ejected (50)."""


class TcpKeepaliveArgs(TypedDict):
    """TCP keepalive on upstream connections, in whole seconds."""

    time: NotRequired[str]
    """Idle time before the first probe (300s)."""
    interval: NotRequired[str]
    """Time between probes (30s)."""
    probes: NotRequired[int]
    """Unanswered probes that close the connection (3)."""


class Http2KeepaliveArgs(TypedDict):
    """HTTP/2 PINGs on upstream connections."""

    interval: str
    """How often a PING is sent."""
    timeout: NotRequired[str]
    """No answer within this closes the connection (5s)."""


class ConnectionPoolArgs(TypedDict):
    """Upstream connections to one backend port."""

    idle_timeout: NotRequired[str]
    """How long an idle connection is kept (1h)."""
    max_requests_per_connection: NotRequired[int]
    """Requests one connection carries (no limit)."""
    max_concurrent_streams: NotRequired[int]
    """Streams one HTTP/2 connection multiplexes (Envoy's default)."""
    tcp_keepalive: NotRequired[TcpKeepaliveArgs]
    """TCP keepalive."""
    http2_keepalive: NotRequired[Http2KeepaliveArgs]
    """HTTP/2 PINGs (none by default)."""


class RateLimitArgs(TypedDict):
    """A token bucket in the destination's sidecar, per pod; beyond it: 429."""

    requests_per_second: int
    """Tokens added every second."""
    burst: NotRequired[int]
    """The bucket's size (one second's worth)."""


class FaultDelayArgs(TypedDict):
    """Hold some requests before they reach the app."""

    duration: str
    """How long, e.g. `1500ms`."""
    percent: NotRequired[float]
    """Share of the requests (100)."""


class FaultAbortArgs(TypedDict):
    """Answer some requests with a status instead of the app."""

    status: int
    """The HTTP status."""
    percent: NotRequired[float]
    """Share of the requests (100)."""


class FaultArgs(TypedDict):
    """Fault injection for resilience testing, by the destination's sidecar."""

    delay: NotRequired[FaultDelayArgs]
    """A fixed delay."""
    abort: NotRequired[FaultAbortArgs]
    """An abort."""


class MirrorArgs(TypedDict):
    """A copy of the requests to a shadow service; its answers are dropped."""

    service: str
    """A service in the destination's namespace, serving the same port."""
    percent: NotRequired[float]
    """Share of the requests copied (100)."""


class DestinationRouteArgs(TypedDict):
    """Requests matching `match` go to `backend` and/or get their own rate limit."""

    match: NotRequired[HttpRuleArgs]
    """Path, methods and headers (default: every request)."""
    backend: NotRequired[str]
    """A service in the destination's namespace (a canary by header, say)."""
    rate_limit: NotRequired[RateLimitArgs]
    """This route's own token bucket."""


class DestinationSettingsArgs(TypedDict):
    """How clients call a service (every port, or one), and how it defends itself."""

    namespace: str
    """The service's namespace."""
    service: NotRequired[str]
    """The service (default: the component's name)."""
    port: NotRequired[int]
    """One port only (default: every port; a port's settings override the service's)."""
    timeout: NotRequired[str]
    """The route timeout, e.g. `10s` (15s on HTTP ports, none on gRPC and HTTP/2 ports)."""
    idle_timeout: NotRequired[str]
    """A request (or TCP connection) with no bytes for this long is reset."""
    connect_timeout: NotRequired[str]
    """Connecting to a pod (5s)."""
    retries: NotRequired[RetriesArgs]
    """Retries by the client's sidecar."""
    circuit_breakers: NotRequired[CircuitBreakersArgs]
    """Limits on each client sidecar's traffic."""
    outlier_detection: NotRequired[OutlierDetectionArgs]
    """Ejection of failing pods."""
    connection_pool: NotRequired[ConnectionPoolArgs]
    """Upstream connection settings."""
    rate_limit: NotRequired[RateLimitArgs]
    """A local rate limit in the service's own sidecars."""
    fault: NotRequired[FaultArgs]
    """Fault injection in the service's own sidecars."""
    mirror: NotRequired[MirrorArgs]
    """A shadow copy of the requests."""
    routes: NotRequired[list[DestinationRouteArgs]]
    """Routes by path, header or method, tried in order before the split."""


class IngressSourcesArgs(TypedDict):
    """Who outside the mesh may come in: identities (mTLS) and/or IP ranges (plaintext)."""

    identities: NotRequired[list[SourceArgs]]
    """Ingress controllers' ServiceAccounts; each is issued a certificate Secret
    `<service account>-mesh-identity` in its namespace (`tls.crt`, `tls.key`, `ca.crt`)."""
    ip_ranges: NotRequired[list[str]]
    """CIDRs whose clients may connect in plaintext (needs `plaintext`)."""
    plaintext: NotRequired[bool]
    """Acknowledges that clients from `ip_ranges` are neither encrypted nor authenticated."""
    any_address: NotRequired[bool]
    """Acknowledges a range of every address (`0.0.0.0/0`, `::/0`)."""


class MeshIngressArgs(TypedDict):
    """Ingress to one service's ports from outside the mesh, as OSM's IngressBackend."""

    namespace: str
    """The service's namespace."""
    service: str
    """The service let in to."""
    ports: list[int]
    """Its ports (service port numbers) that the sources may reach."""
    sources: IngressSourcesArgs
    """Who may come in."""
    name: NotRequired[str]
    """The entry's name (default: the component's name)."""
    http: NotRequired[list[HttpRuleArgs]]
    """Allowed HTTP requests (default: all, on HTTP ports)."""


class EgressHostsArgs(TypedDict):
    """Hosts outside the mesh by name: the Host header of plaintext HTTP, or TLS SNI."""

    hosts: list[str]
    """Names such as `api.example.com`, or `*.example.com` for its subdomains."""
    ports: NotRequired[list[int]]
    """The ports the app dials (HTTP: [80], TLS: [443])."""


class EgressAddressesArgs(TypedDict):
    """IPv4 ranges outside the mesh, for any TCP protocol."""

    cidrs: list[str]
    """Ranges such as `203.0.113.0/24`."""
    ports: list[int]
    """The ports the app dials."""


class EgressRuleArgs(TypedDict):
    """Destinations outside the mesh that workloads of one namespace may reach."""

    namespace: str
    """The namespace of the workloads it applies to."""
    name: NotRequired[str]
    """The rule's name (default: the component's name)."""
    selector: NotRequired[dict[str, str]]
    """Only workloads with these labels (default: every workload of the namespace)."""
    service_account: NotRequired[str]
    """Only workloads that run as this ServiceAccount."""
    http: NotRequired[EgressHostsArgs]
    """Plaintext HTTP, by Host."""
    tls: NotRequired[EgressHostsArgs]
    """TLS, by SNI."""
    tcp: NotRequired[EgressAddressesArgs]
    """TCP, by IPv4 range."""


class ContainerPortArgs(TypedDict):
    """A port the workload's container listens on."""

    container_port: int
    """The port number."""
    name: NotRequired[str]
    """Its name, which a service's targetPort may use."""


class ProbeArgs(TypedDict):
    """A kubelet probe the sidecar rewrites (docs/sidecar.md)."""

    kind: str
    """`liveness`, `readiness` or `startup`."""
    container: str
    """The container it belongs to."""
    action: str
    """`http`, `tcp` or `grpc`."""
    port: int
    """The port probed."""
    path: NotRequired[str]
    """The HTTP path (`/`)."""
    https: NotRequired[bool]
    """Whether the HTTP probe uses HTTPS."""


class WorkloadArgs(TypedDict):
    """A workload the mesh writes in full: its pods run `image` with the sidecar."""

    name: str
    """The workload's name."""
    namespace: str
    """Its namespace."""
    service_account: str
    """The pods' ServiceAccount: their mesh identity."""
    image: str
    """The application's container image."""
    kind: NotRequired[str]
    """Deployment (default), StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod."""
    labels: NotRequired[dict[str, str]]
    """The pods' labels, which services select."""
    ports: NotRequired[list[ContainerPortArgs]]
    """The container's ports."""
    probes: NotRequired[list[ProbeArgs]]
    """The container's probes."""
    command: NotRequired[list[str]]
    """The container's command."""
    args: NotRequired[list[str]]
    """The container's arguments."""
    env: NotRequired[dict[str, str]]
    """The container's environment."""
    replicas: NotRequired[int]
    """How many pods (1)."""
    schedule: NotRequired[str]
    """A CronJob's schedule."""
    proxy_log_level: NotRequired[str]
    """This workload's sidecar log level (trace ... off), over the mesh's `proxy.logLevel`."""


class MeshFromSpecArgs(TypedDict):
    """A whole mesh in one declaration, as a spec file holds it: for programs in any language."""

    mesh: MeshArgs
    """The mesh's settings, CA and namespaces (`name` required)."""
    services: NotRequired[list[MeshServiceArgs]]
    """The services (`name` required in each)."""
    workloads: NotRequired[list[WorkloadArgs]]
    """The workloads, written in full with their sidecars."""
    splits: NotRequired[list[TrafficSplitArgs]]
    """The traffic splits (`name` required in each)."""
    policies: NotRequired[list[AccessPolicyArgs]]
    """The access policies (`name` required in each)."""
    destinations: NotRequired[list[DestinationSettingsArgs]]
    """Destination settings (`service` required in each)."""
    ingress: NotRequired[list[MeshIngressArgs]]
    """Ingress from outside the mesh (`name` required in each)."""
    egress: NotRequired[list[EgressRuleArgs]]
    """The egress rules (`name` required in each)."""


def unknown_keys(args: object, schema: Any, path: str) -> list[Problem]:
    """A `spec-unknown-key` problem for each key of `args`, at any depth, that `schema` (one of
    the TypedDicts above) does not name. `path` is where `args` sits in the spec format; the
    values themselves are the spec loader's to check."""
    if not isinstance(args, Mapping):
        return []
    fields = _fields(schema)
    problems: list[Problem] = []
    for key, value in args.items():
        if key in fields:
            problems += _nested(value, fields[key], _at(path, camel(key)))
        else:
            problems.append(_unknown(_at(path, str(key)), key, tuple(fields)))
    return problems


def _fields(schema: Any) -> dict[str, Any]:
    """Each field's type, without its Required or NotRequired wrapper."""
    return {key: _bare(annotation) for key, annotation in schema.__annotations__.items()}


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) in (NotRequired, Required):
        (annotation,) = get_args(annotation)
    return annotation


def _nested(value: object, annotation: Any, path: str) -> list[Problem]:
    if is_typeddict(annotation):
        return unknown_keys(value, annotation, path)
    if get_origin(annotation) is not list or not isinstance(value, list):
        return []
    (item,) = get_args(annotation)
    if not is_typeddict(item):
        return []
    return [
        p
        for i, entry in enumerate(value)
        for p in unknown_keys(entry, item, _entry(path, entry, i))
    ]


def _unknown(path: str, key: object, fields: tuple[str, ...]) -> Problem:
    hint = _suggestion(str(key), fields)
    fix = f"did you mean {hint!r}?" if hint else "remove it"
    if hint and camel(hint) == key:
        fix += " Component arguments are snake_case; camelCase is the spec file's spelling"
    return Problem(path, "spec-unknown-key", f"one of {', '.join(fields)}", repr(key), fix)


def _suggestion(key: str, fields: tuple[str, ...]) -> str | None:
    """The field `key` means: its camelCase spelling, or a near miss of it."""
    by_spelling = {camel(field): field for field in fields}
    if key in by_spelling:
        return by_spelling[key]
    squashed = {field.replace("_", ""): field for field in fields}
    matches = difflib.get_close_matches(key.replace("_", "").lower(), list(squashed), n=1)
    return squashed[matches[0]] if matches else None


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _entry(path: str, entry: object, index: int) -> str:
    """`path[name]` when the entry has a string name, else `path[index]`, as the spec loader
    names entries."""
    name = entry.get("name") if isinstance(entry, Mapping) else None
    return f"{path}[{name if isinstance(name, str) and name else index}]"
