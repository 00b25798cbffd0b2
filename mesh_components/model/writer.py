"""The spec format, written: a `MeshSpec` back to the plain data the loader reads.

`load_spec(spec_document(spec)) == spec` for every spec the loader can produce. Defaults are
left out, so a written spec reads like a hand-written one. Used to pass a mesh's declarations
between Pulumi stacks and to write the spec that `import` produces.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from mesh_components.model.destination import (
    CircuitBreakers,
    ConnectionPool,
    Destination,
    DestinationRoute,
    Duration,
    Fault,
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
from mesh_components.model.ingress import Ingress
from mesh_components.model.mesh import MeshSpec
from mesh_components.model.policy import AccessPolicy, HttpRule
from mesh_components.model.service import Service, ServicePort, infer_protocol
from mesh_components.model.settings import (
    CertificateSettings,
    Interception,
    MeshSettings,
    Observability,
    ProxyPorts,
    ProxySettings,
    Resources,
)
from mesh_components.model.split import TrafficSplit
from mesh_components.model.workload import AppContainer, Probe, Workload

Document = dict[str, Any]

_SPECIAL_KEYS = {
    "consecutive_5xx": "consecutive5xx",
    "outbound_ip_range_exclusions": "outboundIPRangeExclusions",
    "outbound_ip_range_inclusions": "outboundIPRangeInclusions",
}


def spec_document(spec: MeshSpec) -> Document:
    """The spec as the YAML format's plain data, with defaults left out."""
    found: Document = {"mesh": settings_document(spec.settings)}
    sections = (
        ("services", [service_document(s) for s in spec.services]),
        ("workloads", [workload_document(w) for w in spec.workloads]),
        ("splits", [split_document(s) for s in spec.splits]),
        ("policies", [policy_document(p) for p in spec.policies]),
        ("destinations", [destination_document(d) for d in spec.destinations]),
        ("ingress", [ingress_document(i) for i in spec.ingress]),
        ("egress", [egress_document(rule) for rule in spec.egress]),
    )
    found.update({key: items for key, items in sections if items})
    return found


def camel(name: str) -> str:
    """The spec's key for a model field: `init_image` → `initImage`."""
    if name in _SPECIAL_KEYS:
        return _SPECIAL_KEYS[name]
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def settings_document(settings: MeshSettings) -> Document:
    skip = ("proxy", "certificates", "observability")
    found = _changed(settings, MeshSettings(name=settings.name), skip=skip)
    proxy = _proxy_document(settings.proxy)
    certificates = _certificates_document(settings.certificates)
    observability = _observability_document(settings.observability)
    return {
        "name": settings.name,
        **found,
        **({"proxy": proxy} if proxy else {}),
        **({"certificates": certificates} if certificates else {}),
        **({"observability": observability} if observability else {}),
    }


def _observability_document(observability: Observability) -> Document:
    found = _changed(observability, Observability(), skip=("tracing",))
    tracing = observability.tracing
    if tracing is not None:
        found["tracing"] = {
            "address": tracing.address,
            "protocol": tracing.protocol.value,
            "samplingPercent": tracing.sampling_percent,
        }
    return found


def _proxy_document(proxy: ProxySettings) -> Document:
    found = _changed(proxy, ProxySettings(), skip=("ports", "resources", "interception"))
    nested = (
        ("ports", _changed(proxy.ports, ProxyPorts())),
        ("resources", _changed(proxy.resources, Resources())),
        ("interception", _changed(proxy.interception, Interception())),
    )
    found.update({key: value for key, value in nested if value})
    return found


def _certificates_document(certificates: CertificateSettings) -> Document:
    found = _changed(certificates, CertificateSettings(), skip=("issuer_ref",))
    ref = certificates.issuer_ref
    if ref is not None:
        found["issuerRef"] = {"name": ref.name, "kind": ref.kind.value, "group": ref.group}
    return found


