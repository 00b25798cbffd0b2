"""One measurement in its own process, so peak RSS is this mesh's alone.

    python -m bench.compile_worker SERVICES MODE OUT_DIR

Prints one JSON line: compile+emit seconds, json.dumps seconds of the same documents, peak RSS,
every workload's config size, and writes the median and the largest workload's static
bootstrap (for Envoy) into OUT_DIR.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench.synthetic import synthetic_spec
from mesh_components.envoy_check import throwaway_certificates
from mesh_components.model.loader import load_spec
from mesh_components.pipeline import build


def main(services: int, mode: str, out: Path) -> dict[str, object]:
    spec = load_spec(synthetic_spec(services, mode=mode))
    started = time.perf_counter()
    mesh = build(spec)
    files = [workload.envoy.files() for workload in mesh.workloads]
    compile_emit = time.perf_counter() - started
    started = time.perf_counter()
    for workload in mesh.workloads:
        for document in workload.envoy.documents().values():
            json.dumps(document, sort_keys=True)
    serialise = time.perf_counter() - started
    sizes = [sum(len(k) + len(v.encode()) for k, v in found.items()) for found in files]
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    out.mkdir(parents=True, exist_ok=True)
    for label, index in (("median", order[len(order) // 2]), ("largest", order[-1])):
        workload = mesh.workloads[index]
        certs = out / f"certs-{label}"
        certs.mkdir(exist_ok=True)
        for name, pem in throwaway_certificates("spiffe://bench.invalid/ns/x/sa/y").items():
            (certs / name).write_bytes(pem)
        (out / f"{label}.yaml").write_text(workload.envoy.static_bootstrap_yaml(str(certs)))
    return {
        "services": services,
        "mode": mode,
        "workloads": len(mesh.workloads),
        "compile_emit_s": compile_emit,
        "json_dumps_s": serialise,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "sizes": sizes,
    }


if __name__ == "__main__":
    result = main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
    print(json.dumps(result))
