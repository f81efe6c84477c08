"""Fuzz table of the command line: every bad input, I/O fault and oversized run is refused
cleanly and nothing that was already on disk changes (issue 15).

Each row of ``CASES`` is one ``phasesim`` invocation (run in-process through click's
``CliRunner``, in a fresh copy of a small working folder) plus, for faults, a simulated
failure of the file system or an interrupt. For every row the test checks

* the exit code: 2 for bad input and usage errors, non-zero for I/O faults and interrupts;
* the message: after click's usage preamble (the ``Usage: ...`` and ``Try '... -h' for
  help.`` lines it prints before a usage error) exactly ONE non-empty line is left on stderr,
  and for usage errors it is click's ``Error: ...`` line. For faults, lines starting with
  ``WARNING`` (sampler-health or stale-file reports printed by a run that got as far as
  writing) are not counted;
* no traceback: no ``Traceback`` in stdout or stderr and no uncaught exception (CliRunner
  swallows uncaught exceptions into ``result.exception``; anything but ``SystemExit`` is a
  crash);
* nothing lost: every file in the working folder is hashed before and after; none may change
  or vanish, and a refused run may not leave new files (no output, checkpoint or ``*.tmp``);
* the command finishes: a watchdog (SIGALRM) stops a case that starts a huge computation,
  an address-space limit makes a huge allocation fail at once instead of swapping the
  machine, and worker pools are replaced by an in-process stand-in that records how many
  workers were asked for (``--jobs 1000`` must not start hundreds of processes).

Faults are simulated, because the suite runs as root (chmod does not stop root from
writing) and cannot mount a small tmpfs: a read-only folder is a folder in which every
attempt to create, open for writing, rename into or remove a file raises ``OSError`` with
EROFS (or EACCES), through ``builtins.open``/``io.open``, ``os.open``, ``os.replace``,
``os.rename``, ``os.mkdir``, ``os.remove`` and ``h5py.File`` in a write mode (in-memory
h5py images excepted); a nearly full disk (:class:`Disk`) has room for a few bytes (a
writability probe passes) but fails a data write with ENOSPC, at ``os.write``, in
``open(..., 'w')`` files and in h5py files written to disk, optionally only after N files
were renamed into place (so a Langevin run fails at its second checkpoint); Ctrl-C is a real
SIGINT sent to the test process in the middle of the computation or of a write. A case with
a fault also checks that the fault actually happened. Three ``control-*`` rows check that
reading from the 'read-only' folder still works.

Run time: about 25 s on 2 idle cores once every case passes (numba cache warm); a case that
starts a computation it should have refused costs the watchdog's 10 s.
"""
from __future__ import annotations

import builtins
import concurrent.futures
import errno
import hashlib
import io
import multiprocessing.process
import os
import re
import resource
import shutil
import signal
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Callable

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel.cli import main

WATCHDOG_S = 10          # a case that has not finished by then started a computation it should have refused
AS_HEADROOM = 6 << 30    # address space a case may add before an allocation fails (bytes)
NCPU = os.cpu_count() or 1

# ------------------------------------------------------------------------------------------
# tiny valid settings (each a fraction of a second once numba is warm)
# ------------------------------------------------------------------------------------------
MODADD = ["scan", "-q", "--teacher", "modadd", "--P", "5", "--N", "20", "--sigma2", "0.2:0.1:3", "-o", "new.h5"]
CUBIC = ["scan", "-q", "--teacher", "cubic", "--d", "10", "--n", "50", "--N", "20", "--sigma2", "0.3:0.2:2",
         "-o", "new.h5"]
VARY = MODADD + ["--vary", "gamma=1e-4,2e-4"]
RUN = ["--steps", "40", "--burn-in", "10", "--thin", "2", "--seeds", "2", "-q"]
LMOD = ["langevin", "--teacher", "modadd", "--P", "5", "--N", "6", "--sigma-a2", "0.02", "--gamma", "3",
        "--sigma2", "0.3", *RUN, "-o", "new.h5"]
LCUB = ["langevin", "--teacher", "cubic", "--N", "8", "--d", "4", "--n", "30", "--sigma-a2", "0.05",
        "--alpha", "1", "--beta", "1", "--n-test", "20", "--sigma2", "0.2", *RUN, "-o", "new.h5"]
PLOT = ["plot", "scan.h5", "-o", "new.png"]

LONG = "x" * 296 + ".h5"      # 299 characters: longer than any file system allows (255)
LONGISH = "y" * 250 + ".h5"   # fits, but OUTPUT.<random>.tmp and OUTPUT.ckpt do not


