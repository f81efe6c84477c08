"""Batched matrix products for ensembles of networks, spread over a small thread pool.

NumPy's stacked :func:`numpy.matmul` calls one multithreaded BLAS gemm per ensemble member;
for the small matrices of a network (e.g. 375 x 53 x 87) the BLAS threads spend most of
their time synchronising, and on a loaded machine they can stall completely. Here each
pool thread owns a contiguous group of members (or, for a single member, a contiguous
block of output rows) and calls *single-threaded* BLAS on it
(``openblas_set_num_threads_local(1)``, thread-local, so nothing else in the process is
affected). Every output element is still one gemm dot product over the full inner
dimension, so results do not depend on how the work is split (tested bit for bit).

If NumPy's BLAS is not OpenBLAS (or too old for the thread-local call), plain
:func:`numpy.matmul` is used.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_lock = threading.Lock()
_pool = None
_pool_threads = 0
_set_local = None
_probed = False


def _probe():
    """Find OpenBLAS's thread-local thread-count setter in NumPy's BLAS."""
    global _set_local, _probed
    if _probed:
        return _set_local
    _probed = True
    cands = []
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    cands += glob.glob(os.path.join(libdir, "*openblas*"))
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                p = line.split()[-1] if line.strip() else ""
                if "openblas" in p and "numpy" in p and p not in cands:
                    cands.append(p)
    except OSError:  # pragma: no cover - non-Linux
        pass
    for path in cands:
        try:
            lib = ctypes.CDLL(path)
            fn = lib.openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
        _set_local = fn
        break
    return _set_local


def default_threads() -> int:
    """Threads for the pool: NUMBA_NUM_THREADS if set, else the CPUs available."""
    env = os.environ.get("PHASESIM_THREADS") or os.environ.get("NUMBA_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def _get_pool(threads):
    global _pool, _pool_threads
    with _lock:
        if _pool is None or _pool_threads != threads:
            if _pool is not None:
                _pool.shutdown(wait=True)
            fn = _probe()
            init = (lambda: fn(1)) if fn is not None else None
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="phasesim-blas", initializer=init)
            _pool_threads = threads
        return _pool


def bmm(A, B, out, threads: int | None = None):
    """``out[s] = A[s] @ B[s]`` for every member s (A, B may be transposed views).

    Parameters
    ----------
    A : (S, m, k) array
    B : (S, k, n) array
    out : (S, m, n) C-contiguous array, written in place.
    threads : int, optional
        Pool size (default :func:`default_threads`).
    """
    threads = default_threads() if threads is None else threads
    S, m = A.shape[0], A.shape[1]
    if threads <= 1 or _probe() is None:
        np.matmul(A, B, out=out)
        return out
    pool = _get_pool(threads)
    tasks = []
    if S >= threads:
        edges = np.linspace(0, S, threads + 1).round().astype(int)
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi > lo:
                tasks.append((slice(lo, hi), slice(None)))
    else:
        parts = max(1, threads // S)
        edges = np.linspace(0, m, parts + 1).round().astype(int)
        for s in range(S):
            for lo, hi in zip(edges[:-1], edges[1:]):
                if hi > lo:
                    tasks.append((slice(s, s + 1), slice(lo, hi)))

    def run(t):
        ss, rr = t
        np.matmul(A[ss, rr], B[ss], out=out[ss, rr])

    for fut in [pool.submit(run, t) for t in tasks]:
        fut.result()
    return out
