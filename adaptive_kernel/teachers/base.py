"""What a teacher supplies to the solver core.

A teacher is a small object describing one teacher-student model of the adaptive-kernel
theory. The core (:mod:`adaptive_kernel.solver`) only talks to this interface: it finds the
self-consistent order parameters ``x`` with ``x = T(x)``, sweeps them in sigma2 with
continuation, classifies phases, locates boundaries and writes HDF5.

The same teacher objects provide the data, target and activation used by the network
simulations (:mod:`simulations`), so a parameter means the same thing on both sides.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..validation import validate

#: Phase codes stored in the ``phase`` datasets.
GFL, GMFL_I, GMFL_II = 0, 1, 2
PHASE_NAMES = {GFL: "GFL", GMFL_I: "GMFL-I", GMFL_II: "GMFL-II", -1: "not converged"}


class Teacher(ABC):
    """Interface of a teacher model (see module docstring).

    Attributes
    ----------
    name : str
        Registry name used on the command line (``--teacher``).
    state_names : tuple of str
        Names of the components of the self-consistent state vector ``x``.
    constraints : dict
        ``{name: Constraint}`` for every physics/numerical parameter.
    defaults : dict
        Default parameters (the paper's figure setting).
    default_sigma2 : str
        Default ``START:STOP:NUM`` grid of the noise sigma2.
    """

    name: str = ""
    state_names: tuple = ()
    constraints: dict = {}
    defaults: dict = {}
    default_sigma2: str = ""
    default_output: str = ""

    # -- parameters -------------------------------------------------------------
    def make_params(self, **overrides) -> dict:
        """Defaults updated by ``overrides`` (None values ignored), then validated."""
        p = dict(self.defaults)
        p.update({k: v for k, v in overrides.items() if v is not None})
        return self.check_params(validate(p, self.constraints))

    def check_params(self, params: dict) -> dict:
        """Cross-parameter checks beyond single-parameter constraints (override)."""
        return params

    #: Seconds per point of a phase scan (both sweeps and the boundary search shared out),
    #: by method, for the estimate of :func:`adaptive_kernel.limits.check_scan_size`.
    scan_seconds_per_point: dict = {}

    def scan_seconds(self, params: dict) -> float:
        """Estimated seconds per scan point at these parameters (0.05 when unknown)."""
        return float(self.scan_seconds_per_point.get(params.get("method"), 0.05))

    def sigma2_limit(self, params: dict) -> float:
        """Smallest noise sigma2 the teacher's numerics resolve at these parameters
        (0.0: no limit). Override."""
        return 0.0

    def check_sigma2(self, params: dict, sigma2_values) -> None:
        """Raise :class:`~adaptive_kernel.errors.ParameterError` if the grid goes below
        :meth:`sigma2_limit` (the message names the limit). Override."""

    def state_labels(self, params: dict) -> tuple:
        """Names of all components of the state vector x for these parameters
        (default: ``state_names``; override when the length depends on the parameters)."""
        return tuple(self.state_names)

    # -- physics ----------------------------------------------------------------
    @abstractmethod
    def effective_interaction(self, params: dict, sigma2: float) -> float:
        """The effective interaction u of the model at noise sigma2."""

    @abstractmethod
    def initial_state(self, params: dict, sigma2: float) -> np.ndarray:
        """The Gaussian-process (no feature learning) state, used to start a sweep."""

    @abstractmethod
    def fixed_point_map(self, x: np.ndarray, params: dict, sigma2: float) -> np.ndarray:
        """T(x): order parameters -> action -> weight posterior -> kernel -> new order parameters."""

    def bracket(self, params: dict, sigma2: float):
        """For a one-component state: an interval on which x - T(x) changes sign."""
        raise NotImplementedError

    @abstractmethod
    def observables(self, x: np.ndarray, params: dict, sigma2: float) -> dict:
        """Scalars stored per scan point (order parameters, droplet weights, ...).

        Must contain ``phase`` (0 GFL, 1 GMFL-I, 2 GMFL-II)."""

    @abstractmethod
    def landscape_grid(self, params: dict) -> np.ndarray:
        """Grid of the order parameter on which the action landscape is tabulated."""

    @abstractmethod
    def landscape(self, x: np.ndarray, params: dict, sigma2: float, grid: np.ndarray) -> np.ndarray:
        """The (normalised) action along the order parameter at state x."""
