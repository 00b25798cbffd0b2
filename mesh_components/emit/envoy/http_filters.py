"""The inbound HTTP filters a destination declares, in their order in the chain:
RBAC (authorization first), then the local rate limit, then fault injection, then the router.

A denied caller never spends a token, and a rate-limited request is never delayed by a fault.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh_components.compiler.plan import InboundPort
from mesh_components.emit.envoy import rbac
from mesh_components.emit.envoy.types import FAULT, LOCAL_RATE_LIMIT, Json, typed
from mesh_components.model import Fault, RateLimit

_ALWAYS = {"numerator": 100, "denominator": "HUNDRED"}
_REFILL = "1s"
RATE_LIMITED_HEADER = "x-mesh-rate-limited"


def inbound_http_filters(port: InboundPort, stat_prefix: str) -> list[Json]:
    """Every filter in front of the router, in order."""
    found: Sequence[Json | None] = (
        None if port.access is None else rbac.http_filter(port.access),
        _rate_limit_filter(port, stat_prefix),
        None if port.limits.fault is None else fault_filter(port.limits.fault),
    )
    return [f for f in found if f is not None]


def _rate_limit_filter(port: InboundPort, stat_prefix: str) -> Json | None:
    """Present when the port or one of its routes is limited. Without a port-wide bucket the
    filter passes everything, except on routes whose own config carries one."""
    limits = port.limits
    if not limits.rate_limited:
        return None
    if limits.rate_limit is None:
        return LOCAL_RATE_LIMIT.config(stat_prefix=stat_prefix)
    return LOCAL_RATE_LIMIT.config(**rate_limit_config(limits.rate_limit, stat_prefix))


def rate_limit_config(limit: RateLimit, stat_prefix: str) -> Json:
    """A token bucket shared by the sidecar's workers (so the limit is per pod), enabled and
    enforced for every request; beyond it, Envoy answers 429 with a header saying why."""
    bucket = {
        "max_tokens": limit.max_tokens,
        "tokens_per_fill": limit.requests_per_second,
        "fill_interval": _REFILL,
    }
    header = {
        "header": {"key": RATE_LIMITED_HEADER, "value": "true"},
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
    }
    return {
        "stat_prefix": stat_prefix,
        "token_bucket": bucket,
        "filter_enabled": {
            "runtime_key": "mesh_rate_limit_enabled",
            "default_value": dict(_ALWAYS),
        },
        "filter_enforced": {
            "runtime_key": "mesh_rate_limit_enforced",
            "default_value": dict(_ALWAYS),
        },
        "response_headers_to_add": [header],
    }


def per_route_rate_limit(limit: RateLimit, stat_prefix: str) -> Json:
    """`typed_per_filter_config` for a route with its own bucket (replacing the port's)."""
    config = typed(LOCAL_RATE_LIMIT.url, **rate_limit_config(limit, stat_prefix))
    return {LOCAL_RATE_LIMIT.name: config}


def fault_filter(fault: Fault) -> Json:
    """A fixed delay and/or an abort, each for a share of the requests."""
    fields: Json = {}
    if fault.delay is not None:
        delay = fault.delay
        fields["delay"] = {
            "fixed_delay": delay.duration.envoy,
            "percentage": fraction(delay.percent),
        }
    if fault.abort is not None:
        abort = fault.abort
        fields["abort"] = {"http_status": abort.status, "percentage": fraction(abort.percent)}
    return FAULT.config(**fields)


def fraction(percent: float) -> Json:
    """Envoy's FractionalPercent: out of a hundred when whole, else out of a million."""
    if float(percent).is_integer():
        return {"numerator": int(percent), "denominator": "HUNDRED"}
    return {"numerator": round(percent * 10_000), "denominator": "MILLION"}