# ------------------------------------------------------------------------------------------
# the working folder (built once per module, copied for every case)
# ------------------------------------------------------------------------------------------
def _invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Input files every case may read: valid scan / --vary / Langevin files, files that are
    not what they claim to be, an existing output, a directory, a plain file to use as a
    parent, a 'read-only' subfolder (made read-only by the fault injection) and checkpoints."""
    root = tmp_path_factory.mktemp("fuzz_template")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for args, name in ((MODADD, "scan.h5"), (CUBIC, "cubic.h5"), (VARY, "vary.h5"), (LMOD, "langevin.h5"),
                           (LCUB, "langevin_cubic.h5")):   # (also compiles every kernel the cases run)
            r = _invoke(args + ["-o", name])
            assert r.exit_code == 0 and os.path.exists(name), (args, r.output, r.exception)
    finally:
        os.chdir(cwd)
    (root / "existing.h5").write_bytes(b"precious result, not an HDF5 file\n")
    (root / "existing.png").write_bytes(b"precious figure\n")
    (root / "notes.txt").write_text("plain text\n")
    (root / "text.h5").write_text("this is not an HDF5 file\n")
    (root / "empty.h5").write_bytes(b"")
    data = (root / "scan.h5").read_bytes()
    (root / "truncated.h5").write_bytes(data[: len(data) // 2])
    with h5py.File(root / "wrong_layout.h5", "w") as f:
        f.create_group("something_else").create_dataset("x", data=np.arange(3))
    with h5py.File(root / "scan_group_empty.h5", "w") as f:
        f.attrs["teacher"] = "modadd"
        f.create_group("scan")
    with h5py.File(root / "langevin_group_empty.h5", "w") as f:
        f.attrs["teacher"] = "cubic"
        f.attrs["kind"] = "langevin"
        f.create_group("langevin")
    (root / "adir.h5").mkdir()
    (root / "adir.h5" / "inside.txt").write_text("a file in a directory named like an output\n")
    (root / "afile").write_text("a plain file used as if it were a folder\n")
    (root / "ro").mkdir()
    shutil.copy(root / "scan.h5", root / "ro" / "scan.h5")
    shutil.copy(root / "langevin.h5", root / "ro" / "langevin.h5")
    (root / "ro" / "keep.txt").write_text("must survive\n")
    # an unfinished run with other settings (3 seeds instead of 2) left other.h5.ckpt
    from adaptive_kernel.registry import get_teacher
    from simulations.backends import HDFBackend
    from simulations.langevin import LangevinConfig, run_langevin

    p = get_teacher("modadd").make_params(P=5, N=6, sigma_a2=0.02, gamma=3.0)
    cfg = LangevinConfig("modadd", p, [0.3], steps=40, burn_in=10, thin=2, seeds=3)
    with pytest.raises(KeyboardInterrupt):
        run_langevin(cfg, HDFBackend(str(root / "other.h5.ckpt")), checkpoint_every=20, stop_after_segments=1)
    assert (root / "other.h5.ckpt").exists()
    (root / "corrupt.h5.ckpt").write_text("not a checkpoint\n")
    return root


def _snapshot(folder):
    """{relative path: sha256} of every file, {relative path/: None} of every folder."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d)) + "/"] = None
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as fh:
                out[os.path.normpath(os.path.join(rel, fn))] = hashlib.sha256(fh.read()).hexdigest()
    return out


# ------------------------------------------------------------------------------------------
# fault injection
# ------------------------------------------------------------------------------------------
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_H5_WRITE_MODES = ("w", "w-", "x", "a", "r+")


class Hooks:
    """What a case's fault hooks observed (filled in while the command runs)."""

    def __init__(self, work):
        self.work = str(work)
        self.computed = 0          # calls of the solver sweep / Langevin segment
        self.workers = []          # max_workers asked of a process pool
        self.processes = 0         # processes actually started
        self.signalled = 0         # SIGINTs delivered
        self.replaces = 0          # files renamed into place in the working folder
        self.armed = False         # a simulated fault was set up ...
        self.fired = False         # ... and happened


def _inside(path, folder):
    try:
        p = os.fsdecode(os.fspath(path))
    except TypeError:
        return False
    full = os.path.realpath(os.path.abspath(p))
    folder = os.path.realpath(folder)
    return full == folder or full.startswith(folder + os.sep)


def _oserr(code, path):
    return OSError(code, os.strerror(code), os.fsdecode(os.fspath(path)))


def read_only(sub="ro", code=errno.EROFS):
    """The folder ``sub`` of the working folder (and everything below) refuses every write."""

    def apply(mp, work, hooks):
        hooks.armed = True
        folder = os.path.join(work, sub)

        def _err(code_, path):
            hooks.fired = True
            return _oserr(code_, path)
        real_open, real_os_open = builtins.open, os.open
        real = {n: getattr(os, n) for n in ("replace", "rename", "link", "symlink", "mkdir", "remove", "unlink",
                                           "rmdir", "chmod", "utime", "truncate")}

        def fake_open(file, mode="r", *a, **k):
            if not isinstance(file, int) and any(c in mode for c in "wax+") and _inside(file, folder):
                raise _err(code, file)
            return real_open(file, mode, *a, **k)

        def fake_os_open(path, flags, *a, **k):
            if flags & _WRITE_FLAGS and _inside(path, folder):
                raise _err(code, path)
            return real_os_open(path, flags, *a, **k)

        def guard(name):
            fn = real[name]

            def wrapped(*a, **k):
                paths = a[:2] if name in ("replace", "rename", "link", "symlink") else a[:1]
                for p in paths:
                    if not isinstance(p, int) and _inside(p, folder):
                        raise _err(code, p)
                return fn(*a, **k)

            return wrapped

        real_access = os.access

        def fake_access(path, mode, *a, **k):
            if mode & os.W_OK and _inside(path, folder):
                return False
            return real_access(path, mode, *a, **k)

        class File(h5py.File):
            def __init__(self, name, mode="r", *a, **k):
                if mode in _H5_WRITE_MODES and not _in_memory(mode, k) and _inside(name, folder):
                    raise _err(code, name)
                super().__init__(name, mode, *a, **k)

        mp.setattr(builtins, "open", fake_open)
        mp.setattr(io, "open", fake_open)
        mp.setattr(os, "open", fake_os_open)
        mp.setattr(os, "access", fake_access)
        for n in real:
            mp.setattr(os, n, guard(n))
        mp.setattr(h5py, "File", File)

    return apply


def _in_memory(mode, kw):
    """An h5py file image kept in memory (driver='core' without backing store) touches no disk."""
    return kw.get("driver") == "core" and not kw.get("backing_store", True)


class _FullFile:
    """A file opened for writing with ``open``: its writes go through :meth:`Disk.write`."""

    def __init__(self, fh, path, disk):
        self._fh, self._path, self._disk = fh, path, disk

    def write(self, data):
        self._disk.charge(len(data), self._path)
        return self._fh.write(data)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()

    def __iter__(self):
        return iter(self._fh)

    def __getattr__(self, name):
        return getattr(self._fh, name)


