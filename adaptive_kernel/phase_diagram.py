"""2-D phase diagrams: phase scans in sigma2 repeated over a second parameter.

:func:`scan_grid` calls :func:`adaptive_kernel.solver.scan` once per value of the second
parameter (for example ``gamma`` for modadd or ``eps`` for the cubic teacher) and collects
the phases, the main order parameters and the located boundaries into a
:class:`PhaseDiagram`. ``phasesim scan --vary NAME=START:STOP:NUM`` is the command-line
front end; ``phasesim plot FILE --kind phase`` draws the diagram.

HDF5 layout (``format_version`` 1; other tools read these names)::

    /                       attrs: teacher, kind = "phase_diagram", package_version, created,
                                   command, format_version, phase_codes, provenance
    /params                 attrs: the fixed input parameters (the varied one is absent),
                                   solver settings as solver_<name>
    /grid                   attrs: name (the second parameter), n_second, n_sigma2
    /grid/values            [n_second] values of the second parameter
    /grid/sigma2            [n_sigma2] the noise grid (same for every value)
    /grid/phase             [n_second, n_sigma2] int8 phase codes of the downward sweep
                            (0 GFL, 1 GMFL-I, 2 GMFL-II, -1 not converged)
    /grid/converged         [n_second, n_sigma2] bool
    /grid/<observable>      [n_second, n_sigma2] every float observable of the downward sweep
                            (u, residual, droplet_fraction, ...; cubic: b, c, linear_learned, ...)
    /grid/branch_difference [n_second] max |down - up| of each scan
    /boundaries/<name>      [n_second] for name in sigma2_gmfl1, sigma2_gmfl2 (NaN: not
                            reached), <name>_halfwidth, <name>_located (bool); notes in the
                            attrs <name>_notes (one string per value, joined by " | ")

Every dataset has a one-line ``description`` and ``units`` where one applies (``"1"``:
dimensionless); ``grid/phase`` explains its codes in ``phase_codes``. ``grid/values`` and
``grid/sigma2`` are HDF5 dimension scales attached to the axes of every ``grid`` dataset, so
``xarray.open_dataset(path, group="grid", engine="h5netcdf")`` has both as coordinates.

Files are written by :func:`adaptive_kernel.storage.write_result` (in memory, then to a
temporary name in the target folder, renamed when complete) and read back by
:func:`adaptive_kernel.load`. This module does not import the plotting module (figures:
``adaptive_kernel.plotting.plot_phase(diagram)``, ``plot_order_family(diagram)``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .codes import PHASE_CODES
from .errors import FileFormatError, ParameterError
from .results import dataset_meta, observable_descriptions
from .storage import attach_scales, describe, open_h5, py_value, write_result
from .teachers.base import PHASE_NAMES

FORMAT_VERSION = 1
BOUNDARY_NAMES = ("sigma2_gmfl1", "sigma2_gmfl2")


@dataclass
class PhaseDiagram:
    """Phases over sigma2 x one second parameter.

    Attributes
    ----------
    teacher : str
    params : dict
        Fixed parameters (without the varied one).
    name : str
        The second (varied) parameter.
    values : ndarray
        Its values, shape (n_second,).
    sigma2 : ndarray
        Noise grid, shape (n_sigma2,).
    data : dict
        ``{observable: ndarray (n_second, n_sigma2)}`` of the downward sweeps, with
        ``phase`` (int8) and ``converged`` (bool).
    boundaries : dict
        ``{name: ndarray (n_second,)}`` for each of :data:`BOUNDARY_NAMES` and their
        ``_halfwidth``, ``_located``; ``notes``: ``{name: list of str}``.
    branch_difference : ndarray
    settings, attrs : dict
    descriptions : dict
        One-line descriptions of the observables (those of the scans, set by
        :func:`scan_grid`), written as ``description`` attributes.
    """

    #: The root attribute ``kind`` of the file (:mod:`adaptive_kernel.kinds`).
    kind: ClassVar[str] = "phase_diagram"

    teacher: str
    params: dict
    name: str
    values: np.ndarray
    sigma2: np.ndarray
    data: dict
    boundaries: dict
    notes: dict
    branch_difference: np.ndarray
    settings: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    descriptions: dict = field(default_factory=dict)

    @property
    def phase(self) -> np.ndarray:
        return self.data["phase"]

    @property
    def shape(self):
        return (len(self.values), len(self.sigma2))

    def summary(self) -> str:
        """Boundaries per value of the second parameter, and convergence, as text."""
        n2, ns = self.shape
        conv = int(np.sum(self.data["converged"]))
        lines = [f"{self.teacher} phase diagram: sigma2 ({ns} points, {self.sigma2.min():g} .. "
                 f"{self.sigma2.max():g}) x {self.name} ({n2} values, {self.values.min():g} .. "
                 f"{self.values.max():g})",
                 f"converged: {conv}/{n2 * ns} points"]
        head = f"{self.name:>14s} {'sigma2_gmfl1':>22s} {'sigma2_gmfl2':>22s} {'phases':>24s}"
        lines.append(head)
        for j, v in enumerate(self.values):
            cells = []
            for b in BOUNDARY_NAMES:
                s = self.boundaries[b][j]
                hw = self.boundaries[b + "_halfwidth"][j]
                cells.append(f"{s:.6f} +- {hw:.0e}" if np.isfinite(s) else "nan")
            found = sorted({int(p) for p in self.phase[j]})
            lines.append(f"{v:14.6g} {cells[0]:>22s} {cells[1]:>22s} "
                         f"{','.join(PHASE_NAMES[p] for p in found):>24s}")
        return "\n".join(lines)

    # -- HDF5 -----------------------------------------------------------------------
    def to_hdf5(self, path, overwrite: bool = False, command: str | None = None) -> str:
        """Write atomically to ``path``; refuse to replace an existing file unless ``overwrite``.

        Written by :func:`~adaptive_kernel.storage.write_result` (root attribute
        ``kind = "phase_diagram"``): the file is assembled in memory, and an I/O failure (disk
        full, read-only folder, ...) raises a one-line
        :class:`~adaptive_kernel.errors.WriteError` and leaves an existing file untouched.
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
        g = f.create_group("grid")
        g.attrs["name"] = self.name
        g.attrs["n_second"], g.attrs["n_sigma2"] = self.shape
        g.create_dataset("values", data=np.asarray(self.values))
        g.create_dataset("sigma2", data=np.asarray(self.sigma2, float))
        for k, v in self.data.items():
            g.create_dataset(k, data=v)
        g.create_dataset("branch_difference", data=np.asarray(self.branch_difference, float))
        for k, ds in g.items():
            if k == "values":
                describe(ds, f"values of the second (varied) parameter {self.name}", "1")
            elif k == "branch_difference":
                describe(ds, "max |down - up| of the order parameters over the points converged "
                             "on both continuation sweeps, per value", "1")
            else:
                text, units, extra = dataset_meta(k, ds.dtype, descriptions)
                describe(ds, text + (" (downward sweep)" if k != "sigma2" else ""), units, **extra)
        attach_scales(g, "values", "sigma2")
        attach_scales(g, "values")
        b = f.create_group("boundaries")
        for k, v in self.boundaries.items():
            ds = b.create_dataset(k, data=v)
            base = k.replace("_halfwidth", "").replace("_located", "")
            what = {"sigma2_gmfl1": "GFL -> GMFL-I", "sigma2_gmfl2": "GMFL-I -> GMFL-II"}.get(base, base)
            if k.endswith("_halfwidth"):
                describe(ds, f"half-width of the bisection bracket of {base}, per value", "1")
            elif k.endswith("_located"):
                describe(ds, f"True where {base} was located by bisection, per value")
            else:
                describe(ds, f"sigma2 of the {what} boundary per value of {self.name} "
                             f"(NaN: not reached; notes in the attribute {k}_notes)", "1")
        for k, v in self.notes.items():
            b.attrs[k + "_notes"] = " | ".join(v)

    @classmethod
    def from_hdf5(cls, path) -> "PhaseDiagram":
        """Load a file written by :meth:`to_hdf5`."""
        path = os.fspath(path)
        with open_h5(path) as f:
            return cls._read(f, path)

    @classmethod
    def _read(cls, f, path):
        if "grid" not in f:
            raise FileFormatError(
                f"{path}: no 'grid' group, so no 2-D phase diagram; make one with "
                f"'phasesim scan --vary NAME=START:STOP:NUM'")
        for g in ("params", "boundaries"):
            if g not in f:
                raise FileFormatError(f"{path}: missing group '{g}' (not a phasesim phase-diagram file)")
        g = f["grid"]
        for d in ("values", "sigma2", "phase"):
            if d not in g:
                raise FileFormatError(f"{path}: missing dataset 'grid/{d}'")
        if "teacher" not in f.attrs:
            raise FileFormatError(f"{path}: missing root attribute 'teacher'")
        params = {k: py_value(v) for k, v in f["params"].attrs.items() if not k.startswith("solver_")}
        settings = {k[7:]: py_value(v) for k, v in f["params"].attrs.items() if k.startswith("solver_")}
        skip = ("values", "sigma2", "branch_difference")
        data = {k: g[k][()] for k in g if k not in skip}
        if "converged" not in data:
            data["converged"] = data["phase"] >= 0
        nb = len(g["values"])
        bnd, notes = {}, {}
        for name in BOUNDARY_NAMES:
            for suffix, fill in (("", np.nan), ("_halfwidth", np.nan), ("_located", False)):
                key = name + suffix
                bnd[key] = f["boundaries"][key][()] if key in f["boundaries"] else np.full(nb, fill)
            text = str(py_value(f["boundaries"].attrs.get(name + "_notes", "")))
            notes[name] = text.split(" | ") if text else [""] * nb
        diff = g["branch_difference"][()] if "branch_difference" in g else np.full(nb, np.nan)
        return cls(str(py_value(f.attrs["teacher"])), params, str(py_value(g.attrs.get("name", "parameter"))),
                   g["values"][()], g["sigma2"][()], data, bnd, notes, diff, settings,
                   {k: py_value(v) for k, v in f.attrs.items()})


