"""Integer codes stored in phasesim result files, and the text that explains them there.

* :data:`STATUS_MESSAGES` — the solver's status codes (``SelfConsistentSolution.status``,
  the ``status`` datasets of a scan file); :data:`STATUS_CODES` is their one-line
  explanation, stored as the attribute ``status_codes`` of those datasets.
* :data:`PHASE_CODES` — one-line explanation of the phase codes
  (:data:`adaptive_kernel.teachers.base.PHASE_NAMES`), stored as the root attribute and as
  the attribute ``phase_codes`` of every ``phase`` dataset.

This module imports nothing of the package beyond the phase names, so the solver, the
result classes and the writers can all use it without an import cycle.
"""
from .teachers.base import PHASE_NAMES

#: Solver status codes: 0 is success, anything else a point that is stored as not converged.
STATUS_MESSAGES = {
    0: "converged: |x - T(x)| below tolerance",
    1: "iteration limit reached",
    2: "no sign change of x - T(x) on the bracket",
    3: "root finder stopped but |x - T(x)| above tolerance",
    4: "non-finite value in the fixed-point map",
}

#: ``"0=GFL, 1=GMFL-I, 2=GMFL-II, -1=not converged"``
PHASE_CODES = ", ".join(f"{c}={PHASE_NAMES[c]}" for c in sorted(PHASE_NAMES, key=lambda c: (c < 0, c)))
#: ``"0=converged: ...; 1=iteration limit reached; ..."``
STATUS_CODES = "; ".join(f"{c}={m}" for c, m in sorted(STATUS_MESSAGES.items()))

__all__ = ["STATUS_MESSAGES", "STATUS_CODES", "PHASE_CODES"]
