"""Mean-field theories of the package's tasks (historically "teachers"; the command line keeps
``--teacher``). Each one supplies its action, projections, kernel equation and phases on the
generic solver core (:mod:`adaptive_kernel.solver`), and names its task
(:mod:`adaptive_kernel.tasks`). Which theories exist is listed in one place,
:mod:`adaptive_kernel.registry` (``registry.get_theory(name)``)."""
from .base import CROSSOVER, GFL, GMFL_I, GMFL_II, PHASE_NAMES, Teacher
from .cubic import CubicTeacher
from .modadd import ModularAddition

__all__ = ["Teacher", "ModularAddition", "CubicTeacher", "GFL", "GMFL_I", "GMFL_II", "CROSSOVER", "PHASE_NAMES"]
