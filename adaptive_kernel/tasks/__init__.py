"""Tasks: what is learned, independently of the method that learns it.

A task (:class:`Task`) defines the data and seeded train/test splits, the target, the
student network (activation, parametrisation), the Fourier conventions and the closed-form
NNGP kernels. Theories, Langevin networks, trainers and kernel machines take a task.
Adding a task is one module with a :class:`Task` subclass plus one line in :data:`TASKS`.

This subpackage imports only :mod:`adaptive_kernel.errors` and
:mod:`adaptive_kernel.validation` from the package.
"""
from ..errors import ParameterError
from .base import SPLIT_TAG, Split, Task, make_split, split_seed_sequence, split_size
from .cubic import CubicTeacherTask
from .modular import (OPERATIONS, KernelSector, ModularArithmetic, Operation, fourier_amplitudes,
                      parse_operation, weights_from_fourier)

#: Registry name -> task class (the names are the ``--teacher`` names of the command line).
TASKS = {"modadd": ModularArithmetic, "cubic": CubicTeacherTask}


def get_task(name: str, **params) -> Task:
    """Build a task by its registry name.

    Parameters
    ----------
    name : str
        A key of :data:`TASKS`.
    **params
        The task's parameters (its ``parameters``; optional ones default to its
        ``defaults``), e.g. ``get_task("modadd", P=97, operation="sub")``.

    Raises
    ------
    ParameterError
        Unknown task name (the message lists the registry), unknown, missing or invalid
        parameters.
    """
    try:
        cls = TASKS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"task must be one of {', '.join(sorted(TASKS))}; got {name!r}") from None
    return cls.from_params(params, strict=True)


__all__ = ["TASKS", "get_task", "Task", "Split", "make_split", "split_seed_sequence", "split_size",
           "SPLIT_TAG", "ModularArithmetic", "CubicTeacherTask", "Operation", "OPERATIONS",
           "parse_operation", "KernelSector", "fourier_amplitudes", "weights_from_fourier"]
