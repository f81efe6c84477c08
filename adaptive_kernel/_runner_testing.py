"""Unit functions and helpers for the tests of :mod:`adaptive_kernel.runner` and of the
scale-out of the commands (not part of the API).

The unit functions live in the package, not in ``tests/``, because worker processes must import them by
reference: ``tests/`` is not a package, and the separately started ``dask worker``
processes do not have it on their path.
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from .runner import key_seed, key_text


def draw(key, n=64):
    """A deterministic NumPy computation seeded by the unit key: (n,) float64 array."""
    rng = np.random.default_rng(key_seed(key, entropy=20240))
    x = rng.standard_normal((n, 8))
    y = np.cumsum(np.sort(x, axis=0) ** 2, axis=0)
    return y[:, 0] * rng.uniform() + np.exp(-np.abs(y[:, -1]))


def sleepy_draw(key, n, delay):
    """:func:`draw` after sleeping ``delay`` seconds (shuffles the completion order)."""
    time.sleep(delay)
    return draw(key, n)


def _mark(folder, key):
    name = key_text(key).replace("/", "_")
    path = os.path.join(folder, f"{name}.{os.getpid()}.{time.monotonic_ns()}")
    with open(path, "w"):
        pass


def calls(folder, key):
    """How often :func:`counted_draw` ran for ``key`` (marker files in ``folder``)."""
    name = key_text(key).replace("/", "_")
    return len(glob.glob(os.path.join(glob.escape(folder), glob.escape(name) + ".*")))


def counted_draw(key, n, folder):
    """:func:`draw`, leaving one marker file per call in ``folder``."""
    _mark(folder, key)
    return draw(key, n)


def die_once(key, n, marker, delay=0.0):
    """Kill the worker process on the first call of the run (when ``marker`` does not exist
    yet: it is created), then behave like :func:`draw`."""
    time.sleep(delay)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return draw(key, n)
    os.close(fd)
    os._exit(3)


def fail_if(key, n, bad):
    """:func:`draw`, but raise ValueError for the unit whose key equals ``bad``."""
    if tuple(key) == tuple(bad):
        raise ValueError(f"sigma2 too small for unit {key[1]}\n(second line)")
    return draw(key, n)


def _openblas_threads():
    import ctypes

    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                     "openblas_get_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return int(fn())
    return None


def thread_report(key=None):
    """The thread settings seen by a unit: environment, numba, OpenBLAS, and the pid."""
    import numba

    return {"env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                                                   "PHASESIM_THREADS")},
            "numba": numba.get_num_threads(), "openblas": _openblas_threads(), "pid": os.getpid()}


def die(key, n):
    """Kill the worker process, every time."""
    os._exit(3)


def recurse_forever(key, depth=0):
    """Fails with a RecursionError (a traceback thousands of frames deep)."""
    return recurse_forever(key, depth + 1)



# ---------------------------------------------------------------------------------------
# helpers of the scale-out tests (driver side)
# ---------------------------------------------------------------------------------------
#: root attributes that differ between runs of the same computation
VOLATILE_ATTRS = ("created", "command", "host", "wall")
#: HDF5 object references of dimension scales (compared through the datasets they name)
REFERENCE_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST")


def file_contents(path):
    """{name: array} of every dataset and {name + "@": attrs} of every object of an HDF5
    file, volatile and reference attributes left out."""
    import h5py

    out = {}

    def attrs(obj):
        return {k: v for k, v in obj.attrs.items()
                if not any(w in k for w in VOLATILE_ATTRS) and k not in REFERENCE_ATTRS}

    with h5py.File(path, "r") as f:
        out["/@"] = attrs(f)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            out[name + "@"] = attrs(obj)

        f.visititems(visit)
    return out


def assert_same_file(a, b):
    """Every dataset and attribute of two HDF5 files equal bit for bit (NaN == NaN)."""
    ca, cb = file_contents(a), file_contents(b)
    assert sorted(ca) == sorted(cb)
    for k in ca:
        x, y = ca[k], cb[k]
        if k.endswith("@"):
            assert sorted(x) == sorted(y), k
            for n in x:
                assert np.array_equal(np.asarray(x[n]), np.asarray(y[n]),
                                      equal_nan=np.asarray(x[n]).dtype.kind in "fc"), (k, n)
        else:
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape, k
            assert np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"), k


def dask_command():
    """The ``dask`` command of this environment as an argv prefix, or None."""
    exe = os.path.join(os.path.dirname(sys.executable), "dask")
    if os.path.exists(exe):
        return [exe]
    return [shutil.which("dask")] if shutil.which("dask") else None


def stop_processes(procs):
    """Terminate processes started with ``start_new_session=True`` (SIGKILL to their process
    group after 15 s)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
