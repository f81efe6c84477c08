"""I/O safety of every writer and command (issue 15): outputs checked before the run,
atomic writes, one-line errors, checkpoints kept on failure, resume, Ctrl-C, stale
temporary files.

Faults are simulated inside the tests:

* :class:`Faults` patches the ``os`` functions our writers and :mod:`tempfile` use
  (``open``, ``write``, ``fsync``, ``replace``, ``mkdir``, ``remove``) to raise a chosen
  ``OSError`` (ENOSPC, EDQUOT, EROFS, EACCES, ENAMETOOLONG, ...) or ``KeyboardInterrupt``
  for matching paths: a read-only folder for root (for whom permission bits do not apply),
  a full disk, a quota;
* where ``mount`` is permitted (root in a container that allows it), a real 200 kB tmpfs is
  filled during a Langevin checkpoint, and a real read-only mount refuses outputs; those
  tests are skipped cleanly elsewhere;
* a real SIGINT is sent to a ``phasesim langevin`` subprocess.

Every command-line case asserts the exit code (2: refused before the run; 1: a write failed
during the run; 130: Ctrl-C), exactly one ``Error:`` line (or one message line) on stderr, no
traceback, and that existing files are byte-identical afterwards with no temporary file left.
"""
import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel import get_teacher, scan
from adaptive_kernel import storage
from adaptive_kernel.cli import main
from adaptive_kernel.errors import OutputError, OutputExistsError, PhasesimError, WriteError
from simulations.backends import HDFBackend

SCAN = ["scan", "--teacher", "modadd", "--P", "11", "--N", "50", "--sigma-a2", "0.05", "--gamma", "0.05",
        "--sigma2", "0.3:0.2:3", "-q"]
VARY = ["scan", "--teacher", "modadd", "--P", "11", "--N", "50", "--sigma-a2", "0.05",
        "--sigma2", "0.3:0.2:3", "--vary", "gamma=0.04:0.05:2", "-q"]
