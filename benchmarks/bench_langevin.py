"""Langevin (MALA) steps per second of the erf network on the cubic teacher: this package
against an implementation of the identical update in PyTorch on the CPU, and against the
machine's measured matrix-multiply rate (roofline), in one run.

    python benchmarks/bench_langevin.py [--repeat 5] [--json out.json]

PyTorch is needed only here (``pip install torch==2.13.0``); it is not a dependency of the
package.

One MALA step of one network does one potential-and-gradient evaluation (at the proposal;
on acceptance it becomes the current state's, so the next step does not redo it), in both
implementations:

* two GEMMs of 2 n N d flops each: Z = X W^T and dU/dW = G^T X;
* O(n N) element-wise work: erf(Z), exp(-Z^2), f = erf(Z) a, the residual, dU/da, G;
* O(N d) vector work: the noise, the proposal, the prior, the reverse-move density.

This package (``simulations.sampler.LangevinSampler`` on ``simulations.models.CubicNetwork``):
the members are split over the threads, each thread with single-threaded BLAS running
noise (Box-Muller), proposal, potential and reverse move for its own members; the
potential sweeps the data rows in chunks (GEMM, one fused numba pass for erf, exp, residual,
dU/da and G, GEMM). PyTorch: batched tensor operations on all threads (``torch.bmm``,
``torch.erf``, ...).

Flop count of the roofline: 4 n N d per network step (the two GEMMs only; the element-wise
and vector work is not counted, and nothing that the algorithm does not need is counted).
The roofline time of an ensemble step is 4 n N d S / R, with R the best GEMM rate of the
same precision measured in this run on all threads (NumPy's BLAS on a 2000^3 product, as
one multi-threaded product and as one single-threaded product per thread at the same time,
and on the step's own GEMM shapes); the roofline fraction is that time over the measured
time of a step.

Timings: ``--repeat`` blocks of each implementation and of each GEMM-rate measurement,
interleaved (ours, PyTorch, GEMMs, ours, ...) so that all see the same machine load, with a
short pause before each (PyTorch's OpenMP threads keep spinning after a parallel region);
the best block is reported, with the median and the worst as the spread (the machine may be
shared).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from simulations.models import CubicNetwork, dynamics_rng  # noqa: E402
from simulations.sampler import LangevinSampler  # noqa: E402

SIZES = [  # (label, N, d, n, ensemble members S, steps per timing block)
    ("small (N=87, d=53, n=375)", 87, 53, 375, 32, 60),
    ("large (N=700, d=150, n=3000)", 700, 150, 3000, 4, 6),
]
PHYS = dict(sigma_w2=0.5, eps=-0.3, sigma2=0.2)


def gemm_blocks(shapes, threads, dtype=np.float64):
    """{label: (flops, block)}: NumPy's BLAS on a 2000^3 product, (a) one product on all
    threads, (b) one single-threaded product per thread, concurrently (as the sampler uses
    BLAS), and (a) on the given (m, k, n) shapes (each block repeated to last about as long
    as the square one)."""
    from simulations._blas import run_parallel

    rng = np.random.default_rng(0)
    A = rng.normal(size=(2000, 2000)).astype(dtype)
    As = [A.copy() for _ in range(threads)]
    out = {"square 2000": (2.0 * 2000 ** 3, lambda: A @ A),
           f"square 2000, {threads} x 1 thread": (2.0 * 2000 ** 3 * threads,
                                                  lambda: run_parallel(lambda i: As[i] @ As[i],
                                                                       [(i,) for i in range(threads)], threads))}
    for m, k, n in shapes:
        X = rng.normal(size=(m, k)).astype(dtype)
        Y = rng.normal(size=(k, n)).astype(dtype)
        reps = max(1, int(2000 ** 3 // (m * k * n)) // 4)

        def blk(X=X, Y=Y, reps=reps):
            for _ in range(reps):
                X @ Y

        out[f"{m}x{k}x{n}"] = (2.0 * m * k * n * reps, blk)
    return out


def ours(N, d, n, S, steps, dtype=np.float64):
    """A timing block (steps ensemble steps) of this package's sampler; and its acceptance."""
    phys = dict(PHYS, N=N, d=d, n=n, sigma_a2=8.0 / N)
    m = CubicNetwork(phys, range(S), seed=0, dtype=dtype, n_test=8)
    smp = LangevinSampler(m, 0.05, [dynamics_rng(0, j, 0) for j in range(S)]).initialize()
    for _ in range(5):
        smp.step(adapt=True, check_stuck=False)

    def block():
        for _ in range(steps):
            smp.step(check_stuck=False)

    return block, smp


