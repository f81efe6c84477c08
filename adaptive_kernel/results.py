"""Scan results: one object per scan, written to and read from HDF5.

HDF5 layout (other tools read these names; keep them stable)::

    /                      attrs: teacher, package_version, created (ISO 8601), command,
                                  format_version, phase_codes, plus provenance
    /params                attrs: every input parameter
    /scan/<name>           1-D datasets, one entry per sigma2 (downward continuation sweep):
                           sigma2, u, phase, converged, iterations, plus the teacher's
                           order parameters (modadd: residual, lambda, droplet_fraction, ...)
    /scan_up/<name>        the same from the upward sweep (attrs: branch_difference)
    /transitions           attrs: sigma2_gmfl1, sigma2_gmfl2 (NaN when not reached),
                           u_c (u at sigma2_gmfl1), their half-widths and notes
    /landscape/phi         order-parameter grid (modadd: Phi = Psi = |W_k|^2; cubic: q)
    /landscape/action      one row per sigma2 (the teacher's normalised action)

Files are written to a temporary name in the target folder and renamed only when
complete, so an interrupted write never leaves a truncated file at the target path.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .errors import FileFormatError
from .storage import atomic_output, open_h5, provenance
from .teachers.base import PHASE_NAMES

FORMAT_VERSION = 1


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
    """

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
        """Effective interaction at the GFL -> GMFL-I boundary (NaN if not reached)."""
        from .teachers import get_teacher

        s = self.sigma2_gmfl1
        if not math.isfinite(s):
            return math.nan
        return float(get_teacher(self.teacher).effective_interaction(self.params, s))

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
        if self.teacher == "modadd":
            return ["residual", "lambda", "droplet_fraction"]
        return ["b", "c", "linear_learned", "cubic_learned", "droplet_fraction"]

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
        return "\n".join(lines)

    # -- HDF5 -----------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write atomically to ``path``; refuse to replace an existing file unless ``overwrite``."""
        import h5py

        path = os.fspath(path)
        with atomic_output(path, overwrite) as tmp:
            with h5py.File(tmp, "w") as f:
                self._write(f, command)
        return path

    def _write(self, f, command):
        attrs = provenance(self.teacher, command, format_version=FORMAT_VERSION,
                           phase_codes="0=GFL, 1=GMFL-I, 2=GMFL-II, -1=not converged")
        attrs.update({k: v for k, v in self.attrs.items() if k not in ("teacher",)})
        for k, v in attrs.items():
            f.attrs[k] = v
        g = f.create_group("params")
        for k, v in self.params.items():
            g.attrs[k] = v
        for k, v in self.settings.items():
            g.attrs["solver_" + k] = v
        for gname, branch in (("scan", "down"), ("scan_up", "up")):
            g = f.create_group(gname)
            g.create_dataset("sigma2", data=self.sigma2)
            for k, v in self.branches[branch].items():
                g.create_dataset(k, data=v)
            g.attrs["sweep"] = "downward continuation" if branch == "down" else "upward continuation"
        f["scan_up"].attrs["branch_difference"] = self.branch_difference
        t = f.create_group("transitions")
        for name, (s, hw, ok, note) in self.transitions.items():
            t.attrs[name] = s
            t.attrs[name + "_halfwidth"] = hw
            t.attrs[name + "_located"] = bool(ok)
            t.attrs[name + "_note"] = note
        t.attrs["u_c"] = self.u_c
        land = f.create_group("landscape")
        land.create_dataset("phi" if self.teacher == "modadd" else "q", data=self.landscape_grid)
        land.create_dataset("action", data=self.landscape_action)

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
            params = {k: _py(v) for k, v in f["params"].attrs.items() if not k.startswith("solver_")}
            settings = {k[7:]: _py(v) for k, v in f["params"].attrs.items() if k.startswith("solver_")}
            sigma2 = f["scan/sigma2"][()]
            branches = {"down": {k: f["scan"][k][()] for k in f["scan"] if k != "sigma2"}}
            if "scan_up" in f:
                branches["up"] = {k: f["scan_up"][k][()] for k in f["scan_up"] if k != "sigma2"}
                diff = float(f["scan_up"].attrs.get("branch_difference", np.nan))
            else:
                branches["up"] = branches["down"]
                diff = math.nan
            t = f["transitions"].attrs
            trans = {}
            for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
                trans[name] = (float(t.get(name, np.nan)), float(t.get(name + "_halfwidth", np.nan)),
                               bool(t.get(name + "_located", False)), str(t.get(name + "_note", "")))
            land = f["landscape"]
            gname = "phi" if "phi" in land else "q"
            grid = land[gname][()]
            action = land["action"][()]
            attrs = {k: _py(v) for k, v in f.attrs.items()}
        return cls(teacher, params, sigma2, branches, diff, trans, grid, action, settings, attrs)

    # -- figures (thin wrappers of adaptive_kernel.plotting; what `phasesim plot` calls) ---
    def plot_landscape(self, ax=None, **kwargs):
        """Action vs order parameter for several sigma2; see :func:`adaptive_kernel.plotting.plot_landscape`."""
        from .plotting import plot_landscape

        return plot_landscape(self, ax=ax, **kwargs)

    def plot_order(self, ax=None, **kwargs):
        """Order parameters vs sigma2 with phases shaded; see :func:`adaptive_kernel.plotting.plot_order`."""
        from .plotting import plot_order

        return plot_order(self, ax=ax, **kwargs)

    def plot_langevin(self, axes=None, **kwargs):
        """Langevin data of the file (``self.langevin``, set by :func:`adaptive_kernel.plotting.load_any`)
        against theory; see :func:`adaptive_kernel.plotting.plot_langevin`."""
        from .plotting import plot_langevin

        return plot_langevin(self, axes=axes, **kwargs)

    def plot(self, kind: str = "order", ax=None, **kwargs):
        """Any figure kind (``landscape``, ``order``, ``langevin``) by name."""
        from .plotting import plot

        return plot(self, kind, ax=ax, **kwargs)


def _py(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def load(path):
    """Open any phasesim HDF5 file: a :class:`ScanResult` for a scan (with ``.langevin`` set
    when the file also holds Langevin data), a
    :class:`~adaptive_kernel.phase_diagram.PhaseDiagram` for a ``--vary`` file, or the
    Langevin data of a ``phasesim langevin`` file (see :func:`adaptive_kernel.plotting.load_any`)."""
    from .plotting import load_any

    return load_any(path)