def load_phase_diagram(path) -> PhaseDiagram:
    """Read a phase-diagram file into a :class:`PhaseDiagram`."""
    return PhaseDiagram.from_hdf5(path)


def variable_parameters(teacher) -> list:
    """Numeric parameters of a teacher that can be swept as the second axis."""
    return sorted(k for k, c in teacher.constraints.items() if c.kind in ("real", "int"))


def parse_vary(text: str, teacher):
    """Parse ``NAME=START:STOP:NUM`` (or ``NAME=V1,V2,...``) into (name, values).

    Raises :class:`~adaptive_kernel.errors.ParameterError` for an unknown or non-numeric
    parameter or a malformed grid. The values are validated by the caller
    (``teacher.make_params``), so an out-of-range value is reported with its constraint.
    """
    from .validation import parse_grid

    name, sep, grid = str(text).partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    allowed = variable_parameters(teacher)
    if not sep or not name or not grid:
        raise ParameterError(f"--vary must be NAME=START:STOP:NUM (e.g. gamma=5e-5:2e-4:4); got {text!r}")
    if name not in allowed:
        raise ParameterError(f"--vary: {name!r} is not a numeric parameter of the {teacher.name} "
                             f"teacher; choose one of {', '.join(allowed)}")
    if "," in grid:
        try:
            values = np.array([float(v) for v in grid.split(",")])
        except ValueError:
            raise ParameterError(f"--vary {name}: values must be numbers; got {grid!r}") from None
    else:
        values = parse_grid(grid, name)
    if teacher.constraints[name].kind == "int":
        if not np.all(np.isclose(values, np.round(values))):
            raise ParameterError(f"--vary {name}: {name} is an integer parameter; got values {values}")
        values = np.round(values).astype(int)
    if len(np.unique(values)) != len(values):
        raise ParameterError(f"--vary {name}: repeated values {values}")
    return name, values