def torch_impl(N, d, n, S, steps, threads, dtype=np.float64):
    """A timing block of the identical update in PyTorch (same data, same potential, same
    preconditioned MALA proposal and acceptance, one potential-and-gradient evaluation per
    step, the current state's U and gradient kept)."""
    import torch

    torch.set_num_threads(threads)
    dt = torch.float64 if dtype == np.float64 else torch.float32
    phys = dict(PHYS, N=N, d=d, n=n, sigma_a2=8.0 / N)
    m = CubicNetwork(phys, range(S), seed=0, n_test=8, dtype=dtype)       # same data
    X = torch.from_numpy(m.X)
    y = torch.from_numpy(m.y)
    s2 = phys["sigma2"]
    vw, va = phys["sigma_w2"] / d, phys["sigma_a2"] / N
    c0 = 2.0 / math.sqrt(math.pi)
    g = torch.Generator().manual_seed(0)

    def potential(W, a):
        Z = torch.bmm(X, W.transpose(1, 2))
        phi = torch.erf(Z)
        f = torch.bmm(phi, a.unsqueeze(2)).squeeze(2)
        r = f - y
        U = (r * r).sum(1) / (2 * s2) + (W * W).sum((1, 2)) / (2 * vw) + (a * a).sum(1) / (2 * va)
        G = torch.exp(-Z * Z).mul_((c0 / s2) * r.unsqueeze(2) * a.unsqueeze(1))
        gW = torch.bmm(G.transpose(1, 2), X).add_(W, alpha=1.0 / vw)
        ga = torch.bmm(phi.transpose(1, 2), r.unsqueeze(2)).squeeze(2).div_(s2).add_(a, alpha=1.0 / va)
        return U, gW, ga

    W = torch.randn(S, N, d, dtype=dt, generator=g) * math.sqrt(vw)
    a = torch.randn(S, N, dtype=dt, generator=g) * math.sqrt(va)
    U, gW, ga = potential(W, a)
    h = torch.full((S,), 0.02, dtype=dt)

    def step(W, a, U, gW, ga):
        c1w, c1a = (0.5 * h * vw), (0.5 * h * va)
        xw = torch.randn(W.shape, dtype=dt, generator=g)
        xa = torch.randn(a.shape, dtype=dt, generator=g)
        W1 = W - c1w[:, None, None] * gW + torch.sqrt(h * vw)[:, None, None] * xw
        a1 = a - c1a[:, None] * ga + torch.sqrt(h * va)[:, None] * xa
        U1, gW1, ga1 = potential(W1, a1)
        rev = ((W - W1 + c1w[:, None, None] * gW1) ** 2).sum((1, 2)) / (4 * c1w) \
            + ((a - a1 + c1a[:, None] * ga1) ** 2).sum(1) / (4 * c1a)
        log_alpha = -(U1 - U) - rev + 0.5 * ((xw * xw).sum((1, 2)) + (xa * xa).sum(1))
        acc = torch.log(torch.rand(S, dtype=dt, generator=g)) < log_alpha
        W = torch.where(acc[:, None, None], W1, W)
        a = torch.where(acc[:, None], a1, a)
        return W, a, torch.where(acc, U1, U), torch.where(acc[:, None, None], gW1, gW), \
            torch.where(acc[:, None], ga1, ga), acc

    state = [W, a, U, gW, ga]

    def block():
        with torch.no_grad():
            for _ in range(steps):
                *st, _acc = step(*state)
                state[:] = st

    return block


