#!/usr/bin/env python
"""Benchmark: the default modular-addition scan vs a straightforward SciPy evaluation.

What is timed (one process, one run):

1. ``package``: :func:`adaptive_kernel.scan` on the default ``phasesim scan --teacher modadd``
   setting (P = 401, N = 1000, sigma_a2 = 0.002/N, gamma = 1e-4, 111 points from 0.26 to
   0.15, downward and upward sweeps, bisection of the boundaries, landscape), after a
   warm-up call so that the numba cache is loaded. Best and median of ``--repeat`` runs.
   Optionally (``--cli``) the installed console script end to end (interpreter start,
   imports, scan, HDF5 write).
2. ``reference``: the same equations evaluated the straightforward way,
   :mod:`adaptive_kernel.reference` (nested adaptive ``scipy.integrate.quad`` for <XY>,
   ``scipy.optimize.brentq`` on r in [0, 1] at every point). One point takes seconds, so
   the full 2 x 111-point scan (~20 min) is only run with ``--full``; by default it is timed
   on a documented subset of the grid (``--reference-points`` evenly spaced points, GFL
   and mixed phase alike) and extrapolated per point to the 2 x 111 points of the two
   sweeps (the bisection solves of the package are *not* charged to the reference, which
   favours the reference).

It prints the wall times, the per-point costs, the per-evaluation cost of T(r) (which
separates the quadrature speed-up from the root-finding strategy), the agreement of the
two solutions on the subset, and the ratio. Targets (issue 2): package scan < 3 s on a
2-core machine, >= 20x faster than the straightforward version.

Usage::

    python benchmarks/bench_modadd_scan.py                 # ~1 min on 2 cores
    python benchmarks/bench_modadd_scan.py --reference-points 3 --repeat 3 --cli
    python benchmarks/bench_modadd_scan.py --full          # the whole reference scan (slow)
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


def numpy_tensor_xy(P, v, gamma, edges, order=10):
    """<XY> by a dense tensor-product Gauss-Legendre rule on the given panel edges, vectorised
    NumPy (no block skipping): what a careful pure-NumPy port of the kernel would cost."""
    gx, gw = np.polynomial.legendre.leggauss(order)
    a, b = edges[:-1, None], edges[1:, None]
    x = (0.5 * (a + b) + 0.5 * (b - a) * gx).ravel()
    w = (0.5 * (b - a) * gw).ravel()
    a1 = P * (x + gamma / 3 * x ** 3)
    L = -(a1[:, None] + a1[None, :]) + 2 * P * v * np.outer(x, x)
    e = np.outer(w, w) * np.exp(L - L.max())
    return float(np.sum(e * np.outer(x, x)) / np.sum(e))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of the package scan (default 3)")
    ap.add_argument("--reference-points", type=int, default=5,
                    help="grid points solved by the reference (evenly spaced; default 5)")
    ap.add_argument("--full", action="store_true", help="run the reference on all 111 points, both sweeps")
    ap.add_argument("--normalization", choices=["derived", "paper"], default="derived")
    ap.add_argument("--cli", action="store_true", help="also time the console script end to end")
    args = ap.parse_args(argv)

    import numba
    import scipy

    from adaptive_kernel import get_teacher, reference, scan, solve
    from adaptive_kernel.teachers.modadd import pair_moments

    t = get_teacher("modadd")
    params = t.make_params(normalization=args.normalization)
    grid = np.linspace(0.26, 0.15, 111)
    P, N, sa2, gamma = params["P"], params["N"], params["sigma_a2"], params["gamma"]
    norm = params["normalization"]

    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}")
    print(f"setting: P={P}, N={N}, sigma_a2={sa2:g}, gamma={gamma:g}, normalization={norm}, "
          f"method=exact, sigma2 0.26 -> 0.15 in {len(grid)} points")

    # ---- package -------------------------------------------------------------------------
    t0 = time.perf_counter()
    scan(t, params, np.linspace(0.25, 0.2, 3))  # loads/compiles the numba kernels
    warm = time.perf_counter() - t0
    times = []
    res = None
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        res = scan(t, params, grid)
        times.append(time.perf_counter() - t0)
    pkg = min(times)
    n_solved = 2 * len(grid)
    nfev_sweeps = int(res.branches["down"]["evaluations"].sum() + res.branches["up"]["evaluations"].sum())
    print(f"\npackage scan (warm-up {warm:.2f} s): best {pkg:.3f} s, median {statistics.median(times):.3f} s "
          f"over {len(times)} runs")
    print(f"  {n_solved} sweep points + boundary bisection; {nfev_sweeps} T(r) evaluations in the sweeps "
          f"({nfev_sweeps / n_solved:.1f} per point)")
    print(f"  sigma2_gmfl1 = {res.sigma2_gmfl1:.6f}, sigma2_gmfl2 = {res.sigma2_gmfl2:.6f}, "
          f"converged {res.n_converged}/{len(grid)}")
    print(f"  per point (whole scan / {n_solved}): {1e3 * pkg / n_solved:.2f} ms")

    if args.cli:
        exe = shutil.which("phasesim")
        if exe is None:
            print("  (console script not installed; skipped)")
        else:
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(tmp, "bench.h5")
                t0 = time.perf_counter()
                subprocess.run([exe, "scan", "--teacher", "modadd", "--normalization", norm, "-q", "-o", out],
                               check=True, stdout=subprocess.DEVNULL)
                print(f"  console script end to end (start-up, imports, scan, HDF5): "
                      f"{time.perf_counter() - t0:.2f} s")

    # ---- per-evaluation cost of T(r) -------------------------------------------------------
    d = res.scan
    vs = d["u"] * d["residual"] ** 2
    picks = np.unique(np.linspace(0, len(grid) - 1, 5).round().astype(int))
    from adaptive_kernel.teachers import _modadd_kernels as K

    k_t, r_t, n_t = [], [], []
    for i in picks:
        v = float(vs[i])
        t0 = time.perf_counter()
        for _ in range(20):
            xy = pair_moments(P, v, gamma, "exact")["XY"]
        k_t.append((time.perf_counter() - t0) / 20)
        t0 = time.perf_counter()
        reference.pair_moments(P, v, gamma, which=("XY",))
        r_t.append(time.perf_counter() - t0)
        edges = K.axis_breakpoints(float(P), v, gamma)
        t0 = time.perf_counter()
        xy_np = numpy_tensor_xy(P, v, gamma, edges)
        n_t.append(time.perf_counter() - t0)
        assert abs(xy_np / xy - 1) < 1e-8
    print(f"\none evaluation of <XY> at {len(picks)} scan points: numba {1e3 * np.mean(k_t):.3f} ms, "
          f"nested scipy.quad {1e3 * np.mean(r_t):.1f} ms ({np.mean(r_t) / np.mean(k_t):.0f}x); "
          f"for comparison a vectorised NumPy tensor-product rule on the kernel's panels "
          f"{1e3 * np.mean(n_t):.1f} ms ({np.mean(n_t) / np.mean(k_t):.0f}x)")

    # ---- reference -------------------------------------------------------------------------
    if args.full:
        sub = np.concatenate([grid, grid[::-1]])
        label = "all 111 points x 2 sweeps"
    else:
        idx = np.unique(np.linspace(0, len(grid) - 1, args.reference_points).round().astype(int))
        sub = grid[idx]
        label = f"{len(sub)} of the {len(grid)} points: sigma2 = " + ", ".join(f"{s:.4f}" for s in sub)
    print(f"\nreference (nested scipy.integrate.quad + brentq on [0, 1], no continuation), {label}")
    t0 = time.perf_counter()
    nev = 0
    err = 0.0
    cost = {}  # phase -> list of per-point seconds
    for s in sub:
        t1 = time.perf_counter()
        r, n = reference.solve_residual(s, P, N, sa2, gamma, norm, "exact")
        dt = time.perf_counter() - t1
        nev += n
        sol = solve(t, params, s)
        err = max(err, abs(r - sol.x[0]))
        ph = int(d["phase"][int(np.argmin(abs(grid - s)))])
        cost.setdefault(ph, []).append(dt)
        print(f"  sigma2 = {s:.4f}: r = {r:.12f} ({n} T evaluations, {dt:.2f} s, phase {ph})")
    ref = time.perf_counter() - t0
    per_point = ref / len(sub)
    print(f"  {ref:.1f} s for {len(sub)} points = {per_point:.2f} s per point "
          f"({nev / len(sub):.1f} T evaluations per point); max |r_ref - r_package| = {err:.1e}")
    if args.full:
        ref_full = ref
    else:
        # extrapolate phase by phase (GFL points are cheap, mixed-phase points expensive)
        counts = {int(ph): int(np.sum(d["phase"] == ph)) for ph in np.unique(d["phase"])}
        if all(ph in cost for ph in counts):
            ref_full = 2 * sum(counts[ph] * float(np.mean(cost[ph])) for ph in counts)
            how = "phase by phase: " + ", ".join(f"{counts[ph]} x {np.mean(cost[ph]):.2f} s (phase {ph})"
                                                 for ph in sorted(counts)) + ", times 2 sweeps"
        else:
            ref_full = per_point * n_solved
            how = "mean cost per point x 222"
        print(f"  extrapolated to the {n_solved} points of the two sweeps: {ref_full:.0f} s ({how})")

    print("\nSUMMARY")
    print(f"  default scan (package, warm cache): {pkg:.3f} s   [target < 3 s]")
    print(f"  straightforward reference:          {ref_full:.0f} s {'(measured)' if args.full else '(extrapolated)'}")
    print(f"  ratio:                              {ref_full / pkg:.0f}x   [target >= 20x]")
    print(f"  per point: package {1e3 * pkg / n_solved:.2f} ms (incl. bisection and landscape), "
          f"reference {per_point:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
