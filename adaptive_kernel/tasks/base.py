r"""What a task is: data, target, student network, conventions and closed-form kernels.

A *task* describes one learning problem independently of any method that learns it (the
adaptive-kernel mean-field theory, Langevin networks, networks trained by gradient descent,
kernel machines). It supplies

* the data (all inputs of a finite task, or a sampler) and a seeded train/test
  :class:`Split` that every method derives identically from the same seed;
* the target;
* the student network: its activation (and derivative) and parametrisation
  (:attr:`Task.student`);
* the Fourier conventions of the task (one function per convention);
* the closed-form NNGP kernel of the student under its prior;
* the names, descriptions and plot labels of its order parameters.

Tasks are the bottom layer of the package: this subpackage imports only
:mod:`adaptive_kernel.errors` and :mod:`adaptive_kernel.validation` (and numpy/scipy).

Seeds
-----
Every random choice a task makes is drawn from a :class:`numpy.random.SeedSequence` built by
:func:`split_seed_sequence`, ``SeedSequence(seed, spawn_key=tags)``, where string tags are
mapped to integers by a stable hash (the first 4 bytes of their SHA-256, big-endian), so the
same ``(seed, tags)`` gives the same stream in every process, Python version and method. The
train/test split uses the single tag :data:`SPLIT_TAG` (spawn key ``(2904187909,)``), distinct
from the Langevin code's keys ``(1, member)`` and ``(2, member, sigma2_index)``.
"""
from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from ..errors import ParameterError
from ..validation import Constraint, validate

#: Tag of the train/test split stream (see :func:`split_seed_sequence`).
SPLIT_TAG = "split"

#: Constraints of the split arguments.
SPLIT_PARAMETERS = {
    "train_fraction": Constraint("real", low=0.0, low_open=True, high=1.0,
                                 doc="fraction of the data set used for training"),
    "seed": Constraint("int", low=0, doc="base seed of the split (non-negative integer)"),
}


def _tag_int(tag) -> int:
    """Integer spawn key of one tag: a non-negative int as is, a str by its SHA-256."""
    if isinstance(tag, Integral) and not isinstance(tag, bool):
        if tag < 0:
            raise ParameterError(f"seed tags must be non-negative integers or strings; got {tag!r}")
        return int(tag)
    if isinstance(tag, str):
        return int.from_bytes(hashlib.sha256(tag.encode("utf-8")).digest()[:4], "big")
    raise ParameterError(f"seed tags must be non-negative integers or strings; got {tag!r}")


def split_seed_sequence(seed: int, *tags) -> np.random.SeedSequence:
    """The seed sequence of one random stream of the package.

    Parameters
    ----------
    seed : int
        Base seed (non-negative integer).
    *tags : int or str
        Names of the stream, e.g. ``"split"``. Integers are used as they are (non-negative),
        strings through the first 4 bytes of their SHA-256 (big-endian), which is stable
        across processes and Python versions (unlike :func:`hash`).

    Returns
    -------
    numpy.random.SeedSequence
        ``SeedSequence(seed, spawn_key=(tag_1, tag_2, ...))``; draw with
        ``numpy.random.default_rng(split_seed_sequence(seed, *tags))``.

    Raises
    ------
    ParameterError
        If ``seed`` is not a non-negative integer or a tag is neither a non-negative
        integer nor a string.
    """
    seed = SPLIT_PARAMETERS["seed"].check("seed", seed)
    return np.random.SeedSequence(seed, spawn_key=tuple(_tag_int(t) for t in tags))


def _as_index(a) -> np.ndarray:
    a = np.array(a, dtype=np.int64, copy=True).reshape(-1)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False, repr=False)
class Split:
    """A train/test split of the rows of a finite data set.

    Attributes
    ----------
    train, test : ndarray of int64
        Sorted, disjoint row indices; together they are ``0 .. n_total - 1``. Stored
        read-only.
    train_fraction : float
        The requested training fraction (the realised one is ``n_train / n_total``).
    seed : int
        The base seed it was drawn from (see :func:`make_split`).
    """

    train: np.ndarray
    test: np.ndarray
    train_fraction: float
    seed: int

    def __post_init__(self):
        object.__setattr__(self, "train", _as_index(self.train))
        object.__setattr__(self, "test", _as_index(self.test))
        for name in ("train", "test"):
            a = getattr(self, name)
            if a.size and np.any(np.diff(a) <= 0):
                raise ParameterError(f"split {name} indices must be sorted and unique")
        both = np.concatenate([self.train, self.test])
        n = both.size
        if n and (both.min() < 0 or not np.array_equal(np.sort(both), np.arange(n))):
            raise ParameterError("split train and test indices must be disjoint and cover 0 .. n - 1")

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return int(self.train.size)

    @property
    def n_test(self) -> int:
        """Number of test rows."""
        return int(self.test.size)

    @property
    def n_total(self) -> int:
        """Size of the whole data set."""
        return self.n_train + self.n_test

    def describe(self) -> str:
        """One line, e.g. ``train 12 of 25 (fraction 0.48, requested 0.5), test 13, seed 0``."""
        realised = self.n_train / self.n_total if self.n_total else float("nan")
        return (f"train {self.n_train} of {self.n_total} (fraction {realised:.4g}, requested "
                f"{self.train_fraction:g}), test {self.n_test}, seed {self.seed}")

    def __repr__(self):
        return (f"Split(train=<{self.n_train} rows>, test=<{self.n_test} rows>, "
                f"train_fraction={self.train_fraction!r}, seed={self.seed!r})")

    def __eq__(self, other):
        if not isinstance(other, Split):
            return NotImplemented
        return (np.array_equal(self.train, other.train) and np.array_equal(self.test, other.test)
                and self.train_fraction == other.train_fraction and self.seed == other.seed)

    __hash__ = None


