"""One measurement in its own process, so peak RSS is this mesh's alone.

    python -m bench.compile_worker SERVICES MODE OUT_DIR [SAMPLE]

Prints one JSON line: compile+emit seconds (wall and CPU), json.dumps seconds of the same
documents, peak RSS, every workload's config size, and writes the median and the largest
workload's static bootstrap (for Envoy) into OUT_DIR.

With SAMPLE, only that many workloads (spread evenly) are planned and emitted: an open mesh of
1,000 services is 2,000 configs of about 1,000 clusters each, more than this machine's memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench.synthetic import synthetic_spec
from mesh_components.compiler import MeshIndex, plan_workload
from mesh_components.emit.envoy import EnvoyConfig, emit_workload
from mesh_components.model import MeshSpec
from mesh_components.model.loader import load_spec
from mesh_components.pipeline.build import build
from mesh_components.pipeline.envoy_check import throwaway_certificates
from mesh_components.validate import validate


def main(services: int, mode: str, out: Path, sample: int | None = None) -> dict[str, object]:
    spec = load_spec(synthetic_spec(services, mode=mode))
    clock, cpu = time.perf_counter(), time.process_time()
    configs = _sampled(spec, sample) if sample else [w.envoy for w in build(spec).workloads]
    files = [config.files() for config in configs]
    compile_emit, compile_emit_cpu = time.perf_counter() - clock, time.process_time() - cpu
    clock, cpu = time.perf_counter(), time.process_time()
    for config in configs:
        for document in config.documents().values():
            json.dumps(document, sort_keys=True)
    serialise, serialise_cpu = time.perf_counter() - clock, time.process_time() - cpu
    sizes = [sum(len(k) + len(v.encode()) for k, v in found.items()) for found in files]
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    out.mkdir(parents=True, exist_ok=True)
    for label, index in (("median", order[len(order) // 2]), ("largest", order[-1])):
        certs = out / f"certs-{label}"
        certs.mkdir(exist_ok=True)
        for name, pem in throwaway_certificates("spiffe://bench.invalid/ns/x/sa/y").items():
            (certs / name).write_bytes(pem)
        (out / f"{label}.yaml").write_text(configs[index].static_bootstrap_yaml(str(certs)))
    return {
        "services": services,
        "mode": mode,
        "workloads": len(spec.workloads),
        "sampled": len(configs) if sample else None,
        "compile_emit_s": compile_emit,
        "compile_emit_cpu_s": compile_emit_cpu,
        "json_dumps_s": serialise,
        "json_dumps_cpu_s": serialise_cpu,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "sizes": sizes,
    }


def _sampled(spec: MeshSpec, sample: int) -> list[EnvoyConfig]:
    valid = validate(spec)
    index = MeshIndex.of(valid)
    workloads = sorted(valid.workloads, key=lambda w: w.ref)
    step = max(1, len(workloads) // sample)
    return [
        emit_workload(plan_workload(index, w), valid.settings) for w in workloads[::step][:sample]
    ]


if __name__ == "__main__":
    sample = int(sys.argv[4]) if len(sys.argv) > 4 else None
    result = main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sample)
    print(json.dumps(result))
