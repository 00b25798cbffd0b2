"""The benchmark still runs end to end at its smallest sizes (`python -m bench.run --quick`).

Not a timed test: it checks that every measurement is taken and reported, so the benchmark
does not rot between the runs that produce docs/performance.md. The data plane part needs
root and Envoy; elsewhere the report says why it was skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import run


def test_the_quick_benchmark_measures_and_reports_everything(tmp_path: Path) -> None:
    run.main(["--quick", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "report.json").read_text())
    assert {(row["mode"], row["services"]) for row in report["compile"]} == {
        ("policy", 10),
        ("open", 10),
    }
    for row in report["compile"]:
        assert row["workloads"] == 20
        assert row["bytes_median"] > 10_000
        assert row["compile_emit_s"]["median"] > 0
    incremental = report["incremental"]
    assert incremental["changed"] == incremental["callers"] > 0
    assert incremental["same_as_callers"]
    [render] = report["render"]
    assert render["objects"] > 20
    dataplane = report["dataplane"]
    if "skipped" in dataplane:
        print(f"data plane skipped: {dataplane['skipped']}")
    else:
        assert set(dataplane["percentiles"]) == {"direct", "minimal", "generated"}
        assert all(p["count"] == 20 for p in dataplane["percentiles"].values())
        assert dataplane["memory_kib"]["generated"]["VmRSS"] > 0
    names = {target["target"] for target in report["targets"]}
    assert "one weight change: only the service's callers change" in names
    text = (tmp_path / "report.md").read_text()
    assert "## Targets" in text
    assert "## Pulumi render (recording engine)" in text