def split_size(n_total: int, train_fraction: float) -> int:
    """Number of training rows: ``floor(train_fraction * n_total + 1/2)`` (round half up),
    at least 1, and at most ``n_total - 1`` when ``train_fraction < 1`` (so a fraction below
    one always leaves a test row when ``n_total >= 2``); ``n_total`` when it is 1."""
    n = int(math.floor(train_fraction * n_total + 0.5))
    hi = n_total if train_fraction >= 1.0 else max(n_total - 1, 1)
    return int(min(max(n, 1), hi))


def make_split(n_total: int, train_fraction: float, seed: int) -> Split:
    r"""Seeded random train/test split of ``n_total`` rows.

    The rows are permuted by ``default_rng(split_seed_sequence(seed, SPLIT_TAG)).permutation``
    and the first :func:`split_size` of them train. The split depends only on
    ``(n_total, train_fraction, seed)``, so every method (theory, Langevin, trainers, kernel
    machines) that asks for the same task, fraction and seed gets the same rows. For one seed
    the training sets are nested: a larger fraction adds rows to a smaller one's.

    Parameters
    ----------
    n_total : int
        Number of rows of the data set (>= 1).
    train_fraction : float
        In (0, 1]; 1 gives every row to training and an empty test set.
    seed : int
        Non-negative base seed.

    Returns
    -------
    Split
    """
    n_total = Constraint("int", low=1).check("n_total", n_total)
    f = SPLIT_PARAMETERS["train_fraction"].check("train_fraction", train_fraction)
    seed = SPLIT_PARAMETERS["seed"].check("seed", seed)
    perm = np.random.default_rng(split_seed_sequence(seed, SPLIT_TAG)).permutation(n_total)
    k = split_size(n_total, f)
    return Split(np.sort(perm[:k]), np.sort(perm[k:]), f, seed)


class Task(ABC):
    """Interface of a task (see the module docstring).

    Class attributes
    ----------------
    name : str
        Registry name (the ``--teacher`` name on the command line).
    label : str
        Human name for plot titles and tables (an instance may refine it, e.g. the modular
        operation).
    order_parameters : dict
        ``{name: "symbol: one-line description"}`` of the order parameters the methods
        report for this task.
    order_parameter_labels : dict
        ``{name: LaTeX label}`` of the same order parameters, for plots.
    parameters : dict
        ``{name: Constraint}`` of the task's own parameters (those its constructor takes).
    defaults : dict
        Defaults of the optional ones among :attr:`parameters`.
    example : dict
        Small valid parameters (fast), used by examples and by the tests that run over the
        registry.
    student : dict
        The student network: ``activation`` (name), ``parametrisation`` (``"mean-field"``:
        read-outs with variance sigma_a2/N), ``network`` (formula) and ``prior``.
    """

    name: str = ""
    label: str = ""
    order_parameters: dict = {}
    order_parameter_labels: dict = {}
    parameters: dict = {}
    defaults: dict = {}
    example: dict = {}
    student: dict = {}

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict, strict: bool = False) -> "Task":
        """Build the task from a parameter dict (e.g. a theory's full parameter dict).

        Parameters
        ----------
        params : dict
            Keys among :attr:`parameters` are used; missing optional ones take
            :attr:`defaults`. Other keys (the theory's N, sigma_a2, ...) are ignored unless
            ``strict``.
        strict : bool
            Reject keys that are not task parameters.

        Raises
        ------
        ParameterError
            A parameter is missing or out of range (or unknown, when ``strict``).
        """
        if strict:
            unknown = sorted(set(params) - set(cls.parameters))
            if unknown:
                raise ParameterError(f"unknown parameter(s) {', '.join(unknown)} of task {cls.name!r}; "
                                     f"allowed: {', '.join(sorted(cls.parameters))}")
        picked = dict(cls.defaults)
        picked.update({k: v for k, v in params.items() if k in cls.parameters and v is not None})
        return cls(**validate(picked, cls.parameters))

    def params(self) -> dict:
        """The task's parameters, ``{name: value}`` for every name in :attr:`parameters`
        (``type(self).from_params(self.params())`` rebuilds an equal task)."""
        return {k: getattr(self, k) for k in self.parameters}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def _key(self):
        return (type(self), tuple(sorted(self.params().items())))

    def __eq__(self, other):
        if not isinstance(other, Task):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    # -- student ----------------------------------------------------------------------
    @staticmethod
    @abstractmethod
    def activation(z):
        """The student's activation phi(z), elementwise."""

    @staticmethod
    @abstractmethod
    def activation_derivative(z):
        """phi'(z), elementwise."""

    @abstractmethod
    def nngp_kernel(self, X1, X2, *args, **kwargs) -> np.ndarray:
        """Closed-form NNGP kernel sigma_a2 E_w[phi(w.x) phi(w.x')] of the student under its
        prior, shape (len(X1), len(X2)); prior variances are keyword arguments named as the
        theory's parameters (``sigma_a2``, ``sigma_w2``)."""
