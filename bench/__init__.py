"""`make bench`: what imagegen costs and how it behaves, each figure a ratio against a baseline
measured in the same run (raw medians beside it), with the issue's targets said plainly.

Sections (one module each, run in this order by `python -m bench`):
  coldstart  cold start per function in a Lambda-like layout vs a seed-style handler on the runtime's precompiled boto3
  cost       Lambda cost per job: async (submit + webhook) vs one handler waiting for the model
  memory     peak RSS growth of the webhook storing a 64 MB output vs reading it all
  edit_memory the worst edit's peak RSS (8 URL images of 5 MB on SD3.5) against the edit function's memory
  fanout     8-image edit vs 1-image edit with a 300 ms submit round trip
  sync       generate through the local server vs the fake Bedrock's fixed 2 s
  limits     what a key's budget and rate limit add to a generation: latency, and S3 requests priced against an image
  analyze    image analysis: cold start with model load, per-image latency of both routes, the worst request's peak RSS
  recovery   webhooks API Gateway throttled: the sweeper pass that finishes their jobs anyway
  artifacts  zip sizes against Lambda's limits
Add a section (e.g. analyze) by writing a module with `run(ctx) -> list[Figure]` and listing
it in bench.__main__.SECTIONS.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Figure:
    """One line of the table: a measurement, its baseline, their ratio and the target (if any)."""

    section: str
    name: str
    value: float
    baseline: float
    unit: str
    baseline_name: str
    target: str = ""  # e.g. "<= 0.7x"; empty: informational
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.inf

    def as_dict(self) -> dict:
        return asdict(self) | {"ratio": self.ratio}


def check(ratio: float, target: str) -> bool | None:
    """True/False for a target like '<= 0.7x', '>= 100x', '< 16 KB' on the ratio; None if none."""
    if not target:
        return None
    op, _, number = target.partition(" ")
    limit = float(number.rstrip("x"))
    return ratio <= limit if op == "<=" else ratio >= limit if op == ">=" else ratio < limit


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start
