"""Batched matrix products for ensembles of networks, spread over a small thread pool.

NumPy's stacked :func:`numpy.matmul` calls one multithreaded BLAS gemm per ensemble member;
for the small matrices of a network (e.g. 375 x 53 x 87) the BLAS threads spend most of
their time synchronising, and on a loaded machine they can stall completely. Here each
pool thread owns a contiguous group of members (or, for a single member, a contiguous
block of output rows, starting on a multiple of 32 rows) and calls *single-threaded* BLAS on
it. Every output element is still one gemm dot product over the full inner dimension,
computed by the same micro-kernel as in an unsplit call, so results do not depend on how the
work is split (tested bit for bit). A row block starting inside a micro-kernel tile would
not be: OpenBLAS computes partial tiles with another kernel whose summation order differs in
the last bits (seen with the Haswell kernels at odd row offsets).

OpenBLAS has one thread count per process (``openblas_set_num_threads_local`` too: in the
pthreads builds NumPy ships it sets the global count, whichever thread calls it). So the
calling thread sets NumPy's OpenBLAS to one thread while the pool works and restores the
previous count afterwards (:func:`serial_blas`, half a microsecond): the rest of the process
keeps multithreaded BLAS. (Two Python threads driving pools at the same time would
interfere; the package never does.)

The same pool runs whole pieces of work (:func:`run_parallel`): the cubic sampler gives each
thread a contiguous range of members, for which it draws the noise, proposes, evaluates the
potential (GEMMs with single-threaded BLAS, numba kernels that release the GIL) and the
reverse move, with one fork-join per step.

If NumPy's BLAS is not OpenBLAS (or its thread count cannot be set), plain
:func:`numpy.matmul` is used, and :func:`run_parallel` runs its parts in the calling thread.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

#: row blocks of one member start on multiples of this (a multiple of every OpenBLAS dgemm
#: and sgemm M-unroll), so that splitting never changes a single bit of the product
ROW_ALIGN = 32

_lock = threading.Lock()
_pool = None
_pool_threads = 0
_set = None
_get = None
_probed = False

#: (setter, getter) names of OpenBLAS's process-wide thread count, as NumPy's wheels
#: (scipy-openblas, 64-bit integers) and other builds export them
_NAMES = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("openblas_set_num_threads", "openblas_get_num_threads"))


def _probe():
    """Find OpenBLAS's thread-count setter and getter in NumPy's BLAS; True if found."""
    global _set, _get, _probed
    if _probed:
        return _set is not None
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
        except OSError:
            continue
        for sname, gname in _NAMES:
            try:
                s, g = getattr(lib, sname), getattr(lib, gname)
            except AttributeError:
                continue
            s.argtypes = [ctypes.c_int]
            s.restype = None
            g.argtypes = []
            g.restype = ctypes.c_int
            _set, _get = s, g
            return True
    return False


@contextmanager
def serial_blas():
    """NumPy's OpenBLAS single-threaded inside the block (process-wide), the previous
    thread count restored after it."""
    if not _probe():
        yield
        return
    prev = _get()
    if prev != 1:
        _set(1)
    try:
        yield
    finally:
        if prev != 1:
            _set(prev)


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
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="phasesim-blas")
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
    if threads <= 1 or not _probe():
        # single-threaded BLAS here too: OpenBLAS's own threads split a gemm at boundaries
        # of their choosing, which changes the last bits with the machine's core count
        with serial_blas():
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
        # block boundaries on multiples of ROW_ALIGN rows: OpenBLAS computes the rows of a
        # partial micro-kernel tile with another kernel (another summation order), so a
        # boundary inside a tile would change the last bits of the rows around it
        edges = (np.linspace(0, m, parts + 1) / ROW_ALIGN).round().astype(int) * ROW_ALIGN
        edges[-1] = m
        edges = np.minimum(edges, m)
        for s in range(S):
            for lo, hi in zip(edges[:-1], edges[1:]):
                if hi > lo:
                    tasks.append((slice(s, s + 1), slice(lo, hi)))

    def run(t):
        ss, rr = t
        np.matmul(A[ss, rr], B[ss], out=out[ss, rr])

    with serial_blas():
        for fut in [pool.submit(run, t) for t in tasks]:
            fut.result()
    return out


def run_parallel(fn, parts, threads: int | None = None):
    """Call ``fn(*part)`` for every part on the pool, with single-threaded BLAS, and return
    the results in order; with one thread, in the calling thread (single-threaded BLAS too)."""
    threads = default_threads() if threads is None else threads
    parts = list(parts)
    if not _probe():
        return [fn(*p) for p in parts]
    if threads <= 1:
        with serial_blas():
            return [fn(*p) for p in parts]
    pool = _get_pool(threads)
    with serial_blas():
        return [f.result() for f in [pool.submit(fn, *p) for p in parts]]


def split_range(S: int, parts: int):
    """Contiguous, balanced (lo, hi) ranges of range(S), at most ``parts`` of them."""
    parts = max(1, min(int(parts), int(S)))
    edges = [round(S * k / parts) for k in range(parts + 1)]
    return [(lo, hi) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]
