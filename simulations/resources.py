r"""What a ``phasesim langevin`` run needs, estimated before anything is allocated.

:func:`estimate_memory` adds up the arrays of :mod:`simulations.models` and
:mod:`simulations.sampler` for one batch of members (one worker), times the workers, plus
what the parent process holds (the checkpointed state of every member, twice while a
segment is exchanged). The per-member sizes are the models' ``estimate_bytes``
(data and test points, pre-activation and gradient buffers, features and outputs, the
sampler's eight parameter-sized arrays, traces and histograms); each worker process adds
:data:`PROCESS_BASE` (the interpreter with NumPy, SciPy and Numba).

:func:`check_resources` refuses a run whose estimate exceeds the memory that may be used
(:func:`adaptive_kernel.limits.require_memory`), naming the option whose halving saves the
most (among those within 25% of it, the one furthest above its default), and
:func:`effective_jobs` caps ``--jobs`` by the CPUs and the units of work. The estimate is
checked against the allocations of real runs in ``tests/cli/test_input_limits.py``
(tracemalloc peak of a batch built and advanced: ratios 0.90-1.24).
"""
from __future__ import annotations

from adaptive_kernel.limits import cap_jobs, require_memory

#: Resident memory of one worker process before it allocates any array (Python, NumPy,
#: SciPy, Numba and the compiled kernels; ~150 MB measured).
PROCESS_BASE = 150 * 2 ** 20


def _largest_batch(config, jobs):
    """Members of the largest (sigma2, members) batch one worker advances: the split of
    :func:`simulations.langevin._batches` (one batch per sigma2, split further when jobs
    exceed the sigma2 points)."""
    G = len(config.sigma2)
    parts = max(1, min(config.seeds, -(-jobs // G))) if jobs > G else 1
    return -(-config.seeds // parts), G * parts


def estimate_memory(config, jobs: int = 1, physical=None) -> int:
    """Peak memory of :func:`simulations.langevin.run_langevin` (bytes), see the module
    docstring. ``jobs`` is the number of worker processes (after :func:`effective_jobs`);
    ``physical(teacher, params, sigma2)`` gives the simulated parameters (default
    :func:`simulations.langevin.physical`)."""
    from .models import model_class

    if physical is None:
        from .langevin import physical
    jobs = max(1, int(jobs))
    S, n_batches = _largest_batch(config, jobs)
    cls = model_class(config.teacher)
    worker, state = 0, 0
    for s2 in config.sigma2:
        w, st = cls.estimate_bytes(physical(config.teacher, config.params, s2), S, config.dtype, config.n_test,
                                   config.n_samples, config.time_blocks,
                                   train_fraction=getattr(config, "train_fraction", 1.0))
        worker, state = max(worker, w), max(state, st)
    members = len(config.sigma2) * config.seeds
    workers = min(jobs, n_batches)
    parent = members * state * 2  # the states of every member, and the next segment's
    total = workers * worker + parent
    if workers > 1:
        total += workers * PROCESS_BASE
    return int(total)


def effective_jobs(config, jobs: int) -> tuple:
    """(jobs to use, note): :func:`adaptive_kernel.limits.cap_jobs` with the units of work
    of ``config`` (sigma2 points x ensemble members)."""
    units = len(config.sigma2) * config.seeds
    return cap_jobs(jobs, units, f"{len(config.sigma2)} sigma2 point(s) x {config.seeds} seed(s)")


def _candidates(config):
    """(option text, config with that parameter halved) for the options that size a run
    (the model's ``size_options`` and ``--seeds``)."""
    from dataclasses import replace

    from .models import model_class

    res = []
    for k in model_class(config.teacher).size_options + ("seeds",):
        in_params = k in config.params
        v = int(config.params[k] if in_params else getattr(config, k))
        if v <= 1:
            continue
        try:
            c = (replace(config, params=dict(config.params, **{k: v // 2})) if in_params
                 else replace(config, **{k: v // 2}))
        except Exception:  # pragma: no cover - a halved value the config refuses
            continue
        res.append((f"--{k.replace('_', '-')} {v}", c))
    return res


def _ratio_to_default(config, text):
    """How far the option ``--NAME VALUE`` is above its default (ties in
    :func:`check_resources` go to the most enlarged parameter)."""
    from adaptive_kernel.registry import get_teacher

    name, value = text[2:].split()
    defaults = dict(get_teacher(config.teacher).defaults, **{"n-test": 1000, "seeds": 4, "jobs": 1})
    return float(value) / max(1.0, float(defaults.get(name, 1.0)))


def check_resources(config, jobs: int = 1, available: int | None = None) -> int:
    """Refuse (:class:`~adaptive_kernel.errors.ParameterError`) a run whose
    :func:`estimate_memory` exceeds the memory it may use; return the estimate.

    The message names the parameter whose halving saves the most memory, the estimate and
    the available memory.
    """
    from adaptive_kernel.limits import MEMORY_FRACTION, available_memory

    est = estimate_memory(config, jobs)
    avail = available_memory() if available is None else int(available)
    if est <= MEMORY_FRACTION * avail:
        return est
    # the parameter whose halving saves the most; among those within 25% of the best, the
    # one furthest above its default (halving N, d, n or --seeds often saves about as much)
    options = []
    for text, c in _candidates(config):
        try:
            options.append((text, est - estimate_memory(c, jobs)))
        except Exception:  # pragma: no cover - a halved value the estimate cannot take
            continue
    if jobs > 1:
        options.append((f"--jobs {jobs}", est - estimate_memory(config, max(1, jobs // 2))))
    top = max((s for _, s in options), default=0.0)
    near = [t for t, s in options if s >= 0.75 * top] or [f"--seeds {config.seeds}"]
    best = max(near, key=lambda t: _ratio_to_default(config, t))
    what = ("data, weights, buffers and histograms of "
            f"{len(config.sigma2) * config.seeds} network(s)"
            + (f" in {jobs} worker process(es)" if jobs > 1 else ""))
    require_memory(est, best, what, avail)
    return est  # pragma: no cover - require_memory raised


__all__ = ["estimate_memory", "check_resources", "effective_jobs", "PROCESS_BASE"]
