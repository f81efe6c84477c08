"""Safe output files and provenance, shared by every writer of the package.

* :func:`atomic_output` — write to a temporary name in the target folder and rename only
  when complete, so an interrupted or killed write leaves either nothing or the old file at
  the target path, never a truncated one; an existing file is replaced only with
  ``overwrite=True``.
* :func:`provenance` — the root attributes every HDF5 output carries.
* :func:`open_h5` — open a file for reading with a one-line error if it is not there.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import sys
import tempfile

from ._version import __version__
from .errors import FileFormatError, OutputExistsError


def open_h5(path):
    """Open an HDF5 file for reading; a missing or non-HDF5 file is a
    :class:`~adaptive_kernel.errors.FileFormatError` (one line, no traceback)."""
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(f"no such file: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FileFormatError(f"{path} is not an HDF5 file ({exc})") from None


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False):
    """Context manager yielding a temporary path; on success it is renamed to ``path``.

    Raises :class:`~adaptive_kernel.errors.OutputExistsError` if ``path`` exists (before or
    after the body ran) and ``overwrite`` is false. On any exception the temporary file is
    removed and the target is left untouched.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise OutputExistsError(f"output file {path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        if os.path.exists(path) and not overwrite:
            raise OutputExistsError(f"output file {path} appeared during the run; pass --overwrite")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def provenance(teacher: str, command: str | None = None, **extra) -> dict:
    """Root attributes of an output file: teacher, package and library versions, creation
    time (UTC, ISO 8601), the command line, host."""
    import h5py
    import numba
    import numpy as np
    import scipy

    attrs = {
        "teacher": teacher,
        "package_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "numba_version": numba.__version__,
        "h5py_version": h5py.__version__,
        "host": platform.node(),
    }
    attrs.update(extra)
    return attrs
