"""adaptive_kernel: the adaptive-kernel mean-field theory of grokking as a first-order
phase transition (Rubin, Seroussi & Ringel, ICLR 2024), for the teacher-student models of
the ``phasesim`` package.

Typical use::

    from adaptive_kernel import get_teacher, scan, load
    t = get_teacher("modadd")
    params = t.make_params()                 # the paper's Fig. 3 setting
    res = scan(t, params, np.linspace(0.26, 0.15, 111))
    res.to_hdf5("data/modadd_scan.h5")
"""
from . import _numba_cache  # noqa: F401  (first: compiled kernels go to a user cache folder)
from ._version import __version__
from .errors import FileFormatError, OutputExistsError, ParameterError, PhasesimError
from .kinds import load
from .results import ScanResult
from .solver import SelfConsistentSolution, scan, solve, sweep
from .registry import get_teacher, get_theory

__all__ = ["__version__", "get_teacher", "get_theory", "solve", "sweep", "scan", "load", "ScanResult",
           "SelfConsistentSolution", "PhasesimError", "ParameterError", "OutputExistsError",
           "FileFormatError"]
