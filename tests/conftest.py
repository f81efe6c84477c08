"""Fixtures shared by every area of the test suite.

Layout (one folder per area; each may add a ``conftest.py`` of its own):

* ``tasks/``       the task layer (data, splits, Fourier conventions, closed-form kernels)
* ``theory/``      the mean-field theories on the solver core, and the registry's interface
  tests (parametrised over ``adaptive_kernel.registry.THEORIES``: a new theory is exercised
  automatically)
* ``simulations/`` Langevin kernels and sampler, the runner (serial, processes, Dask)
* ``results/``     files (kinds, round trips, dimension scales) and figures
* ``cli/``         the command line: commands, bad inputs, I/O faults (fuzz suite)
* ``package/``     repository conventions, installation, architecture (import cycles, names)
"""
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                "PHASESIM_THREADS")


@pytest.fixture(autouse=True)
def _thread_settings_restored():
    """Every test leaves the process's thread settings (environment, numba) as it found
    them, so that no test changes the threading of the tests after it."""
    import numba

    env = {k: os.environ.get(k) for k in _THREAD_VARS}
    threads = numba.get_num_threads()
    yield
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    numba.set_num_threads(threads)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder."""
    return ROOT


@pytest.fixture(scope="session")
def paper_reference() -> dict:
    """The paper's published values (``data/paper_reference.json``; numbers read off the
    paper, not produced by this package)."""
    return json.loads((ROOT / "data" / "paper_reference.json").read_text())