def service_document(service: Service) -> Document:
    found: Document = {"name": service.name, "namespace": service.namespace}
    if service.selector:
        found["selector"] = dict(service.selector)
    if service.headless:
        found["headless"] = True
    found["ports"] = [_port_document(port) for port in service.ports]
    return found


def _port_document(port: ServicePort) -> Document:
    found: Document = {"name": port.name, "port": port.port}
    if port.target_port is not None:
        found["targetPort"] = port.target_port
    if port.protocol is not infer_protocol(port.name, None):
        found["protocol"] = port.protocol.value
    return found


def workload_document(workload: Workload) -> Document:
    found: Document = {
        "name": workload.name,
        "namespace": workload.namespace,
        "kind": workload.kind.value,
        "serviceAccount": workload.service_account,
    }
    if workload.labels:
        found["labels"] = dict(workload.labels)
    if workload.annotations:
        found["annotations"] = dict(workload.annotations)
    if workload.ports:
        found["ports"] = [
            {"containerPort": p.port, **({"name": p.name} if p.name else {})}
            for p in workload.ports
        ]
    if workload.probes:
        found["probes"] = [_probe_document(probe) for probe in workload.probes]
    found.update(_app_document(workload.app))
    if workload.proxy_log_level is not None:
        found["proxyLogLevel"] = workload.proxy_log_level.value
    return found


def _probe_document(probe: Probe) -> Document:
    required = {
        "kind": probe.kind.value,
        "container": probe.container,
        "action": probe.action.value,
        "port": probe.port,
    }
    defaults = Probe(probe.kind, probe.container, probe.action, probe.port)
    return {**required, **_changed(probe, defaults)}


def _app_document(app: AppContainer) -> Document:
    found = _changed(app, AppContainer(), skip=("env",))
    if app.env:
        found["env"] = dict(app.env)
    return found


def split_document(split: TrafficSplit) -> Document:
    return {
        "name": split.name,
        "namespace": split.namespace,
        "service": split.root,
        "backends": [{"service": b.service, "weight": b.weight} for b in split.backends],
    }


def policy_document(policy: AccessPolicy) -> Document:
    destination = policy.destination
    if destination.service is not None:
        target = {"service": destination.service.name}
    else:
        assert destination.identity is not None
        target = {"serviceAccount": destination.identity.service_account}
    found: Document = {
        "name": policy.name,
        "namespace": policy.namespace,
        "destination": target,
        "sources": [
            {"serviceAccount": s.service_account, "namespace": s.namespace} for s in policy.sources
        ],
    }
    if policy.http_rules:
        found["http"] = [_rule_document(rule) for rule in policy.http_rules]
    if policy.tcp:
        found["tcp"] = {"ports": list(policy.tcp_ports)} if policy.tcp_ports else {}
    return found


def ingress_document(ingress: Ingress) -> Document:
    sources = ingress.sources
    written: Document = {}
    if sources.identities:
        written["identities"] = [
            {"serviceAccount": s.service_account, "namespace": s.namespace}
            for s in sources.identities
        ]
    if sources.ip_ranges:
        written["ipRanges"] = list(sources.ip_ranges)
    if sources.plaintext:
        written["plaintext"] = True
    if sources.any_address:
        written["anyAddress"] = True
    found: Document = {
        "name": ingress.name,
        "namespace": ingress.namespace,
        "service": ingress.service,
        "ports": list(ingress.ports),
        "sources": written,
    }
    if ingress.http_rules:
        found["http"] = [_rule_document(rule) for rule in ingress.http_rules]
    return found


def _rule_document(rule: HttpRule) -> Document:
    found: Document = {}
    if rule.path is not None:
        found["path"] = {rule.path.kind.value: rule.path.value}
    if rule.methods:
        found["methods"] = list(rule.methods)
    if rule.headers:
        found["headers"] = {header.name: header.regex for header in rule.headers}
    return found


