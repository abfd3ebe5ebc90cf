"""`make bench`: run every benchmark, print one table of their figures, update docs/benchmarks.md.

    uv run python bench/summary.py                       # run every other bench/*.py
    uv run python bench/summary.py --only pipeline_e2e   # a subset (file stems, comma-separated)
    uv run python bench/summary.py --from-logs DIR       # no run: read BENCH_RESULT lines of DIR/*.log
    uv run python bench/summary.py --no-docs             # print only, leave docs/benchmarks.md alone

Each benchmark prints, as its last line, `BENCH_RESULT {"bench": ..., "figures": [{"figure",
"value", "unit", "target", "ceiling"}]}`. The table puts every figure beside its target and the
ceiling measured in the same run, and says whether the target is met. The "Summary" section of
docs/benchmarks.md (between `<!-- summary:start -->` and `<!-- summary:end -->`) is rewritten with
the same table; the other sections of that file belong to the benchmarks' authors and are kept.

A benchmark that fails or prints no result line is listed as failed and makes the exit status 1;
a missed target does not (benchmarks report, tests judge), unless --strict.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- summary:start -->", "<!-- summary:end -->"
RESULT_PREFIX = "BENCH_RESULT "
_TARGET = re.compile(r"^\s*(>=|<=|==|≥|≤|>|<|=)?\s*([-+]?\d[\d_,]*(?:\.\d+)?(?:[eE][-+]?\d+)?)")


@dataclass(frozen=True)
class Figure:
    """One figure of one benchmark run (or a failed run, with `error` set)."""

    bench: str
    figure: str
    value: float | None
    unit: str = ""
    target: str | None = None
    ceiling: float | None = None
    error: str | None = None

    def met(self) -> bool | None:
        """Whether the value meets the target; None when there is no (readable) target."""
        if self.value is None:
            return False if self.error else None
        return target_met(self.value, self.target)


def target_met(value: float, target: str | None) -> bool | None:
    """Evaluates a target such as ">= 15000", "≤ 0.05" or "< 100 ms" (a bare number means >=)."""
    if not target:
        return None
    match = _TARGET.match(target)
    if match is None:
        return None
    op = {"≥": ">=", "≤": "<=", "=": "==", None: ">="}.get(match.group(1), match.group(1))
    bound = float(match.group(2).replace(",", "").replace("_", ""))
    return {
        ">=": value >= bound,
        "<=": value <= bound,
        ">": value > bound,
        "<": value < bound,
        "==": math.isclose(value, bound),
    }[op]


def parse_result(text: str, fallback_bench: str) -> list[Figure]:
    """The figures of the last BENCH_RESULT line of a benchmark's output."""
    lines = [line for line in text.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise ValueError("no BENCH_RESULT line")
    payload: Any = json.loads(lines[-1][len(RESULT_PREFIX) :])
    if not isinstance(payload, dict) or not isinstance(payload.get("figures"), list):
        raise ValueError("BENCH_RESULT is not {bench, figures: [...]}")
    bench = str(payload.get("bench") or fallback_bench)
    figures = []
    for item in payload["figures"]:
        if not isinstance(item, dict) or "figure" not in item:
            raise ValueError(f"a figure without a name: {item!r}")
        value = item.get("value")
        ceiling = item.get("ceiling")
        target = item.get("target")
        figures.append(
            Figure(
                bench=bench,
                figure=str(item["figure"]),
                value=float(value) if isinstance(value, (int, float)) else None,
                unit=str(item.get("unit") or ""),
                target=str(target) if target not in (None, "") else None,
                ceiling=float(ceiling) if isinstance(ceiling, (int, float)) else None,
                error=None if isinstance(value, (int, float)) else "no value",
            )
        )
    if not figures:
        raise ValueError("BENCH_RESULT has no figures")
    return figures


def discover(bench_dir: Path, only: set[str] | None) -> list[Path]:
    scripts = sorted(
        p
        for p in bench_dir.glob("*.py")
        if p.resolve() != Path(__file__).resolve() and not p.name.startswith("_")
    )
    if only is not None:
        missing = only - {p.stem for p in scripts}
        if missing:
            raise SystemExit(f"no such benchmark: {', '.join(sorted(missing))}")
        scripts = [p for p in scripts if p.stem in only]
    return scripts


def run_bench(script: Path, log_dir: Path, timeout: float, console: Console) -> list[Figure]:
    """Runs one benchmark, echoing and logging its output as it comes; returns its figures."""
    log_path = log_dir / f"{script.stem}.log"
    console.print(f"[bold]▶ {script.stem}[/]  log: {log_path}")
    started = time.monotonic()
    timed_out = threading.Event()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        def kill() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                if not line.startswith(RESULT_PREFIX):
                    console.print(f"    {line.rstrip()}", markup=False, highlight=False)
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
    elapsed = time.monotonic() - started
    if timed_out.is_set():
        return [Figure(script.stem, "(run)", None, error=f"timed out after {timeout:.0f} s")]
    if returncode != 0:
        return [Figure(script.stem, "(run)", None, error=f"exit status {returncode} after {elapsed:.0f} s")]
    try:
        return parse_result(log_path.read_text(errors="replace"), script.stem)
    except ValueError as exc:
        return [Figure(script.stem, "(run)", None, error=str(exc))]


def read_logs(log_dir: Path) -> list[Figure]:
    figures: list[Figure] = []
    logs = sorted([*log_dir.glob("*.log"), *log_dir.glob("*.txt")])
    if not logs:
        raise SystemExit(f"no *.log or *.txt files in {log_dir}")
    for path in logs:
        try:
            figures.extend(parse_result(path.read_text(errors="replace"), path.stem))
        except ValueError as exc:
            figures.append(Figure(path.stem, "(run)", None, error=str(exc)))
    return figures


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.3g}"
    return f"{value:.3g}"


