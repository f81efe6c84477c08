"""What a teacher supplies to the solver core.

A teacher is a small object describing one teacher-student model of the adaptive-kernel
theory. The core (:mod:`adaptive_kernel.solver`) only talks to this interface: it finds the
self-consistent order parameters ``x`` with ``x = T(x)``, sweeps them in sigma2 with
continuation, classifies phases, locates boundaries and writes HDF5.

A teacher (theory) takes a task (:mod:`adaptive_kernel.tasks`: data, target, student,
conventions, kernels; :meth:`Teacher.task`), so a parameter means the same thing for the
theory, the network simulations (:mod:`simulations`) and every other method. It declares
its command-line options and examples as data (:attr:`Teacher.cli_options`,
:attr:`Teacher.example`), read by the commands and tests through
:mod:`adaptive_kernel.registry`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..tasks import TASKS
from ..validation import validate

#: Phase codes stored in the ``phase`` datasets. CROSSOVER (3): droplet-region weight
#: without a populated side minimum of the action (a finite-size shoulder of the weight
#: distribution, not degenerate minima); it counts as no droplet phase for the boundaries.
GFL, GMFL_I, GMFL_II, CROSSOVER = 0, 1, 2, 3
PHASE_NAMES = {GFL: "GFL", GMFL_I: "GMFL-I", GMFL_II: "GMFL-II", CROSSOVER: "crossover", -1: "not converged"}
#: Phase codes of the droplet (mixture) phases.
DROPLET_PHASES = (GMFL_I, GMFL_II)


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
    default_output : str
        Default file name of ``phasesim scan`` (in the data folder).
    task_name : str
        Registry name of the task the theory describes (a key of
        :data:`adaptive_kernel.tasks.TASKS`); :meth:`task` builds it from the parameters.
    summary : str
        One line for ``phasesim scan --help`` (``--teacher``): the task and the student.
    langevin_summary : str
        One line for ``phasesim langevin --help`` (``--teacher``): the simulated network.
    default_for : tuple of str
        Commands (``"scan"``, ``"langevin"``) whose ``--teacher`` defaults to this theory
        (:func:`adaptive_kernel.registry.default_theory`; the first registered theory
        otherwise).
    cli_options : dict
        The theory's command-line options, as data: ``{parameter: spec}`` with the spec a dict

        * ``type``: ``int``, ``float``, ``str`` or a tuple of choices;
        * ``help``: the physics meaning, with the default (one line, no theory name: the
          command line prefixes ``[name]``);
        * ``langevin_help`` (optional): a shorter or different text for ``phasesim langevin``;
        * ``commands`` (optional, default ``("scan", "langevin")``): the commands that offer it.

        The option is ``--`` + the parameter name with ``_`` -> ``-``, or ``flag`` if given.
        Every key must be a parameter (:attr:`constraints`); options given for another
        theory are refused by the commands.
    example : dict
        Small valid parameters (a scan of :attr:`example_sigma2` runs in about a second),
        used by the tests that run over the registry.
    example_sigma2 : str
        ``START:STOP:NUM`` grid of the example scan.
    landscape_parameter : str
        Name of the order parameter on the landscape grid (a key of the task's
        ``order_parameters``; the dataset name under ``/landscape`` of a scan file).
    langevin_table_columns : tuple of str
        Observables reported side by side (simulation and theory) by ``phasesim info`` of a
        Langevin file (the first ones present are printed).
    """

    name: str = ""
    state_names: tuple = ()
    constraints: dict = {}
    defaults: dict = {}
    default_sigma2: str = ""
    default_output: str = ""
    task_name: str = ""
    summary: str = ""
    langevin_summary: str = ""
    default_for: tuple = ()
    cli_options: dict = {}
    example: dict = {}
    example_sigma2: str = ""
    landscape_parameter: str = ""
    langevin_table_columns: tuple = ()

    # -- task -------------------------------------------------------------------
    def task(self, params: dict):
        """The task (:class:`adaptive_kernel.tasks.Task`) described at these parameters:
        the registered task :attr:`task_name` built from the theory parameters that are task
        parameters (:meth:`Task.from_params`; the others, N, sigma_a2, ..., are ignored).

        Raises
        ------
        adaptive_kernel.errors.ParameterError
            A task parameter is out of the task's range.
        """
        return TASKS[self.task_name].from_params(params)

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

    # -- thermodynamics (optional; the solver skips what a theory does not supply) ------
    #: Basins of the per-neuron action whose restricted (metastable) branches are followed.
    basin_names: tuple = ("origin", "droplet")

    def supports_basins(self, params: dict) -> bool:
        """Whether :meth:`basin_fixed_point_map`, :meth:`basin_valid`,
        :meth:`basin_observables` and :meth:`latent_heat` exist at these parameters."""
        return False

    def basin_fixed_point_map(self, x, params: dict, sigma2: float, basin: str) -> np.ndarray:
        """T(x) with every neuron confined to ``basin`` (a restricted, metastable branch)."""
        raise NotImplementedError

    def basin_bracket(self, params: dict, sigma2: float, basin: str):
        """For a one-component state: the bracket of the restricted map (default :meth:`bracket`)."""
        return self.bracket(params, sigma2)

    def basin_without_spinodal(self, params: dict, basin: str) -> str:
        """Why ``basin`` exists at every coupling (so its branch has no spinodal), or ``""``
        (default: unknown, the branch is followed beyond the grid to find its end)."""
        return ""

    def basin_valid(self, x, params: dict, sigma2: float, basin: str) -> bool:
        """Whether ``basin`` exists (is a minimum of the action) at state x."""
        raise NotImplementedError

    def basin_observables(self, x, params: dict, sigma2: float, basin: str) -> dict:
        """Scalars stored per point of a restricted branch (must contain ``free_energy``)."""
        raise NotImplementedError

    def latent_heat(self, x, params: dict, sigma2: float) -> dict:
        """``latent_heat`` and ``eigenvalue_jump`` between the basins at state x."""
        raise NotImplementedError

    @abstractmethod
    def landscape_grid(self, params: dict) -> np.ndarray:
        """Grid of the order parameter on which the action landscape is tabulated."""

    @abstractmethod
    def landscape(self, x: np.ndarray, params: dict, sigma2: float, grid: np.ndarray) -> np.ndarray:
        """The (normalised) action along the order parameter at state x."""

    # -- plot labels and per-theory presentation --
    # Read by the figures (adaptive_kernel.plotting, through
    # ``registry.get_theory(result.teacher)``) and by the scan's text table (the solver hands
    # :attr:`scan_table_columns` to the result). Every member is a class attribute or a class
    # method, so the base class itself is the presentation of a file whose teacher is not
    # registered (an old or foreign file): these defaults are generic labels.
    #: (x label, y label) of the action landscape (``phasesim plot --kind landscape``).
    landscape_labels: tuple = ("order parameter", "normalised action")
    #: Series of ``phasesim plot --kind order``: ``((dataset, label, axis), ...)`` with axis
    #: ``"left"`` (main axis) or ``"right"`` (twin axis); series not in a file are skipped.
    order_series: tuple = (("droplet_fraction", r"droplet fraction $f$", "right"),)
    #: Label of the main axis of ``--kind order`` when it carries several series.
    order_ylabel: str = "order parameter"
    #: Observable drawn per value of the second parameter (``--kind order`` of a phase
    #: diagram); ``""`` or absent from the file: its first float observable other than u.
    family_quantity: str = ""
    #: Columns of the text table of a scan (after sigma2 and u; those present are printed).
    scan_table_columns: tuple = ("droplet_fraction",)
    #: LaTeX symbols of the theory's parameters for axis labels (e.g. the varied parameter of
    #: a phase diagram), added to the generic table of :mod:`adaptive_kernel.plotting`.
    parameter_symbols: dict = {}
    #: One-line descriptions of the theory's observables (``description`` attributes of the
    #: scan and phase-diagram datasets), added to its task's ``order_parameters``; an
    #: observable described by neither gets a generic line.
    observable_descriptions: dict = {}
    #: x label of the order-parameter histogram of a Langevin file (``--kind langevin``).
    langevin_order_label: str = "order parameter"
    #: Legend of the theory's histogram curve in one variant of the theory (the subgroup
    #: ``theory/<variant>`` of a Langevin point, e.g. a normalisation): ``format(variant)``.
    langevin_variant_label: str = "theory ({})"
    #: Series of the Langevin figure's right panel, one dict each: ``name`` (measured column
    #: ``langevin/<name>``), ``label``, optional ``marker`` (default ``"o"``) and ``filled``
    #: (default True), and ``theory``: ``((column, legend label), ...)`` of the theory's
    #: columns ``langevin/theory_<column>`` drawn as lines (solid, then dashed).
    langevin_series: tuple = ()
    #: y label of that panel.
    langevin_ylabel: str = "order parameter"
    #: Note after sigma2 on that panel's x axis (the unit of the stored sigma2 grid).
    langevin_sigma2_note: str = "GPR noise"

    @classmethod
    def all_observable_descriptions(cls) -> dict:
        """The task's ``order_parameters`` (task :attr:`task_name`) updated by
        :attr:`observable_descriptions`: what the file writers describe datasets with."""
        task = TASKS.get(cls.task_name)
        return {**dict(getattr(task, "order_parameters", None) or {}), **cls.observable_descriptions}

    @classmethod
    def plot_title(cls, params: dict, num=str, full: bool = True) -> str:
        """Figure title from the parameters (``""``: the figure shows the teacher name).

        ``num`` formats a real number for mathtext; ``full=False`` is the shorter title of a
        phase diagram (parameters that are typically varied left out)."""
        return ""

    @classmethod
    def large_parameter(cls, params: dict) -> float:
        """The large parameter L in front of the normalised action (the action is L times
        the plotted curve; basins 15/L apart count as near-degenerate); 0.0 when unknown."""
        return 0.0
