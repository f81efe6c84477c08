"""Scale-out (issue 9): per-unit overhead of the runners, speed-up of a 4-unit Langevin run
with 2 workers over serial, and peak memory per worker, in one run.

    python benchmarks/bench_scaleout.py [--units 200] [--steps 400]

(i) ``--units`` trivial units (each returns a 16-float array) on SerialRunner,
ProcessRunner(2) and a Dask LocalCluster(2): (wall time - serial wall time) / units, pool
start-up excluded (a warm-up map first). (ii) ``phasesim langevin``'s units: cubic teacher,
4 sigma2 values x 1 seed block = 4 units per segment (one segment), serial vs 2 workers;
target >= 1.7x on 2 cores. (iii) peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``)
of each worker process after the Langevin run, read by a unit function.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from adaptive_kernel.runner import DaskRunner, ProcessRunner, SerialRunner  # noqa: E402


def trivial(i):
    return np.full(16, float(i))


def peak_rss(_):
    return os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # MiB


def langevin(runner, steps):
    from adaptive_kernel.registry import get_theory
    from simulations.langevin import LangevinConfig, run_langevin

    p = get_theory("cubic").make_params()
    cfg = LangevinConfig("cubic", p, [0.3, 0.25, 0.2, 0.15], steps=steps, burn_in=steps // 4,
                         thin=10, seeds=2)
    t = time.perf_counter()
    res = run_langevin(cfg, checkpoint_every=steps, runner=runner)
    return time.perf_counter() - t, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--steps", type=int, default=400)
    a = ap.parse_args()
    rows = []
    runners = {"serial": SerialRunner(), "process(2)": ProcessRunner(2),
               "dask LocalCluster(2)": DaskRunner(n_workers=2)}
    try:
        times = {}
        for name, r in runners.items():
            r.map(trivial, range(4))  # warm-up: start the pool
            t = time.perf_counter()
            out = r.map(trivial, range(a.units))
            times[name] = time.perf_counter() - t
            assert np.array_equal(out[-1], trivial(a.units - 1))
        lt = {}
        ref = None
        for name, r in runners.items():
            lt[name], res = langevin(r, a.steps)
            tr = [p["traces"] for p in res.points]
            if ref is None:
                ref = tr
            else:
                assert all(np.array_equal(x[k], y[k]) for x, y in zip(ref, tr) for k in x), name
        for name, r in runners.items():
            mem = dict(r.map(peak_rss, range(8))) if name != "serial" else dict([peak_rss(0)])
            rows.append((name, 1e3 * times[name] / a.units,
                         1e3 * (times[name] - times["serial"]) / a.units, lt[name],
                         lt["serial"] / lt[name], ", ".join(f"{v:.0f}" for v in mem.values())))
    finally:
        for r in runners.values():
            r.close()
    print(f"{'runner':<22}{'ms/unit':>9}{'overhead ms/unit':>18}{'langevin s':>12}{'speed-up':>10}"
          f"  peak RSS per worker (MiB)")
    for n, ms, ov, lts, sp, mem in rows:
        print(f"{n:<22}{ms:>9.2f}{ov:>18.2f}{lts:>12.2f}{sp:>10.2f}  {mem}")


if __name__ == "__main__":
    main()
