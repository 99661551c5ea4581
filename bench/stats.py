"""Summaries of timing samples: median and p95 from statistics.quantiles."""

from __future__ import annotations

import statistics


def summarize(seconds: list[float]) -> dict:
    """Median, p95 and friends, in milliseconds, of samples given in seconds.

    The cut points come from ``statistics.quantiles(n=100, method="inclusive")``: entry 49 is
    the median, entry 94 the 95th percentile (interpolated between samples).
    """
    ms = [s * 1000.0 for s in seconds]
    if not ms:
        return {"n": 0, "median_ms": None, "p95_ms": None, "mean_ms": None,
                "min_ms": None, "max_ms": None}
    if len(ms) == 1:
        cuts = ms * 99
    else:
        cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "n": len(ms),
        "median_ms": round(cuts[49], 3),
        "p95_ms": round(cuts[94], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(min(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def print_walk(title: str, timings: dict[str, list[float]], walks: list[float],
               width: int = 22) -> None:
    """A walk benchmark's table: median and p95 (the nearest-rank p95 of a few dozen walks)
    per step and for the whole walk, in milliseconds."""
    print(title)
    print(f"{'step':<{width}}{'median ms':>10}{'p95 ms':>10}")
    for name, values in [*timings.items(), ("whole walk", walks)]:
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"{name:<{width}}{statistics.median(values) * 1000:>10.1f}{p95 * 1000:>10.1f}")
