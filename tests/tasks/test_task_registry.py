"""Interface checks run over the task registry: a new task in TASKS is exercised here
without editing this file (it must declare a small ``example``)."""
import ast
import inspect

import numpy as np
import pytest

from adaptive_kernel import tasks as T
from adaptive_kernel.validation import Constraint, validate

NAMES = sorted(T.TASKS)


@pytest.mark.parametrize("name", NAMES)
def test_declarations(name):
    cls = T.TASKS[name]
    assert cls.name == name and cls.label
    assert cls.order_parameters and all(isinstance(v, str) and v for v in cls.order_parameters.values())
    assert set(cls.order_parameter_labels) == set(cls.order_parameters)
    assert cls.parameters and all(isinstance(c, Constraint) and c.doc for c in cls.parameters.values())
    assert {"activation", "parametrisation", "network", "prior"} <= set(cls.student)
    assert set(cls.defaults) <= set(cls.parameters) and set(cls.example) <= set(cls.parameters)


@pytest.mark.parametrize("name", NAMES)
def test_example_builds_validates_and_round_trips(name):
    cls = T.TASKS[name]
    t = T.get_task(name, **cls.example)
    assert isinstance(t, T.Task) and type(t) is cls
    assert validate(t.params(), cls.parameters) == t.params()
    assert cls.from_params(t.params()) == t and hash(cls.from_params(t.params())) == hash(t)
    z = np.linspace(-2.0, 2.0, 9)
    h = 1e-6
    fd = (t.activation(z + h) - t.activation(z - h)) / (2 * h)
    np.testing.assert_allclose(t.activation_derivative(z), fd, atol=1e-7)


def test_unknown_task():
    with pytest.raises(T.ParameterError, match="task must be one of"):
        T.get_task("nope")


def test_tasks_import_only_errors_and_validation():
    """The task layer is the bottom layer: within the package it imports only
    adaptive_kernel.errors and adaptive_kernel.validation (module level or in functions)."""
    for mod in (T, T.base, T.modular, T.cubic):
        tree = ast.parse(inspect.getsource(mod))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                if node.level == 1 and mod is not T:
                    assert node.module in ("base",), (mod.__name__, node.module)
                elif node.level == 1:
                    assert node.module in ("base", "cubic", "modular"), node.module
                else:
                    assert node.module in ("errors", "validation"), (mod.__name__, node.module)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                for n in names:
                    assert n.split(".")[0] in ("numpy", "scipy", "math", "re", "hashlib", "dataclasses",
                                               "typing", "abc", "numbers", "__future__"), n