LANGEVIN = ["langevin", "--teacher", "cubic", "--N", "8", "--d", "4", "--n", "30", "--sigma-a2", "0.05",
            "--alpha", "1", "--beta", "1", "--n-test", "20", "--sigma2", "0.3", "--steps", "40",
            "--burn-in", "10", "--thin", "2", "--seeds", "2", "--checkpoint-every", "10", "-q"]


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def invoke(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def assert_one_line_error(r, code, *words):
    """Exit ``code``, exactly one ``Error:`` line on stderr (for code 1: stderr is that one
    line), no traceback, no stray exception, and every word in the message."""
    assert r.exit_code == code, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, r.stderr
    if code == 1:
        assert lines == errors, r.stderr
    else:
        assert all(line.startswith(("Usage:", "Try ", "Error:")) for line in lines), r.stderr
    for w in words:
        assert w in errors[0], (w, errors[0])
    return errors[0]


def message_lines(r):
    return [line for line in r.stderr.splitlines() if line.strip()]


def snapshot(folder):
    """{relative path: bytes} of every file below ``folder``."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".tmp"))


def dead_pid():
    """The PID of a process that has exited (and been reaped)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


class Faults:
    """Make ``os`` calls on matching paths fail, as a full disk or a read-only folder would.

    ``add(op, match, exc, skip=0, min_bytes=0)``: ``op`` is one of open (only opens that
    create or write), write, fsync, replace, mkdir, remove; ``match(path)`` selects the
    paths (for write and fsync: the path the descriptor was opened with); ``exc`` is an
    errno (an ``OSError`` is raised) or an exception instance; the first ``skip`` matching
    calls pass; writes shorter than ``min_bytes`` pass (the one-byte folder probe).
    """

    def __init__(self, monkeypatch):
        self.rules = []
        self.fds = {}
        self.hits = 0
        real = {name: getattr(os, name) for name in ("open", "write", "fsync", "replace", "mkdir", "remove")}
        faults = self

        def fake_open(path, flags, mode=0o777, *, dir_fd=None):
            p = os.fsdecode(path)
            if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
                faults._check("open", p)
            fd = real["open"](path, flags, mode, dir_fd=dir_fd)
            faults.fds[fd] = p
            return fd

        def fake_write(fd, data):
            p = faults.fds.get(fd)
            if p is not None:
                faults._check("write", p, len(data))
            return real["write"](fd, data)

        def fake_fsync(fd):
            p = faults.fds.get(fd)
            if p is not None:
                faults._check("fsync", p)
            return real["fsync"](fd)

        def fake_replace(src, dst, **kw):
            faults._check("replace", os.fsdecode(dst))
            return real["replace"](src, dst, **kw)

        def fake_mkdir(path, mode=0o777, **kw):
            faults._check("mkdir", os.fsdecode(path))
            return real["mkdir"](path, mode, **kw)

        def fake_remove(path, **kw):
            faults._check("remove", os.fsdecode(path))
            return real["remove"](path, **kw)

        for name, fn in (("open", fake_open), ("write", fake_write), ("fsync", fake_fsync),
                         ("replace", fake_replace), ("mkdir", fake_mkdir), ("remove", fake_remove)):
            monkeypatch.setattr(os, name, fn)

    def add(self, op, match, exc, skip=0, min_bytes=0):
        self.rules.append({"op": op, "match": match, "exc": exc, "skip": skip, "min": min_bytes})
        return self

    def read_only(self, folder, code=errno.EROFS):
        """Nothing can be created, replaced or removed in ``folder`` (or below it)."""
        folder = os.path.abspath(folder)

        def inside(p):
            return os.path.abspath(p).startswith(folder + os.sep) or os.path.abspath(p) == folder

        for op in ("open", "replace", "mkdir", "remove"):
            self.add(op, inside, code)
        return self

    def _check(self, op, path, nbytes=None):
        for rule in self.rules:
            if rule["op"] != op or not rule["match"](path):
                continue
            if nbytes is not None and nbytes < rule["min"]:
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                continue
            self.hits += 1
            exc = rule["exc"]
            if isinstance(exc, int):
                raise OSError(exc, os.strerror(exc), path)
            raise exc


@pytest.fixture
def faults(monkeypatch):
    return Faults(monkeypatch)


@pytest.fixture(scope="module")
def small_result():
    t = get_teacher("modadd")
    return scan(t, t.make_params(P=11, N=50, sigma_a2=0.05, gamma=0.05), np.linspace(0.3, 0.2, 3))


@pytest.fixture
def no_computation(monkeypatch):
    """Fail the test if a scan computation starts (outputs must be checked before it)."""
    import adaptive_kernel.phase_diagram as pd
    import adaptive_kernel.solver as solver

    def forbidden(*a, **k):
        raise AssertionError("the computation started before the output location was checked")

    monkeypatch.setattr(solver, "scan", forbidden)
    monkeypatch.setattr(pd, "scan_grid", forbidden)


# ------------------------------------------------------------------------------------------
# check_output_path: refusals before anything is computed
# ------------------------------------------------------------------------------------------
def _refusals(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "exists.h5").write_bytes(b"old")
    return [
        ("", "path is empty"),
        ("   ", "path is empty"),
        (str(tmp_path / "adir"), "is a folder"),
        (str(tmp_path / "adir") + os.sep, "names a folder"),
        (str(afile / "out.h5"), "is a file, not a folder"),
        (str(afile / "sub" / "out.h5"), "is a file, not a folder"),
        (str(tmp_path / ("n" * 300 + ".h5")), "file name is too long"),
        (str(tmp_path / ("n" * 240 + ".h5")), "file name is too long"),  # fits alone, not with the temp suffix
        (str(tmp_path / ("d" * 300) / "out.h5"), "cannot create the folder"),
        (str(tmp_path / "exists.h5"), "--overwrite"),
    ]


def test_check_output_path_refusals(tmp_path):
    for path, word in _refusals(tmp_path):
        before = snapshot(tmp_path)
        with pytest.raises(OutputError) as info:
            storage.check_output_path(path, overwrite=False)
        msg = str(info.value)
        assert "\n" not in msg and word in msg, (path, msg)
        if path.strip():
            assert path.rstrip(os.sep)[:40] in msg  # names the path
        assert snapshot(tmp_path) == before
    with pytest.raises(OutputExistsError):
        storage.check_output_path(tmp_path / "exists.h5")
    assert storage.check_output_path(tmp_path / "exists.h5", overwrite=True) == str(tmp_path / "exists.h5")
    # a missing parent is created (as the write would), nothing else appears
    assert storage.check_output_path(tmp_path / "new" / "deeper" / "x.h5") == str(tmp_path / "new/deeper/x.h5")
    assert os.listdir(tmp_path / "new" / "deeper") == []


@pytest.mark.parametrize("code, op, word", [
    (errno.EROFS, "open", "Read-only file system"),
    (errno.EACCES, "open", "Permission denied"),
    (errno.ENOSPC, "write", "No space left on device"),
    (errno.EDQUOT, "write", "quota"),
    (errno.EROFS, "remove", "Read-only file system"),
])
def test_check_output_path_probes_the_folder(tmp_path, faults, code, op, word):
    """Root ignores permission bits: the folder is probed by creating a file in it."""
    (tmp_path / "keep.h5").write_bytes(b"keep")
    faults.add(op, lambda p: os.path.dirname(p) == str(tmp_path), code)
    with pytest.raises(OutputError) as info:
        storage.check_output_path(tmp_path / "keep.h5", overwrite=True)
    msg = str(info.value)
    assert "\n" not in msg and word in msg and str(tmp_path / "keep.h5") in msg
    assert faults.hits >= 1


def test_read_only_parent_that_must_be_created(tmp_path, faults):
    faults.read_only(tmp_path)
    with pytest.raises(OutputError, match="cannot create the folder .*Read-only file system"):
        storage.check_output_path(tmp_path / "sub" / "x.h5")


# ------------------------------------------------------------------------------------------
# atomic writes: every OSError is one line, the temp file goes, the old target stays
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, code", [
    ("open", errno.ENOSPC), ("open", errno.EACCES), ("open", errno.ENAMETOOLONG), ("open", errno.ENOTDIR),
    ("open", errno.EEXIST), ("open", errno.EROFS),
    ("write", errno.ENOSPC), ("write", errno.EDQUOT), ("write", errno.EIO),
    ("fsync", errno.ENOSPC), ("replace", errno.EROFS), ("replace", errno.EACCES),
])
def test_write_bytes_faults(tmp_path, faults, op, code):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old contents")
    faults.add(op, lambda p: os.path.basename(p).startswith("out.bin"), code)
    with pytest.raises(WriteError) as info:
        storage.write_bytes(target, b"new contents" * 1000, overwrite=True)
    err = info.value
    assert "\n" not in str(err) and str(target) in str(err) and os.strerror(code) in str(err)
    assert err.errno == code and err.path == str(target)
    assert target.read_bytes() == b"old contents"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_h5py_runtime_error_in_writer_body_is_a_write_error(tmp_path):
    """h5py reports some failed writes as RuntimeError with a multi-line text."""
    target = tmp_path / "x.h5"
    with pytest.raises(WriteError) as info:
        with storage.atomic_output(target) as tmp:
            open(tmp, "wb").close()
            raise RuntimeError("Can't decrement id ref count (file write failed: time = x\n, "
                               "errno = 28, error message = 'No space left on device')")
    assert str(info.value) == f"cannot write output file {target}: No space left on device"
    assert os.listdir(tmp_path) == []
    # a RuntimeError that is not about I/O is not disguised
    with pytest.raises(RuntimeError, match="a bug"):
        with storage.atomic_output(target):
            raise RuntimeError("a bug")
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def small_diagram():
    from adaptive_kernel.phase_diagram import scan_grid

    t = get_teacher("modadd")
    return scan_grid(t, t.make_params(P=11, N=50, sigma_a2=0.05), "gamma", np.array([0.04, 0.05]),
                     np.linspace(0.3, 0.2, 3))


