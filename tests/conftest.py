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
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder."""
    return ROOT


@pytest.fixture(scope="session")
def paper_reference() -> dict:
    """The paper's published values (``data/paper_reference.json``; numbers read off the
    paper, not produced by this package)."""
    return json.loads((ROOT / "data" / "paper_reference.json").read_text())
