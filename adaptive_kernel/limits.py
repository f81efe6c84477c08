"""Resource limits checked before a computation starts.

Every check here raises :class:`~adaptive_kernel.errors.ParameterError` (a one-line usage
error, exit code 2, on the command line) whose message names the parameter, the limit and
the estimate, so that a run that cannot finish is refused before it allocates anything.

* **Memory**: :func:`available_memory` reads ``MemAvailable`` from ``/proc/meminfo``
  (falling back to ``os.sysconf`` physical pages x page size); :func:`require_memory`
  refuses an estimate above :data:`MEMORY_FRACTION` of it.
* **CPUs**: :func:`cpu_count` is the number of CPUs this process may run on
  (``os.sched_getaffinity``, else ``os.cpu_count``); :func:`cap_jobs` caps a number of
  worker processes by it and by the units of work.
* **Scan grids**: :func:`check_scan_size` caps the number of solved points of one
  ``phasesim scan`` (sigma2 points x ``--vary`` values) at :data:`MAX_SCAN_POINTS` and
  estimates the file size (the action landscape is stored per point) and run time.
* **Integers**: every integer parameter is stored in HDF5 as int64
  (:data:`INT64_MAX`); seeds of the simulations are bounded by :data:`MAX_SEED`.
"""
from __future__ import annotations

import math
import os

from .errors import ParameterError
from .validation import INT64_MAX
#: Largest base seed of ``phasesim langevin``: it is stored as an int64 HDF5 attribute
#: (numpy's SeedSequence itself takes any non-negative integer).
MAX_SEED = INT64_MAX
#: A run may plan to use at most this fraction of the available memory.
MEMORY_FRACTION = 0.8
#: Most points (sigma2 values x --vary values) of one scan. 20,000 cubic points make a
#: 72 MB file and take ~10 min; the cap keeps a mistyped NUM from running for days.
MAX_SCAN_POINTS = 20_000
#: Bytes stored per scan point besides the landscape row: ~60 float64 (two sweeps of
#: observables, status, residuals). Measured: modadd 400 points 1.65 MB (4.1 kB/point,
#: estimate 4.3 kB), cubic 400 points 1.47 MB (3.7 kB/point, estimate 3.7 kB).
SCAN_BYTES_PER_POINT_EXTRA = 8 * 60


def format_bytes(n: float) -> str:
    """Human-readable size with binary prefixes (``3.6 TiB``)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024.0 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} EiB"  # pragma: no cover


def format_seconds(s: float) -> str:
    """Human-readable duration (``45 s``, ``12 min``, ``3.2 h``, ``4.1 days``)."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"


def available_memory() -> int:
    """Memory available to a new allocation, in bytes.

    ``MemAvailable`` of ``/proc/meminfo`` (Linux: free memory plus reclaimable caches);
    otherwise physical pages x page size from ``os.sysconf``; otherwise 2**63 - 1
    (unknown: no refusal).
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        if pages <= 0:
            pages = os.sysconf("SC_PHYS_PAGES")
        return int(pages) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return INT64_MAX


def cpu_count() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cap_jobs(jobs: int, units: int, what: str = "") -> tuple:
    """(workers to start, note): ``jobs`` capped at :func:`cpu_count` and at ``units``, the
    units of work that can run in parallel; the note says why (empty when not capped).

    Parameters
    ----------
    jobs : int
        Requested worker processes (>= 1).
    units : int
        Independent units of work.
    what : str
        How the units are counted, for the note (e.g. ``"2 sigma2 point(s) x 2 seed(s)"``).
    """
    cpus = cpu_count()
    use = max(1, min(int(jobs), cpus, int(units)))
    if use == jobs:
        return use, ""
    why = []
    if jobs > cpus:
        why.append(f"{cpus} CPU(s) available")
    if jobs > units:
        why.append(f"{units} unit(s) of work" + (f" ({what})" if what else ""))
    return use, f"--jobs {jobs} capped at {use}: " + " and ".join(why)


def require_memory(nbytes: float, param: str, what: str, available: int | None = None) -> None:
    """Refuse a run whose estimated memory ``nbytes`` exceeds :data:`MEMORY_FRACTION` of the
    available memory.

    Parameters
    ----------
    nbytes : float
        Estimated peak memory of the run.
    param : str
        The parameter(s) that make it large (named in the message, e.g. ``--N 1000000000``).
    what : str
        What the memory holds (e.g. ``"data, weights and buffers of 4 networks"``).
    available : int, optional
        Available memory in bytes (default :func:`available_memory`).
    """
    avail = available_memory() if available is None else int(available)
    if not math.isfinite(nbytes) or nbytes > MEMORY_FRACTION * avail:
        raise ParameterError(
            f"{param}: the run needs about {format_bytes(nbytes)} of memory ({what}), more than the "
            f"{format_bytes(MEMORY_FRACTION * avail)} it may use ({MEMORY_FRACTION:.0%} of "
            f"{format_bytes(avail)} available); reduce {param.split()[0]}")


def scan_point_cost(teacher, params: dict) -> tuple:
    """(bytes stored, seconds) per scan point for this teacher and method (estimates; the
    seconds are the teacher's ``scan_seconds``)."""
    n_land = len(teacher.landscape_grid(params))
    secs = teacher.scan_seconds(params)
    return 8 * n_land + SCAN_BYTES_PER_POINT_EXTRA, secs


def check_scan_size(teacher, params: dict, n_sigma2: int, n_rows: int = 1, vary: str | None = None,
                    available: int | None = None) -> dict:
    """Refuse a scan of more than :data:`MAX_SCAN_POINTS` points or one whose arrays do not
    fit in memory; return the estimate.

    Parameters
    ----------
    teacher : Teacher
    params : dict
        Validated parameters (for the landscape size and the method).
    n_sigma2 : int
        Points of the sigma2 grid (NUM of ``--sigma2 START:STOP:NUM``).
    n_rows : int
        Values of the ``--vary`` parameter (1 without ``--vary``).
    vary : str, optional
        Name of the varied parameter (for the message).
    available : int, optional
        Available memory in bytes (default :func:`available_memory`).

    Returns
    -------
    dict
        ``points``, ``file_bytes``, ``memory_bytes``, ``seconds``.
    """
    per_bytes, per_s = scan_point_cost(teacher, params)
    points = int(n_sigma2) * int(n_rows)
    file_bytes = points * per_bytes + 64 * 1024
    # landscape array, observables of both sweeps (Python dicts), the file written from them
    memory_bytes = 4 * points * per_bytes
    seconds = points * per_s
    est = {"points": points, "file_bytes": file_bytes, "memory_bytes": memory_bytes, "seconds": seconds}
    grid = (f"--sigma2 NUM = {n_sigma2}" if n_rows == 1
            else f"--vary {vary} NUM x --sigma2 NUM = {n_rows} x {n_sigma2} = {points}")
    if points > MAX_SCAN_POINTS:
        raise ParameterError(
            f"{grid} points is above the cap of {MAX_SCAN_POINTS} points per scan "
            f"(estimated file {format_bytes(file_bytes)}, run time ~{format_seconds(seconds)}); "
            f"use a coarser grid or split the range over several files")
    require_memory(memory_bytes, grid, "the landscape and observables of every point", available)
    return est