@pytest.fixture(scope="module")
def small_langevin():
    from simulations.langevin import LangevinConfig, run_langevin

    t = get_teacher("cubic")
    p = t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1)
    return run_langevin(LangevinConfig("cubic", p, [0.3], steps=40, burn_in=10, thin=2, seeds=2, n_test=20),
                        checkpoint_every=10)


@pytest.mark.parametrize("exc", [errno.ENOSPC, errno.EDQUOT, KeyboardInterrupt()])
def test_hdf5_writers_keep_old_file(tmp_path, faults, small_result, small_diagram, small_langevin, exc):
    """to_hdf5 of a scan, a phase diagram and a Langevin result, save_figure, a checkpoint."""
    from adaptive_kernel import plotting
    from simulations.backends import HDFBackend

    fig, ax = plotting.figure_for("order")
    plotting.plot_order(small_result, ax=ax)
    backend = HDFBackend(tmp_path / "run.ckpt")
    backend.reset({"run": 1})
    writers = {
        "scan.h5": lambda p: small_result.to_hdf5(p, overwrite=True),
        "diag.h5": lambda p: small_diagram.to_hdf5(p, overwrite=True),
        "langevin.h5": lambda p: small_langevin.to_hdf5(p, overwrite=True),
        "fig.png": lambda p: plotting.save_figure(fig, p, overwrite=True, dpi=50),
        "run.ckpt": lambda p: backend.save(7, {"0": {"x": np.arange(3.0)}}),
    }
    for name, write in writers.items():
        write(tmp_path / name)
    before = snapshot(tmp_path)
    faults.add("write", lambda p: p.endswith(".tmp"), exc)
    for name, write in writers.items():
        with pytest.raises(WriteError if isinstance(exc, int) else KeyboardInterrupt) as info:
            write(tmp_path / name)
        if isinstance(exc, int):
            assert "\n" not in str(info.value) and name in str(info.value)
    assert snapshot(tmp_path) == before
    assert temporaries(tmp_path) == []
    assert backend.saved_iteration == 7       # still the checkpoint on disk


