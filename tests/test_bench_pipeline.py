"""Smoke test of benchmarks/bench_pipeline.py: the quick mode runs and reports sane figures.

It checks the benchmark works (both sizes, both modes, baselines, every message opened), never
a timing target: figures from --quick on a shared machine mean nothing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pipeline.py"


def test_quick_run_reports_both_sizes_and_modes(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Message pipeline" in proc.stdout
    result = json.loads(out.read_text())
    assert result["quick"] is True
    assert set(result["sizes"]) == {"1 MiB", "100 KiB"}
    for label, floats in (("1 MiB", 262_144), ("100 KiB", 25_600)):
        size = result["sizes"][label]
        assert size["payload_bytes"] == floats * 4
        for name in (
            "pipeline.stream",
            "pipeline.serial",
            "baseline.secretbox",
            "baseline.secretbox_easy",
            "raw.stream",
            "raw.serial",
            "step.seal",
            "step.open",
        ):
            mbps = size["metrics"][name]["mbps_median"]
            assert math.isfinite(mbps) and mbps > 0, (label, name, mbps)
        for mode in ("stream", "serial"):
            ratio = size["ratios"][f"pipeline.{mode}/baseline.secretbox"]["of_medians"]
            assert math.isfinite(ratio) and ratio > 0
        checks = size["stream_checks"]
        assert checks["payload_ok"] and checks["rejected"] == 0
    assert set(result["target"]) == {"streaming", "serial"}
    assert result["machine"]["versions"]["pynacl"]
