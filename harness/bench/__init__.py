"""``harness bench``: how fast the tracing core single-steps and takes
breakpoint hits, in-process and through the RPC, beside a C reference.

:mod:`.measure` holds the timed loops, :mod:`.reference` builds and runs
``reference.c``, :mod:`.runner` runs one target, :mod:`.report` prints a
table or the JSON document described there.  Speed goals are printed here,
never asserted in tests.
"""

from __future__ import annotations

from .measure import Measurement, RoundTrips, Unavailable
from .runner import GOAL_STEP_RATIO, TargetBench, bench_target

__all__ = ["GOAL_STEP_RATIO", "Measurement", "RoundTrips", "TargetBench", "Unavailable", "bench_target"]