def test_in_memory_hdf5_round_trip(tmp_path, small_result):
    from adaptive_kernel import load

    p = small_result.to_hdf5(tmp_path / "a.h5")
    back = load(p)
    assert np.array_equal(back.scan["residual"], small_result.scan["residual"])
    with h5py.File(p, "r") as f:
        assert f.attrs["teacher"] == "modadd"


# ------------------------------------------------------------------------------------------
# stale temporary files
# ------------------------------------------------------------------------------------------
def test_temporary_names_carry_the_pid(tmp_path, monkeypatch):
    seen = []
    real = storage.tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        seen.append(os.path.basename(name))
        return fd, name

    monkeypatch.setattr(storage.tempfile, "mkstemp", spy)
    storage.write_bytes(tmp_path / "x.h5", b"data")
    assert len(seen) == 1
    assert seen[0].startswith(f"x.h5.{os.getpid()}.") and seen[0].endswith(".tmp")


def test_stale_temporaries_reported_and_removed(tmp_path):
    target = tmp_path / "x.h5"
    gone = dead_pid()
    stale = tmp_path / f"x.h5.{gone}.abcd1234.tmp"
    live = tmp_path / "x.h5.1.abcd1234.tmp"                       # PID 1 is always running
    own_old = tmp_path / f"x.h5.{os.getpid()}.zzzz0000.tmp"       # our PID, but older: reused PID
    old_style_old = tmp_path / "x.h5.k3j_a9x0.tmp"
    old_style_new = tmp_path / "x.h5.q0w9e8r7.tmp"
    others = [tmp_path / "x.h5", tmp_path / "x.h5.ckpt", tmp_path / f"y.h5.{gone}.abcd1234.tmp",
              tmp_path / f"x.h5.ckpt.{gone}.abcd1234.tmp", tmp_path / "x.h5.tmp"]
    for p in [stale, live, own_old, old_style_old, old_style_new, *others]:
        p.write_bytes(b"z" * 2048)
    long_ago = time.time() - 2 * storage.OLD_STYLE_STALE_AFTER
    for p in (own_old, old_style_old):
        os.utime(p, (long_ago, long_ago))
    lines = []
    removed = storage.clean_stale_temporaries(target, report=lines.append)
    assert sorted(removed) == sorted(map(str, (stale, own_old, old_style_old)))
    for p in (stale, own_old, old_style_old):
        assert not p.exists()
    for p in (live, old_style_new, *others):
        assert p.exists()
    assert len(lines) == 5 and all("\n" not in line for line in lines)
    assert any(str(stale) in line and f"process {gone}" in line and "removed" in line for line in lines)
    assert any(str(live) in line and "left in place" in line and "still running" in line for line in lines)
    assert any(str(old_style_new) in line and "left in place" in line for line in lines)


