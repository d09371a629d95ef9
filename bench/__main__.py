"""python -m bench [--only SECTION ...] [--runs N] [--rtt SECONDS] [--bandwidth MBPS] -> table + bench/results.json"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bench import ROOT, Figure

# Run order. `analyze` (and any new section) adds its module name here.
SECTIONS = [
    "coldstart",
    "cost",
    "memory",
    "edit_memory",
    "fanout",
    "sync",
    "limits",
    "queue",
    "analyze",
    "recovery",
    "artifacts",
]


@dataclass
class Context:
    runs: int
    rtt: float
    bandwidth_mbps: float
    output_mb: float
    notes: list[str] = field(default_factory=list)
    verdicts: list[tuple[str, bool, str]] = field(default_factory=list)  # extra pass/fail lines
    tables: list[str] = field(default_factory=list)  # extra tables (cost model) printed after


def fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:.8f}"
    return f"{value:,.1f} {unit}" if value >= 10 else f"{value:.3f} {unit}"


def print_table(figures: list[Figure]) -> None:
    header = f"{'section':<11} {'figure':<50} {'value':>15} {'baseline':>15} {'ratio':>8}  {'target':<9} met"
    print(header)
    print("-" * len(header))
    for f in figures:
        met = "" if f.met is None else ("YES" if f.met else "NO")
        print(
            f"{f.section:<11} {f.name[:50]:<50} {fmt(f.value, f.unit):>15} {fmt(f.baseline, f.unit):>15}"
            f" {f.ratio:>7.2f}x  {f.target:<9} {met}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (>= 7 for the README)")
    parser.add_argument("--rtt", type=float, default=0.3, help="fake Replicate round trip per call, seconds")
    parser.add_argument("--bandwidth", type=float, default=100.0, help="output download bandwidth, Mbit/s")
    parser.add_argument("--output-mb", type=float, default=1.0, help="size of one model output for the cost run, MB")
    args = parser.parse_args(argv)
    ctx = Context(args.runs, args.rtt, args.bandwidth, args.output_mb)
    figures: list[Figure] = []
    for name in args.only or SECTIONS:
        module = importlib.import_module(f"bench.{name}")
        print(f"... {name}", file=sys.stderr, flush=True)
        figures += module.run(ctx)
    print(
        f"imagegen bench: {args.runs} runs each, medians; {platform.python_implementation()} bench driver "
        f"{sys.version.split()[0]}; fake Replicate round trip {args.rtt * 1000:.0f} ms, "
        f"download {args.bandwidth:g} Mbit/s"
    )
    for note in ctx.notes:
        print(f"  {note}")
    print()
    print_table(figures)
    for table in ctx.tables:
        print()
        print(table)
    print()
    print("targets:")
    for f in figures:
        if f.met is not None:
            print(f"  [{'MET' if f.met else 'NOT MET'}] {f.section}: {f.name} {f.ratio:.2f}x (target {f.target})")
    for text, ok, detail in ctx.verdicts:
        print(f"  [{'MET' if ok else 'NOT MET'}] {text}: {detail}")
    results = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": vars(args),
        "notes": ctx.notes,
        "figures": [f.as_dict() for f in figures],
        "verdicts": [{"check": t, "met": ok, "detail": d} for t, ok, d in ctx.verdicts],
        "tables": ctx.tables,
    }
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