class Disk:
    """A small disk: once ``after`` files have been renamed into place in the working folder
    (every atomic write ends with a rename), at most ``room`` more bytes can be written there;
    the write that would exceed it fails with ENOSPC, or, with ``interrupt``, gets a SIGINT
    (Ctrl-C) instead and goes on."""

    def __init__(self, hooks, room, after, interrupt):
        self.hooks, self.room, self.after, self.interrupt = hooks, room, after, interrupt
        self.used = 0
        self.fired = False

    def charge(self, nbytes, path):
        if self.hooks.replaces < self.after or (self.interrupt and self.fired):
            return
        self.used += nbytes
        if self.used > self.room:
            self.fired = self.hooks.fired = True
            if self.interrupt:
                self.hooks.signalled += 1
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.2)
            else:
                raise _oserr(errno.ENOSPC, path)


def disk_full(room=4096, after=0, interrupt=False):
    """The working folder is on a nearly full disk (see :class:`Disk`): small probes succeed,
    a data file does not. The write is caught at every level a writer may use: ``os.write``
    on a file descriptor in the folder, ``open(..., 'w')`` files, and HDF5 files written to
    disk by h5py (which count as larger than any room left)."""

    def apply(mp, work, hooks):
        hooks.armed = True
        disk = Disk(hooks, room, after, interrupt)
        real_open, real_write = builtins.open, os.write
        real_replace, real_rename = os.replace, os.rename

        def fd_path(fd):
            try:
                return os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                return None

        def fake_write(fd, data):
            p = fd_path(fd)
            if p is not None and _inside(p, work):
                disk.charge(len(data), p)
            return real_write(fd, data)

        def counted(fn):
            def wrapped(src, dst, *a, **k):
                out = fn(src, dst, *a, **k)
                if _inside(dst, work):
                    hooks.replaces += 1
                return out
            return wrapped

        class File(h5py.File):
            def __init__(self, name, mode="r", *a, **k):
                if mode in _H5_WRITE_MODES and not _in_memory(mode, k) and _inside(name, work):
                    if hooks.replaces >= after and not (interrupt and disk.fired):
                        with real_open(name, "wb") as fh:   # the partial file a full disk leaves
                            fh.write(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
                        disk.charge(room + 1, name)
                super().__init__(name, mode, *a, **k)

        def fake_open(file, mode="r", *a, **k):
            fh = real_open(file, mode, *a, **k)
            if not isinstance(file, int) and any(c in mode for c in "wa+") and _inside(file, work):
                return _FullFile(fh, file, disk)
            return fh

        mp.setattr(h5py, "File", File)
        mp.setattr(builtins, "open", fake_open)
        mp.setattr(io, "open", fake_open)
        mp.setattr(os, "write", fake_write)
        mp.setattr(os, "replace", counted(real_replace))
        mp.setattr(os, "rename", counted(real_rename))

    return apply


def sigint_during_compute():
    """A real SIGINT arrives while the sigma2 sweep runs."""

    def apply(mp, work, hooks):
        from adaptive_kernel import solver

        real = solver.sweep
        hooks.armed = True

        def sweep(*a, **k):
            hooks.signalled += 1
            hooks.fired = True
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
            return real(*a, **k)

        mp.setattr(solver, "sweep", sweep)

    return apply


def count_compute(mp, hooks):
    """Count solver sweeps and Langevin segments (to check that a refused run computed nothing)."""
    from adaptive_kernel import solver
    from simulations import langevin

    real_sweep, real_advance = solver.sweep, langevin._advance_task

    def sweep(*a, **k):
        hooks.computed += 1
        return real_sweep(*a, **k)

    def advance(*a, **k):
        hooks.computed += 1
        return real_advance(*a, **k)

    mp.setattr(solver, "sweep", sweep)
    mp.setattr(langevin, "_advance_task", advance)


class _SerialPool:
    """Stand-in for ProcessPoolExecutor: records the worker count, runs tasks in-process."""

    hooks = None

    def __init__(self, max_workers=None, *a, **k):
        _SerialPool.hooks.workers.append(max_workers if max_workers is not None else NCPU)

    def submit(self, fn, *a, **k):
        fut = Future()
        try:
            fut.set_result(fn(*a, **k))
        except Exception as exc:  # noqa: BLE001 (handed to the caller, as a real pool does)
            fut.set_exception(exc)
        return fut

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        return iter([fn(*a) for a in zip(*iterables)])

    def shutdown(self, wait=True, *, cancel_futures=False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


# ------------------------------------------------------------------------------------------
# the table
# ------------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    args: list
    expect: str = "usage"        # usage | fault | warn | ok | usage_or_ok | fault_or_ok
    match: str | None = None     # regex (case-insensitive) the message line must contain
    fault: Callable | None = None
    new_ok: tuple = ()           # glob patterns of files a successful run may create
    changed_ok: tuple = ()       # pre-existing files that may change or go
    no_compute: bool = False     # the refusal must come before any computation
    check: Callable | None = None  # extra check(work, result, hooks)


def _ckpt_intact(name, iteration):
    def check(work, r, hooks):
        from simulations.backends import HDFBackend

        be = HDFBackend(os.path.join(work, name))
        assert be.exists(), f"the last complete checkpoint {name} was not kept"
        meta, it, units = be.load()
        assert it == iteration and units, (it, iteration)
    return check


def _resume_after(name, iteration):
    """The checkpoint left by a failed run is intact, and --resume finishes the run."""
    def check(work, r, hooks):
        _ckpt_intact(name + ".ckpt", iteration)(work, r, hooks)
        args = LMOD[:-1] + [name, "--steps", "60", "--checkpoint-every", "20", "--resume"]
        r2 = _invoke(args)
        assert r2.exit_code == 0, ("--resume after the fault failed", r2.output, r2.exception)
        assert os.path.exists(os.path.join(work, name))
        assert not os.path.exists(os.path.join(work, name + ".ckpt"))
    return check


def _reports_stale(name):
    def check(work, r, hooks):
        assert name in r.stderr or re.search(r"(?i)stale|left.?over|temporary", r.stderr), (
            f"the stale temporary file {name} was not reported on stderr: {r.stderr!r}")
    return check


def _few_workers(work, r, hooks):
    assert hooks.processes <= NCPU, f"{hooks.processes} processes started on {NCPU} CPUs"
    asked = max(hooks.workers, default=1)
    assert asked <= min(NCPU, 2), f"a pool of {asked} workers was asked for 2 units of work on {NCPU} CPUs"


def _exact_if_written(work, r, hooks):
    """A sigma2 the code accepts must be solved: every point converged (not NaN with a warning)."""
    if r.exit_code == 0:
        from adaptive_kernel import load

        res = load(os.path.join(work, "new.h5"))
        bad = int(np.sum(~np.asarray(res.scan["converged"], bool)))
        assert bad == 0, (f"sigma2 accepted but {bad} point(s) not converged (stored as NaN): refuse it "
                          "with the limit named, or solve it")


def _flagged_in_file(work, r, hooks):
    if r.exit_code == 0:
        assert os.path.exists(os.path.join(work, "new.h5"))


def _stale(name, age_s=2 * 86400):
    def apply(mp, work, hooks):
        p = os.path.join(work, name)
        with open(p, "wb") as fh:
            fh.write(b"\x89HDF\r\n\x1a\n half-written by a killed run")
        t = time.time() - age_s
        os.utime(p, (t, t))
    return apply


def C(id, args, expect="usage", **kw):
    m = kw.get("match")
    if m and re.fullmatch(r"-*[A-Za-z_][A-Za-z0-9_-]*", m):
        kw["match"] = _m(m)
    return Case(id, [str(a) for a in args], expect, **kw)


def _m(name):
    """Regex naming a parameter: short names case-sensitively as a word, '_' or '-' alike."""
    name = name.lstrip("-").replace("-", "_")
    if len(name) <= 2:
        return rf"(?-i:\b{name}\b)"
    return name.replace("_", "[_-]")


P89 = str(2 ** 89 - 1)   # a Mersenne prime: trial division would never finish
BIG = str(10 ** 30)

CASES = [
    # --- top-level group and click usage ------------------------------------------------
    C("main-unknown-command", ["frobnicate"]),
    C("main-unknown-option", ["--bogus"]),
    C("scan-unknown-option", ["scan", "--bogus"]),
    C("scan-extra-argument", ["scan", "-q", "extra"]),
    C("info-no-file", ["info"]),
    C("info-two-files", ["info", "scan.h5", "cubic.h5"]),
    C("plot-no-file", ["plot"]),
    C("langevin-no-sigma2", [a for a in LMOD if a not in ("--sigma2", "0.3")], match="sigma2"),

    # --- scan, modadd: the table ------------------------------------------------
    C("scan-modadd-sigma2-1e-12", MODADD + ["--sigma2", "1e-12"], "usage_or_ok", match="sigma2", new_ok=("new.h5",),
      check=_exact_if_written),
    C("scan-modadd-N-1e30", MODADD + ["--N", BIG], match="N"),
    C("scan-modadd-sigma2-grid-1e7", MODADD + ["--sigma2", "0.3:0.1:10000000"], match="sigma2|points|grid"),
    C("scan-modadd-o-empty", MODADD + ["-o", ""]),
    C("scan-modadd-o-read-only", MODADD + ["-o", "ro/new.h5"], "fault", fault=read_only(), no_compute=True),
    C("scan-modadd-o-access-denied", MODADD + ["-o", "ro/new.h5"], "fault",
      fault=read_only(code=errno.EACCES), no_compute=True),
    C("scan-modadd-o-uncreatable-parent", MODADD + ["-o", "ro/sub/new.h5"], "fault", fault=read_only(),
      no_compute=True),
    C("scan-modadd-o-parent-is-file", MODADD + ["-o", "afile/new.h5"], "fault", no_compute=True),
    C("scan-modadd-o-300-chars", MODADD + ["-o", LONG], "fault", no_compute=True),
    C("scan-modadd-o-253-chars", MODADD + ["-o", LONGISH], "fault_or_ok", new_ok=(LONGISH,)),
    C("scan-modadd-o-directory", MODADD + ["-o", "adir.h5"]),
    C("scan-modadd-o-existing", MODADD + ["-o", "existing.h5"], match="overwrite", no_compute=True),
    C("scan-modadd-disk-full", MODADD, "fault", fault=disk_full()),
    C("scan-modadd-disk-full-no-room", MODADD, "fault", fault=disk_full(room=0)),
    C("scan-modadd-sigint-during-compute", MODADD, "fault", fault=sigint_during_compute()),
    C("scan-modadd-sigint-during-write", MODADD, "fault", fault=disk_full(interrupt=True)),
    C("scan-modadd-stale-tmp", MODADD, "ok", fault=_stale("new.h5.k3j9x2qa.tmp"),
      new_ok=("new.h5",), changed_ok=("new.h5.k3j9x2qa.tmp",), check=_reports_stale("new.h5.k3j9x2qa.tmp")),

    # --- scan, modadd: malformed grids --------------------------------------------------
    *[C(f"scan-modadd-sigma2={g or 'empty'}", MODADD + ["--sigma2", g], match="sigma2")
      for g in ("a:b:c", "0.3:0.1:0", "0.3:0.1:-5", "nan", "inf", "-inf", "1e400", "0.2:0.2:3", "0.3:0.1",
                "0.3:0.1:2.5", "0.3:-0.1:3", "", "0", "-0.2")],
    # --- scan, modadd: physics options ---------------------------------------------------
    *[C(f"scan-modadd-{opt}={v}", MODADD + [opt, v], match=opt.lstrip("-").replace("-", "_"))
      for opt, vals in (("--sigma-a2", ("-1", "0", "nan", "inf")), ("--gamma", ("-1e-4", "0", "nan", "inf")),
                        ("--N", ("0", "-5")), ("--P", ("9", "3", "2", "0", "-7", "1000000")))
      for v in vals],
    C("scan-modadd-P-huge-prime", MODADD + ["--P", P89], match="P"),
    C("scan-modadd-N-float", MODADD + ["--N", "20.5"], match="N"),
    *[C(f"scan-modadd-foreign-{o}", MODADD + [o, v], match="apply")
      for o, v in (("--eps", "0.1"), ("--d", "30"), ("--modes", "2"), ("--sigma-w2", "0.5"))],
    C("scan-unknown-teacher", MODADD + ["--teacher", "quartic"], match="teacher"),
    C("scan-modadd-unknown-method", MODADD + ["--method", "quadrature"], match="method"),
    C("scan-modadd-unknown-normalization", MODADD + ["--normalization", "other"], match="normalization"),
    C("scan-modadd-unknown-action", MODADD + ["--action", "none"], match="action"),
    C("scan-modadd-full-action-paper-norm", MODADD + ["--action", "full", "--normalization", "paper"],
      match="normalization|action"),

    # --- scan, cubic ----------------------------------------------------------------------
    C("scan-cubic-sigma2-1e-12", CUBIC + ["--sigma2", "1e-12"], "usage_or_ok", match="sigma2", new_ok=("new.h5",),
      check=_exact_if_written),
    C("scan-cubic-N-1e30", CUBIC + ["--N", BIG], match="N"),
    C("scan-cubic-d-1e30", CUBIC + ["--d", BIG], match="d"),
    C("scan-cubic-sigma2-grid-1e7", CUBIC + ["--sigma2", "0.3:0.1:10000000"], match="sigma2|points|grid"),
    C("scan-cubic-o-read-only", CUBIC + ["-o", "ro/new.h5"], "fault", fault=read_only(), no_compute=True),
    C("scan-cubic-disk-full", CUBIC, "fault", fault=disk_full()),
    *[C(f"scan-cubic-{opt}={v}", CUBIC + [opt, v], match=opt.lstrip("-").replace("-", "_"))
      for opt, vals in (("--d", ("0", "-3")), ("--n", ("0", "-1")), ("--N", ("0",)),
                        ("--sigma-w2", ("0", "-1", "nan", "inf")), ("--sigma-a2", ("nan", "inf", "-1")),
                        ("--eps", ("nan", "inf")), ("--alpha", ("0", "-1", "inf")), ("--beta", ("0", "nan")),
                        ("--modes", ("0", "9")))
      for v in vals],
    *[C(f"scan-cubic-foreign-{o}", CUBIC + [o, v], match="apply")
      for o, v in (("--P", "7"), ("--gamma", "1e-4"), ("--normalization", "paper"), ("--action", "full"))],
    C("scan-cubic-modadd-method", CUBIC + ["--method", "exact"], match="method"),

    # --- scan --vary ------------------------------------------------------------------------
    C("vary-unknown-name", MODADD + ["--vary", "foo=1:2:3"], match="vary|foo"),
    C("vary-sigma2-itself", MODADD + ["--vary", "sigma2=0.1:0.2:3"], match="vary|sigma2"),
    C("vary-bad-grid", MODADD + ["--vary", "gamma=a:b:c"], match="gamma|vary"),
    C("vary-no-equals", MODADD + ["--vary", "gamma"], match="vary"),
    C("vary-negative-values", MODADD + ["--vary", "gamma=-1e-4:1e-4:3"], match="gamma"),
    C("vary-nan-value", MODADD + ["--vary", "gamma=1e-4,nan"], match="gamma"),
    C("vary-repeated", MODADD + ["--vary", "gamma=1e-4,1e-4"], match="gamma|repeat"),
    C("vary-nonprime-P", [a for a in MODADD if a not in ("--P", "5")] + ["--vary", "P=5,6"], match="P"),
    C("vary-and-option-both", MODADD + ["--vary", "gamma=1e-4,2e-4", "--gamma", "1e-4"], match="gamma"),
    C("vary-huge-grid", MODADD + ["--vary", "gamma=1e-4:2e-4:100000"], match="gamma|points|grid|vary"),
    C("vary-cubic-foreign-name", CUBIC + ["--vary", "gamma=1e-4,2e-4"], match="gamma|vary"),
    C("vary-cubic-eps-inf", CUBIC + ["--vary", "eps=-0.3,inf"], match="eps"),
    C("vary-o-existing", VARY + ["-o", "existing.h5"], match="overwrite", no_compute=True),
    C("vary-o-read-only", VARY + ["-o", "ro/new.h5"], "fault", fault=read_only(), no_compute=True),

    # --- langevin: the table ------------------------------------------------------
    C("langevin-cubic-N-1e9", LCUB + ["--N", "1000000000"], match=r"memory|[0-9.]+\s*[KMGTPE]i?B"),
    C("langevin-cubic-d-1e7", LCUB + ["--d", "10000000"], match=r"memory|[0-9.]+\s*[KMGTPE]i?B"),
    C("langevin-cubic-n-1e12", LCUB + ["--n", "1000000000000"], match=r"memory|[0-9.]+\s*[KMGTPE]i?B|\bn\b"),
    C("langevin-cubic-seeds-1e9", LCUB + ["--seeds", "1000000000"], match=r"memory|seeds|[KMGTPE]i?B"),
    C("langevin-modadd-steps-1e12-thin-1", LMOD + ["--steps", "1000000000000", "--thin", "1"],
      match=r"memory|steps|[KMGTPE]i?B"),
    C("langevin-modadd-jobs-1000", LMOD + ["--jobs", "1000"], "usage_or_ok", new_ok=("new.h5",), check=_few_workers),
    C("langevin-modadd-seed-2**70", LMOD + ["--seed", str(2 ** 70)], match="seed"),
    C("langevin-modadd-step-size-100-no-adapt", LMOD + ["--step-size", "100", "--no-adapt"], "warn",
      new_ok=("new.h5",), check=_flagged_in_file),
    C("langevin-modadd-o-empty", LMOD + ["-o", ""]),
    C("langevin-modadd-o-read-only", LMOD + ["-o", "ro/new.h5"], "fault", fault=read_only(), no_compute=True),
    C("langevin-cubic-o-read-only", LCUB + ["-o", "ro/new.h5"], "fault", fault=read_only(code=errno.EACCES),
      no_compute=True),
    C("langevin-modadd-o-parent-is-file", LMOD + ["-o", "afile/new.h5"], "fault", no_compute=True),
    C("langevin-modadd-o-300-chars", LMOD + ["-o", LONG], "fault", no_compute=True),
    C("langevin-modadd-o-253-chars", LMOD + ["-o", LONGISH], "fault_or_ok", new_ok=(LONGISH,)),
    C("langevin-modadd-disk-full", LMOD, "fault", fault=disk_full(), new_ok=("new.h5.ckpt",)),
    C("langevin-cubic-disk-full-no-room", LCUB, "fault", fault=disk_full(room=0)),
    C("langevin-modadd-disk-full-at-2nd-checkpoint",
      LMOD + ["--steps", "60", "--checkpoint-every", "20"], "fault", fault=disk_full(after=1),
      new_ok=("new.h5.ckpt",), check=_resume_after("new.h5", 20)),
    C("langevin-modadd-sigint-at-2nd-checkpoint",
      LMOD + ["--steps", "60", "--checkpoint-every", "20"], "fault", fault=disk_full(after=1, interrupt=True),
      new_ok=("new.h5.ckpt",), check=_ckpt_intact("new.h5.ckpt", 20)),
    C("langevin-modadd-stale-tmp", LMOD, "ok", fault=_stale("new.h5.ckpt.7f2kq0zz.tmp"),
      new_ok=("new.h5",), changed_ok=("new.h5.ckpt.7f2kq0zz.tmp",), check=_reports_stale("new.h5.ckpt.7f2kq0zz.tmp")),
    C("langevin-modadd-o-existing", LMOD + ["-o", "existing.h5"], match="overwrite", no_compute=True),
    C("langevin-modadd-o-directory", LMOD + ["-o", "adir.h5"]),

    # --- langevin: sampler settings ---------------------------------------------------------
    C("langevin-modadd-burn-in-eq-steps", LMOD + ["--burn-in", "40"], match="burn"),
    C("langevin-modadd-burn-in-gt-steps", LMOD + ["--burn-in", "400"], match="burn"),
    C("langevin-modadd-burn-in-negative", LMOD + ["--burn-in", "-1"], match="burn"),
    C("langevin-modadd-thin-0", LMOD + ["--thin", "0"], match="thin"),
    C("langevin-modadd-thin-negative", LMOD + ["--thin", "-2"], match="thin"),
    C("langevin-modadd-seeds-0", LMOD + ["--seeds", "0"], match="seeds"),
    C("langevin-modadd-seeds-negative", LMOD + ["--seeds", "-2"], match="seeds"),
    C("langevin-modadd-steps-0", LMOD + ["--steps", "0", "--burn-in", "0"], match="steps"),
    C("langevin-modadd-time-blocks-too-many", LMOD + ["--time-blocks", "1000"], match="time.blocks|samples"),
    C("langevin-modadd-time-blocks-0", LMOD + ["--time-blocks", "0"], match="time.blocks"),
    *[C(f"langevin-modadd-step-size={v}", LMOD + ["--step-size", v], match="step.size")
      for v in ("0", "-1", "nan", "inf")],
    C("langevin-modadd-jobs-0", LMOD + ["--jobs", "0"], match="jobs"),
    C("langevin-modadd-jobs-negative", LMOD + ["--jobs", "-4"], match="jobs"),
    C("langevin-modadd-checkpoint-every-0", LMOD + ["--checkpoint-every", "0"], match="checkpoint"),
    C("langevin-modadd-seed-negative", LMOD + ["--seed", "-1"], match="seed"),
    C("langevin-modadd-dtype-float16", LMOD + ["--dtype", "float16"], match="dtype"),
    C("langevin-modadd-unknown-integrator", LMOD + ["--integrator", "rk4"], match="integrator"),
    C("langevin-modadd-resume-no-checkpoint", LMOD + ["--resume"], match="resume|checkpoint", no_compute=True),
    C("langevin-modadd-resume-other-settings", LMOD + ["-o", "other.h5", "--resume"], match="setting",
      no_compute=True),
    C("langevin-modadd-checkpoint-blocks", LMOD + ["-o", "other.h5"], match="resume|checkpoint", no_compute=True),
    C("langevin-modadd-resume-corrupt-checkpoint", LMOD + ["-o", "corrupt.h5", "--resume"],
      match="checkpoint|corrupt", no_compute=True),
    # --- langevin: physics ---------------------------------------------------------------------
    *[C(f"langevin-modadd-{o}={v}", LMOD + [o, v], match=m)
      for o, v, m in (("--P", "9", "P"), ("--P", "3", "P"), ("--P", P89, "P"), ("--N", "0", "N"),
                      ("--gamma", "nan", "gamma"), ("--gamma", "-1", "gamma"), ("--sigma-a2", "0", "sigma_a2"),
                      ("--sigma-a2", "inf", "sigma_a2"), ("--sigma2", "nan", "sigma2"),
                      ("--sigma2", "-0.1", "sigma2"),
                      ("--sigma2", "0.3:0.1:0", "sigma2"), ("--eps", "0.1", "apply"), ("--d", "10", "apply"),
                      ("--method", "foo", "method"))],
    *[C(f"langevin-cubic-{o}={v}", LCUB + [o, v], match=m)
      for o, v, m in (("--sigma-w2", "nan", "sigma_w2"), ("--sigma-w2", "0", "sigma_w2"), ("--alpha", "0", "alpha"),
                      ("--beta", "-1", "beta"), ("--eps", "inf", "eps"), ("--d", "0", "d"), ("--n", "-1", "n"),
                      ("--n-test", "0", "n.test"), ("--n-test", "1000000000000", r"n.test|memory|[KMGTPE]i?B"),
                      ("--modes", "0", "modes"), ("--method", "exact", "method"),
                      ("--P", "7", "apply"), ("--gamma", "1", "apply"), ("--normalization", "paper", "apply"),
                      ("--sigma2", "inf", "sigma2"), ("--sigma2", "0.2:0.1", "sigma2"))],
    C("langevin-modadd-sigma2-1e-12", LMOD + ["--sigma2", "1e-12"], "usage_or_ok", match="sigma2",
      new_ok=("new.h5",)),
    C("langevin-unknown-teacher", LMOD + ["--teacher", "quartic"], match="teacher"),

    # --- plot -------------------------------------------------------------------------------
    C("plot-landscape-sigma2-negative-nan", PLOT + ["--kind", "landscape", "--sigma2", "-1,nan"], match="sigma2"),
    C("plot-landscape-sigma2-text", PLOT + ["--kind", "landscape", "--sigma2", "abc"], match="sigma2"),
    C("plot-landscape-sigma2-inf", PLOT + ["--kind", "landscape", "--sigma2", "inf"], match="sigma2"),
    C("plot-order-with-sigma2", PLOT + ["--kind", "order", "--sigma2", "0.2"], match="sigma2|landscape"),
    C("plot-missing-file", ["plot", "nothere.h5", "-o", "new.png"], match="nothere"),
    C("plot-text-file", ["plot", "text.h5", "-o", "new.png"], match="text.h5"),
    C("plot-empty-file", ["plot", "empty.h5", "-o", "new.png"], match="empty.h5"),
    C("plot-truncated-hdf5", ["plot", "truncated.h5", "-o", "new.png"], match="truncated.h5"),
    C("plot-wrong-layout", ["plot", "wrong_layout.h5", "-o", "new.png"], match="wrong_layout.h5"),
    C("plot-scan-group-empty", ["plot", "scan_group_empty.h5", "-o", "new.png"], match="scan_group_empty.h5"),
    C("plot-langevin-group-empty", ["plot", "langevin_group_empty.h5", "-o", "new.png"],
      match="langevin_group_empty.h5"),
    C("plot-directory", ["plot", "adir.h5", "-o", "new.png"], match="adir"),
    C("plot-checkpoint-file", ["plot", "other.h5.ckpt", "-o", "new.png"], match="other.h5.ckpt"),
    C("plot-unknown-kind", PLOT + ["--kind", "surface"], match="kind"),
    C("plot-phase-of-scan", PLOT + ["--kind", "phase"], match="phase|grid"),
    C("plot-langevin-of-scan", PLOT + ["--kind", "langevin"], match="langevin"),
    C("plot-landscape-of-langevin", ["plot", "langevin.h5", "--kind", "landscape", "-o", "new.png"],
      match="landscape|scan"),
    C("plot-o-bmp", PLOT + ["-o", "new.bmp"], match=r"\.png"),
    C("plot-o-no-extension", PLOT + ["-o", "new"], match=r"\.png"),
    C("plot-o-empty", PLOT + ["-o", ""]),
    C("plot-o-existing", PLOT + ["-o", "existing.png"], match="overwrite"),
    C("plot-o-directory", PLOT + ["-o", "adir.h5"]),
    C("plot-o-read-only", PLOT + ["-o", "ro/new.png"], "fault", fault=read_only()),
    C("plot-default-output-in-read-only-folder", ["plot", "ro/scan.h5"], "fault", fault=read_only()),
    C("plot-langevin-default-output-read-only", ["plot", "ro/langevin.h5"], "fault",
      fault=read_only(code=errno.EACCES)),
    C("plot-o-parent-is-file", PLOT + ["-o", "afile/new.png"], "fault"),
    C("plot-o-300-chars", PLOT + ["-o", "z" * 296 + ".png"], "fault"),
    C("plot-disk-full", PLOT, "fault", fault=disk_full()),
    C("plot-disk-full-svg", PLOT + ["-o", "new.svg"], "fault", fault=disk_full()),
    C("vary-disk-full", VARY, "fault", fault=disk_full()),
    *[C(f"plot-dpi={v}", PLOT + ["--dpi", v], match="dpi") for v in ("0", "-5", "100000", "abc")],
    *[C(f"plot-size={v}", PLOT + ["--size", v], match="size")
      for v in ("0,0", "abc", "1e9,1", "nan,nan", "5", "-3,4", "inf,4")],
    *[C(f"plot-curves={v}", PLOT + ["--kind", "landscape", "--curves", v], match="curves")
      for v in ("0", "-1", "1000")],

    # --- info -------------------------------------------------------------------------------
    C("info-missing-file", ["info", "nothere.h5"], match="nothere"),
    C("info-text-file", ["info", "text.h5"], match="text.h5"),
    C("info-plain-text-name", ["info", "notes.txt"], match="notes.txt"),
    C("info-empty-file", ["info", "empty.h5"], match="empty.h5"),
    C("info-truncated-hdf5", ["info", "truncated.h5"], match="truncated.h5"),
    C("info-wrong-layout", ["info", "wrong_layout.h5"], match="wrong_layout.h5"),
    C("info-scan-group-empty", ["info", "scan_group_empty.h5"], match="scan_group_empty.h5"),
    C("info-langevin-group-empty", ["info", "langevin_group_empty.h5"], match="langevin_group_empty.h5"),
    C("info-directory", ["info", "adir.h5"], match="adir"),
    C("info-checkpoint-file", ["info", "other.h5.ckpt"], match="other.h5.ckpt"),

    # --- controls: reading from a read-only folder works (the fault injection is not too broad)
    C("control-info-in-read-only-folder", ["info", "ro/scan.h5"], "ok", fault=read_only()),
    C("control-plot-cubic-langevin", ["plot", "langevin_cubic.h5", "-o", "new.png"], "ok", new_ok=("new.png",)),
    C("control-plot-from-read-only-folder", ["plot", "ro/scan.h5", "-o", "new.png"], "ok", fault=read_only(),
      new_ok=("new.png",)),
]

assert len(CASES) >= 60
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# ------------------------------------------------------------------------------------------
# the run
# ------------------------------------------------------------------------------------------
class Runaway(BaseException):
    """Raised by the watchdog (a BaseException, so no ``except Exception`` can hide it)."""


def _vm_size():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return None


def _message_lines(text, drop_warnings=False):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Usage: ")
             and not (ln.startswith("Try '") and ln.rstrip().endswith("for help."))]
    if drop_warnings:
        lines = [ln for ln in lines if not ln.lstrip().upper().startswith("WARNING")]
    return lines


@pytest.fixture
def work(template, tmp_path, monkeypatch):
    w = tmp_path / "work"
    shutil.copytree(template, w, symlinks=True)
    monkeypatch.chdir(w)
    return str(w)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fuzz(case, work, monkeypatch):
    hooks = Hooks(work)
    _SerialPool.hooks = hooks
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _SerialPool)
    for name, mod in list(sys.modules.items()):   # also where a module imported the class by name
        if name.split(".")[0] in ("adaptive_kernel", "simulations") and hasattr(mod, "ProcessPoolExecutor"):
            monkeypatch.setattr(mod, "ProcessPoolExecutor", _SerialPool)
    real_start = multiprocessing.process.BaseProcess.start

    def start(self):
        hooks.processes += 1
        if hooks.processes > NCPU:
            raise Runaway(f"more than {NCPU} worker processes started")
        return real_start(self)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", start)
    # the stand-in pool runs "worker" code in this process: a worker's thread budget must not
    # be applied to the test process itself
    from adaptive_kernel import runner as _runner
    monkeypatch.setattr(_runner, "_apply_thread_limit", lambda threads: None)
    if case.no_compute:
        count_compute(monkeypatch, hooks)
    if case.fault is not None:
        case.fault(monkeypatch, work, hooks)
    before = _snapshot(work)

    def alarm(signum, frame):
        raise Runaway(f"still running after {WATCHDOG_S} s: a computation that should have been refused")

    old_alarm = signal.signal(signal.SIGALRM, alarm)
    old_int = signal.getsignal(signal.SIGINT)
    old_as = resource.getrlimit(resource.RLIMIT_AS)
    vm = _vm_size()
    if vm is not None:
        cap = vm + AS_HEADROOM
        if old_as[1] == resource.RLIM_INFINITY or cap < old_as[1]:
            resource.setrlimit(resource.RLIMIT_AS, (cap, old_as[1]))
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    t0 = time.perf_counter()
    try:
        r = CliRunner().invoke(main, case.args, catch_exceptions=True)
    except Runaway as exc:
        pytest.fail(str(exc))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGINT, old_int)
        resource.setrlimit(resource.RLIMIT_AS, old_as)
    elapsed = time.perf_counter() - t0
    monkeypatch.undo()       # the checks below read and write files normally
    monkeypatch.chdir(work)
    after = _snapshot(work)

    out, err = r.stdout, r.stderr
    exc = r.exception
    print(f"[{case.id}] exit {r.exit_code} in {elapsed:.2f} s; stderr: {err!r}")   # shown on failure
    if isinstance(exc, Runaway):
        pytest.fail(str(exc))
    assert exc is None or isinstance(exc, SystemExit), (
        f"uncaught {type(exc).__name__}: {exc} (exit {r.exit_code}); stderr={err!r}")
    assert "Traceback" not in out and "Traceback" not in err, err
    assert "Segmentation fault" not in err and r.exit_code >= 0

    expect = case.expect
    if expect == "usage_or_ok":
        expect = "ok" if r.exit_code == 0 else "usage"
    if expect == "fault_or_ok":
        expect = "ok" if r.exit_code == 0 else "fault"
    if expect in ("usage", "fault"):
        if expect == "usage":
            assert r.exit_code == 2, f"exit {r.exit_code}, expected 2 (bad input); stdout={out!r} stderr={err!r}"
        else:
            assert r.exit_code != 0, f"exit 0 despite the fault; stdout={out!r} stderr={err!r}"
        lines = _message_lines(err, drop_warnings=expect == "fault")
        assert len(lines) == 1, f"{len(lines)} message lines on stderr (expected one): {err!r}"
        if expect == "usage":
            assert lines[0].startswith("Error:"), lines
        if case.match is not None:
            assert re.search(case.match, lines[0], re.I), f"message does not match {case.match!r}: {lines[0]!r}"
    elif expect == "warn":
        if r.exit_code == 0:
            assert any(ln.lstrip().upper().startswith("WARNING") for ln in err.splitlines()), (
                f"exit 0 with no WARNING on stderr: {err!r}")
        else:
            assert len(_message_lines(err, drop_warnings=True)) == 1, err
    else:  # ok
        assert r.exit_code == 0, f"exit {r.exit_code}; stdout={out!r} stderr={err!r}"

    # nothing that was there before changed or went
    lost = sorted(k for k, v in before.items()
                  if after.get(k, "gone") != v and not any(fnmatch(k, p) for p in case.changed_ok))
    assert not lost, f"pre-existing file(s) changed or removed: {lost}"
    # a refused run leaves nothing behind; a run that wrote something wrote only what it may
    new = sorted(k for k in after if k not in before)
    allowed = case.new_ok if r.exit_code == 0 or expect == "fault" else ()
    stray = [k for k in new if not any(fnmatch(k, p) for p in allowed)]
    assert not stray, f"new file(s) left behind: {stray}"
    assert not any(k.endswith(".tmp") for k in new), f"temporary file(s) left behind: {new}"
    if case.no_compute:
        assert hooks.computed == 0, "the computation started before the refusal (check the output first)"
    if hooks.armed and r.exit_code != 0:
        assert hooks.fired, "the run failed, but not at the simulated fault (it never happened)"
    if case.check is not None:
        case.check(work, r, hooks)
    assert elapsed < WATCHDOG_S
