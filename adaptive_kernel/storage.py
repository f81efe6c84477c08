"""Safe output files and provenance, shared by every writer of the package.

* :func:`check_output_path` — refuse an output location *before* a computation starts:
  empty path, a folder as target, a parent that is a file or cannot be created, a folder
  that cannot be written (probed by creating and removing a small file, so it also holds
  for root, for whom permission bits do not apply, and on read-only file systems), a file
  name too long for the file system, an existing file without ``overwrite``. It also
  reports (and removes when safe) stale temporary files of ours next to the target.
* :func:`atomic_output` — write to a temporary name in the target folder and rename only
  when complete, so an interrupted, killed or failed write leaves either nothing or the old
  file at the target path, never a truncated one; an existing file is replaced only with
  ``overwrite=True``. Every :class:`OSError` (disk full, quota, read-only file system,
  permission denied, name too long, parent not a folder, ...) becomes a one-line
  :class:`~adaptive_kernel.errors.WriteError`, and the temporary file is always removed.
* :func:`h5_output` — the same for HDF5 files: h5py writes into an in-memory file image,
  which is then written to disk with plain system calls. HDF5 therefore never sees a failed
  disk write (HDF5 2.0 can crash with a segmentation fault when it closes a file whose
  writes failed, e.g. on a full disk), and a write error is an ordinary ``OSError``.
* :func:`write_bytes` — atomic write of a byte string (used by :func:`h5_output`).
* :func:`stale_temporaries`, :func:`clean_stale_temporaries` — find and remove temporary
  files that a killed writer left behind.
* :func:`provenance` — the root attributes every HDF5 output carries.
* :func:`open_h5` — open a file for reading with a one-line error if it is not there.
* :func:`refuse_existing` — the one "output exists" check (every writer goes through it).
* :func:`write_result` — the one writer of result files: root attributes (``kind``,
  provenance), then a ``fill(h5file)`` callback, through :func:`h5_output`;
  :func:`describe` (``description``/``units`` attributes of a dataset) and
  :func:`attach_scales` (HDF5 dimension scales, so netCDF readers see coordinates) are the
  helpers the fill callbacks use; :func:`py_value` turns attribute values back into Python.

Temporary files are named ``NAME.<pid>.<random>.tmp`` in the folder of ``NAME`` (``<pid>``
is the writing process, ``<random>`` 8 characters from :func:`tempfile.mkstemp`). One is
*stale* when its process is no longer running (or is this process, but the file is older
than this process's use of the module, i.e. a reused PID). Files of the older pattern
``NAME.<random>.tmp`` carry no PID; they count as stale once older than
:data:`OLD_STYLE_STALE_AFTER` seconds. On a folder shared between machines a PID says
nothing about the other machine's processes; there, run one writer per output file.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import re
import sys
import tempfile
import time
import uuid
import warnings

from ._version import __version__
from .errors import FileFormatError, OutputError, OutputExistsError, WriteError

TEMP_SUFFIX = ".tmp"
#: bytes a temporary name adds to the target's name: "." + pid (up to 7 digits) + "." + 8 + ".tmp"
TEMP_NAME_EXTRA = 1 + 7 + 1 + 8 + len(TEMP_SUFFIX)
#: age (seconds) after which an old-style temporary file (no PID in its name) counts as stale
OLD_STYLE_STALE_AFTER = 3600.0
_MODULE_LOADED = time.time()



def _one_line(text) -> str:
    return " ".join(str(text).split())


def _errno_of(exc):
    """The OS error number of ``exc`` (also parsed from h5py's ``errno = N`` messages)."""
    err = getattr(exc, "errno", None)
    if isinstance(err, int) and err > 0:
        return err
    m = re.search(r"errno = (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _reason(exc) -> str:
    err = _errno_of(exc)
    if err:
        return os.strerror(err)
    return _one_line(exc) or type(exc).__name__


def _is_io_runtime_error(exc) -> bool:
    """h5py reports some failed writes as RuntimeError ("file write failed ... errno = 28")."""
    text = str(exc)
    return "errno =" in text or "write failed" in text or "No space left" in text


def write_error(what: str, path, exc) -> WriteError:
    """A one-line :class:`~adaptive_kernel.errors.WriteError` for an OS-level failure ``exc``
    while writing ``what`` (e.g. ``"output file"``, ``"checkpoint"``) at ``path``."""
    return WriteError(f"cannot write {what} {os.fspath(path)}: {_reason(exc)}",
                      path=os.fspath(path), errno=_errno_of(exc))


# ---------------------------------------------------------------------------------------
# stale temporary files
# ---------------------------------------------------------------------------------------
def _temp_prefix(path) -> str:
    return f"{os.path.basename(path)}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def stale_temporaries(path):
    """Temporary files of ours next to ``path``, with a verdict on each.

    Parameters
    ----------
    path : str or os.PathLike
        The target file (it need not exist).

    Returns
    -------
    list of (str, int or None, bool, str)
        ``(temporary file, writer PID or None, stale, explanation)`` for every file in the
        target's folder whose name is ``NAME.<pid>.<random>.tmp`` or ``NAME.<random>.tmp``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = re.escape(os.path.basename(path))
    new = re.compile(rf"^{base}\.(\d+)\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}$")
    old = re.compile(rf"^{base}\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}$")
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    out = []
    now = time.time()
    for name in names:
        m = new.match(name)
        if m is None and old.match(name) is None:
            continue
        full = os.path.join(folder, name)
        try:
            st = os.stat(full)
        except OSError:
            continue
        if m is not None:
            pid = int(m.group(1))
            if pid == os.getpid():
                stale = st.st_mtime < _MODULE_LOADED
                why = ("left by an earlier process with this process's ID" if stale
                       else "being written by this process")
            elif _pid_alive(pid):
                stale, why = False, f"process {pid} is still running (another writer of the same file?)"
            else:
                stale, why = True, f"left by process {pid}, which is no longer running"
        else:
            pid = None
            age = now - st.st_mtime
            stale = age > OLD_STYLE_STALE_AFTER
            why = (f"no writer ID in the name, {age / 3600:.1f} h old" if stale
                   else "no writer ID in the name and less than an hour old")
        out.append((full, pid, stale, why))
    return out


def _size(nbytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000.0
    return ""  # pragma: no cover


def clean_stale_temporaries(path, report=None):
    """Report the temporary files of ours next to ``path`` and remove the stale ones.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    report : callable, optional
        Called with one line of text per temporary file found (default:
        :func:`warnings.warn`).

    Returns
    -------
    list of str
        The files removed.
    """
    if report is None:
        def report(msg):
            warnings.warn(msg, stacklevel=3)
    removed = []
    for tmp, _pid, stale, why in stale_temporaries(path):
        try:
            size = _size(os.path.getsize(tmp))
        except OSError:
            size = "?"
        if stale:
            try:
                os.remove(tmp)
            except FileNotFoundError:
                continue
            except OSError as exc:
                report(f"stale temporary file {tmp} ({size}, {why}) could not be removed: {_reason(exc)}")
                continue
            removed.append(tmp)
            report(f"removed stale temporary file {tmp} ({size}, {why})")
        else:
            report(f"temporary file {tmp} ({size}) left in place: {why}")
    return removed


# ---------------------------------------------------------------------------------------
# checking an output location
# ---------------------------------------------------------------------------------------
def _name_max(folder) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_output_path(path, overwrite: bool = False, what: str = "output file", report=None,
                      clean: bool = True) -> str:
    """Refuse an output location that cannot be written, before any computation starts.

    Creates the parent folder if it is missing (as the write would) and probes it by
    creating, writing one byte to and removing a small temporary file: this is the only
    test that holds for root (permission bits do not stop root) and on read-only mounts.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    overwrite : bool
        Whether an existing file may be replaced.
    what : str
        What the file is, for the messages (``"output file"``, ``"checkpoint"``, ...).
    report : callable, optional
        Receives one line per temporary file of ours found next to the target (see
        :func:`clean_stale_temporaries`; default :func:`warnings.warn`).
    clean : bool
        Whether to look for stale temporary files at all.

    Returns
    -------
    str
        ``path`` as a string.

    Raises
    ------
    adaptive_kernel.errors.OutputExistsError
        The file exists and ``overwrite`` is false.
    adaptive_kernel.errors.OutputError
        Any other refusal; the message is one line naming the path and the reason (exit
        code 2 on the command line).
    """
    if path is None:
        raise OutputError(f"no {what} given")
    try:
        path = os.fspath(path)
    except TypeError:
        raise OutputError(f"{what} must be a path; got {path!r}") from None
    if path == "" or not path.strip():
        raise OutputError(f"the {what} path is empty; give a file name")
    if "\0" in path:
        raise OutputError(f"the {what} path {path!r} contains a NUL character")
    base = os.path.basename(path)
    if base in ("", ".", "..") or path.endswith(os.sep):
        raise OutputError(f"the {what} path {path!r} names a folder, not a file")
    if os.path.isdir(path):
        raise OutputError(f"cannot write {what} {path}: it is a folder")
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f"{what} {path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    ancestor = folder
    while not os.path.exists(ancestor) and os.path.dirname(ancestor) != ancestor:
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise OutputError(f"cannot write {what} {path}: {ancestor} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: cannot create the folder {folder} "
                          f"({_reason(exc)})") from None
    limit = _name_max(folder)
    nbytes = len(os.fsencode(base))
    if nbytes + TEMP_NAME_EXTRA > limit:
        raise OutputError(f"cannot write {what} {path}: the file name is too long ({nbytes} bytes; "
                          f"at most {limit - TEMP_NAME_EXTRA} here, as the temporary name adds "
                          f"{TEMP_NAME_EXTRA})")
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: the folder {folder} is not writable "
                          f"({_reason(exc)})") from None
    try:
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(probe)
        raise OutputError(f"cannot write {what} {path}: writing in {folder} fails "
                          f"({_reason(exc)})") from None
    try:
        os.remove(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {what} {path}: files cannot be removed from {folder} "
                          f"({_reason(exc)})") from None
    if clean:
        clean_stale_temporaries(path, report)
    return path


# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------
def _exists_error(what, path, during=False):
    if during:
        return OutputExistsError(f"{what} {path} appeared during the run; pass --overwrite")
    return OutputExistsError(f"{what} {path} exists; pass --overwrite to replace it")


def refuse_existing(path, overwrite: bool = False, what: str = "output file") -> None:
    """The package's one "output exists" check: raise
    :class:`~adaptive_kernel.errors.OutputExistsError` (``"<what> <path> exists; pass
    --overwrite to replace it"``) when ``path`` exists and ``overwrite`` is false.

    Used by :func:`atomic_output`, :func:`h5_output` (so by every writer) and by the figure
    writer before it renders anything.
    """
    if not overwrite and os.path.exists(path):
        raise _exists_error(what, os.fspath(path))


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False, what: str = "output file"):
    """Context manager yielding a temporary path; on success it is renamed to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    overwrite : bool
        Whether an existing file may be replaced.
    what : str
        What the file is, for the messages.

    Raises
    ------
    adaptive_kernel.errors.OutputExistsError
        ``path`` exists (before or after the body ran) and ``overwrite`` is false.
    adaptive_kernel.errors.WriteError
        An :class:`OSError` while creating the temporary file, in the body (or an h5py
        ``RuntimeError`` reporting a failed write), or at the final rename: one line with
        the path and the reason (exit code 1 on the command line).

    Notes
    -----
    On any exception (also :class:`KeyboardInterrupt`) the temporary file is removed and
    the target is left untouched.
    """
    path = os.fspath(path)
    if not path:
        raise OutputError(f"the {what} path is empty; give a file name")
    refuse_existing(path, overwrite, what)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise write_error(what, path, exc) from None
    os.close(fd)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise write_error(what, path, exc) from None
        except RuntimeError as exc:
            if _is_io_runtime_error(exc):
                raise write_error(what, path, exc) from None
            raise
        if os.path.exists(path) and not overwrite:
            raise _exists_error(what, path, during=True)
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
            os.replace(tmp, path)
        except OSError as exc:
            raise write_error(what, path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_bytes(path, data, overwrite: bool = False, what: str = "output file") -> str:
    """Write ``data`` (bytes-like) atomically to ``path`` (see :func:`atomic_output`); the
    temporary file is flushed to disk (``fsync``) before the rename.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    adaptive_kernel.errors.OutputExistsError, adaptive_kernel.errors.WriteError
        As :func:`atomic_output`.
    """
    path = os.fspath(path)
    view = memoryview(data).cast("B")
    with atomic_output(path, overwrite, what) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            pos = 0
            while pos < len(view):
                pos += os.write(fd, view[pos:pos + (1 << 24)])
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


@contextlib.contextmanager
def h5_output(path, overwrite: bool = False, what: str = "output file"):
    """Context manager yielding an h5py file open for writing, kept in memory; when the body
    ends without an exception its image is written atomically to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The target file.
    overwrite : bool
        Whether an existing file may be replaced.
    what : str
        What the file is, for the messages.

    Raises
    ------
    adaptive_kernel.errors.OutputExistsError, adaptive_kernel.errors.WriteError
        As :func:`atomic_output`.

    Notes
    -----
    The in-memory file is closed in every case; nothing of it touches the disk unless the
    body succeeded. Memory use is the size of the file (outputs and checkpoints of this
    package are at most tens of MB).
    """
    import h5py

    path = os.fspath(path)
    refuse_existing(path, overwrite, what)
    f = h5py.File(f"phasesim-memory-{uuid.uuid4().hex}.h5", "w", driver="core", backing_store=False)
    try:
        yield f
        f.flush()
        image = f.id.get_file_image()
    finally:
        f.close()
    write_bytes(path, image, overwrite, what)


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
        raise FileFormatError(f"{path} is not an HDF5 file ({_one_line(exc)})") from None


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


def py_value(v):
    """An HDF5 attribute value as a plain Python value (bytes -> str, NumPy scalar -> int,
    float or bool); anything else unchanged."""
    import numpy as np

    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


# ---------------------------------------------------------------------------------------
# result files
# ---------------------------------------------------------------------------------------
def describe(dataset, description: str, units: str | None = None, **attrs):
    """Give an HDF5 dataset its one-line ``description`` and, where one applies, its ``units``
    (``"1"`` for dimensionless quantities), plus any further attributes (e.g. ``phase_codes``).
    Returns the dataset."""
    dataset.attrs["description"] = description
    if units is not None:
        dataset.attrs["units"] = units
    for k, v in attrs.items():
        dataset.attrs[k] = v
    return dataset


def attach_scales(group, *axes: str) -> None:
    """Make the datasets ``group[axes[0]], group[axes[1]], ...`` HDF5 dimension scales (named
    after themselves) and attach them, axis by axis, to every other dataset of ``group``
    whose shape is ``(len(group[axes[0]]), len(group[axes[1]]), ...)``.

    netCDF readers (h5netcdf, xarray's ``engine="h5netcdf"``) then see the scales as
    coordinates: ``xarray.open_dataset(path, group="scan", engine="h5netcdf")`` has
    ``sigma2`` as the coordinate of every 1-D dataset of the sweep. Datasets of other shapes
    are left alone; scales are attached only within their own group (netCDF does not see a
    dimension of a sibling group).
    """
    import h5py

    scales = [group[a] for a in axes]
    for name, scale in zip(axes, scales):
        if not scale.is_scale:
            scale.make_scale(name)
    shape = tuple(len(s) for s in scales)
    for ds in group.values():
        if isinstance(ds, h5py.Dataset) and not ds.is_scale and ds.shape == shape:
            for i, scale in enumerate(scales):
                ds.dims[i].attach_scale(scale)


def _describe_rest(f, kind: str) -> None:
    """A description for every dataset its writer left without one (the layout of each kind
    is documented in its writer's module docstring)."""
    import h5py

    missing = []
    f.visititems(lambda name, obj: missing.append(obj) if isinstance(obj, h5py.Dataset)
                 and "description" not in obj.attrs else None)
    for ds in missing:
        ds.attrs["description"] = (f"{ds.name.rsplit('/', 1)[-1]}: see the layout of '{kind}' "
                                   f"files in the docstring of their writer")


def write_result(path, kind: str, fill, overwrite: bool = False, command: str | None = None,
                 teacher: str = "", attrs: dict | None = None, what: str = "output file",
                 **root_attrs) -> str:
    """Write one phasesim result file: the one writer behind every ``to_hdf5``.

    The file is assembled in memory and written atomically by :func:`h5_output` (an existing
    file is replaced only with ``overwrite``; an I/O failure is a one-line
    :class:`~adaptive_kernel.errors.WriteError` and leaves an existing file untouched).

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    kind : str
        The root attribute ``kind`` (``scan``, ``phase_diagram``, ``langevin``, ...), which
        :func:`adaptive_kernel.kinds.load` dispatches on.
    fill : callable
        ``fill(h5file)`` writes the groups and datasets (ideally with :func:`describe` and
        :func:`attach_scales`); a dataset it leaves without a ``description`` gets a generic one.
    overwrite : bool
    command : str, optional
        The command line recorded in the file (default: ``sys.argv``).
    teacher : str
        Root attribute ``teacher``.
    attrs : dict, optional
        Root attributes carried over from the object written (a loaded file keeps its
        ``created``, ``command``, ... when written again); ``teacher`` and ``kind`` in it
        are ignored.
    what : str
        What the file is, for the messages.
    **root_attrs
        Further root attributes (``format_version``, ``phase_codes``, ...).

    Returns
    -------
    str
        ``path``.
    """
    path = os.fspath(path)
    with h5_output(path, overwrite, what) as f:
        root = provenance(teacher, command, **root_attrs)
        root.update({k: v for k, v in (attrs or {}).items() if k not in ("teacher", "kind")})
        root["kind"] = kind
        for k, v in root.items():
            f.attrs[k] = v
        fill(f)
        _describe_rest(f, kind)
    return path
