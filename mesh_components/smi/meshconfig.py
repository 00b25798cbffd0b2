"""OSM's MeshConfig (`config.openservicemesh.io` v1alpha1, v1alpha2) as mesh settings.

Carried over: permissive traffic policy mode (`access: open`), egress passthrough
(`enableEgress`), the sidecar's log level and resources, the interception exclusions, and the
certificate lifetime and RSA key size.
Settings of OSM's own components (its images, controller log level, debug server, xDS resync)
mean nothing without OSM's control plane: they are notes. Fields OSM's schema does not have
were pruned by the API server, so OSM never saw them: notes too. Anything else that changes how
the mesh behaves and that this mesh cannot do (tracing, external
authorization, TLS version or cipher choices, ingress certificates) is a problem, unless it is
set to OSM's default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from mesh_components.errors import Problem
from mesh_components.model import (
    AccessMode,
    CertificateSettings,
    EgressMode,
    Interception,
    KeyType,
    LogLevel,
    MeshSettings,
    Resources,
)
from mesh_components.smi.documents import Document
from mesh_components.smi.fields import WRONG_TYPE, describe
from mesh_components.smi.imported import Note

VERSIONS = ("v1alpha1", "v1alpha2")
UNSUPPORTED = "smi-meshconfig-unsupported"

_COMPONENT_ONLY = {
    "sidecar.envoyImage": "OSM's Envoy image; the sidecar stays mesh.proxy.image (Envoy 1.40)",
    "sidecar.envoyWindowsImage": "Windows pods are not supported",
    "sidecar.initContainerImage": "OSM's init image lacks ip6tables-restore; ours is kept",
    "sidecar.configResyncInterval": "configs are files, not xDS: there is nothing to resync",
    "sidecar.enablePrivilegedInitContainer": "the init container needs only NET_ADMIN/NET_RAW",
    "observability.osmLogLevel": "the log level of OSM's controller, which is gone",
    "observability.enableDebugServer": "OSM's controller debug server, which is gone",
    "featureFlags.enableSnapshotCacheMode": "an OSM controller internal",
    "featureFlags.enableAsyncProxyServiceMapping": "an OSM controller internal",
    "featureFlags.enableIngressBackendPolicy": "IngressBackends are imported as ingress entries",
}
_DEFAULT_ONLY: dict[str, tuple[object, str]] = {
    "sidecar.maxDataPlaneConnections": (0, "no per-proxy connection limit is supported"),
    "sidecar.tlsMinProtocolVersion": ("TLSv1_2", "the TLS versions are the mesh's own"),
    "sidecar.tlsMaxProtocolVersion": ("TLSv1_3", "the TLS versions are the mesh's own"),
    "sidecar.cipherSuites": ([], "the cipher suites are the mesh's own"),
    "sidecar.ecdhCurves": ([], "the key exchange groups are the mesh's own"),
    "sidecar.localProxyMode": ("Localhost", "the sidecar reaches the app on localhost only"),
    "traffic.networkInterfaceExclusionList": ([], "interfaces cannot be excluded"),
    "traffic.inboundExternalAuthorization.enable": (False, "external authorization"),
    "observability.tracing.enable": (False, "tracing is not supported yet"),
    **{
        f"featureFlags.{flag}": (False, "this OSM feature is not supported")
        for flag in (
            "enableWASMStats",
            "enableMulticlusterMode",
            "enableEnvoyActiveHealthChecks",
            "enableRetryPolicy",
            "enableMeshRootCertificate",
        )
    },
}
_IGNORED_WHEN_OFF = ("traffic.inboundExternalAuthorization.", "observability.tracing.")
_INTERCEPTION = {
    "traffic.outboundIPRangeExclusionList": "outbound_ip_range_exclusions",
    "traffic.outboundIPRangeInclusionList": "outbound_ip_range_inclusions",
    "traffic.outboundPortExclusionList": "outbound_port_exclusions",
    "traffic.inboundPortExclusionList": "inbound_port_exclusions",
}
_MAPPED = (
    "traffic.enablePermissiveTrafficPolicyMode",
    "traffic.enableEgress",
    "featureFlags.enableEgressPolicy",
    "sidecar.logLevel",
    "sidecar.resources.requests.cpu",
    "sidecar.resources.requests.memory",
    "sidecar.resources.limits.cpu",
    "sidecar.resources.limits.memory",
    "certificate.serviceCertValidityDuration",
    "certificate.certKeyBitSize",
    *_INTERCEPTION,
)
_REJECTED = {
    "certificate.ingressGateway": (
        "the mesh issues each ingress identity its own certificate Secret: remove it, and let "
        "the IngressBackend's AuthenticatedPrincipal name the controller (docs/ingress.md)"
    )
}
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_LOG_LEVELS = {"warn": LogLevel.WARNING, **{level.value: level for level in LogLevel}}


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """What a MeshConfig sets: the settings, and whether it chose the access mode."""

    settings: MeshSettings
    access_set: bool


def apply_meshconfig(
    doc: Document, settings: MeshSettings, problems: list[Problem], notes: list[Note]
) -> MeshConfig:
    """`settings` with everything the MeshConfig sets that this mesh can honour."""
    spec = doc.body.get("spec")
    at = f"{doc.path}.spec"
    if spec is not None and not isinstance(spec, dict):
        problems.append(Problem(at, WRONG_TYPE, "a mapping", describe(spec), "make it a mapping"))
    leaves = dict(_leaves(spec if isinstance(spec, dict) else {}, ""))
    for key, value in leaves.items():
        _check(f"{at}.{key}", key=key, value=value, leaves=leaves, problems=problems, notes=notes)
    before = len(problems)
    found = _settings(settings, leaves, at, problems, notes)
    access_set = "traffic.enablePermissiveTrafficPolicyMode" in leaves
    return MeshConfig(found if len(problems) == before else settings, access_set)


def _leaves(node: dict[str, Any], prefix: str) -> list[tuple[str, object]]:
    """Every (dotted path, value) under `node`; lists and empty mappings are leaves."""
    found: list[tuple[str, object]] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        keep_whole = path in _REJECTED or not isinstance(value, dict) or not value
        found.extend([(path, value)] if keep_whole else _leaves(value, f"{path}."))
    return found


def _check(
    path: str,
    *,
    key: str,
    value: object,
    leaves: dict[str, object],
    problems: list[Problem],
    notes: list[Note],
) -> None:
    if key in _MAPPED or value == {}:
        return
    if key.startswith("sidecar.resources."):
        fix = "only cpu and memory requests and limits are supported"
        problems.append(Problem(path, UNSUPPORTED, "cpu or memory", repr(key), fix))
    elif key in _COMPONENT_ONLY:
        notes.append(Note(path, f"not carried over: {_COMPONENT_ONLY[key]}"))
    elif key in _DEFAULT_ONLY:
        default, reason = _DEFAULT_ONLY[key]
        if value != default:
            fix = f"set it to {default!r} or remove it ({reason})"
            problems.append(Problem(path, UNSUPPORTED, repr(default), repr(value), fix))
    elif key in _REJECTED:
        problems.append(Problem(path, UNSUPPORTED, "nothing", "a setting", _REJECTED[key]))
    elif any(key.startswith(p) and leaves.get(f"{p}enable") is False for p in _IGNORED_WHEN_OFF):
        return
    else:
        notes.append(Note(path, _pruned(key)))


def _pruned(key: str) -> str:
    leaf = key.rpartition(".")[2]
    home = next((k for k in (*_MAPPED, *_DEFAULT_ONLY) if k.endswith(f".{leaf}")), None)
    where = f"; it belongs at spec.{home}" if home else ""
    return f"not in OSM's MeshConfig schema: the API server dropped it, so OSM never saw it{where}"


def _settings(
    settings: MeshSettings,
    leaves: dict[str, object],
    at: str,
    problems: list[Problem],
    notes: list[Note],
) -> MeshSettings:
    def wrong(key: str, expected: str) -> None:
        fix = f"write {expected}, as OSM's MeshConfig schema has it"
        problems.append(Problem(f"{at}.{key}", UNSUPPORTED, expected, repr(leaves[key]), fix))

    proxy = settings.proxy
    permissive = leaves.get("traffic.enablePermissiveTrafficPolicyMode")
    access = settings.access
    if permissive is not None:
        if not isinstance(permissive, bool):
            wrong("traffic.enablePermissiveTrafficPolicyMode", "true or false")
        access = AccessMode.OPEN if permissive is True else AccessMode.POLICY
    level = leaves.get("sidecar.logLevel")
    log_level = proxy.log_level
    if level is not None:
        log_level = _LOG_LEVELS.get(str(level).lower(), log_level)
        if str(level).lower() not in _LOG_LEVELS:
            wrong("sidecar.logLevel", f"one of {', '.join(_LOG_LEVELS)}")
    proxy = replace(
        proxy,
        log_level=log_level,
        resources=_resources(proxy.resources, leaves, wrong),
        interception=_interception(proxy.interception, leaves, wrong),
    )
    certificates = _certificates(settings.certificates, leaves, wrong, at, notes)
    egress = _egress(settings.egress, leaves, wrong)
    return replace(settings, access=access, proxy=proxy, certificates=certificates, egress=egress)


def _egress(mode: EgressMode, leaves: dict[str, object], wrong: Any) -> EgressMode:
    """`enableEgress: true` lets everything out (passthrough); Egress policies are imported
    either way, and `enableEgressPolicy` (on by default in OSM) is the switch for them."""
    for key in ("traffic.enableEgress", "featureFlags.enableEgressPolicy"):
        if key in leaves and not isinstance(leaves[key], bool):
            wrong(key, "true or false")
    enabled = leaves.get("traffic.enableEgress")
    if isinstance(enabled, bool):
        return EgressMode.PASSTHROUGH if enabled else EgressMode.DENY
    return mode


def _resources(resources: Resources, leaves: dict[str, object], wrong: Any) -> Resources:
    fields = {
        "sidecar.resources.requests.cpu": "cpu_request",
        "sidecar.resources.requests.memory": "memory_request",
        "sidecar.resources.limits.cpu": "cpu_limit",
        "sidecar.resources.limits.memory": "memory_limit",
    }
    given: dict[str, str] = {}
    for key, field in fields.items():
        value = leaves.get(key)
        if isinstance(value, int | str) and not isinstance(value, bool):
            given[field] = str(value)
        elif value is not None:
            wrong(key, "a Kubernetes quantity")
    return replace(resources, **given)


def _interception(
    interception: Interception, leaves: dict[str, object], wrong: Any
) -> Interception:
    given: dict[str, tuple[Any, ...]] = {}
    for key, field in _INTERCEPTION.items():
        value = leaves.get(key)
        kind = str if "IPRange" in key else int
        if isinstance(value, list) and all(isinstance(v, kind) for v in value):
            given[field] = tuple(value)
        elif value is not None:
            wrong(key, f"a list of {'CIDRs' if kind is str else 'port numbers'}")
    return replace(interception, **given)


def _certificates(
    certificates: CertificateSettings,
    leaves: dict[str, object],
    wrong: Any,
    at: str,
    notes: list[Note],
) -> CertificateSettings:
    found = certificates
    validity = leaves.get("certificate.serviceCertValidityDuration")
    if validity is not None:
        hours = _hours(validity)
        if hours is None:
            wrong("certificate.serviceCertValidityDuration", "a whole number of hours, as 24h")
        else:
            found = replace(found, validity_hours=hours, renew_before_hours=max(1, hours // 3))
            message = (
                f"certificates live {hours}h and are renewed in their last {max(1, hours // 3)}h: "
                "render (or pulumi up) more often than that, or use cert-manager"
            )
            notes.append(Note(f"{at}.certificate.serviceCertValidityDuration", message))
    bits = leaves.get("certificate.certKeyBitSize")
    if bits is not None:
        sizes = {2048: KeyType.RSA_2048, 3072: KeyType.RSA_3072}
        key_type = sizes.get(bits) if isinstance(bits, int) else None
        if key_type is None:
            wrong("certificate.certKeyBitSize", "2048 or 3072")
        else:
            found = replace(found, key_type=key_type)
    return found


def _hours(value: object) -> int | None:
    """A Go duration of whole hours (`24h`, `1440m`, `8760h0m0s`) as hours."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) and value else None
    if match is None:
        return None
    h, m, s = (int(part or 0) for part in match.groups())
    seconds = h * 3600 + m * 60 + s
    return seconds // 3600 if seconds and seconds % 3600 == 0 else None
