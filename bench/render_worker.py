"""The Pulumi program in bench/pulumi_program rendered under the recording engine, in its own
process, as `python -m mesh_components render` would (without writing the files).

    python -m bench.render_worker SERVICES MODE

Prints one JSON line: seconds to record the program, to turn the recording into manifests,
how many objects and bytes, and the process's peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from mesh_components.pki import ca_file
from mesh_components.recording import record
from mesh_components.recording.manifests import kubernetes_objects, manifest_tree

PROGRAM = Path(__file__).parent / "pulumi_program"


def main(services: int, mode: str) -> dict[str, object]:
    ca = ca_file.text_of(ca_file.CaFile(current=ca_file.new_seed(datetime.now(UTC))))
    config = {"ca": ca, "services": str(services), "mode": mode}
    started = time.perf_counter()
    recording = record(PROGRAM, config=config)
    recorded = time.perf_counter() - started
    objects = kubernetes_objects(recording)
    files = manifest_tree(objects)
    total = time.perf_counter() - started
    return {
        "services": services,
        "mode": mode,
        "record_s": recorded,
        "render_s": total,
        "objects": len(objects),
        "bytes": sum(len(text.encode()) for text in files.values()),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])))
