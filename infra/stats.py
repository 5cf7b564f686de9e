"""Summary statistics shared by the Python tools under infra/ (the soak test and the benchmarks).

Imported as a top-level module: infra/bench/run.py and infra/soak/soak.py put infra/ on sys.path,
and `python3 -m unittest discover --start-directory infra` does so itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile_nearest(values: Iterable[float], q: float) -> float:
    """The q-th percentile (q from 0 to 100) of `values` by the "nearest" rule, without interpolation.

    Definition: sort the n values (index 0 to n - 1) and return the one at index
    round(q / 100 * (n - 1)), with Python's round (a tie goes to the even index). So q = 0 is the
    minimum, q = 100 the maximum, q = 50 the median of an odd count, and the result is always
    one of the values.

    Not the textbook "nearest-rank" percentile (the value at rank ceil(q / 100 * n)), and not
    what infra/soak/soak.py computed before this module existed (index min(n - 1, int(f * n)) for
    a fraction f): that one is one rank higher whenever f * n is a whole number. For 100 values,
    p99 is the 99th smallest here (index 98), where the old soak rule gave the 100th (the maximum);
    p95 of 20 values is the 19th smallest here, the maximum there. This is the rule
    infra/bench/run.py has always used, so the published benchmark numbers keep their meaning.

    An empty input gives NaN (the soak prints its progress before any answer has come back);
    q outside 0..100 raises ValueError (a fraction such as 0.99 is a valid q, so the bounds
    cannot catch that mistake: q is a percentage).
    """
    if not 0 <= q <= 100:  # also refuses NaN
        raise ValueError(f"percentile q must be between 0 and 100, got {q!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[round(q / 100 * (len(ordered) - 1))]
