"""Every generated name: Envoy listeners, clusters, route configs and secrets, DNS names, files.

A naming change shows up here and in the goldens, nowhere else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mesh_components.model import Identity, ServiceRef, WorkloadRef

# Envoy resource names.
OUTBOUND_LISTENER = "outbound"
INBOUND_LISTENER = "inbound"
PROMETHEUS_LISTENER = "prometheus"
ADMIN_CLUSTER = "envoy-admin"
DENY_CLUSTER = "deny"
TRACING_CLUSTER = "tracing-collector"
IDENTITY_CERT_SECRET = "identity-cert"
MESH_CA_SECRET = "mesh-ca"
DEFAULT_NAMESPACE = "default"
"""Where a namespaced object that names no namespace goes (kubectl's default)."""
DEFAULT_SERVICE_ACCOUNT = "default"
"""The ServiceAccount of a pod that names none; every namespace has one."""

# Files the sidecar reads: the config volume (a ConfigMap) and the certificate volume (a Secret).
CONFIG_DIR = "/etc/mesh/config"
CERTS_DIR = "/etc/mesh/certs"
BOOTSTRAP_FILE = "bootstrap.yaml"
STATIC_BOOTSTRAP_FILE = "bootstrap-static.yaml"
LDS_FILE = "lds.yaml"
CDS_FILE = "cds.yaml"
CERT_SDS_FILE = "sds-identity-cert.yaml"
CA_SDS_FILE = "sds-mesh-ca.yaml"
CERT_CHAIN_FILE = "tls.crt"
PRIVATE_KEY_FILE = "tls.key"
CA_BUNDLE_FILE = "ca.crt"

_COMPANION_SUFFIX = "-mesh"
_DNS_LABEL_MAX = 63


def upstream_cluster(service: ServiceRef, port: int) -> str:
    """One upstream cluster per (backend service, port), as OSM names them."""
    return f"{service.namespace}/{service.name}|{port}"


def local_cluster(port: int) -> str:
    """The app on 127.0.0.1:`port`."""
    return f"local|{port}"


LOCAL_TLS_CLUSTER_PREFIX = "local-tls|"


def local_tls_cluster(port: int) -> str:
    """The app's HTTPS port on 127.0.0.1:`port`, spoken to over TLS (HTTPS probes). Its own
    name, so it never collides with a plaintext `local_cluster` of the same port."""
    return f"{LOCAL_TLS_CLUSTER_PREFIX}{port}"


def outbound_route_config(port: int) -> str:
    return f"outbound|{port}"


def inbound_route_config(service: ServiceRef, port: int) -> str:
    return f"inbound|{service.namespace}/{service.name}|{port}"


def probe_listener(kind: str) -> str:
    return f"probe-{kind}"


def outbound_chain(port: int) -> str:
    return f"outbound|{port}"


def inbound_chain(service: ServiceRef, port: int, *, tls: bool = True) -> str:
    base = f"inbound|{service.namespace}/{service.name}|{port}"
    return base if tls else f"{base}|plaintext"


def inbound_tls_passthrough_chain(service: ServiceRef, port: int) -> str:
    """Permissive mode: TLS from a client outside the mesh, passed to the app undecrypted."""
    return f"inbound|{service.namespace}/{service.name}|{port}|tls-passthrough"


def ingress_plaintext_chain(target_port: int) -> str:
    """Plaintext ingress clients from declared IP ranges, on one app port."""
    return f"inbound|ingress|{target_port}|plaintext"


def node_id(workload: WorkloadRef) -> str:
    return f"{workload.namespace}/{workload.name}"


def service_fqdn(service: ServiceRef, cluster_domain: str) -> str:
    """The name clients use and the SNI upstream TLS sends."""
    return f"{service.name}.{service.namespace}.svc.{cluster_domain}"


def companion_service(service_name: str) -> str:
    """The headless Service that gives Envoy a service's ready pod IPs.

    Kept within a DNS label: long names are cut and made unique with a short hash.
    """
    name = f"{service_name}{_COMPANION_SUFFIX}"
    if len(name) <= _DNS_LABEL_MAX:
        return name
    digest = hashlib.sha256(service_name.encode()).hexdigest()[:8]
    keep = _DNS_LABEL_MAX - len(_COMPANION_SUFFIX) - len(digest) - 1
    return f"{service_name[:keep].rstrip('-')}-{digest}{_COMPANION_SUFFIX}"


def companion_address(service: ServiceRef, cluster_domain: str) -> str:
    """Absolute DNS name (trailing dot) of the companion, so no search-path walk happens."""
    companion = ServiceRef(service.namespace, companion_service(service.name))
    return f"{service_fqdn(companion, cluster_domain)}."


# Added for emit/envoy: names inside listeners and route configs, and where the volumes are.
OUTBOUND_DENY_CHAIN = "outbound|deny"
DENY_VIRTUAL_HOST = "not-a-mesh-destination"
LOCAL_VIRTUAL_HOST = "local"
PROMETHEUS_ROUTE_CONFIG = "prometheus"
PROMETHEUS_PATH = "/stats/prometheus"
SDS_FILES = {IDENTITY_CERT_SECRET: CERT_SDS_FILE, MESH_CA_SECRET: CA_SDS_FILE}
"""The file of each secret's SDS subscription: file-based SDS holds exactly one secret."""


# Egress: the way out of the mesh (emit/envoy/egress.py).
EGRESS_CLUSTER_PREFIX = "egress|"
EGRESS_HTTP_CLUSTER = "egress|http"
EGRESS_TLS_CLUSTER = "egress|tls"
EGRESS_PASSTHROUGH_CLUSTER = "egress|passthrough"
EGRESS_PASSTHROUGH_CHAIN = "outbound|passthrough"
EGRESS_VIRTUAL_HOST = "egress"
EGRESS_PASSTHROUGH_VIRTUAL_HOST = "not-a-mesh-destination-passthrough"
EGRESS_DNS_CACHE = "egress"


def egress_chain(kind: str, port: int) -> str:
    """An outbound chain of egress only: `egress|tls|443` (kind: http, tls or tcp)."""
    return f"egress|{kind}|{port}"


def egress_route_config(port: int) -> str:
    return f"egress|{port}"


def outbound_virtual_host(service: ServiceRef) -> str:
    return f"{service.namespace}/{service.name}"


def probe_route_config(kind: str) -> str:
    return f"probe-{kind}"


def stat_prefix(name: str) -> str:
    """A listener or chain name as a stats prefix: `inbound|ns/svc|80` gives `inbound_ns_svc_80`.

    No `.`, which would nest the stats, and no `|` or `/`, which exporters mangle.
    """
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def node_cluster(identity: Identity) -> str:
    """Envoy's service cluster for a sidecar: `<service account>.<namespace>`."""
    return f"{identity.service_account}.{identity.namespace}"


@dataclass(frozen=True, slots=True)
class VolumePaths:
    """Where a sidecar finds its config volume and its certificate volume.

    Always the defaults in a pod; tests point them at a temporary directory.
    """

    config_dir: str = CONFIG_DIR
    certs_dir: str = CERTS_DIR

    def config_file(self, name: str) -> str:
        return f"{self.config_dir}/{name}"

    def cert_file(self, name: str) -> str:
        return f"{self.certs_dir}/{name}"


# Kubernetes objects, volumes, containers and annotations.
ANNOTATION_PREFIX = "mesh-components.io"
INJECT_ANNOTATION = f"{ANNOTATION_PREFIX}/inject"
"""`"false"` on a pod template (or its workload) opts it out of injection."""
CONFIG_HASH_ANNOTATION = f"{ANNOTATION_PREFIX}/config-hash"
OUTBOUND_PORT_EXCLUSIONS_ANNOTATION = f"{ANNOTATION_PREFIX}/outbound-port-exclusions"
INBOUND_PORT_EXCLUSIONS_ANNOTATION = f"{ANNOTATION_PREFIX}/inbound-port-exclusions"
PROXY_LOG_LEVEL_ANNOTATION = f"{ANNOTATION_PREFIX}/proxy-log-level"
OUTBOUND_IP_RANGE_EXCLUSIONS_ANNOTATION = f"{ANNOTATION_PREFIX}/outbound-ip-range-exclusions"
OUTBOUND_IP_RANGE_INCLUSIONS_ANNOTATION = f"{ANNOTATION_PREFIX}/outbound-ip-range-inclusions"
MESH_LABEL = f"{ANNOTATION_PREFIX}/mesh"
PROXY_CONTAINER = "mesh-proxy"
INIT_CONTAINER = "mesh-init"
CONFIG_VOLUME = "mesh-proxy-config"
CERTS_VOLUME = "mesh-proxy-certs"


def proxy_config_map(workload_name: str) -> str:
    """The ConfigMap holding one workload's bootstrap, LDS, CDS and SDS files."""
    return f"{workload_name}-mesh-proxy"


def identity_secret(service_account: str) -> str:
    """The Secret holding one identity's certificate, key and CA bundle."""
    return f"{service_account}-mesh-identity"


def probe_path(container: str) -> str:
    """The path a rewritten HTTP, HTTPS or TCP probe of `container` asks the sidecar for."""
    return f"/{container}"


# Probes and the sidecar's own readiness (emit/envoy and emit/kubernetes share these).
HEALTH_CHECK_PROBES = "health-check"
"""The probe listener and route config answering rewritten tcpSocket probes."""
GRPC_HEALTH_PREFIX = "/grpc.health.v1.Health/"
"""Every call of the gRPC health service, which the kubelet's gRPC probes use."""
PROXY_READY_PATH = "/ready"
"""The admin interface's readiness page, also served on the Prometheus listener."""
ORIGINAL_PROBES_ANNOTATION = f"{ANNOTATION_PREFIX}/original-probes"
"""The app probes as written and as rewritten, so injecting again restores and redoes them."""


APP_METRICS_ANNOTATION = f"{ANNOTATION_PREFIX}/app-metrics"
"""The pod's own `prometheus.io/*` annotations, as written, when injection pointed them at the
sidecar; injecting again restores them first (model/metrics.py)."""


def app_metrics_cluster(port: int) -> str:
    """The app's metrics on 127.0.0.1:`port`, which the Prometheus listener merges with the
    sidecar's (its own cluster: HTTP/1.1 and a short timeout, whatever the app port speaks)."""
    return f"local-metrics|{port}"


def health_check_cluster(port: int) -> str:
    """An actively health-checked TCP cluster for the app on 127.0.0.1:`port`."""
    return f"health|{port}"
