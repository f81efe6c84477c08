"""Result kinds: the root attribute ``kind`` of a phasesim file names the class that reads it.

=================  =====================================================  ============================
kind               reader                                                 written by
=================  =====================================================  ============================
``scan``           :class:`~adaptive_kernel.results.ScanResult`           ``phasesim scan``
``phase_diagram``  :class:`~adaptive_kernel.phase_diagram.PhaseDiagram`   ``phasesim scan --vary``
``langevin``       :class:`simulations.langevin_io.LangevinData`          ``phasesim langevin``
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


def register_kind(kind: str, reader) -> None:
    """Register the reader of files whose root attribute ``kind`` is ``kind``.

    Parameters
    ----------
    kind : str
        The attribute value (a short lower-case name, e.g. ``"scan"``).
    reader : type or callable
        A class with a ``from_hdf5(path)`` class method, or a function without arguments
        that returns such a class (imported lazily, on the first file of that kind).
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty string; got {kind!r}")
    _READERS[kind] = reader


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


def _langevin_reader():
    from simulations.langevin_io import LangevinData

    return LangevinData


register_kind(ScanResult.kind, ScanResult)
register_kind(PhaseDiagram.kind, PhaseDiagram)
register_kind("langevin", _langevin_reader)

__all__ = ["load", "register_kind", "reader_for", "known_kinds", "kind_of"]
