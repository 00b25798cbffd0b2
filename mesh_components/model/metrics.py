"""The app's own metrics: what a pod's `prometheus.io/*` annotations ask Prometheus to scrape,
and what the mesh makes of it once strict mTLS stands in front of every app port.

Prometheus cannot scrape an app port through the sidecar's mTLS listener, so the sidecar serves
the app's metrics after its own on its plaintext metrics port (Istio's metrics merging, done by
Envoy itself) and the pod's annotations point there. docs/sidecar.md ("Metrics") has the rules.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from mesh_components.model.service import Labels

PREFIX = "prometheus.io/"
SCRAPE = "prometheus.io/scrape"
PORT = "prometheus.io/port"
PATH = "prometheus.io/path"
SCHEME = "prometheus.io/scheme"
KEYS = (SCRAPE, PORT, PATH, SCHEME)
"""The annotations the mesh reads and, when it merges, replaces."""
DEFAULT_PATH = "/metrics"
"""Prometheus' default metrics path, used when `prometheus.io/path` is absent."""
MERGEABLE_SCHEME = "http"
"""Only plain-HTTP metrics are merged: the sidecar asks the app on loopback, in the pod."""
MAX_PORT = 65535


class Scraping(enum.StrEnum):
    """What the pod's Prometheus annotations become."""

    SIDECAR = "sidecar"
    """The pod says nothing about scraping: it is annotated for the sidecar's metrics."""
    MERGED = "merged"
    """The app's metrics are served after the sidecar's, on the sidecar's metrics port."""
    SIDECAR_ONLY = "sidecar-only"
    """Scraping is asked without a port to merge: the sidecar's metrics only."""
    AS_WRITTEN = "as-written"
    """Scraping is not asked (`scrape` other than "true"), or not mergeable (HTTPS): the
    annotations are left as the user wrote them."""


@dataclass(frozen=True, slots=True)
class AppMetrics:
    """Where the app serves its Prometheus metrics, inside the pod (plain HTTP)."""

    port: int
    path: str = DEFAULT_PATH


@dataclass(frozen=True, slots=True)
class ScrapeDecision:
    """The mesh's reading of a pod's Prometheus annotations. `app` is set when MERGED."""

    scraping: Scraping
    app: AppMetrics | None = None


def scrape_decision(annotations: Mapping[str, str] | Labels) -> ScrapeDecision:
    """What the annotations ask for. Total: a value `validate.metrics` would refuse leaves the
    annotations as written (the problem is reported there, not here)."""
    found = dict(annotations)
    if not any(key.startswith(PREFIX) for key in found):
        return ScrapeDecision(Scraping.SIDECAR)
    if not scrape_asked(found):
        return ScrapeDecision(Scraping.AS_WRITTEN)
    if found.get(SCHEME, MERGEABLE_SCHEME).strip().lower() != MERGEABLE_SCHEME:
        return ScrapeDecision(Scraping.AS_WRITTEN)
    if PORT not in found:
        return ScrapeDecision(Scraping.SIDECAR_ONLY)
    port, path = parsed_port(found[PORT]), found.get(PATH, DEFAULT_PATH).strip()
    if port is None or not is_metrics_path(path):
        return ScrapeDecision(Scraping.AS_WRITTEN)
    return ScrapeDecision(Scraping.MERGED, AppMetrics(port, path))


def scrape_asked(annotations: Mapping[str, str]) -> bool:
    """`prometheus.io/scrape: "true"` (the value Prometheus' usual relabelling keeps), or a
    `prometheus.io/port` given without any `scrape` annotation: a port says where to scrape."""
    if SCRAPE in annotations:
        return annotations[SCRAPE].strip() == "true"
    return PORT in annotations


def parsed_port(text: str) -> int | None:
    """A port number from 1 to 65535 written as digits, else None."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    port = int(text)
    return port if 1 <= port <= MAX_PORT else None


_PATH_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%?"
)


def is_metrics_path(path: str) -> bool:
    """An absolute URL path (a query allowed) of URL characters only: it is sent as is."""
    return path.startswith("/") and all(c in _PATH_CHARACTERS for c in path)
