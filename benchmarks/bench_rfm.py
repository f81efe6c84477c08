#!/usr/bin/env python
"""Benchmark: one recursive-feature-machine iteration against a straightforward NumPy version.

One RFM iteration = kernel matrix, exact solve, AGOP of the predictor over the training
inputs, matrix square root (quadratic kernel, centred Jacobians: the ``phasesim rfm``
defaults), at P = 61 and P = 97 with training fraction 0.5, timed in one process:

1. ``package``: :mod:`simulations.rfm` (Cholesky solve; the AGOP accumulated over batches of
   training points from a 64 MiB budget, the per-token products of :func:`simulations.rfm.agop`;
   eigh for the power). Single-threaded BLAS, as every RFM unit runs (bit-identical results
   on every runner).
2. ``reference``: the same iteration written the straightforward way: ``numpy.linalg.solve``
   (as the authors' code), the full (n, classes, 2P) gradient tensor with one
   ``numpy.einsum``, the AGOP as ``einsum`` over it, the power by ``eigh``. Run under the
   same single-threaded BLAS.

It prints the times (best of ``--repeat``), the ratio, the largest relative difference of the
two feature matrices, and the peak memory of the package's AGOP step (tracemalloc) and of the
whole process (``resource.getrusage``), next to the size of the gradient tensor the
reference builds. Targets (issue 11): >= 5x, and P = 61 under 1 s per iteration.

Usage::

    python benchmarks/bench_rfm.py                 # P = 61 and 97 (~2 min on 2 cores)
    python benchmarks/bench_rfm.py --P 61 --repeat 3
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from adaptive_kernel.tasks import get_task
from simulations import rfm


def data(P, fraction=0.5, seed=0):
    task = get_task(rfm.pair_task_names()[0], P=P, operation="add")
    sp = task.split(fraction, seed)
    return task.inputs(sp.train), task.targets(sp.train, centered=False)


def start_matrix(P):
    """A generic feature matrix (the second iteration's, not the identity)."""
    X, Y = data(P)
    M = np.eye(2 * P)
    alpha, _ = rfm.solve_kernel_machine(rfm.kernel_matrix(X, X, M), Y)
    return rfm.psd_power(rfm.agop(X, alpha, M, centre=True), 0.5)


def package_iteration(X, Y, M):
    gram = rfm.mahalanobis_gram(X, X, M)
    K = rfm.kernel_matrix(X, X, M, gram=gram)
    alpha, _ = rfm.solve_kernel_machine(K, Y)
    G = rfm.agop(X, alpha, M, centre=True, gram=gram, K=K)
    return rfm.psd_power(G, 0.5)


def reference_iteration(X, Y, M):
    K0 = X @ M @ X.T
    alpha = np.linalg.solve(K0 ** 2, Y)
    # J[i, l, :] = d f_l / d x at x_i = sum_j 2 (x_i^T M x_j) alpha_jl M x_j
    J = np.einsum("ij,jl,jd->ild", 2.0 * K0, alpha, X @ M, optimize=True)
    J -= J.mean(axis=0)
    G = np.einsum("ild,ile->de", J, J, optimize=True) / len(X)
    w, U = np.linalg.eigh(G)
    return (U * np.sqrt(np.maximum(w, 0.0))) @ U.T


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--P", type=int, nargs="+", default=[61, 97])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--reference-repeat", type=int, default=1)
    args = ap.parse_args()
    print(f"{'P':>4} {'n':>6} {'package s':>10} {'reference s':>12} {'ratio':>7} {'max rel diff':>13} "
          f"{'AGOP peak MiB':>14} {'tensor MiB':>11}")
    for P in args.P:
        X, Y = data(P)
        M = start_matrix(P)
        with rfm.single_threaded_blas():
            t_pkg, M_pkg = best_of(lambda: package_iteration(X, Y, M), args.repeat)
            t_ref, M_ref = best_of(lambda: reference_iteration(X, Y, M), args.reference_repeat)
            # peak memory of the AGOP step alone (inputs already allocated)
            gram = rfm.mahalanobis_gram(X, X, M)
            K = rfm.kernel_matrix(X, X, M, gram=gram)
            alpha, _ = rfm.solve_kernel_machine(K, Y)
            tracemalloc.start()
            rfm.agop(X, alpha, M, centre=True, gram=gram, K=K)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        diff = np.max(np.abs(M_pkg - M_ref)) / np.max(np.abs(M_ref))
        tensor = len(X) * P * 2 * P * 8
        print(f"{P:4d} {len(X):6d} {t_pkg:10.3f} {t_ref:12.3f} {t_ref / t_pkg:7.1f} {diff:13.2e} "
              f"{peak / 2 ** 20:14.1f} {tensor / 2 ** 20:11.1f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak resident memory (includes the reference's tensors): {rss:.0f} MiB")
    print("targets: ratio >= 5, P = 61 package < 1 s per iteration")


if __name__ == "__main__":
    main()
