"""The soak harness, run for ~20 seconds so it cannot rot (the real soak is `make soak`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.soak.harness import Soak, SoakConfig


def test_soak_harness_runs_and_finds_nothing_wrong(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = Soak(
        SoakConfig(
            duration_s=20,
            out=out,
            seed=7,
            data_dir=tmp_path / "srv",
            memory_interval_s=1.0,
            log=lambda _: None,
        )
    ).run()
    report = json.loads(out.read_text())
    # the harness itself worked: it wrote, fuzzed, read, checked and measured
    assert not report["crashes"], report["crashes"]
    kinds = report["requests"]["by_kind"]
    for kind in ("logs3", "merge", "oracle_btql", "oracle_fetch", "fuzz_btql", "fuzz_logs3", "healthz"):
        assert kinds.get(kind, {}).get("count", 0) > 0, (kind, sorted(kinds))
    assert report["oracle"]["checks"] > 0 and report["rows_acknowledged_live"] > 0
    assert report["memory"]["samples"] > 0 and report["memory"]["rss_peak_mib"] > 0
    assert result.line.startswith("SOAK ")
    # and the server gave no wrong answer, no 5xx, lost no row
    assert result.passed, (
        result.line
        + "\n"
        + json.dumps(
            {k: report[k] for k in ("failures", "oracle", "valid_rejected_samples", "lost_row_samples")},
            indent=1,
        )[:6000]
        + "\n"
        + json.dumps(report["requests"]["server_error_samples"][:5], indent=1)
    )