def _interleaved(blocks, repeat, pause=0.3):
    """{name: [seconds per block]}, the blocks run in turn (after one warm-up each), with a
    pause before each: PyTorch's OpenMP threads spin for a while after a parallel region,
    and would otherwise slow down whatever runs next."""
    for fn in blocks.values():
        fn()
    out = {k: [] for k in blocks}
    for _ in range(repeat):
        for k, fn in blocks.items():
            time.sleep(pause)
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-float32", action="store_true")
    args = ap.parse_args(argv)
    threads = len(os.sched_getaffinity(0))
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
        args.no_torch = True
    dtypes = [np.float64] if args.no_float32 else [np.float64, np.float32]
    shapes = []
    for _, N, d, n, _, _ in SIZES:
        shapes += [(n, d, N), (d, n, N)]
    gemm = {np.float64: gemm_blocks(shapes, threads), np.float32: gemm_blocks([], threads, np.float32)}
    # every timed block: the GEMM-rate blocks are interleaved with the step blocks, so that
    # the roofline rate R is sampled under the same machine load as the steps
    runs = []
    for label, N, d, n, S, steps in SIZES:
        for dt in dtypes:
            blk, smp = ours(N, d, n, S, steps, dt)
            blocks = {"ours": blk}
            if not args.no_torch:
                blocks["torch"] = torch_impl(N, d, n, S, steps, threads, dt)
            for k, (fl, g) in gemm[dt].items():
                blocks["gemm " + k] = g
            times = _interleaved(blocks, args.repeat)
            runs.append((label, N, d, n, S, steps, dt, smp, times))
            print(f"  timed {label}, {np.dtype(dt).name}", file=sys.stderr, flush=True)
    rates = {}
    for dt in dtypes:
        for k, (fl, _) in gemm[dt].items():
            best = min(min(r[8]["gemm " + k]) for r in runs if r[6] == dt)
            rates.setdefault(np.dtype(dt).name, {})[k] = fl / best / 1e9
    R = {name: max(v.values()) for name, v in rates.items()}
    print(f"machine: {threads} CPU(s); NumPy {np.__version__}; PyTorch {tv}; GEMM rates on all threads (GF/s, "
          "best of every block of the run): " + "; ".join(
              name + " " + ", ".join(f"{k}: {v:.1f}" for k, v in r.items()) for name, r in rates.items())
          + "; roofline rate R = " + ", ".join(f"{v:.1f} ({k})" for k, v in R.items()))
    out = {"threads": threads, "gemm_rates_gflops": rates, "roofline_gflops": R, "torch": tv,
           "numpy": np.__version__, "sizes": []}
    for label, N, d, n, S, steps, dt, smp, times in runs:
        name = np.dtype(dt).name
        flops = 4.0 * n * N * d * S
        t = np.array(times["ours"]) / steps
        row = {"size": label, "dtype": name, "members": S, "flops_per_ensemble_step": flops,
               "ours": {"step_s": t.tolist(), "network_steps_per_s": S / t.min(),
                        "network_steps_per_s_median": S / float(np.median(t)),
                        "network_steps_per_s_worst": S / t.max(),
                        "achieved_gflops": flops / t.min() / 1e9,
                        "roofline_fraction": flops / (R[name] * 1e9) / t.min(),
                        "acceptance": float(smp.acceptance.mean())}}
        msg = (f"{label}, {S} members, {name}: ours {S / t.min():8.1f} network-steps/s "
               f"(median {S / np.median(t):.1f}, worst {S / t.max():.1f}; {t.min() * 1e3:.2f} ms/ensemble step, "
               f"{flops / t.min() / 1e9:.1f} GF/s = {100 * flops / (R[name] * 1e9) / t.min():.0f}% of roofline)")
        if "torch" in times:
            tt = np.array(times["torch"]) / steps
            row["torch"] = {"step_s": tt.tolist(), "network_steps_per_s": S / tt.min(),
                            "network_steps_per_s_median": S / float(np.median(tt))}
            row["speedup_vs_torch"] = tt.min() / t.min()
            row["speedup_vs_torch_of_medians"] = float(np.median(tt) / np.median(t))
            msg += (f"; PyTorch {S / tt.min():8.1f} (median {S / np.median(tt):.1f}) -> speed-up "
                    f"{tt.min() / t.min():.2f}x (of medians {np.median(tt) / np.median(t):.2f}x)")
        print(msg, flush=True)
        out["sizes"].append(row)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