def scan_row(teacher, params: dict, sigma2_values, scan_kw: dict):
    """One row of :func:`scan_grid`: the sigma2 scan at one value of the varied parameter.

    A pure, module-level function (picklable): the unit of work that a runner
    (:mod:`adaptive_kernel.runner`) sends to a worker process or a Dask worker.
    """
    from .solver import scan

    kw = {"thermodynamics": False, **dict(scan_kw)}   # rows: no restricted branches (1-D scans have them)
    return scan(teacher, params, np.asarray(sigma2_values, float), **kw)


def scan_grid(teacher, params: dict, name: str, values, sigma2_values, progress=None, runner=None,
              **scan_kw):
    """Phase scan in sigma2 for every value of the parameter ``name``.

    Parameters
    ----------
    teacher : Teacher
    params : dict
        Parameters for ``teacher.make_params`` (the value of ``name`` is replaced).
    name : str
        The second parameter.
    values : array_like
        Its values.
    sigma2_values : array_like
        Noise grid, shared by every scan.
    progress : callable, optional
        Called with a number of solved points: forwarded to :func:`adaptive_kernel.solver.scan`
        (two per sigma2 point) in a serial run; with a parallel ``runner``, called with
        ``2 * len(sigma2_values)`` in this process as each row completes on a worker.
    runner : adaptive_kernel.runner.Runner, optional
        Computes the rows (:func:`scan_row`, one unit per value of ``name``; not closed
        here). Default: serially, in this process. The result is identical either way.
    **scan_kw
        Forwarded to :func:`~adaptive_kernel.solver.scan` (``tol``, ``boundary_tol``).

    Returns
    -------
    PhaseDiagram
    """
    import time

    from .solver import scan

    t0 = time.perf_counter()
    values = np.asarray(values)
    sigma2 = np.asarray(sigma2_values, float)
    all_params = [teacher.make_params(**{**params, name: v.item() if hasattr(v, "item") else v})
                  for v in values]
    # every row is checked before the first is solved: the total size and each row's
    # noise range (adaptive_kernel.limits, Teacher.check_sigma2)
    from .limits import check_scan_size

    check_scan_size(teacher, all_params[0], len(sigma2), n_rows=len(all_params), vary=name)
    for p in all_params:
        teacher.check_sigma2(p, sigma2)
    from .runner import SerialRunner

    if runner is None or isinstance(runner, SerialRunner):
        kw = {"thermodynamics": False, **scan_kw}
        results = [scan(teacher, p, sigma2, progress=progress, **kw) for p in all_params]
    else:
        per_row = 2 * len(sigma2)
        last = [0]

        def rows_done(n_done, n_total):
            if progress is not None and n_done > last[0]:
                progress(per_row * (n_done - last[0]))
            last[0] = n_done

        keys = [(name, i) for i in range(len(all_params))]
        results = runner.starmap(scan_row, [(teacher, p, sigma2, scan_kw) for p in all_params],
                                 keys=keys, progress=rows_done)
    keys = [k for k, v in results[0].scan.items() if np.asarray(v).dtype.kind == "f"]
    data = {k: np.vstack([np.asarray(r.scan[k], float) for r in results]) for k in keys}
    data["phase"] = np.vstack([np.asarray(r.scan["phase"], np.int8) for r in results])
    data["converged"] = np.vstack([np.asarray(r.scan["converged"], bool) for r in results])
    bnd, notes = {}, {}
    for b in BOUNDARY_NAMES:
        bnd[b] = np.array([r.transitions[b][0] for r in results], float)
        bnd[b + "_halfwidth"] = np.array([r.transitions[b][1] for r in results], float)
        bnd[b + "_located"] = np.array([bool(r.transitions[b][2]) for r in results], bool)
        notes[b] = [str(r.transitions[b][3]) for r in results]
    fixed = {k: v for k, v in all_params[0].items() if k != name}
    settings = dict(results[0].settings)
    settings["wall_time_s"] = time.perf_counter() - t0
    return PhaseDiagram(teacher.name, fixed, name, values, sigma2, data, bnd, notes,
                        np.array([r.branch_difference for r in results], float), settings,
                        descriptions=dict(results[0].descriptions))


def default_output(teacher, name: str) -> str:
    """Default file name of a phase diagram: ``<teacher>_phase_<name>.h5``."""
    return f"{teacher.name}_phase_{name}.h5"


__all__ = ["PhaseDiagram", "scan_grid", "scan_row", "parse_vary", "load_phase_diagram", "variable_parameters",
           "BOUNDARY_NAMES"]