def test_cli_reports_and_removes_stale_temporaries(tmp_path):
    out = tmp_path / "x.h5"
    stale = tmp_path / f"x.h5.{dead_pid()}.abcd1234.tmp"
    stale.write_bytes(b"z" * 4000)
    r = invoke([*SCAN, "-o", out])
    assert r.exit_code == 0, r.output
    warnings = [line for line in message_lines(r) if line.startswith("warning:")]
    assert len(warnings) == 1 and "removed stale temporary file" in warnings[0] and str(stale) in warnings[0]
    assert not stale.exists() and out.exists()
    assert temporaries(tmp_path) == []
    # the same for a Langevin checkpoint's temporaries
    lout = tmp_path / "l.h5"
    stale_ckpt = tmp_path / f"l.h5.ckpt.{dead_pid()}.abcd1234.tmp"
    stale_ckpt.write_bytes(b"z")
    r = invoke([*LANGEVIN, "-o", lout])
    assert r.exit_code == 0, r.output
    assert any(str(stale_ckpt) in line for line in message_lines(r))
    assert not stale_ckpt.exists() and temporaries(tmp_path) == []


# ------------------------------------------------------------------------------------------
# command line: output locations refused before the run (exit code 2)
# ------------------------------------------------------------------------------------------
def _bad_outputs(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    return [
        ("", "path is empty"),
        (afile / "out.h5", "is a file, not a folder"),
        (tmp_path / ("n" * 300 + ".h5"), "too long"),
        (tmp_path, os.path.basename(tmp_path)),  # a folder (refused by click's Path type)
    ]


@pytest.mark.parametrize("base", [SCAN, VARY], ids=["scan", "scan-vary"])
def test_scan_refuses_bad_output_before_computing(tmp_path, monkeypatch, no_computation, faults, base):
    monkeypatch.chdir(tmp_path)  # a silently used default output would land here
    for out, word in _bad_outputs(tmp_path):
        before = snapshot(tmp_path)
        r = invoke([*base, "-o", out])
        assert_one_line_error(r, 2, word)
        assert snapshot(tmp_path) == before
    assert not (tmp_path / "data").exists()
    # an existing file, kept byte for byte
    (tmp_path / "keep.h5").write_bytes(b"precious")
    r = invoke([*base, "-o", tmp_path / "keep.h5"])
    assert_one_line_error(r, 2, "--overwrite")
    # a read-only folder (also with --overwrite)
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "keep.h5").write_bytes(b"precious too")
    before = snapshot(tmp_path)
    faults.read_only(ro)
    for args in (["-o", ro / "new.h5"], ["-o", ro / "keep.h5", "--overwrite"], ["-o", ro / "sub" / "x.h5"]):
        r = invoke([*base, *args])
        assert_one_line_error(r, 2, "Read-only file system", str(args[1]))
    assert snapshot(tmp_path) == before


