"""Scan results: one object per scan, written to and read from HDF5.

HDF5 layout (other tools read these names; keep them stable)::

    /                      attrs: kind = "scan", teacher, package_version, created (ISO 8601),
                                  command, format_version, phase_codes, plus provenance
    /params                attrs: every input parameter
    /scan/<name>           1-D datasets, one entry per sigma2 (downward continuation sweep):
                           sigma2, u, phase, converged, iterations, evaluations, status,
                           equation_residual, plus the teacher's order parameters (modadd:
                           residual, lambda, droplet_fraction, ...)
    /scan_up/<name>        the same from the upward sweep (attrs: branch_difference)
    /scan_origin/<name>    optional (format 1 files may lack them): the restricted-basin
    /scan_droplet/<name>   branches (every neuron confined to the origin / the droplet basin;
                           metastable where that basin is not the equilibrium one), with
                           converged, status, equation_residual and the theory's
                           ``basin_observables`` (free_energy, ...), NaN where absent
    /transitions           attrs: sigma2_gmfl1, sigma2_gmfl2 (NaN when not reached),
                           u_c (u at sigma2_gmfl1), their half-widths and notes; optional:
                           sigma2_spinodal_origin, sigma2_spinodal_droplet (ends of the
                           restricted branches), sigma2_crossing (F_origin = F_droplet), with
                           the same _halfwidth/_located/_note attributes, and scalars of the
                           boundaries (<boundary>_latent_heat, _eigenvalue_jump, _barrier,
                           _free_energy, _jump_d<x>_dsigma2, ...)
    /landscape/<name>      order-parameter grid, named by the theory's ``landscape_parameter``
                           (modadd: phi, Phi = Psi = |W_k|^2; cubic: q; ``grid`` when the
                           theory names none)
    /landscape/action      one row per sigma2 (the teacher's normalised action)

Every dataset has a one-line ``description`` attribute and ``units`` where one applies
(``"1"``: dimensionless); ``phase`` datasets explain their codes in ``phase_codes``,
``status`` datasets in ``status_codes`` (:mod:`adaptive_kernel.codes`). ``scan/sigma2`` and
``scan_up/sigma2`` are HDF5 dimension scales attached to every dataset of their sweep, so
``xarray.open_dataset(path, group="scan", engine="h5netcdf")`` has ``sigma2`` as coordinate.

Files are written by :func:`adaptive_kernel.storage.write_result`: assembled in memory and
written to a temporary name in the target folder, renamed only when complete, so an
interrupted write never leaves a truncated file at the target path. They are read back by
:func:`adaptive_kernel.load` (:mod:`adaptive_kernel.kinds`). This module does not import
the plotting module (figures: ``adaptive_kernel.plotting.plot_order(result)`` etc.) nor the
teacher registry: what depends on the theory is handed to the result by its producer
(:func:`adaptive_kernel.solver.scan` sets :attr:`ScanResult.landscape_name`,
:attr:`ScanResult.table_columns` and :attr:`ScanResult.descriptions` from the theory), read
back from the file (the landscape grid's name) or taken from the task registry (the task's
order parameters, :func:`observable_descriptions`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .codes import PHASE_CODES, STATUS_CODES
from .errors import FileFormatError
from .storage import attach_scales, describe, open_h5, py_value, write_result
from .teachers.base import PHASE_NAMES

FORMAT_VERSION = 1

#: Description and units of the datasets every solver scan writes, whatever the theory.
COMMON_DATASETS = {
    "sigma2": ("GPR noise variance sigma2 of each point (the sweep coordinate)", "1"),
    "u": ("effective interaction u of the mean-field theory at this sigma2", "1"),
    "phase": ("phase of the point (see phase_codes)", None),
    "converged": ("True where the self-consistency equation was solved to the residual "
                  "tolerance (other points are stored as NaN)", None),
    "iterations": ("iterations of the root finder at this point", "1"),
    "evaluations": ("evaluations of the fixed-point map at this point", "1"),
    "equation_residual": ("max |x - T(x)| of the stored solution (residual of the "
                          "self-consistency equation)", "1"),
    "status": ("solver status code of the point (see status_codes)", None),
}
#: Descriptions of the thermodynamic datasets (every theory with a free energy writes them).
THERMO_DATASETS = {
    "free_energy": "mean-field free energy per neuron F/N of the posterior (kT units; its stationary "
                   "points are the self-consistency equations; docs/theory.md section 10)",
    "free_energy_dsigma2": "dF/dsigma2 per neuron at the solution (envelope theorem)",
    "barrier": "per-neuron action barrier from the origin basin to the droplet basin along the path "
               "of least action (kT; NaN: no droplet minimum)",
    "barrier_droplet": "per-neuron action barrier from the droplet basin back to the origin basin (kT)",
    "droplet_neurons": "expected number of droplet neurons (per Fourier mode where the theory has "
                       "modes): N times the droplet fraction; below 1 the mean-field mixed phase is "
                       "not self-averaging",
}
#: Description of an observable that neither this table nor the task describes.
GENERIC_DESCRIPTION = "order parameter of the theory; see the teacher module"
#: Name of the landscape grid dataset when the theory names none (``landscape_parameter``).
LANDSCAPE_GRID_DEFAULT = "grid"


def observable_descriptions(teacher: str, theory_descriptions=None) -> dict:
    """``{name: one-line description}`` of the theory-specific observables of ``teacher``:
    the ``order_parameters`` of its task (:data:`adaptive_kernel.tasks.TASKS`; ``{}`` for a
    name that is not a task), updated by ``theory_descriptions`` (the theory's
    ``observable_descriptions``, handed to the result by its producer)."""
    from .tasks import TASKS

    out = dict(getattr(TASKS.get(teacher), "order_parameters", None) or {})
    out.update(theory_descriptions or {})
    return out


def dataset_meta(name: str, dtype, descriptions: dict) -> tuple:
    """``(description, units, extra attributes)`` of a dataset ``name`` of a result file.

    ``descriptions`` holds the theory-specific ones (:func:`observable_descriptions`);
    ``units`` is ``"1"`` for every numeric quantity (all are dimensionless) and None for
    flags and codes.
    """
    kind = np.dtype(dtype).kind
    if name in COMMON_DATASETS:
        text, units = COMMON_DATASETS[name]
    elif name in THERMO_DATASETS and name not in descriptions:
        text, units = THERMO_DATASETS[name], "1"
    elif name.startswith("d") and name.endswith("_dsigma2") and name not in descriptions:
        text, units = f"susceptibility d{name[1:-8]}/dsigma2 of the solution (central difference)", "1"
    else:
        text = descriptions.get(name, GENERIC_DESCRIPTION)
        units = "1" if kind in "fiuc" else None
    extra = {"phase_codes": PHASE_CODES} if name == "phase" else {}
    if name == "status":
        extra = {"status_codes": STATUS_CODES}
    return text, units, extra


@dataclass
class ScanResult:
    """Everything a scan produced.

    Attributes
    ----------
    teacher : str
    params : dict
    sigma2 : ndarray
    branches : dict
        ``{"down": {name: array}, "up": {name: array}}``.
    branch_difference : float
        max |x_down - x_up| over points converged on both sweeps.
    transitions : dict
        ``{name: (sigma2, half_width, located, note)}`` for ``sigma2_gmfl1``, ``sigma2_gmfl2``.
    landscape_grid, landscape_action : ndarray
    settings : dict
        Tolerances and timing.
    attrs : dict
        Root attributes (filled on write/read: created, command, package_version).
    critical_u : float
        Effective interaction u at ``sigma2_gmfl1`` (NaN if not reached): set by
        :func:`adaptive_kernel.solver.scan`, read from ``transitions/u_c``; see :attr:`u_c`.
    landscape_name : str
        Name of the order parameter on the landscape grid, the dataset name under
        ``/landscape`` (the theory's ``landscape_parameter``, set by the solver; read back
        from the file). Empty: :data:`LANDSCAPE_GRID_DEFAULT`.
    table_columns : tuple of str
        Observables of :meth:`table` after sigma2 and u (the theory's
        ``scan_table_columns``, set by the solver). Empty (e.g. a result read from a file):
        the task's order parameters present in the scan, then ``droplet_fraction``.
    descriptions : dict
        One-line descriptions of the observables (the theory's
        ``all_observable_descriptions()``: its task's order parameters and its own, set by
        the solver), written as ``description`` attributes (over those of
        :func:`observable_descriptions`).
    transition_scalars : dict
        Scalars of the boundaries written as attributes of ``/transitions`` (latent heat,
        barrier, susceptibility jumps: :func:`adaptive_kernel.thermodynamics.analyse`).

    ``branches`` may also hold ``"origin"`` and ``"droplet"``: the restricted-basin
    (metastable) branches, written as ``/scan_origin`` and ``/scan_droplet``.
    """

    #: The root attribute ``kind`` of the file (:mod:`adaptive_kernel.kinds`).
    kind: ClassVar[str] = "scan"

    teacher: str
    params: dict
    sigma2: np.ndarray
    branches: dict
    branch_difference: float
    transitions: dict
    landscape_grid: np.ndarray
    landscape_action: np.ndarray
    settings: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    critical_u: float = math.nan
    landscape_name: str = ""
    table_columns: tuple = ()
    descriptions: dict = field(default_factory=dict)
    transition_scalars: dict = field(default_factory=dict)

    # -- convenience --------------------------------------------------------------
    @property
    def scan(self) -> dict:
        """The downward sweep's datasets (the primary branch)."""
        return self.branches["down"]

    @property
    def sigma2_gmfl1(self) -> float:
        return float(self.transitions["sigma2_gmfl1"][0])

    @property
    def sigma2_gmfl2(self) -> float:
        return float(self.transitions["sigma2_gmfl2"][0])

    @property
    def u_c(self) -> float:
        """Effective interaction at the GFL -> GMFL-I boundary (NaN if not reached): the
        value the solver computed (:attr:`critical_u`), stored as ``transitions/u_c``."""
        if not math.isfinite(self.sigma2_gmfl1):
            return math.nan
        return float(self.critical_u)

    @property
    def n_converged(self) -> int:
        return int(np.sum(self.scan["converged"]))

    def table(self, rows: int = 12) -> str:
        """A short text table of the downward sweep (about ``rows`` evenly spaced points)."""
        d = self.scan
        order = np.argsort(-self.sigma2)
        pick = order[np.unique(np.linspace(0, len(order) - 1, min(rows, len(order))).round().astype(int))]
        cols = ["sigma2", "u"] + [c for c in self._table_columns() if c in d]
        head = " ".join(f"{c:>16s}" for c in cols) + f" {'phase':>9s} {'conv':>5s}"
        lines = [head]
        for i in pick:
            vals = [self.sigma2[i], d["u"][i]] + [d[c][i] for c in cols[2:]]
            lines.append(" ".join(f"{v:16.8g}" for v in vals)
                         + f" {PHASE_NAMES[int(d['phase'][i])]:>9s} {('yes' if d['converged'][i] else 'NO'):>5s}")
        return "\n".join(lines)

    def _table_columns(self):
        if self.table_columns:
            return list(self.table_columns)
        cols = list(observable_descriptions(self.teacher))  # the task's order parameters
        return cols + [c for c in ("droplet_fraction",) if c not in cols]

    def thermodynamics_lines(self) -> list:
        """Lines on the restricted branches (spinodals, free-energy crossing), the
        boundaries' latent heat and barrier, and where the mean field is not
        self-averaging (fewer than one droplet neuron expected in a droplet phase);
        ``[]`` for a file without them."""
        lines = []
        what = {"sigma2_spinodal_origin": "end of the origin-basin (GFL) branch",
                "sigma2_spinodal_droplet": "end of the droplet-basin branch",
                "sigma2_crossing": "free energies of the two branches cross"}
        for name, text in what.items():
            if name not in self.transitions:
                continue
            s, hw, ok, note = self.transitions[name]
            if math.isfinite(s):
                lines.append(f"  {name} = {s:.8g} +- {hw:.1e}  ({text}; {note})")
            else:
                lines.append(f"  {name} = nan  ({text}; {note})")
        sc = self.transition_scalars
        for b in ("sigma2_gmfl1", "sigma2_gmfl2"):
            keys = [k for k in ("latent_heat", "eigenvalue_jump", "barrier") if f"{b}_{k}" in sc]
            if keys:
                lines.append(f"  at {b}: " + ", ".join(f"{k} = {sc[f'{b}_{k}']:.6g}" for k in keys))
            jumps = sorted(k for k in sc if k.startswith(f"{b}_jump_"))
            if jumps:
                lines.append(f"  at {b}: " + ", ".join(f"{k[len(b) + 6:]} jumps by {sc[k]:.6g}" for k in jumps))
        d = self.scan
        if "droplet_neurons" in d and "phase" in d:
            phase = np.asarray(d["phase"])
            few = (np.isin(phase, (1, 2))) & (np.asarray(d["droplet_neurons"], float) < 1.0)
            if np.any(few):
                s = np.asarray(self.sigma2, float)[few]
                lines.append(f"  mean field NOT self-averaging at {int(few.sum())} droplet-phase point(s), "
                             f"sigma2 in [{s.min():.6g}, {s.max():.6g}]: fewer than one droplet neuron "
                             f"expected (droplet_neurons < 1)")
            elif np.any(np.isin(phase, (1, 2))):
                lines.append("  mean field self-averaging at every droplet-phase point "
                             "(droplet_neurons >= 1)")
        return lines

    def summary(self) -> str:
        """Boundaries, convergence and branch agreement in a few lines."""
        lines = []
        for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
            s, hw, ok, note = self.transitions[name]
            if math.isfinite(s):
                lines.append(f"{name} = {s:.6f} +- {hw:.1e} ({note})")
            else:
                lines.append(f"{name} = nan ({note})")
        if math.isfinite(self.u_c):
            lines.append(f"u_c = {self.u_c:.6g} (effective interaction at the GFL -> GMFL-I boundary)")
        n = len(self.sigma2)
        lines.append(f"converged: {self.n_converged}/{n} (down), "
                     f"{int(np.sum(self.branches['up']['converged']))}/{n} (up); "
                     f"max |down - up| = {self.branch_difference:.2e}")
        lines += [t.strip() for t in self.thermodynamics_lines()]
        return "\n".join(lines)

    # -- HDF5 -----------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write atomically to ``path``; refuse to replace an existing file unless ``overwrite``.

        Written by :func:`~adaptive_kernel.storage.write_result` (root attribute
        ``kind = "scan"``): the file is assembled in memory, and an I/O failure (disk full,
        read-only folder, ...) raises a one-line :class:`~adaptive_kernel.errors.WriteError`
        and leaves an existing file untouched.
        """
        return write_result(path, self.kind, self._fill, overwrite, command, teacher=self.teacher,
                            attrs=self.attrs, format_version=FORMAT_VERSION, phase_codes=PHASE_CODES)

    def _fill(self, f):
        descriptions = observable_descriptions(self.teacher, self.descriptions)
        g = f.create_group("params")
        for k, v in self.params.items():
            g.attrs[k] = v
        for k, v in self.settings.items():
            g.attrs["solver_" + k] = v
        groups = [("scan", "down"), ("scan_up", "up")]
        groups += [("scan_" + b, b) for b in self.branches if b not in ("down", "up")]
        sweeps = {"down": "downward continuation", "up": "upward continuation",
                  "origin": "restricted branch: every neuron in the origin basin (continued downward "
                            "from the largest sigma2 to its spinodal)",
                  "droplet": "restricted branch: every neuron in the droplet basin (continued upward "
                             "from the smallest sigma2 to its spinodal)"}
        for gname, branch in groups:
            g = f.create_group(gname)
            g.create_dataset("sigma2", data=self.sigma2)
            for k, v in self.branches[branch].items():
                g.create_dataset(k, data=v)
            g.attrs["sweep"] = sweeps.get(branch, "restricted branch " + branch)
            for k, ds in g.items():
                text, units, extra = dataset_meta(k, ds.dtype, descriptions)
                describe(ds, text, units, **extra)
            attach_scales(g, "sigma2")
        f["scan_up"].attrs["branch_difference"] = self.branch_difference
        t = f.create_group("transitions")
        for name, (s, hw, ok, note) in self.transitions.items():
            t.attrs[name] = s
            t.attrs[name + "_halfwidth"] = hw
            t.attrs[name + "_located"] = bool(ok)
            t.attrs[name + "_note"] = note
        t.attrs["u_c"] = self.u_c
        for k, v in self.transition_scalars.items():
            t.attrs[k] = float(v)
        land = f.create_group("landscape")
        gname = self.landscape_name or LANDSCAPE_GRID_DEFAULT
        describe(land.create_dataset(gname, data=self.landscape_grid),
                 descriptions.get(gname, "order-parameter grid of the landscape"), "1")
        describe(land.create_dataset("action", data=self.landscape_action),
                 "normalised action of one neuron on the landscape grid, one row per sigma2 of "
                 "scan/sigma2 (NaN rows: not converged)", "1")

    @classmethod
    def from_hdf5(cls, path) -> "ScanResult":
        """Load a file written by :meth:`to_hdf5`."""
        path = os.fspath(path)
        with open_h5(path) as f:
            for g in ("params", "scan", "transitions", "landscape"):
                if g not in f:
                    raise FileFormatError(f"{path}: missing group '{g}' (not a phasesim scan file)")
            if "teacher" not in f.attrs:
                raise FileFormatError(f"{path}: missing root attribute 'teacher'")
            teacher = str(f.attrs["teacher"])
            params = {k: py_value(v) for k, v in f["params"].attrs.items() if not k.startswith("solver_")}
            settings = {k[7:]: py_value(v) for k, v in f["params"].attrs.items() if k.startswith("solver_")}
            sigma2 = f["scan/sigma2"][()]
            branches = {"down": {k: f["scan"][k][()] for k in f["scan"] if k != "sigma2"}}
            if "scan_up" in f:
                branches["up"] = {k: f["scan_up"][k][()] for k in f["scan_up"] if k != "sigma2"}
                diff = float(f["scan_up"].attrs.get("branch_difference", np.nan))
            else:
                branches["up"] = branches["down"]
                diff = math.nan
            for gname in f:
                if gname.startswith("scan_") and gname != "scan_up":
                    branches[gname[5:]] = {k: f[gname][k][()] for k in f[gname] if k != "sigma2"}
            t = f["transitions"].attrs
            trans = {}
            located = [k for k in t if k + "_halfwidth" in t]
            for name in ["sigma2_gmfl1", "sigma2_gmfl2"] + [k for k in located
                                                             if k not in ("sigma2_gmfl1", "sigma2_gmfl2")]:
                trans[name] = (float(t.get(name, np.nan)), float(t.get(name + "_halfwidth", np.nan)),
                               bool(t.get(name + "_located", False)), str(t.get(name + "_note", "")))
            taken = set(trans) | {k + sfx for k in trans for sfx in ("_halfwidth", "_located", "_note")}
            scalars = {k: float(t[k]) for k in t if k not in taken and k != "u_c"
                       and np.asarray(t[k]).dtype.kind == "f"}
            u_c = float(t.get("u_c", np.nan))
            land = f["landscape"]
            names = [k for k in land if k != "action"]
            if "action" not in land or len(names) != 1:
                raise FileFormatError(f"{path}: group 'landscape' must hold 'action' and one grid "
                                      f"dataset; found {', '.join(sorted(land)) or 'nothing'}")
            gname = names[0]
            grid = land[gname][()]
            action = land["action"][()]
            attrs = {k: py_value(v) for k, v in f.attrs.items()}
        return cls(teacher, params, sigma2, branches, diff, trans, grid, action, settings, attrs, u_c,
                   landscape_name=gname, transition_scalars=scalars)


#: Kept for older callers; see :func:`adaptive_kernel.storage.py_value`.
_py = py_value
