#!/usr/bin/env python
"""Benchmark: the default ``phasesim scan --teacher modadd --action full`` (Fig. 3 setting).

What is timed (one process):

1. ``fast``: :func:`adaptive_kernel.scan` with the teacher as it is (P = 401, N = 1000,
   sigma_a2 = 0.002/N, gamma = 1e-4, 111 points from 0.26 to 0.15, downward and upward
   sweeps, bisection of the GFL -> GMFL-I boundary, landscape), after a warm-up scan that
   loads the numba cache. Best and median of ``--repeat`` runs.
2. ``straightforward``: the same scan with the teacher's solver accelerations hidden
   (``solve_map``: inner GPR root r*(y) warm-started from the previous map call;
   ``restart_states``: the prior state as an extra start of Powell's method, and the
   inner end as an extra start of the boundary bisection), i.e. the strategy before
   issue 12: every map call runs Brent's method on the whole [0, r_max], and failed
   Powell starts go through the solver's homotopies. (The zero-pair quadrature's
   quadrant symmetry, a 4x cheaper integral, is common to both.) One run; skipped with
   ``--no-reference``.
3. Optionally (``--cli``) the console script end to end (start-up, imports, scan, HDF5).

It prints the wall times, the map evaluations and pair quadratures per scan, their ratio,
and the largest difference between the two scans over every stored order parameter of
both sweeps and the boundary (the fast path must agree to 1e-10). Target (issue 12): the
console command < 10 s on the 2-core development machine (it took 91 s, 61 s measured
again before the change).

Usage::

    python benchmarks/bench_full_action_scan.py               # ~1.5 min on 2 cores
    python benchmarks/bench_full_action_scan.py --repeat 3 --cli
    python benchmarks/bench_full_action_scan.py --no-reference --cli
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


class Straightforward:
    """The teacher without ``solve_map`` and ``restart_states`` (the solver then uses
    ``fixed_point_map``, a cold inner root per call, and its generic fallbacks)."""

    def __init__(self, teacher):
        self._teacher = teacher

    def __getattr__(self, name):
        if name in ("solve_map", "restart_states"):
            raise AttributeError(name)
        return getattr(self._teacher, name)


def counted_scan(teacher, params, grid):
    """(wall seconds, result, pair quadratures) of one scan."""
    from adaptive_kernel import scan
    from adaptive_kernel.teachers import modadd as MA

    orig = MA.poly_pair_moments
    count = [0]

    def counting(*a, **k):
        count[0] += 1
        return orig(*a, **k)

    MA.poly_pair_moments = counting
    try:
        t0 = time.perf_counter()
        res = scan(teacher, params, grid)
        dt = time.perf_counter() - t0
    finally:
        MA.poly_pair_moments = orig
    return dt, res, count[0]


def largest_difference(a, b, names):
    """max over both sweeps and ``names`` of |a - b| / max(1, |a|) (NaN patterns must agree)."""
    worst = 0.0
    for br in ("down", "up"):
        for k in names:
            x, y = np.asarray(a.branches[br][k], float), np.asarray(b.branches[br][k], float)
            if not np.array_equal(np.isfinite(x), np.isfinite(y)):
                return float("inf")
            m = np.isfinite(x)
            if m.any():
                worst = max(worst, float(np.max(np.abs(x[m] - y[m]) / np.maximum(1.0, np.abs(x[m])))))
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of the fast scan (default 2)")
    ap.add_argument("--no-reference", action="store_true", help="skip the straightforward scan (~1 min)")
    ap.add_argument("--cli", action="store_true", help="also time the console script end to end")
    args = ap.parse_args(argv)

    import numba
    import scipy

    from adaptive_kernel import get_teacher, scan

    t = get_teacher("modadd")
    params = t.make_params(action="full")
    grid = np.linspace(0.26, 0.15, 111)
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}")
    print(f"setting: {params}, sigma2 0.26 -> 0.15 in {len(grid)} points")

    t0 = time.perf_counter()
    scan(t, params, np.linspace(0.25, 0.2, 3))  # loads the numba kernels
    print(f"warm-up {time.perf_counter() - t0:.2f} s")

    times, res, nquad = [], None, 0
    for _ in range(max(1, args.repeat)):
        dt, res, nquad = counted_scan(t, params, grid)
        times.append(dt)
    fast = min(times)
    nfev = int(res.branches["down"]["evaluations"].sum() + res.branches["up"]["evaluations"].sum())
    print(f"\nfast scan: best {fast:.2f} s, median {statistics.median(times):.2f} s over {len(times)} runs; "
          f"{nfev} map evaluations in the sweeps, {nquad} pair quadratures in the whole scan; "
          f"sigma2_gmfl1 = {res.sigma2_gmfl1!r}")

    if args.cli:
        exe = shutil.which("phasesim")
        if exe is None:
            print("  (console script not installed; skipped)")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                cli_times = []
                for _ in range(max(1, args.repeat)):
                    t0 = time.perf_counter()
                    subprocess.run([exe, "scan", "--teacher", "modadd", "--action", "full", "-q", "-o",
                                    os.path.join(tmp, "full.h5"), "--overwrite"], check=True,
                                   stdout=subprocess.DEVNULL)
                    cli_times.append(time.perf_counter() - t0)
            print(f"  console script end to end: best {min(cli_times):.2f} s   [target < 10 s]")

    if not args.no_reference:
        slow, res_s, nquad_s = counted_scan(Straightforward(t), params, grid)
        nfev_s = int(res_s.branches["down"]["evaluations"].sum() + res_s.branches["up"]["evaluations"].sum())
        names = [k for k, v in res.branches["down"].items()
                 if np.asarray(v).dtype.kind == "f" and k not in ("equation_residual",)]
        diff = largest_difference(res, res_s, names)
        print(f"straightforward scan: {slow:.2f} s; {nfev_s} map evaluations in the sweeps, "
              f"{nquad_s} pair quadratures; sigma2_gmfl1 = {res_s.sigma2_gmfl1!r}")
        print("\nSUMMARY")
        print(f"  fast {fast:.2f} s vs straightforward {slow:.2f} s: {slow / fast:.1f}x "
              f"(pair quadratures {nquad_s / max(nquad, 1):.1f}x fewer)")
        print(f"  largest difference over {len(names)} stored quantities x 2 sweeps: {diff:.2e} "
              f"(relative to max(1, |x|)); boundary {res.sigma2_gmfl1 - res_s.sigma2_gmfl1:+.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