def test_plot_refuses_read_only_folder_before_drawing(tmp_path, faults, small_result, monkeypatch):
    from adaptive_kernel import plotting

    data = tmp_path / "ro"
    data.mkdir()
    src = small_result.to_hdf5(data / "s.h5")
    before = snapshot(tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("drawing started before the output location was checked")

    monkeypatch.setattr(plotting, "plot", forbidden)
    faults.read_only(data)
    r = invoke(["plot", src])                                          # default output next to the input
    assert_one_line_error(r, 2, "Read-only file system", str(data / "s_order.png"))
    r = invoke(["plot", src, "-o", data / "fig.png"])
    assert_one_line_error(r, 2, "Read-only file system")
    r = invoke(["plot", src, "-o", tmp_path / ("n" * 300 + ".png")])
    assert_one_line_error(r, 2, "too long")
    assert snapshot(tmp_path) == before


def test_langevin_refuses_bad_output_or_checkpoint_location(tmp_path, faults):
    for out, word in _bad_outputs(tmp_path):
        before = snapshot(tmp_path)
        r = invoke([*LANGEVIN, "-o", out])
        assert_one_line_error(r, 2, word)
        assert snapshot(tmp_path) == before
    # the output name fits, its checkpoint's temporary name does not
    r = invoke([*LANGEVIN, "-o", tmp_path / ("n" * 228 + ".h5")])
    assert_one_line_error(r, 2, "checkpoint", "too long")
    ro = tmp_path / "ro"
    ro.mkdir()
    faults.read_only(ro)
    r = invoke([*LANGEVIN, "-o", ro / "x.h5"])
    assert_one_line_error(r, 2, "Read-only file system", str(ro / "x.h5"))
    assert os.listdir(ro) == []


# ------------------------------------------------------------------------------------------
# command line: a write that fails during the run (exit code 1)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_scan_write_failure_is_one_line_and_keeps_old_file(tmp_path, faults, code):
    out = tmp_path / "x.h5"
    out.write_bytes(b"the previous result")
    faults.add("write", lambda p: p.endswith(".tmp"), code, min_bytes=2)  # the probe passes, the write fails
    r = invoke([*SCAN, "-o", out, "--overwrite"])
    assert_one_line_error(r, 1, os.strerror(code), str(out))
    assert out.read_bytes() == b"the previous result"
    assert temporaries(tmp_path) == []


def test_plot_write_failure_is_one_line(tmp_path, faults, small_result):
    src = small_result.to_hdf5(tmp_path / "s.h5")
    before = snapshot(tmp_path)
    faults.add("replace", lambda p: p.endswith(".png"), errno.ENOSPC)
    r = invoke(["plot", src, "--dpi", "50"])
    assert_one_line_error(r, 1, "No space left on device", "s_order.png")
    assert snapshot(tmp_path) == before


def _ckpt_writes(name):
    return lambda p: os.path.basename(p).startswith(name + ".ckpt.") and p.endswith(".tmp")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_langevin_disk_full_at_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, faults, code):
    out = tmp_path / "x.h5"
    ckpt = tmp_path / "x.h5.ckpt"
    seen = {}
    real_save = HDFBackend.save

    def spy(self, iteration, units):
        real_save(self, iteration, units)
        if self.path == str(ckpt):
            seen[iteration] = ckpt.read_bytes()

    monkeypatch.setattr(HDFBackend, "save", spy)
    # the checkpoint of step 10 is written; the one of step 20 hits a full disk
    faults.add("write", _ckpt_writes("x.h5"), code, skip=1, min_bytes=2)
    r = invoke([*LANGEVIN, "-o", out])
    msg = assert_one_line_error(r, 1, os.strerror(code), str(ckpt), "step 10 of 40", "--resume")
    assert "free space" in msg
    assert list(seen) == [10]
    assert ckpt.read_bytes() == seen[10]           # the previous checkpoint, byte for byte
    seen.clear()
    assert sorted(os.listdir(tmp_path)) == ["x.h5.ckpt"]
    # space freed: --resume continues from step 10 and gives the uninterrupted result
    faults.rules.clear()
    r = invoke([*LANGEVIN, "-o", out, "--resume"])
    assert r.exit_code == 0, r.output
    assert "resuming from step 10 of 40" in r.stdout and str(ckpt) in r.stdout
    assert sorted(os.listdir(tmp_path)) == ["x.h5"]
    ref = invoke([*LANGEVIN, "-o", tmp_path / "ref.h5"])
    assert ref.exit_code == 0, ref.output
    _assert_same_langevin(out, tmp_path / "ref.h5")


