"""Teacher models. Each one supplies its action, projections and kernel equation;
:mod:`adaptive_kernel.solver` does the rest."""
from ..errors import ParameterError
from .base import GFL, GMFL_I, GMFL_II, PHASE_NAMES, Teacher
from .cubic import CubicTeacher
from .modadd import ModularAddition

TEACHERS = {"modadd": ModularAddition, "cubic": CubicTeacher}


def get_teacher(name: str) -> Teacher:
    """Instantiate a teacher by its registry name."""
    try:
        return TEACHERS[name]()
    except KeyError:
        raise ParameterError(f"teacher must be one of {', '.join(sorted(TEACHERS))}; got {name!r}") from None


__all__ = ["Teacher", "ModularAddition", "CubicTeacher", "get_teacher", "TEACHERS", "GFL", "GMFL_I", "GMFL_II", "PHASE_NAMES"]
