"""Run independent units of work serially, on local processes, or on a Dask cluster.

A *unit* is a pure function of its inputs, ``Unit(key, fn, args)``: ``fn(*args)`` computes
it, and ``key`` names it (a tuple of ints and strings such as
``("sigma2", 3, "members", 0, 4, "segment", 2)``; JSON-able and hashable). Seeds belong to
units (derive them from the key with :func:`key_seed`, or pass them in ``args``), never to
workers, so a result does not depend on which worker computes it, on how many workers there
are, or on the order in which units finish: every runner gives bit-for-bit the same results.

Runners share one small interface (emcee's ``pool`` idea)::

    with make_runner(jobs=4, n_units=len(units)) as runner:   # or scheduler="tcp://..."
        out = runner.map(fn, xs)                  # [fn(x) for x in xs], in input order
        out = run_units(units, runner, store=checkpoint, progress=show)

* :class:`SerialRunner` -- in the calling process (the default);
* :class:`ProcessRunner` -- ``jobs`` local worker processes
  (:class:`concurrent.futures.ProcessPoolExecutor`, *spawn* start method);
* :class:`DaskRunner` -- a :mod:`dask.distributed` cluster: an existing scheduler, given by
  its address or its scheduler file, or a private ``LocalCluster``.

:meth:`Runner.submit_units` yields ``(key, result)`` pairs as units complete;
:meth:`Runner.map` / :meth:`Runner.starmap` and :func:`run_units` return the results in input
order. :func:`run_units` also resumes: units whose key is already in ``store`` (a dict or any
object with ``__contains__``, ``__getitem__`` and ``__setitem__``, e.g. a checkpoint file) are
not rerun, and every finished result is put into ``store`` as it arrives. ``progress(n_done,
n_total)`` is called in the driver: once at the start (``n_done`` = units found in the store)
and after every completed unit, whichever runner computes them.

Failures
--------
A unit that raises stops the run: the remaining units are cancelled (a
:class:`ProcessRunner` terminates its running workers; Dask cannot interrupt a running task,
it discards its result), and :class:`UnitError` names the unit's key and the exception's type and
message in one line (the original exception is its ``__cause__``). A *lost worker* (killed,
out of memory) is not a unit failure: a :class:`ProcessRunner` restarts its pool and reruns
the unfinished units (at most ``max_restarts`` times); a Dask cluster reschedules the lost
worker's units itself (a unit is given up, as ``KilledWorker``, once it has been on
``distributed.scheduler.allowed-failures`` + 1 dying workers; default 3 + 1). Results are
identical either way, because units are pure.

:class:`UnitError` is defined here for now; it belongs in :mod:`adaptive_kernel.errors`.

Threads
-------
Each worker's BLAS and numba thread count is set so that workers x threads does not exceed
the CPUs of the node (:func:`thread_budget`): ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS`` and ``PHASESIM_THREADS`` are in the environment
the worker processes are started with (BLAS libraries read them once, when NumPy is loaded,
which in a spawned child happens before any initializer could run), and before every unit
the worker also calls :func:`numba.set_num_threads` and, if :mod:`threadpoolctl` is installed,
``threadpool_limits``. Workers of an external Dask cluster get one thread per unit unless
``threads_per_worker`` says otherwise (Dask's nanny already starts workers with
``OMP/MKL/OPENBLAS_NUM_THREADS=1``); start them with ``--nthreads 1`` and one worker process
per core (or fewer processes and pass ``threads_per_worker``). The serial runner leaves
the thread counts of the calling process alone. (A private ``LocalCluster``'s nanny sets the
workers' variables in the driver's own environment whenever it (re)starts a worker; the
driver's values are restored once the workers are up and by :meth:`DaskRunner.close`.)

A local Dask cluster by hand
----------------------------
::

    dask scheduler --host 127.0.0.1 --port 8786 --no-dashboard &
    dask worker tcp://127.0.0.1:8786 --nworkers 4 --nthreads 1 --no-dashboard &
    phasesim ... --scheduler tcp://127.0.0.1:8786

(``dask scheduler --scheduler-file sched.json`` and ``dask worker --scheduler-file
sched.json`` work the same way, then ``--scheduler sched.json``.) Every worker must be able to
import this package (``adaptive_kernel``, ``simulations``: the same virtual environment, or
the same version installed).

A SLURM cluster (``pip install dask-jobqueue``)
-----------------------------------------------
In a long-lived Python process on the login node (or in a batch job)::

    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="04:00:00",
                           account="myproj", scheduler_options={"port": 8786})
    cluster.scale(jobs=4)                     # 4 nodes x 32 single-threaded workers
    print(cluster.scheduler_address)          # e.g. tcp://10.0.0.5:8786
    Client(cluster).write_scheduler_file("sched.json")     # optional
    input("press Enter to stop the cluster")  # keep this process (the scheduler) alive

then ``phasesim ... --scheduler tcp://10.0.0.5:8786`` (or ``--scheduler sched.json``). Or,
without dask-jobqueue, start ``dask scheduler --scheduler-file sched.json`` in one job step
and ``srun dask worker --scheduler-file sched.json --nthreads 1`` in another.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import operator
import os
import sys
import threading
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from .errors import ParameterError, PhasesimError
from .interrupt import raise_if_interrupted

__all__ = ["Unit", "UnitError", "Runner", "SerialRunner", "ProcessRunner", "DaskRunner",
           "make_runner", "run_units", "thread_budget", "usable_cpus", "key_text", "key_seed",
           "THREAD_ENV_VARS"]

#: environment variables that set the thread count of a worker's BLAS, OpenMP and numba
#: (and of the package's own thread pool, ``PHASESIM_THREADS``)
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMBA_NUM_THREADS", "PHASESIM_THREADS")

#: default seconds to wait for a Dask scheduler before giving up
CONNECT_TIMEOUT = 5.0

_ENV_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
class UnitError(PhasesimError):
    """A unit of work raised; the run was stopped (defined here for now, to move to
    :mod:`adaptive_kernel.errors`).

    Parameters
    ----------
    key : tuple, str or int
        The failing unit's key.
    error_type : str
        Name of the exception's type (``"ValueError"``, ``"KilledWorker"``, ...).
    error_message : str
        The exception's message.

    Attributes
    ----------
    key, error_type, error_message
        As given. The original exception, where available, is ``__cause__``.
    """

    def __init__(self, key, error_type, error_message):
        self.key = key
        self.error_type = str(error_type)
        self.error_message = " ".join(str(error_message).split())
        msg = self.error_message
        if len(msg) > 300:
            msg = msg[:297] + "..."
        text = f"unit {key_text(key)} failed: {self.error_type}"
        super().__init__(f"{text}: {msg}" if msg else text)

    def __reduce__(self):
        return (type(self), (self.key, self.error_type, self.error_message))

    @classmethod
    def from_exception(cls, key, exc):
        """The UnitError of ``key`` for exception ``exc``."""
        return cls(key, type(exc).__name__, str(exc))


# ---------------------------------------------------------------------------------------
# units and keys
# ---------------------------------------------------------------------------------------
class Unit(NamedTuple):
    """One unit of work: ``fn(*args)``, named by ``key``.

    Parameters
    ----------
    key : tuple of int and str, or int, or str
        JSON-able, hashable name of the unit, unique within a run; it names the unit in
        errors, in the store of :func:`run_units` and (through :func:`key_text`) in Dask.
    fn : callable
        A pure function (its result depends on ``args`` only). For :class:`ProcessRunner`
        it must be picklable by reference (a module-level function of an importable module);
        Dask also accepts closures (cloudpickle).
    args : tuple
        Positional arguments (picklable).
    """

    key: Any
    fn: Callable
    args: tuple = ()


def _norm_key(key):
    """``key`` with lists made tuples and NumPy integers made ints; TypeError otherwise."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        raise TypeError(f"unit key parts must be str or int, not bool: {key!r}")
    if isinstance(key, (tuple, list)):
        return tuple(_norm_key(k) for k in key)
    try:
        return operator.index(key)
    except TypeError:
        raise TypeError(f"unit key parts must be str or int (or tuples of them), "
                        f"not {type(key).__name__}: {key!r}") from None