def _assert_same_langevin(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for k in ("hist_counts", "traces/b", "traces/q2", "diagnostics/step_size"):
            assert np.array_equal(fa["langevin/0/" + k][()], fb["langevin/0/" + k][()]), k


def test_langevin_first_checkpoint_fails(tmp_path, faults):
    out = tmp_path / "x.h5"
    faults.add("write", _ckpt_writes("x.h5"), errno.ENOSPC, min_bytes=2)
    r = invoke([*LANGEVIN, "-o", out])
    assert_one_line_error(r, 1, "No space left on device", "no checkpoint was written yet")
    assert os.listdir(tmp_path) == []
    faults.rules.clear()
    r = invoke([*LANGEVIN, "-o", out])            # nothing blocks a fresh start
    assert r.exit_code == 0, r.output


def test_langevin_output_write_fails_after_the_run(tmp_path, faults):
    """The finished run stays in its checkpoint; --resume only writes the output."""
    out = tmp_path / "x.h5"
    faults.add("write", lambda p: os.path.basename(p).startswith("x.h5.") and ".ckpt" not in p,
               errno.ENOSPC, min_bytes=2)
    r = invoke([*LANGEVIN, "-o", out])
    assert_one_line_error(r, 1, "No space left on device", str(out), "finished run", "--resume")
    assert sorted(os.listdir(tmp_path)) == ["x.h5.ckpt"]
    faults.rules.clear()
    r = invoke([*LANGEVIN, "-o", out, "--resume"])
    assert r.exit_code == 0, r.output
    assert "resuming from step 40 of 40" in r.stdout
    assert sorted(os.listdir(tmp_path)) == ["x.h5"]


# ------------------------------------------------------------------------------------------
# Ctrl-C (exit code 130)
# ------------------------------------------------------------------------------------------
def test_ctrl_c_during_scan_computation(tmp_path, monkeypatch):
    import adaptive_kernel.solver as solver

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(solver, "scan", interrupted)
    (tmp_path / "x.h5").write_bytes(b"old")
    r = invoke([*SCAN, "-o", tmp_path / "x.h5", "--overwrite"])
    assert r.exit_code == 130 and "Traceback" not in r.output
    lines = message_lines(r)
    assert len(lines) == 1 and "interrupted" in lines[0]
    assert snapshot(tmp_path) == {"x.h5": b"old"}


@pytest.mark.parametrize("cmd", ["scan", "plot"])
def test_ctrl_c_while_writing_removes_temporary(tmp_path, faults, small_result, cmd):
    src = small_result.to_hdf5(tmp_path / "s.h5")
    (tmp_path / "x.h5").write_bytes(b"old")
    (tmp_path / "s_order.png").write_bytes(b"old figure")
    before = snapshot(tmp_path)
    faults.add("fsync", lambda p: p.endswith(".tmp"), KeyboardInterrupt())
    if cmd == "scan":
        args = [*SCAN, "-o", tmp_path / "x.h5", "--overwrite"]
    else:
        args = ["plot", src, "--overwrite", "--dpi", "50"]
    r = invoke(args)
    assert r.exit_code == 130, r.output
    assert "Traceback" not in r.output
    lines = message_lines(r)
    assert len(lines) == 1 and "interrupted" in lines[0]
    assert faults.hits == 1
    assert snapshot(tmp_path) == before


def test_ctrl_c_while_writing_a_checkpoint_keeps_the_last_one(tmp_path, faults):
    out = tmp_path / "x.h5"
    ckpt = tmp_path / "x.h5.ckpt"
    # the checkpoints of steps 10 and 20 are written; Ctrl-C during the rename of step 30's
    faults.add("replace", lambda p: p == str(ckpt), KeyboardInterrupt(), skip=2)
    r = invoke([*LANGEVIN, "-o", out])
    assert r.exit_code == 130, r.output
    assert "Traceback" not in r.output
    lines = message_lines(r)
    assert len(lines) == 1 and "interrupted" in lines[0] and "step 20 of 40" in lines[0], lines
    assert sorted(os.listdir(tmp_path)) == ["x.h5.ckpt"]
    with h5py.File(ckpt, "r") as f:
        assert int(f.attrs["iteration"]) == 20
    faults.rules.clear()
    r = invoke([*LANGEVIN, "-o", out, "--resume"])
    assert r.exit_code == 0 and "resuming from step 20 of 40" in r.stdout, r.output
    assert sorted(os.listdir(tmp_path)) == ["x.h5"]


def test_real_sigint_to_langevin(tmp_path):
    """A real SIGINT to the process group (what Ctrl-C in a terminal sends)."""
    out = tmp_path / "x.h5"
    args = [sys.executable, "-m", "adaptive_kernel.cli", *LANGEVIN, "-o", str(out)]
    args[args.index("--steps") + 1] = "100000"
    args[args.index("--checkpoint-every") + 1] = "50"
    env = dict(os.environ, PYTHONFAULTHANDLER="1")   # SIGABRT on a hang dumps every thread's stack
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        t0 = time.monotonic()
        while not (tmp_path / "x.h5.ckpt").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 120
            time.sleep(0.05)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            stdout, stderr = proc.communicate(timeout=30)
            pytest.fail(f"still running 60 s after SIGINT; stacks:\n{stderr[-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted; the checkpoint") and "--resume" in lines[0]
    assert sorted(os.listdir(tmp_path)) == ["x.h5.ckpt"]
    with h5py.File(tmp_path / "x.h5.ckpt", "r") as f:
        assert int(f.attrs["iteration"]) % 50 == 0 and int(f.attrs["iteration"]) >= 50


# ------------------------------------------------------------------------------------------
# a real small tmpfs and a real read-only mount (root with mount permission only)
# ------------------------------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size)`` mounts a fresh tmpfs on a folder and returns it; unmounted at the end."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    mounted = []

    def mount(size="200k", name="fs"):
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"mount is not permitted here: {r.stderr.strip()}")
        mounted.append(d)
        return d

    try:
        yield mount
    finally:
        for d in reversed(mounted):
            subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _checkpoint_size(tmp_path):
    """Size of one checkpoint of the LANGEVIN run (written by a run stopped after step 10)."""
    from simulations.langevin import LangevinConfig, run_langevin

    t = get_teacher("cubic")
    p = t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1)
    cfg = LangevinConfig("cubic", p, [0.3], steps=40, burn_in=10, thin=2, seeds=2, n_test=20)
    path = tmp_path / "probe.ckpt"
    with pytest.raises(KeyboardInterrupt):
        run_langevin(cfg, HDFBackend(path), checkpoint_every=10, stop_after_segments=1)
    size = path.stat().st_size
    path.unlink()
    return size


