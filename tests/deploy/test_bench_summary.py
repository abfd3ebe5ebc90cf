"""bench/summary.py (`make bench`): runs benchmarks, tabulates figures against targets and ceilings,
and rewrites only the Summary section of docs/benchmarks.md."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from swarmscope_deploy_support import ROOT

SCRIPT = ROOT / "bench" / "summary.py"


def _summary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("swarmscope_bench_summary", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["swarmscope_bench_summary"] = module
    spec.loader.exec_module(module)
    return module


summary = _summary()

GOOD = """
print("ingest: 16,200 events/s (median of 3)")
print('BENCH_RESULT {"bench": "fake_good", "figures": [{"figure": "e2e events/s", "value": 16200.5, "unit": "events/s", "target": ">= 15000", "ceiling": 36000.0}, {"figure": "p99 latency", "value": 0.08, "unit": "s", "target": "<= 0.05", "ceiling": null}]}')
"""
FAILING = 'print("about to fail")\nraise SystemExit(3)\n'
SILENT = 'print("forgot the result line")\n'


def _bench_dir(tmp_path: Path) -> Path:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "fake_good.py").write_text(GOOD)
    (bench / "fake_failing.py").write_text(FAILING)
    (bench / "fake_silent.py").write_text(SILENT)
    (bench / "_helper.py").write_text("raise SystemExit('helpers are not benchmarks')\n")
    return bench


def test_targets_are_evaluated() -> None:
    assert summary.target_met(16000, ">= 15000") is True
    assert summary.target_met(14000, "≥ 15,000") is False
    assert summary.target_met(0.04, "<= 0.05") is True
    assert summary.target_met(0.04, "< 50 ms") is True
    assert summary.target_met(3.1, "≤ 3") is False
    assert summary.target_met(0, "== 0") is True
    assert summary.target_met(1200, "1000") is True  # a bare number is a floor
    assert summary.target_met(1, None) is None
    assert summary.target_met(1, "as fast as possible") is None


def test_run_tabulates_every_figure_and_rewrites_only_the_summary(tmp_path: Path) -> None:
    bench = _bench_dir(tmp_path)
    docs = tmp_path / "benchmarks.md"
    docs.write_text(
        "# Benchmarks\n\n## Pipeline (ingest and store)\n\nhand-written figures stay\n\n"
        "## Summary\n\n<!-- summary:start -->\nold table\n<!-- summary:end -->\n\n## Replay\n\nmore prose\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--bench-dir",
            str(bench),
            "--docs",
            str(docs),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path)},
    )
    # Two benchmarks failed to produce figures: reported, and the exit status says so.
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "16,200" in out
    assert "36,000" in out
    assert ">= 15000" in out
    assert "yes" in out
    assert "NO" in out
    assert "exit status 3" in out
    assert "no BENCH_RESULT line" in out
    assert "helpers are not benchmarks" not in out
    text = docs.read_text()
    assert "hand-written figures stay" in text
    assert "more prose" in text
    assert "old table" not in text
    assert text.count("<!-- summary:start -->") == 1
    assert "| fake_good | e2e events/s | 16,200 | events/s | >= 15000 | 36,000 | yes |" in text
    assert "| fake_good | p99 latency | 0.08 | s | <= 0.05 | — | NO |" in text
    assert "failed: exit status 3" in text
    assert (tmp_path / "logs" / "fake_good.log").read_text().startswith("ingest: 16,200")


def test_logs_can_be_summarised_without_running(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "fake_good.log").write_text(
        'noise\nBENCH_RESULT {"bench": "early", "figures": [{"figure": "x", "value": 1}]}\n'
        'BENCH_RESULT {"bench": "fake_good", "figures": [{"figure": "rate", "value": 5, "unit": "ops", "target": "> 4"}]}\n'
    )
    docs = tmp_path / "new" / "benchmarks.md"
    assert summary.main(["--from-logs", str(logs), "--docs", str(docs)]) == 0
    text = docs.read_text()
    # The last result line counts; a missing document is created with the markers.
    assert "| fake_good | rate | 5 | ops | > 4 | — | yes |" in text
    assert text.startswith("# Benchmarks")
    assert "<!-- summary:end -->" in text


def test_a_document_without_markers_gets_a_summary_section_appended(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## SDK\n\nsdk figures\n")
    summary.update_docs(docs, "<!-- summary:start -->\nT\n<!-- summary:end -->")
    assert (
        docs.read_text()
        == "# Benchmarks\n\n## SDK\n\nsdk figures\n\n## Summary\n\n<!-- summary:start -->\nT\n<!-- summary:end -->\n"
    )


def test_unknown_benchmark_names_are_refused(tmp_path: Path) -> None:
    bench = _bench_dir(tmp_path)
    with pytest.raises(SystemExit, match="no such benchmark: nope"):
        summary.main(["--bench-dir", str(bench), "--only", "nope", "--no-docs"])
