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

#: Largest integer an HDF5 int64 attribute or dataset holds: the upper bound of every
#: integer parameter without a smaller one of its own.
INT64_MAX = 2 ** 63 - 1


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
        Type of the parameter. Integers are also bounded by :data:`INT64_MAX` (they are
        stored in HDF5 as int64).
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

        def num(x):
            return str(int(x)) if self.kind == "int" and float(x).is_integer() else f"{x:g}"

        parts = []
        high, high_open = self.high, self.high_open
        if self.kind == "int" and high is None:
            high, high_open = INT64_MAX, False  # integers are stored as HDF5 int64
        if self.low is not None and high is not None and not self.low_open:
            parts.append(f"in [{num(self.low)}, {num(high)}" + (")" if high_open else "]"))
        else:
            if self.low is not None:
                parts.append(("> " if self.low_open else ">= ") + num(self.low))
            if high is not None:
                parts.append(("< " if high_open else "<= ") + num(high))
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
        if self.kind == "int" and not -INT64_MAX - 1 <= value <= INT64_MAX:
            bad = True  # not representable as an HDF5 int64 (checked first: no prime test)
        if self.low is not None:
            bad |= value <= self.low if self.low_open else value < self.low
        if self.high is not None:
            bad |= value >= self.high if self.high_open else value > self.high
        if self.prime and not bad and not _is_prime(value):
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


#: Most points a START:STOP:NUM grid may have (8 MB of float64); the commands cap their
#: grids much lower, with an estimate of the cost (:mod:`adaptive_kernel.limits`).
GRID_NUM_MAX = 1_000_000


def grid_size(text: str) -> int | None:
    """NUM of a ``START:STOP:NUM`` grid (1 for a single value), without building the grid;
    None if ``text`` is not of that form (:func:`parse_grid` then says why)."""
    parts = str(text).split(":")
    if len(parts) == 1:
        return 1
    if len(parts) != 3:
        return None
    try:
        num = float(parts[2])
    except ValueError:
        return None
    return int(num) if math.isfinite(num) and num.is_integer() else None


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
            if num > GRID_NUM_MAX:
                raise ParameterError(f"{name} grid: NUM must be <= {GRID_NUM_MAX}; got {num}")
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
