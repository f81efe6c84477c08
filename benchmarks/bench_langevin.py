"""Langevin (MALA) steps per second of the erf network on the cubic teacher: this package
against an implementation of the identical update in PyTorch on the CPU, and against the
machine's measured matrix-multiply rate (roofline), in one run.

    python benchmarks/bench_langevin.py [--repeat 5] [--json out.json]

PyTorch is needed only here (``pip install torch==2.13.0``); it is not a dependency of the
package. One MALA step of an ensemble member does two GEMMs of 2 n N d flops each
(Z = X W^T and dU/dW = G^T X) plus O(n N) element-wise work (erf, exp, products), and
evaluates the potential at the proposal. The roofline time of a step is
4 n N d / R, with R the best double-precision GEMM rate measured in this run (a large
square product and the step's own GEMM shapes); the roofline fraction is that time over the
measured time of a step. Timings are the best of ``--repeat`` blocks (the machine may be
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


def _best(fn, repeat):
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gemm_rate(repeat, shapes):
    """Best GF/s of NumPy's BLAS over a 2000^3 product and the given (m, k, n) shapes."""
    rng = np.random.default_rng(0)
    rates = {}
    A = rng.normal(size=(2000, 2000))
    rates["square 2000"] = 2 * 2000 ** 3 / _best(lambda: A @ A, repeat) / 1e9
    for m, k, n in shapes:
        X = rng.normal(size=(m, k))
        Y = rng.normal(size=(k, n))
        rates[f"{m}x{k}x{n}"] = 2 * m * k * n / _best(lambda: X @ Y, repeat) / 1e9
    return rates


def ours(N, d, n, S, steps, repeat, dtype=np.float64):
    phys = dict(PHYS, N=N, d=d, n=n, sigma_a2=8.0 / N)
    m = CubicNetwork(phys, range(S), seed=0, dtype=dtype, n_test=8)
    smp = LangevinSampler(m, 0.05, [dynamics_rng(0, j, 0) for j in range(S)]).initialize()
    for _ in range(5):
        smp.step(adapt=True, check_stuck=False)

    def block():
        for _ in range(steps):
            smp.step(check_stuck=False)

    return _best(block, repeat) / steps, smp.acceptance.mean()


def torch_impl(N, d, n, S, steps, repeat, threads):
    import torch

    torch.set_num_threads(threads)
    dt = torch.float64
    phys = dict(PHYS, N=N, d=d, n=n, sigma_a2=8.0 / N)
    m = CubicNetwork(phys, range(S), seed=0, n_test=8)       # same data
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
        for _ in range(steps):
            *st, _acc = step(*state)
            state[:] = st

    with torch.no_grad():
        return _best(block, repeat) / steps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    threads = len(os.sched_getaffinity(0))
    shapes = []
    for _, N, d, n, _, _ in SIZES:
        shapes += [(n, d, N), (N, n, d)]
    rates = gemm_rate(args.repeat, shapes)
    R = max(rates.values())
    print(f"machine: {threads} CPU(s); NumPy {np.__version__}; float64 GEMM rates (GF/s): "
          + ", ".join(f"{k}: {v:.1f}" for k, v in rates.items()) + f"; roofline rate R = {R:.1f} GF/s")
    out = {"threads": threads, "gemm_rates_gflops": rates, "roofline_gflops": R, "sizes": []}
    for label, N, d, n, S, steps in SIZES:
        t_ours, acc = ours(N, d, n, S, steps, args.repeat)
        t_ours32, _ = ours(N, d, n, S, steps, args.repeat, dtype=np.float32)
        flops = 4.0 * n * N * d * S
        roof = flops / (R * 1e9)
        row = {"size": label, "members": S, "ours_step_s": t_ours, "ours_float32_step_s": t_ours32,
               "ours_network_steps_per_s": S / t_ours, "roofline_fraction": roof / t_ours,
               "achieved_gflops": flops / t_ours / 1e9, "acceptance": float(acc)}
        if not args.no_torch:
            try:
                t_torch = torch_impl(N, d, n, S, steps, args.repeat, threads)
                row["torch_step_s"] = t_torch
                row["torch_network_steps_per_s"] = S / t_torch
                row["speedup_vs_torch"] = t_torch / t_ours
            except ImportError:
                row["torch_step_s"] = None
        out["sizes"].append(row)
        msg = (f"{label}, {S} members: ours {S / t_ours:9.1f} network-steps/s ({t_ours * 1e3:.2f} ms/ensemble step,"
               f" {row['achieved_gflops']:.1f} GF/s, {100 * row['roofline_fraction']:.0f}% of roofline; float32 "
               f"{S / t_ours32:.1f}/s)")
        if row.get("torch_step_s"):
            msg += (f"; PyTorch {S / row['torch_step_s']:9.1f} network-steps/s -> speed-up "
                    f"{row['speedup_vs_torch']:.2f}x")
        print(msg)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