def test_real_full_tmpfs_during_a_checkpoint(tmp_path, tmpfs):
    """The issue's case: a 200 kB tmpfs fills up while a checkpoint is written (it used to
    end in a segmentation fault). The previous checkpoint survives, nothing else is left,
    and --resume finishes the run once space is freed."""
    size = _checkpoint_size(tmp_path)
    fs = tmpfs("200k")
    total = os.statvfs(fs).f_bavail * os.statvfs(fs).f_frsize
    free = int(1.5 * size)                        # room for one checkpoint, not for two
    assert total - free > 0
    filler = fs / "filler"
    filler.write_bytes(b"\0" * (total - free))
    out = fs / "x.h5"
    r = invoke([*LANGEVIN, "-o", out])
    msg = assert_one_line_error(r, 1, "No space left on device", "x.h5.ckpt", "step 10 of 40", "--resume")
    assert "Segmentation" not in r.output, msg
    assert sorted(os.listdir(fs)) == ["filler", "x.h5.ckpt"]
    with h5py.File(fs / "x.h5.ckpt", "r") as f:
        assert int(f.attrs["iteration"]) == 10
    # the same in a separate process: no crash at exit either
    proc = subprocess.run([sys.executable, "-m", "adaptive_kernel.cli", *LANGEVIN, "-o", str(fs / "y.h5")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert len([x for x in proc.stderr.splitlines() if x.strip()]) == 1 and "Traceback" not in proc.stderr
    filler.unlink()
    for name in os.listdir(fs):
        if name.startswith("y.h5"):
            os.remove(fs / name)
    r = invoke([*LANGEVIN, "-o", out, "--resume"])
    assert r.exit_code == 0, r.output
    assert "resuming from step 10 of 40" in r.stdout
    assert sorted(os.listdir(fs)) == ["x.h5"]
    ref = invoke([*LANGEVIN, "-o", tmp_path / "ref.h5"])
    assert ref.exit_code == 0
    _assert_same_langevin(out, tmp_path / "ref.h5")


def test_real_read_only_mount(tmp_path, tmpfs, small_result):
    fs = tmpfs("1m", name="ro")
    src = small_result.to_hdf5(fs / "s.h5")
    r = subprocess.run(["mount", "-o", "remount,ro", str(fs)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"remount read-only is not permitted here: {r.stderr.strip()}")
    before = snapshot(fs)
    for args in (["plot", src], ["plot", src, "-o", fs / "f.png"], [*SCAN, "-o", fs / "new.h5"],
                 [*SCAN, "-o", fs / "s.h5", "--overwrite"], [*LANGEVIN, "-o", fs / "l.h5"]):
        r = invoke(args)
        assert_one_line_error(r, 2, "Read-only file system")
    assert snapshot(fs) == before


def test_domain_errors_live_in_errors_module():
    assert issubclass(OutputError, PhasesimError) and issubclass(WriteError, OutputError)
    assert issubclass(OutputExistsError, OutputError)
    assert OutputError.__module__ == WriteError.__module__ == "adaptive_kernel.errors"
