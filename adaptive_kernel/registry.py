"""The one list of what the package can do: tasks, theories (by ``--teacher`` name) and result
kinds.

Everything that depends on *which* task or theory is meant (command-line options, plot labels,
``phasesim info`` tables, file readers) asks this module instead of spelling a name. A new
system is one new module plus one line here:

* a task (data, target, student, Fourier conventions, kernels): a :class:`~adaptive_kernel.tasks.base.Task`
  subclass in :mod:`adaptive_kernel.tasks`, listed in :data:`adaptive_kernel.tasks.TASKS`;
* a mean-field theory of a task: a :class:`~adaptive_kernel.teachers.base.Teacher` subclass
  (it names its task, declares its parameters, command-line options and plot labels), listed
  in :data:`THEORIES` below;
* a result kind: a reader registered with :func:`adaptive_kernel.kinds.register_kind`.

This module sits above the task and theory modules and below results, plotting and the command
line; it imports none of the latter.
"""
from __future__ import annotations

from .errors import ParameterError
from .tasks import TASKS, get_task
from .teachers.base import Teacher
from .teachers.cubic import CubicTeacher
from .teachers.modadd import ModularAddition

#: ``--teacher`` name -> mean-field theory class (the registry line of each theory)
THEORIES: dict = {
    "modadd": ModularAddition,
    "cubic": CubicTeacher,
}


def theory_names() -> list:
    """Registered theory names, in registry order (the first is the command-line default)."""
    return list(THEORIES)


def default_theory(command: str = "scan") -> str:
    """Name of the theory a command's ``--teacher`` defaults to: the first registered theory
    that lists ``command`` in its ``default_for``, else the first registered theory."""
    for name, cls in THEORIES.items():
        if command in cls.default_for:
            return name
    return next(iter(THEORIES))


def theory_options(command: str = "scan") -> dict:
    """The command-line options the theories declare for ``command`` (their ``cli_options``
    whose ``commands`` include it; default: every command), as
    ``{parameter: {theory name: spec}}``, parameters in registry order (the first theory's
    options first)."""
    out: dict = {}
    for name, cls in THEORIES.items():
        for param, spec in cls.cli_options.items():
            if command in spec.get("commands", ("scan", "langevin")):
                out.setdefault(param, {})[name] = spec
    return out


def get_theory(name: str) -> Teacher:
    """An instance of the theory registered as ``name``.

    Raises
    ------
    adaptive_kernel.errors.ParameterError
        ``name`` is not registered (the message lists the registered names).
    """
    try:
        cls = THEORIES[name]
    except (KeyError, TypeError):
        raise ParameterError(f"teacher must be one of {', '.join(THEORIES)}; got {name!r}") from None
    return cls()


#: the name used by the code written before tasks and theories were separated
get_teacher = get_theory

__all__ = ["THEORIES", "TASKS", "get_theory", "get_teacher", "get_task", "theory_names",
           "default_theory", "theory_options"]