def _to_json(key):
    return list(map(_to_json, key)) if isinstance(key, tuple) else key


def key_text(key) -> str:
    """Canonical one-line JSON text of a unit key (``("s", 3)`` -> ``'["s",3]'``).

    Parameters
    ----------
    key : tuple of int and str, int or str

    Returns
    -------
    str
        The same text for equal keys, on every machine: usable as a file or dataset name
        component, a Dask key, or a checkpoint index.
    """
    return json.dumps(_to_json(_norm_key(key)), separators=(",", ":"), ensure_ascii=True)


def key_seed(key, entropy: int = 0):
    """A :class:`numpy.random.SeedSequence` owned by a unit, from its key.

    Parameters
    ----------
    key : tuple of int and str, int or str
        The unit's key (hashed through :func:`key_text` with SHA-256, so ``1`` and ``"1"``
        differ and any key length works).
    entropy : int, optional
        The run's base seed.

    Returns
    -------
    numpy.random.SeedSequence
        Independent of the runner, the worker and the completion order.
    """
    import numpy as np

    digest = hashlib.sha256(key_text(key).encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence([int(entropy), *words])


def _as_units(units):
    out, seen = [], set()
    for u in units:
        u = u if isinstance(u, Unit) else Unit(*u)
        key = _norm_key(u.key)
        if key in seen:
            raise ValueError(f"duplicate unit key {key_text(key)}")
        seen.add(key)
        out.append(Unit(key, u.fn, tuple(u.args)))
    return out


# ---------------------------------------------------------------------------------------
# CPUs and threads
# ---------------------------------------------------------------------------------------
def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, reduced by a cgroup CPU quota.

    Returns
    -------
    int
        At least 1.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def thread_budget(workers: int, cpus: int | None = None) -> int:
    """Threads per worker so that ``workers * threads <= cpus`` (at least 1).

    Parameters
    ----------
    workers : int
        Worker processes sharing the node.
    cpus : int, optional
        CPUs of the node (default :func:`usable_cpus`).

    Returns
    -------
    int
    """
    cpus = usable_cpus() if cpus is None else int(cpus)
    return max(1, cpus // max(1, int(workers)))


def _thread_env(threads):
    return {k: str(int(threads)) for k in THREAD_ENV_VARS}


_applied_threads = None


def _apply_thread_limit(threads):
    """In a worker: BLAS/numba thread count ``threads`` (env, threadpoolctl, numba)."""
    global _applied_threads
    if threads is None:
        return
    if _applied_threads != threads:
        os.environ.update(_thread_env(threads))
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            try:
                threadpool_limits(limits=int(threads))
            except Exception:  # pragma: no cover - a library it cannot handle
                pass
        _applied_threads = threads
    numba = sys.modules.get("numba")
    if numba is not None:  # thread-local in numba: set in the thread that runs the unit
        try:
            numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        except Exception:  # pragma: no cover - no threading layer
            pass


def _execute(fn, args, threads):
    """Run one unit in a worker, with the worker's thread budget applied.

    A unit's exception is re-raised here with a fresh, shallow traceback and no chained
    exceptions: only its type and message travel back. (The traceback of, e.g., a
    RecursionError is thousands of frames deep; Dask's client cannot rebuild it and then never
    resolves the unit's future, so the driver would wait for ever.)
    """
    _apply_thread_limit(threads)
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - re-raised below, outside the handler
        failed = exc
    failed.__cause__ = None
    failed.__context__ = None
    raise failed.with_traceback(None)


def _restore_env(saved):
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _init_worker(threads):
    """ProcessPoolExecutor initializer (the environment was already set at spawn)."""
    _apply_thread_limit(threads)


# ---------------------------------------------------------------------------------------
# runners
# ---------------------------------------------------------------------------------------
class Runner:
    """Common interface of the runners.

    Attributes
    ----------
    workers : int
        Units that can run at the same time.
    threads : int or None
        BLAS/numba threads per worker (None: the calling process's own settings).
    """

    workers = 1
    threads = None

    def submit_units(self, units: Iterable) -> Iterator[tuple]:
        """Run units; yield ``(key, result)`` as each completes (completion order).

        Parameters
        ----------
        units : iterable of Unit or (key, fn, args)
            Keys must be unique.

        Yields
        ------
        (key, result)
            ``key`` normalised (lists as tuples, NumPy integers as ints).

        Raises
        ------
        UnitError
            A unit raised; the remaining ones were cancelled. Closing the generator early
            (or an exception in the consumer) cancels the remaining units as well.
        """
        raise NotImplementedError

    def map(self, fn: Callable, iterable: Iterable, keys=None, progress=None) -> list:
        """``[fn(x) for x in iterable]``, computed by the runner, in input order.

        Parameters
        ----------
        fn : callable
            Called with one argument (as the built-in :func:`map` and emcee's ``pool.map``).
        iterable : iterable
        keys : iterable, optional
            Unit keys, one per item (default: the item's index), named in errors.
        progress : callable, optional
            ``progress(n_done, n_total)``, see :func:`run_units`.

        Returns
        -------
        list
        """
        items = list(iterable)
        return self.starmap(fn, [(x,) for x in items], keys=keys, progress=progress)

    def starmap(self, fn: Callable, iterable: Iterable, keys=None, progress=None) -> list:
        """``[fn(*args) for args in iterable]``, computed by the runner, in input order.

        Parameters are those of :meth:`map`, with each item a tuple of arguments.
        """
        argss = [tuple(a) for a in iterable]
        keys = list(range(len(argss))) if keys is None else list(keys)
        if len(keys) != len(argss):
            raise ValueError(f"{len(keys)} keys for {len(argss)} items")
        return run_units([Unit(k, fn, a) for k, a in zip(keys, argss)], self, progress=progress)

    def close(self):
        """Release workers and connections (the runner cannot be used afterwards)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class SerialRunner(Runner):
    """Units one after the other in the calling process (thread settings untouched)."""

    def submit_units(self, units):
        for u in _as_units(units):
            try:
                res = u.fn(*u.args)
            except Exception as exc:
                raise UnitError.from_exception(u.key, exc) from exc
            yield u.key, res

    def __repr__(self):
        return "SerialRunner()"


class ProcessRunner(Runner):
    """Units on ``jobs`` local worker processes (spawn start method, never fork).

    The pool is started on first use and kept between calls (its workers keep their
    imports and numba compilations), until :meth:`close`, a failing unit, or an abandoned
    call terminates it; the next call starts a new one.

    Parameters
    ----------
    jobs : int
        Worker processes (>= 1; not capped here, see :func:`make_runner`).
    threads_per_worker : int, optional
        BLAS/numba threads of each worker (default ``thread_budget(jobs)``).
    max_restarts : int, optional
        How often a pool whose worker died (killed, out of memory) is restarted within one
        call to rerun the unfinished units, before :class:`PhasesimError` is raised.
    """

    def __init__(self, jobs: int, threads_per_worker: int | None = None, max_restarts: int = 3):
        jobs = operator.index(jobs)
        if jobs < 1:
            raise ParameterError(f"jobs must be >= 1, got {jobs}")
        self.workers = jobs
        self.threads = thread_budget(jobs) if threads_per_worker is None else max(1, int(threads_per_worker))
        self.max_restarts = int(max_restarts)
        self._pool = None

    def __repr__(self):
        return f"ProcessRunner(jobs={self.workers}, threads_per_worker={self.threads})"

    def _start(self):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with _ENV_LOCK:
            # the children inherit the environment at spawn: set it while they start
            saved = {k: os.environ.get(k) for k in THREAD_ENV_VARS}
            os.environ.update(_thread_env(self.threads))
            try:
                pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(self.threads,))
                # every submit spawns a worker while none is idle: start all of them now
                warm = [pool.submit(int, 0) for _ in range(self.workers)]
            finally:
                _restore_env(saved)
        try:
            for f in warm:
                f.result()
        except BaseException as exc:
            self._terminate(pool)
            if isinstance(exc, Exception):
                raise PhasesimError(f"the {self.workers} local worker processes did not start: "
                                    f"{type(exc).__name__}: {_one_line(exc)}") from exc
            raise
        self._pool = pool
        return pool

    @staticmethod
    def _terminate(pool):
        """Cancel everything, kill running workers, join the pool."""
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.terminate()
            except Exception:  # pragma: no cover - already gone
                pass
        for p in procs:
            try:
                p.join(5)
            except Exception:  # pragma: no cover
                pass
        pool.shutdown(wait=True, cancel_futures=True)

    def _abort(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            self._terminate(pool)

    def submit_units(self, units):
        units = _as_units(units)
        if not units:
            return
        left = {u.key: u for u in units}
        restarts = 0
        pending = {}
        try:
            while left:
                pool = self._pool or self._start()
                pending = {pool.submit(_execute, u.fn, u.args, self.threads): u.key
                           for u in units if u.key in left}
                broken = False
                while pending and not broken:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in sorted(done, key=lambda f: f.exception() is not None):
                        key = pending.pop(fut)
                        exc = fut.exception()
                        if exc is None:
                            del left[key]
                            yield key, fut.result()
                        elif isinstance(exc, BrokenProcessPool):
                            broken = True
                        else:
                            raise UnitError.from_exception(key, exc) from exc
                if broken:
                    self._abort()
                    pending = {}
                    restarts += 1
                    if restarts > self.max_restarts:
                        ks = ", ".join(key_text(k) for k in list(left)[:3])
                        raise PhasesimError(
                            f"a worker process died {restarts} times (killed, or out of memory?); "
                            f"{len(left)} unit(s) unfinished, first: {ks}")
        finally:
            if pending:
                self._abort()

    def close(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_scheduler_file(path):
    try:
        with open(path) as fh:
            address = json.load(fh)["address"]
        if not isinstance(address, str):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise ParameterError(f"--scheduler {path!r} is not a Dask scheduler file (JSON with "
                             f"an \"address\")") from None
    return address


def _probe_scheduler(target, address, timeout):
    """ParameterError unless a Dask scheduler answers at ``address`` within ``timeout`` s.

    A plain TCP connection first (a refused or unresolvable address fails at once, where
    dask would retry until the timeout), then dask's own handshake: so that a failed
    connection never leaves a half-built Client behind (its finaliser blocks for 10 s).
    """
    import asyncio
    import socket

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    where = repr(target) + (f" ({address})" if address != target else "")
    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls"):
            host, port = parse_host_port(loc)
            socket.create_connection((host, port), timeout=timeout).close()
    except (OSError, ValueError, TypeError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {where}: {_one_line(exc)}") from None

    async def handshake():
        comm = await connect(address, timeout=timeout)
        await comm.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # pragma: no cover - inside an event loop (Jupyter): the TCP check must do
        return
    try:
        asyncio.run(handshake())
    except Exception as exc:
        raise ParameterError(f"no Dask scheduler answers at {where} within {timeout:g} s: "
                             f"{_one_line(exc)}") from None


def _looks_like_address(text):
    import re

    return "://" in text or re.fullmatch(r"[\w.\-]+:\d+", text) is not None


class DaskRunner(Runner):
    """Units on a :mod:`dask.distributed` cluster.

    Parameters
    ----------
    address_or_scheduler_file : str, optional
        An existing scheduler's address (``tcp://127.0.0.1:8786``, ``host:port``) or the
        path of its scheduler file (JSON). Default: a private ``LocalCluster`` of
        ``n_workers`` single-threaded worker processes, closed by :meth:`close`.
    n_workers : int, optional
        Workers of the private local cluster (default :func:`usable_cpus`); ignored with
        an address.
    threads_per_worker : int, optional
        BLAS/numba threads applied in each worker before each unit (default: the local
        cluster's :func:`thread_budget`, 1 on an external cluster).
    retries : int, optional
        Dask retries of a unit that *raised* (default 0: a deterministic failure stops the
        run at once). Units of a *lost* worker are rescheduled by Dask anyway.
    timeout : float, optional
        Seconds to wait for the scheduler before :class:`ParameterError` (default
        :data:`CONNECT_TIMEOUT`).
    namespace : str, optional
        Prefix of the Dask keys (default: a random token per runner). A unit's Dask key is
        ``"phasesim-<namespace>-<call>-<key_text(key)>"``, a deterministic function of its
        key within a call, never shared with another client's tasks (``pure=False``).

    Raises
    ------
    ParameterError
        The scheduler cannot be reached within ``timeout``, the scheduler file does not
        exist, or dask.distributed is not installed.
    """

    def __init__(self, address_or_scheduler_file: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int | None = None, retries: int = 0,
                 timeout: float | None = None, namespace: str | None = None):
        try:
            import distributed  # noqa: F401
        except ImportError:  # pragma: no cover - dependency missing
            raise ParameterError("--scheduler needs dask.distributed: "
                                 "python -m pip install 'dask[distributed]'") from None
        from distributed import Client

        timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
        self.retries = int(retries)
        self.namespace = namespace or uuid.uuid4().hex[:12]
        self._calls = itertools.count()
        self._cluster = None
        self._env_saved = None
        self.address = address_or_scheduler_file
        target = address_or_scheduler_file
        if target is None:
            n = usable_cpus() if n_workers is None else operator.index(n_workers)
            if n < 1:
                raise ParameterError(f"n_workers must be >= 1, got {n}")
            self.threads = thread_budget(n) if threads_per_worker is None else int(threads_per_worker)
            self._cluster, self._env_saved = self._local_cluster(n, self.threads)
            try:
                self.client = Client(self._cluster, set_as_default=False, timeout=f"{timeout}s")
            except BaseException:
                self.close()
                raise
            self.workers = n
            self.address = self._cluster.scheduler_address
            return
        target = os.fspath(target)
        self.threads = 1 if threads_per_worker is None else int(threads_per_worker)
        if not target.strip():
            raise ParameterError("--scheduler: empty address")
        is_file = os.path.isfile(target)
        if not is_file and not _looks_like_address(target):
            raise ParameterError(f"--scheduler {target!r} is neither a scheduler address "
                                 f"(tcp://host:port) nor an existing scheduler file")
        address = _read_scheduler_file(target) if is_file else target
        _probe_scheduler(target, address, timeout)
        try:
            self.client = Client(address, set_as_default=False, timeout=f"{timeout}s")
        except Exception as exc:  # pragma: no cover - the probe passed, the client did not
            raise ParameterError(f"cannot connect to the Dask scheduler {target!r}: "
                                 f"{_one_line(exc)}") from None
        self.address = address
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    @staticmethod
    def _local_cluster(n, threads):
        import logging

        import dask
        from distributed import LocalCluster

        # the nanny sets these in its own process (here) before spawning each worker, so
        # that BLAS reads them at NumPy's import: ours are restored once the workers are up,
        # and again by close() (a nanny restarting a lost worker sets them again)
        env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **_thread_env(threads)}
        with _ENV_LOCK:
            saved = {k: os.environ.get(k) for k in env}
            try:
                with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
                    # no dashboard; the scheduler's health/metrics HTTP server on a free
                    # port rather than 8787 (taken by any other cluster on the machine)
                    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None,
                                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                           silence_logs=logging.CRITICAL)
            finally:
                _restore_env(saved)
        return cluster, saved

    def __repr__(self):
        return f"DaskRunner({self.address!r}, workers={self.workers}, threads_per_worker={self.threads})"

    def submit_units(self, units):
        from distributed import as_completed

        units = _as_units(units)
        if not units:
            return
        call = f"phasesim-{self.namespace}-{next(self._calls)}"
        futures = {}
        try:
            for u in units:
                fut = self.client.submit(_execute, u.fn, u.args, self.threads, pure=False,
                                         key=f"{call}-{key_text(u.key)}", retries=self.retries)
                futures[fut.key] = (fut, u.key)
            for fut in as_completed([f for f, _ in futures.values()], loop=self.client.loop):
                _, key = futures.pop(fut.key)
                if fut.status == "error":
                    exc = fut.exception()
                    raise UnitError.from_exception(key, exc) from exc
                if fut.status == "cancelled":
                    raise UnitError(key, "CancelledError",
                                    "cancelled by the cluster (scheduler restarted or gone?)")
                res = fut.result()
                fut.release()
                yield key, res
        finally:
            if futures:
                try:
                    self.client.cancel([f for f, _ in futures.values()])
                except Exception:  # pragma: no cover - connection gone
                    pass

    def close(self):
        client, self.client = getattr(self, "client", None), None
        if client is not None:
            client.close()
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            cluster.close()
        saved, self._env_saved = self._env_saved, None
        if saved is not None:
            with _ENV_LOCK:
                _restore_env(saved)


# ---------------------------------------------------------------------------------------
# factory and driver loop
# ---------------------------------------------------------------------------------------
def _print_to_stderr(message):
    print(message, file=sys.stderr, flush=True)


def make_runner(jobs=1, scheduler=None, n_units=None, report=_print_to_stderr) -> Runner:
    """The runner for the command line's ``--jobs N`` / ``--scheduler ADDRESS``.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (``--jobs``). Capped at :func:`usable_cpus` and at
        ``n_units``, with one line through ``report`` when capped; 1 gives a
        :class:`SerialRunner`.
    scheduler : str, optional
        A Dask scheduler address or scheduler file (``--scheduler``): a :class:`DaskRunner`.
    n_units : int, optional
        Number of units of the run, if known.
    report : callable, optional
        Called with one line of text when ``jobs`` is capped (default: print to stderr).

    Returns
    -------
    Runner

    Raises
    ------
    ParameterError
        ``jobs`` is not a whole number >= 1, ``scheduler`` is combined with ``jobs > 1``,
        or the scheduler cannot be reached.
    """
    cpus = usable_cpus()
    try:
        if isinstance(jobs, bool) or isinstance(jobs, float):
            raise TypeError
        jobs = operator.index(jobs) if not isinstance(jobs, str) else int(jobs)
    except (TypeError, ValueError):
        raise ParameterError(f"--jobs must be a whole number >= 1 (1 to {cpus}, the usable CPUs; "
                             f"larger values are capped), got {jobs!r}") from None
    if jobs < 1:
        raise ParameterError(f"--jobs must be >= 1 (1 to {cpus}, the usable CPUs; larger values "
                             f"are capped), got {jobs}")
    if scheduler is not None:
        if jobs > 1:
            raise ParameterError(f"--scheduler and --jobs {jobs} cannot be combined: the Dask "
                                 f"cluster's workers set the parallelism (drop --jobs)")
        return DaskRunner(scheduler)
    n = min(jobs, cpus)
    reasons = [f"{cpus} usable CPU{'s' * (cpus != 1)}"] if jobs > cpus else []
    if n_units is not None and n > max(1, int(n_units)):
        n = max(1, int(n_units))
        reasons.append(f"{int(n_units)} unit{'s' * (int(n_units) != 1)} of work")
    if reasons and report is not None:
        report(f"--jobs {jobs} capped to {n} ({', '.join(reasons)})")
    return SerialRunner() if n == 1 else ProcessRunner(n)


def run_units(units: Iterable, runner: Runner | None = None, store=None, progress=None) -> list:
    """Compute units with ``runner`` and return their results in the order of ``units``.

    Parameters
    ----------
    units : iterable of Unit or (key, fn, args)
        Keys must be unique.
    runner : Runner, optional
        Default :class:`SerialRunner`.
    store : mapping-like, optional
        Finished results by key (``__contains__``, ``__getitem__``, ``__setitem__``; a dict,
        or a checkpoint object that persists them). Units whose key is in it are not rerun;
        each new result is stored as soon as it arrives, before the next one is awaited.
    progress : callable, optional
        ``progress(n_done, n_total)``, called in the calling process once at the start
        (``n_done`` = units found in ``store``) and after each completed unit.

    Returns
    -------
    list
        One result per unit, in the order of ``units``.

    Raises
    ------
    UnitError
        A unit raised (the remaining units were cancelled; results stored so far stay in
        ``store``).
    """
    units = _as_units(units)
    runner = SerialRunner() if runner is None else runner
    results = {}
    todo = []
    for u in units:
        if store is not None and u.key in store:
            results[u.key] = store[u.key]
        else:
            todo.append(u)
    total, done = len(units), len(results)
    if progress is not None:
        progress(done, total)
    if todo:
        it = runner.submit_units(todo)
        try:
            for key, res in it:
                results[key] = res
                if store is not None:
                    store[key] = res
                done += 1
                if progress is not None:
                    progress(done, total)
                raise_if_interrupted()   # a Ctrl-C swallowed by a GC callback (interrupt.py)
        finally:
            it.close()
    return [results[u.key] for u in units]