def _met_text(figure: Figure) -> str:
    if figure.error:
        return f"failed: {figure.error}"
    met = figure.met()
    return {True: "yes", False: "NO", None: "—"}[met]


def render_table(figures: list[Figure]) -> Table:
    table = Table(title="swarmscope benchmarks", show_lines=False)
    for column, justify in (
        ("bench", "left"),
        ("figure", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("target", "left"),
        ("ceiling", "right"),
        ("met?", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        met = _met_text(f)
        style = "green" if met == "yes" else "red" if met.startswith(("NO", "failed")) else ""
        table.add_row(
            f.bench,
            f.figure,
            _number(f.value),
            f.unit,
            f.target or "—",
            _number(f.ceiling),
            f"[{style}]{met}[/]" if style else met,
        )
    return table


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def markdown_section(figures: list[Figure], command: str, when: dt.datetime) -> str:
    rows = [
        "| bench | figure | value | unit | target | same-run ceiling | met? |",
        "|---|---|---:|---|---|---:|---|",
    ]
    for f in figures:
        cells = [
            f.bench,
            f.figure,
            _number(f.value),
            f.unit,
            f.target or "—",
            _number(f.ceiling),
            _met_text(f),
        ]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(
        [
            START,
            f"Last run: {when:%Y-%m-%d %H:%M} UTC on {machine_description()}.",
            f"Command: `{command}`. Regenerated by bench/summary.py; edit the benchmarks' own sections instead.",
            "",
            *rows,
            END,
        ]
    )


def update_docs(path: Path, section: str) -> None:
    """Replaces the text between the summary markers (creating the file or the section if missing)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Benchmarks\n\nFigures measured by `make bench` on this project's reference machine (2 cores).\n"
            "Each benchmark's author keeps a section below; the summary is generated.\n\n"
            f"## Summary\n\n{section}\n"
        )
        return
    text = path.read_text()
    if START in text and END in text and text.index(START) < text.index(END):
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        path.write_text(before + section + after)
        return
    separator = "" if text.endswith("\n") else "\n"
    path.write_text(f"{text}{separator}\n## Summary\n\n{section}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated benchmark names (file stems)")
    parser.add_argument(
        "--from-logs", type=Path, help="read BENCH_RESULT lines from DIR/*.log instead of running"
    )
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", type=Path, help="where run logs go (default .data/bench/<time>)")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the benchmarks document to update")
    parser.add_argument("--no-docs", action="store_true", help="do not update the benchmarks document")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one benchmark may take")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed too")
    args = parser.parse_args(argv)
    console = Console()
    when = dt.datetime.now(dt.UTC)
    arguments = argv if argv is not None else sys.argv[1:]
    command = " ".join(["uv run python bench/summary.py", *arguments])

    if args.from_logs is not None:
        figures = read_logs(args.from_logs)
    else:
        only = {s.strip() for s in args.only.split(",") if s.strip()} if args.only else None
        scripts = discover(args.bench_dir, only)
        if not scripts:
            console.print("no benchmarks found")
            return 1
        log_dir = args.log_dir or ROOT / ".data" / "bench" / when.strftime("%Y%m%d-%H%M%S")
        log_dir.mkdir(parents=True, exist_ok=True)
        figures = []
        for script in scripts:
            figures.extend(run_bench(script, log_dir, args.timeout, console))

    console.print(render_table(figures))
    if not args.no_docs:
        update_docs(args.docs, markdown_section(figures, command, when))
        console.print(f"updated the Summary section of {args.docs}")
    failed = [f for f in figures if f.error]
    missed = [f for f in figures if not f.error and f.met() is False]
    if failed:
        console.print(f"[red]{len({f.bench for f in failed})} benchmark(s) failed[/]")
    if missed:
        console.print(f"[yellow]{len(missed)} figure(s) miss their target[/]")
    return 1 if failed or (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
