"""Storage backends of a Langevin run (emcee style: the sampler never opens files).

A backend holds what is needed to continue a run bit for bit: the run's metadata
(format version, package version, the full configuration, the shapes of every unit), the
iteration reached, and for every unit (one sigma2 and one block of ensemble members) the
sampler state (parameters, cached potential and gradient, adapted step sizes, counters,
the members' RNG states as JSON) and the measurement accumulators (traces, histogram
counts, sums).

* :class:`MemoryBackend` keeps it in memory (tests, interactive use).
* :class:`HDFBackend` also writes it to an HDF5 file at every :meth:`save`, atomically
  (the file is assembled in memory, written to a temporary file in the same folder, then
  renamed with :func:`os.replace`), so a killed run, a full disk or any other write error
  leaves the previous complete checkpoint, never a truncated one, and no temporary file.

Checkpoint file layout::

    /            attrs: format ("phasesim-langevin-checkpoint"), format_version,
                        package_version, iteration, meta (JSON of the run configuration)
    /units/<id>/<name>   datasets (arrays; strings as variable-length UTF-8);
                         scalars as attributes
"""
from __future__ import annotations

import copy
import json
import os

import numpy as np

from adaptive_kernel._version import __version__
from adaptive_kernel.errors import FileFormatError, WriteError
from adaptive_kernel.storage import h5_output

CHECKPOINT_FORMAT = "phasesim-langevin-checkpoint"
CHECKPOINT_VERSION = 1


class MemoryBackend:
    """In-memory checkpoint store."""

    def __init__(self):
        self.meta = None
        self.iteration = 0
        self.units = {}

    @property
    def initialized(self) -> bool:
        return self.meta is not None

    def reset(self, meta: dict):
        """Start a new run described by ``meta`` (JSON-serialisable)."""
        self.meta = json.loads(json.dumps(meta))
        self.iteration = 0
        self.units = {}

    def save(self, iteration: int, units: dict):
        """Record the state of every unit after ``iteration`` steps."""
        self.iteration = int(iteration)
        self.units = {k: copy.deepcopy(v) for k, v in units.items()}

    def load(self):
        """(meta, iteration, units) or None when nothing was saved."""
        if self.meta is None:
            return None
        return self.meta, self.iteration, {k: copy.deepcopy(v) for k, v in self.units.items()}

    def discard(self):
        self.meta = None
        self.units = {}
        self.iteration = 0


class HDFBackend(MemoryBackend):
    """Checkpoints in an HDF5 file, rewritten atomically at every :meth:`save`.

    Parameters
    ----------
    path : str
        Checkpoint file (created on the first save).

    Attributes
    ----------
    saved_iteration : int or None
        The iteration held by the checkpoint file on disk (after a successful :meth:`save`
        or :meth:`load`); None while this backend has not written or read one.
    """

    def __init__(self, path):
        super().__init__()
        self.path = os.fspath(path)
        self.saved_iteration = None

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def save(self, iteration, units):
        """Write the checkpoint of ``iteration`` atomically.

        Raises
        ------
        adaptive_kernel.errors.WriteError
            The file could not be written (disk full, quota, read-only folder, ...): the
            previous checkpoint file is untouched (``saved_iteration`` still names its
            iteration), the temporary file is removed, and the in-memory state is not
            advanced.
        """
        with h5_output(self.path, overwrite=True, what="checkpoint") as f:
            f.attrs["format"] = CHECKPOINT_FORMAT
            f.attrs["format_version"] = CHECKPOINT_VERSION
            f.attrs["package_version"] = __version__
            f.attrs["iteration"] = int(iteration)
            f.attrs["meta"] = json.dumps(self.meta)
            g = f.create_group("units")
            for uid, st in units.items():
                ug = g.create_group(str(uid))
                for k, v in st.items():
                    _write_item(ug, k, v)
        super().save(iteration, units)
        self.saved_iteration = self.iteration

    def load(self):
        """(meta, iteration, units) from the checkpoint file (or memory when there is no
        file); an unreadable or damaged file is a one-line
        :class:`~adaptive_kernel.errors.FileFormatError`."""
        import h5py

        if not os.path.exists(self.path):
            return super().load()
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise FileFormatError(f"{self.path} is not a readable checkpoint ({_one_line(exc)})") from None
        try:
            self._read(f)
        except FileFormatError:
            raise
        except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
            raise FileFormatError(f"{self.path} is a damaged checkpoint ({_one_line(exc)}); "
                                  f"start over with --overwrite") from None
        finally:
            f.close()
        self.saved_iteration = self.iteration
        return super().load()

    def _read(self, f):
        if f.attrs.get("format") != CHECKPOINT_FORMAT:
            raise FileFormatError(f"{self.path} is not a phasesim Langevin checkpoint")
        if int(f.attrs["format_version"]) != CHECKPOINT_VERSION:
            raise FileFormatError(f"{self.path}: checkpoint format {f.attrs['format_version']} "
                                  f"is not supported (expected {CHECKPOINT_VERSION})")
        self.meta = json.loads(f.attrs["meta"])
        self.iteration = int(f.attrs["iteration"])
        self.units = {}
        for uid, ug in f["units"].items():
            st = {}
            _read_group(ug, "", st)
            self.units[uid] = st

    def discard(self):
        """Forget the run and remove the checkpoint file (a removal failure is a one-line
        :class:`~adaptive_kernel.errors.WriteError`)."""
        super().discard()
        self.saved_iteration = None
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else _one_line(exc)
            raise WriteError(f"cannot remove checkpoint {self.path}: {reason}", path=self.path,
                             errno=exc.errno) from None


def _one_line(text):
    return " ".join(str(text).split())


def _write_item(group, key, value):
    import h5py

    if isinstance(value, np.ndarray):
        group.create_dataset(key, data=value)
    elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        group.create_dataset(key, data=np.array(value, dtype=object), dtype=h5py.string_dtype())
    elif isinstance(value, str):
        group.attrs[key.replace("/", "|")] = value
    else:
        group.attrs[key.replace("/", "|")] = value


def _read_group(g, prefix, out):
    import h5py

    for k, v in g.attrs.items():
        out[prefix + k.replace("|", "/")] = v.item() if isinstance(v, np.generic) else v
    for k, v in g.items():
        if isinstance(v, h5py.Group):
            _read_group(v, prefix + k + "/", out)
        elif h5py.check_string_dtype(v.dtype) is not None:
            out[prefix + k] = [s.decode() if isinstance(s, bytes) else s for s in v[()]]
        else:
            out[prefix + k] = v[()]
