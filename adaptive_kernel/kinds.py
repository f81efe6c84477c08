"""Result kinds: the root attribute ``kind`` of a phasesim file names the class that reads it.

=================  =====================================================  ============================
kind               reader                                                 written by
=================  =====================================================  ============================
``scan``           :class:`~adaptive_kernel.results.ScanResult`           ``phasesim scan``
``phase_diagram``  :class:`~adaptive_kernel.phase_diagram.PhaseDiagram`   ``phasesim scan --vary``
``langevin``       :class:`simulations.langevin_io.LangevinData`          ``phasesim langevin``
``train``          :class:`simulations.training_io.TrainingData`          ``phasesim train``
``analytic``       :class:`simulations.analytic.AnalyticResult`           ``phasesim analytic``
``kernel``         :class:`simulations.kernel_regime.KernelResult`        ``phasesim kernel``
``rfm``            :class:`simulations.rfm.RFMResult`                     ``phasesim rfm``
=================  =====================================================  ============================

:func:`load` (``adaptive_kernel.load``) opens any of them. A new kind is one
:func:`register_kind` call: a reader is a class with a ``from_hdf5(path)`` class method (and
a class attribute ``kind``), or a function without arguments that imports and returns such
a class (used for the Langevin reader, which lives next to its writer in the
:mod:`simulations` package: it is imported only when a Langevin file is opened, and
:mod:`simulations.langevin_io` imports nothing that imports this module back). Every writer
sets the attribute through :func:`adaptive_kernel.storage.write_result`.

Files written before the attribute existed (scan files of ``format_version`` 1) are
recognised by their groups: ``grid`` -> ``phase_diagram``; ``scan`` -> ``scan``; only
``langevin`` -> ``langevin``. A scan file that also holds a ``langevin`` group (Langevin data
added next to the scan) is returned as a :class:`~adaptive_kernel.results.ScanResult` with
the Langevin data as ``.langevin`` (``None`` when there is none).
"""
from __future__ import annotations

import os

from .errors import FileFormatError
from .phase_diagram import PhaseDiagram
from .results import ScanResult
from .storage import open_h5, py_value

#: kind -> reader (a class with ``from_hdf5``, or a function returning one).
_READERS: dict = {}
#: kind -> plotting module of its figures (``phasesim plot``)
_FIGURES: dict = {}


def register_kind(kind: str, reader, figures: str | None = None) -> None:
    """Register the reader (and the figures) of files whose root attribute ``kind`` is ``kind``.

    Parameters
    ----------
    kind : str
        The attribute value (a short lower-case name, e.g. ``"scan"``).
    reader : type, callable or str
        A class with a ``from_hdf5(path)`` class method; a function without arguments that
        returns such a class; or ``"module:Class"``, imported on the first file of that kind.
    figures : str, optional
        A plotting module (imported by ``phasesim plot`` on first use) with ``FIGURES``, a
        dict {figure name: function(result, figsize=None) -> matplotlib Figure}, and
        ``DEFAULT_FIGURE``. Kinds without one are drawn by :mod:`adaptive_kernel.plotting`.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string; got {kind!r}")
    if isinstance(reader, str):
        reader = _lazy_attribute(reader)
    _READERS[kind] = reader
    if figures is not None:
        _FIGURES[kind] = figures


def _lazy_attribute(spec: str):
    """A function importing ``"module:attr"`` and returning the attribute."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"reader must be 'module:Class'; got {spec!r}")

    def load_reader():
        import importlib

        return getattr(importlib.import_module(module), attr)

    load_reader.__qualname__ = f"reader of {spec}"
    return load_reader


def figures_for(kind: str):
    """``(FIGURES, DEFAULT_FIGURE)`` of the plotting module registered for ``kind``, or
    ``None`` for a kind drawn by :mod:`adaptive_kernel.plotting` (scan, phase diagram,
    Langevin)."""
    module = _FIGURES.get(kind)
    if module is None:
        return None
    import importlib

    mod = importlib.import_module(module)
    return mod.FIGURES, mod.DEFAULT_FIGURE


