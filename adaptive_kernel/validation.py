"""Declarative parameter constraints, checked once at the Python boundary.

A teacher declares ``{name: Constraint}``; :func:`validate` checks a parameter dict
against it and raises :class:`~adaptive_kernel.errors.ParameterError` with a message
that names the parameter, the allowed range and the value received.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from .errors import ParameterError


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


@dataclass(frozen=True)
class Constraint:
    """Allowed values of one scalar parameter.

    Parameters
    ----------
    kind : {"real", "int", "choice"}
        Type of the parameter.
    low, high : float or None
        Bounds (None: unbounded).
    low_open, high_open : bool
        Whether the bound itself is excluded.
    prime : bool
        Integer must be prime.
    odd : bool
        Integer must be odd.
    doc : str
        Physics meaning, used in error messages and ``--help``.
    """

    kind: str = "real"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    prime: bool = False
    odd: bool = False
    choices: tuple = ()
    doc: str = ""

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(str, self.choices))
        parts = []
        if self.low is not None and self.high is not None:
            lb = "(" if self.low_open else "["
            rb = ")" if self.high_open else "]"
            parts.append(f"in {lb}{self.low:g}, {self.high:g}{rb}")
        elif self.low is not None:
            parts.append(("> " if self.low_open else ">= ") + f"{self.low:g}")
        elif self.high is not None:
            parts.append(("< " if self.high_open else "<= ") + f"{self.high:g}")
        if self.kind == "int":
            parts.insert(0, "an integer")
        if self.prime:
            parts.append("prime")
        if self.odd:
            parts.append("odd")
        return ", ".join(parts) if parts else "a finite number"

    def check(self, name: str, value):
        if self.kind == "choice":
            if value not in self.choices:
                raise ParameterError(f"{name} must be {self.describe()}; got {value!r}")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, Integral):
                if isinstance(value, Real) and float(value).is_integer():
                    value = int(value)
                else:
                    raise ParameterError(f"{name} must be {self.describe()}; got {value!r}")
            value = int(value)
        else:
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ParameterError(f"{name} must be {self.describe()}; got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise ParameterError(f"{name} must be {self.describe()}; got {value!r}")
        bad = False
        if self.low is not None:
            bad |= value <= self.low if self.low_open else value < self.low
        if self.high is not None:
            bad |= value >= self.high if self.high_open else value > self.high
        if self.prime and not _is_prime(value):
            bad = True
        if self.odd and value % 2 == 0:
            bad = True
        if bad:
            raise ParameterError(f"{name} must be {self.describe()}; got {value!r}")
        return value


def validate(params: dict, constraints: dict) -> dict:
    """Check ``params`` against ``constraints`` and return a cleaned copy.

    Unknown names are rejected, missing names are an error.
    """
    unknown = sorted(set(params) - set(constraints))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(constraints))}"
        )
    out = {}
    for name, con in constraints.items():
        if name not in params:
            raise ParameterError(f"missing parameter {name} ({con.doc})")
        out[name] = con.check(name, params[name])
    return out


def parse_grid(text: str, name: str = "sigma2"):
    """Parse ``START:STOP:NUM`` (or a single value) into a 1-D float array.

    ``START`` and ``STOP`` are both included, like :func:`numpy.linspace`.
    """
    import numpy as np

    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            vals = np.array([float(parts[0])])
        elif len(parts) == 3:
            start, stop, num = float(parts[0]), float(parts[1]), parts[2]
            if not float(num).is_integer():
                raise ValueError
            num = int(float(num))
            if num < 1:
                raise ParameterError(f"{name} grid: NUM must be >= 1; got {num}")
            vals = np.linspace(start, stop, num)
        else:
            raise ValueError
    except ParameterError:
        raise
    except ValueError:
        raise ParameterError(
            f"{name} grid must be START:STOP:NUM (e.g. 0.26:0.15:111) or one number; got {text!r}"
        ) from None
    if not np.all(np.isfinite(vals)):
        raise ParameterError(f"{name} grid must be finite; got {text!r}")
    if len(vals) > 1 and len(np.unique(vals)) != len(vals):
        raise ParameterError(f"{name} grid has repeated values; got {text!r}")
    return vals