def destination_document(destination: Destination) -> Document:
    found: Document = {"service": destination.service, "namespace": destination.namespace}
    if destination.port is not None:
        found["port"] = destination.port
    for name in ("timeout", "idle_timeout", "connect_timeout"):
        value = getattr(destination, name)
        if value is not None:
            found[camel(name)] = str(value)
    blocks: tuple[tuple[str, Any, Any], ...] = (
        ("retries", destination.retries, Retries()),
        ("circuitBreakers", destination.circuit_breakers, CircuitBreakers()),
        ("outlierDetection", destination.outlier_detection, OutlierDetection()),
        ("connectionPool", destination.connection_pool, ConnectionPool()),
    )
    for key, block, default in blocks:
        if block is not None:
            found[key] = _block(block, default)
    if destination.rate_limit is not None:
        found["rateLimit"] = _rate_limit_document(destination.rate_limit)
    if destination.fault is not None:
        found["fault"] = _fault_document(destination.fault)
    if destination.mirror is not None:
        found["mirror"] = _plain_fields(destination.mirror)
    if destination.routes:
        found["routes"] = [_route_document(route) for route in destination.routes]
    return found


def _block(value: Any, default: Any) -> Document:
    """A block as written: changed fields only; nested blocks written whole when set."""
    found = _changed(value, default)
    for key, nested in list(found.items()):
        if isinstance(nested, RetryBudget | TcpKeepalive):
            found[key] = _block(nested, type(nested)())
        elif hasattr(nested, "__dataclass_fields__"):
            found[key] = _plain_fields(nested)
    return found


def _plain_fields(value: Any) -> Document:
    return {camel(f.name): _plain(getattr(value, f.name)) for f in fields(value)}


def _rate_limit_document(limit: RateLimit) -> Document:
    found: Document = {"requestsPerSecond": limit.requests_per_second}
    if limit.burst is not None:
        found["burst"] = limit.burst
    return found


def _fault_document(fault: Fault) -> Document:
    found: Document = {}
    if fault.delay is not None:
        found["delay"] = _plain_fields(fault.delay)
    if fault.abort is not None:
        found["abort"] = _plain_fields(fault.abort)
    return found


def _route_document(route: DestinationRoute) -> Document:
    found: Document = {}
    match = _rule_document(route.match)
    if match:
        found["match"] = match
    if route.backend is not None:
        found["backend"] = route.backend
    if route.rate_limit is not None:
        found["rateLimit"] = _rate_limit_document(route.rate_limit)
    return found


def _changed(value: Any, default: Any, *, skip: tuple[str, ...] = ()) -> Document:
    """The fields of a dataclass that differ from its default, keyed as the spec keys them."""
    found: Document = {}
    for field in fields(value):
        if field.name in skip:
            continue
        given = getattr(value, field.name)
        if given != getattr(default, field.name):
            found[camel(field.name)] = _plain(given)
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "value") and isinstance(value.value, str):  # a StrEnum
        return value.value
    return value


def egress_document(rule: EgressRule) -> Document:
    found: Document = {"name": rule.name, "namespace": rule.namespace}
    if rule.selector is not None:
        found["selector"] = dict(rule.selector)
    if rule.service_account is not None:
        found["serviceAccount"] = rule.service_account
    if rule.http is not None:
        found["http"] = _egress_hosts_document(rule.http, HTTP_DEFAULT_PORTS)
    if rule.tls is not None:
        found["tls"] = _egress_hosts_document(rule.tls, TLS_DEFAULT_PORTS)
    if rule.tcp is not None:
        found["tcp"] = _egress_addresses_document(rule.tcp)
    return found


def _egress_hosts_document(hosts: EgressHosts, default_ports: tuple[int, ...]) -> Document:
    found: Document = {"hosts": list(hosts.hosts)}
    if hosts.ports != default_ports:
        found["ports"] = list(hosts.ports)
    return found


def _egress_addresses_document(addresses: EgressAddresses) -> Document:
    return {"cidrs": list(addresses.cidrs), "ports": list(addresses.ports)}