def known_kinds() -> list:
    """The registered kinds, sorted."""
    return sorted(_READERS)


def reader_for(kind: str):
    """The reader class of ``kind`` (a lazily registered one is imported now).

    Raises
    ------
    adaptive_kernel.errors.FileFormatError
        ``kind`` is not registered (one line naming it and the known kinds).
    """
    try:
        reader = _READERS[kind]
    except (KeyError, TypeError):
        raise FileFormatError(f"unknown result kind {kind!r}; known kinds: {', '.join(known_kinds())}") from None
    if not hasattr(reader, "from_hdf5"):
        reader = reader()
    return reader


def _sniff(groups, path) -> str:
    """The kind of a file without a ``kind`` attribute, from its groups."""
    if "grid" in groups:
        return "phase_diagram"
    if "scan" in groups:
        return "scan"
    if "langevin" in groups:
        return "langevin"
    raise FileFormatError(f"{path}: not a phasesim file (no 'scan', 'grid' or 'langevin' group; "
                          f"found: {', '.join(sorted(groups)) or 'nothing'})")


def kind_of(path) -> str:
    """The kind of the file at ``path``: its root attribute ``kind``, or for older files
    without one, the kind its groups show."""
    path = os.fspath(path)
    with open_h5(path) as f:
        kind = f.attrs.get("kind")
        groups = set(f)
    if kind is None:
        return _sniff(groups, path)
    return str(py_value(kind))


def load(path):
    """Open any phasesim HDF5 file and return the object of its kind.

    * ``scan``: :class:`~adaptive_kernel.results.ScanResult`, with ``.langevin`` set to the
      file's Langevin data (:class:`simulations.langevin_io.LangevinData`) when it also has a
      ``langevin`` group (``None`` otherwise);
    * ``phase_diagram`` (``phasesim scan --vary``): :class:`~adaptive_kernel.phase_diagram.PhaseDiagram`;
    * ``langevin`` (``phasesim langevin``): :class:`simulations.langevin_io.LangevinData`;
    * any kind added with :func:`register_kind`.

    Raises
    ------
    adaptive_kernel.errors.FileFormatError
        Missing or non-HDF5 file, unknown kind, or a file without the groups of its kind
        (one line).
    """
    path = os.fspath(path)
    with open_h5(path) as f:
        kind = f.attrs.get("kind")
        groups = set(f)
    kind = _sniff(groups, path) if kind is None else py_value(kind)
    if not isinstance(kind, str) or kind not in _READERS:
        shown = " ".join(repr(kind).split())
        raise FileFormatError(f"{path}: unknown result kind {shown} (root attribute 'kind'); "
                              f"known kinds: {', '.join(known_kinds())}")
    obj = reader_for(kind).from_hdf5(path)
    if kind == "scan":
        obj.langevin = reader_for("langevin").from_hdf5(path) if "langevin" in groups else None
    return obj


register_kind(ScanResult.kind, ScanResult)
register_kind(PhaseDiagram.kind, PhaseDiagram)
# the methods of the simulations package: readers and figures imported on first use
register_kind("langevin", "simulations.langevin_io:LangevinData")
register_kind("train", "simulations.training_io:TrainingData", figures="adaptive_kernel.plotting_train")
register_kind("analytic", "simulations.analytic:AnalyticResult", figures="adaptive_kernel.plotting_fourier")
register_kind("kernel", "simulations.kernel_regime:KernelResult", figures="adaptive_kernel.plotting_kernel")
register_kind("rfm", "simulations.rfm:RFMResult", figures="adaptive_kernel.plotting_rfm")
register_kind("atlas", "simulations.atlas:AtlasResult", figures="adaptive_kernel.plotting_atlas")

__all__ = ["load", "register_kind", "reader_for", "figures_for", "known_kinds", "kind_of"]
