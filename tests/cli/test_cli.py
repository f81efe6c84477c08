"""The ``phasesim`` command line and the HDF5 files it writes.

* the installed console script, run as a subprocess;
* error paths through click's CliRunner: exit code 2, one ``Error:`` line naming the
  parameter, no traceback;
* the HDF5 layout promised in the issue, read back with :func:`adaptive_kernel.results.load`;
* data safety: no overwrite without ``--overwrite``; atomic writes (an exception, or a
  SIGKILL, during writing leaves the old file intact).
"""
import datetime as dt
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel import __version__, get_teacher, load, scan
from adaptive_kernel.cli import main
from adaptive_kernel.errors import OutputExistsError
from adaptive_kernel.results import ScanResult

SHORT = ["--sigma2", "0.25:0.2:6"]


@pytest.fixture(scope="module")
def script_run(tmp_path_factory):
    """One run of the installed console script on a short grid of the default setting."""
    exe = shutil.which("phasesim")
    assert exe is not None, "the console script 'phasesim' is not installed"
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "scan.h5"
    proc = subprocess.run([exe, "scan", *SHORT, "-o", str(out)], capture_output=True, text=True,
                          cwd=folder, timeout=300)
    return proc, out


def invoke(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=True, **kw)


# ------------------------------------------------------------------------------------------
# console script
# ------------------------------------------------------------------------------------------
def test_console_script_runs_and_reports(script_run):
    proc, out = script_run
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    text = proc.stdout
    assert "sigma2_gmfl1" in text and "sigma2_gmfl2" in text
    assert "GMFL-I" in text and "GFL" in text  # the table names the phases
    assert f"wrote {out}" in text
    assert "Traceback" not in proc.stderr


def test_console_script_output_round_trip(script_run):
    proc, out = script_run
    res = load(out)
    assert res.teacher == "modadd"
    np.testing.assert_allclose(res.sigma2, np.linspace(0.25, 0.2, 6))
    assert np.all(res.scan["converged"])
    # the printed boundary is the stored one
    s1 = res.sigma2_gmfl1
    assert f"sigma2_gmfl1 = {s1:.6f}" in proc.stdout
    assert 0.23 < s1 < 0.24
    assert math.isnan(res.sigma2_gmfl2)  # derived normalisation: no GMFL-II


def test_help_explains_the_physics():
    r = invoke(["--help"])
    assert r.exit_code == 0
    assert "phase transition" in r.output and "GMFL" in r.output
    r = invoke(["scan", "--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for phrase in ("--P", "--N", "--sigma-a2", "--gamma", "--sigma2", "--normalization", "--method",
                   "--output", "--overwrite", "prime", "noise", "weight decay", "Lambda", "<XY>",
                   "saddle", "START:STOP:NUM", "P=401", "N=1000"):
        assert phrase in text, phrase


# ------------------------------------------------------------------------------------------
# bad input: exit code 2, one line, no traceback
# ------------------------------------------------------------------------------------------
BAD = [
    (["--P", "9"], "P"),
    (["--P", "3"], "P"),
    (["--P", "2"], "P"),
    (["--P", "10.5"], "P"),
    (["--sigma2", "-0.1"], "sigma2"),
    (["--sigma2", "0"], "sigma2"),
    (["--sigma2", "0.2:-0.1:3"], "sigma2"),
    (["--sigma-a2", "-1"], "sigma_a2"),
    (["--sigma-a2", "0"], "sigma_a2"),
    (["--N", "0"], "N"),
    (["--N", "-5"], "N"),
    (["--gamma", "-1e-4"], "gamma"),
    (["--gamma", "0"], "gamma"),
    (["--sigma2", "0.2:0.1"], "sigma2"),
    (["--sigma2", "a:b:3"], "sigma2"),
    (["--sigma2", "0.2:0.1:0"], "sigma2"),
    (["--sigma2", "0.2:0.1:2.5"], "sigma2"),
    (["--sigma2", "0.2:0.1:3:4"], "sigma2"),
    (["--sigma2", "nan"], "sigma2"),
    (["--sigma2", "0.2:0.2:3"], "sigma2"),
    (["--eps", "0.1"], "--eps"),
    (["--d", "30"], "--d"),
    (["--normalization", "other"], "normalization"),
    (["--method", "foo"], "method"),
]


@pytest.mark.parametrize("args,name", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_a_usage_error(tmp_path, args, name):
    out = tmp_path / "x.h5"
    r = invoke(["scan", "-q", *args, "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, r.output
    assert name in errors[0]
    assert not out.exists()


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"precious")
    r = invoke(["scan", "-q", *SHORT, "-o", str(out)])
    assert r.exit_code == 2
    errors = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "--overwrite" in errors[0]
    assert out.read_bytes() == b"precious"
    # with the flag it is replaced by a valid scan file
    r = invoke(["scan", "-q", "--sigma2", "0.25:0.24:2", "--overwrite", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert load(out).teacher == "modadd"


# ------------------------------------------------------------------------------------------
# HDF5 layout and round trip
# ------------------------------------------------------------------------------------------
def test_hdf5_layout(script_run):
    _, out = script_run
    with h5py.File(out, "r") as f:
        for a in ("teacher", "package_version", "created", "command"):
            assert a in f.attrs, a
        assert f.attrs["teacher"] == "modadd"
        assert f.attrs["package_version"] == __version__
        created = dt.datetime.fromisoformat(str(f.attrs["created"]))
        assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 3600
        assert str(f.attrs["command"]).startswith("phasesim scan")
        assert "0.25:0.2:6" in str(f.attrs["command"])
        params = dict(f["params"].attrs)
        for k, v in dict(P=401, N=1000, sigma_a2=0.002 / 1000, gamma=1e-4).items():
            assert params[k] == pytest.approx(v, rel=1e-15), k
        assert params["normalization"] == "derived" and params["method"] == "exact"
        n = 6
        for name in ("sigma2", "u", "residual", "lambda", "droplet_fraction", "phase", "converged",
                     "iterations"):
            assert f["scan/" + name].shape == (n,), name
        assert f["scan/converged"].dtype == bool
        assert f["scan/phase"].dtype.kind == "i" and f["scan/iterations"].dtype.kind == "i"
        for a in ("sigma2_gmfl1", "sigma2_gmfl2"):
            assert a in f["transitions"].attrs
        assert np.isnan(f["transitions"].attrs["sigma2_gmfl2"])
        phi = f["landscape/phi"][()]
        action = f["landscape/action"][()]
        assert action.shape == (n, phi.size)
        # each row is the per-mode action / P at that point: Phi - u r^2 Phi^2 + (gamma/3) Phi^3
        v = f["scan/u"][()] * f["scan/residual"][()] ** 2
        expect = phi[None, :] - v[:, None] * phi[None, :] ** 2 + 1e-4 / 3 * phi[None, :] ** 3
        np.testing.assert_allclose(action, expect, rtol=1e-12, atol=1e-12 * phi.max())
        # u = 2 sigma_a2 P^2 / (N sigma2^2)
        s2 = f["scan/sigma2"][()]
        np.testing.assert_allclose(f["scan/u"][()], 2 * 2e-6 * 401 ** 2 / (1000 * s2 ** 2), rtol=1e-13)


def test_load_round_trip_in_memory(tmp_path):
    t = get_teacher("modadd")
    params = t.make_params(P=11, N=50, sigma_a2=0.05, gamma=0.05, normalization="paper")
    res = scan(t, params, np.linspace(0.3, 0.1, 5))
    path = res.to_hdf5(tmp_path / "r.h5", command="phasesim scan --P 11")
    back = load(path)
    assert back.teacher == res.teacher
    assert back.params == res.params
    np.testing.assert_array_equal(back.sigma2, res.sigma2)
    for branch in ("down", "up"):
        assert set(back.branches[branch]) == set(res.branches[branch])
        for k, v in res.branches[branch].items():
            np.testing.assert_array_equal(back.branches[branch][k], v, err_msg=k)
    for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
        a, b = res.transitions[name], back.transitions[name]
        assert (math.isnan(a[0]) and math.isnan(b[0])) or a[0] == b[0]
    np.testing.assert_array_equal(back.landscape_grid, res.landscape_grid)
    np.testing.assert_array_equal(back.landscape_action, res.landscape_action)
    assert back.attrs["command"] == "phasesim scan --P 11"
    with pytest.raises(OutputExistsError):
        res.to_hdf5(path)


# ------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_result():
    t = get_teacher("modadd")
    return scan(t, t.make_params(P=11, N=50, sigma_a2=0.05, gamma=0.05), np.linspace(0.3, 0.2, 3))


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch, small_result, exc):
    path = tmp_path / "scan.h5"
    small_result.to_hdf5(path)
    old = path.read_bytes()
    original = ScanResult._fill

    def broken(self, f):
        original(self, f)  # a complete body, then the failure before the rename
        f.flush()
        raise exc

    monkeypatch.setattr(ScanResult, "_fill", broken)
    with pytest.raises(type(exc)):
        small_result.to_hdf5(path, overwrite=True)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["scan.h5"]
    # and with no old file, nothing appears at the target
    fresh = tmp_path / "new.h5"
    with pytest.raises(type(exc)):
        small_result.to_hdf5(fresh)
    assert sorted(os.listdir(tmp_path)) == ["scan.h5"]


def test_killed_write_never_leaves_truncated_target(tmp_path, small_result):
    """SIGKILL in the middle of writing: the target keeps the old bytes."""
    path = tmp_path / "scan.h5"
    small_result.to_hdf5(path)
    old = path.read_bytes()
    marker = tmp_path / "writing"
    child = textwrap.dedent(f"""
        import time
        from adaptive_kernel import load
        from adaptive_kernel.results import ScanResult
        res = load({str(path)!r})
        original = ScanResult._fill
        def slow(self, f):
            f.create_group("params")
            f.flush()
            open({str(marker)!r}, "w").close()
            time.sleep(120)
        ScanResult._fill = slow
        res.to_hdf5({str(path)!r}, overwrite=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child])
    try:
        t0 = time.monotonic()
        while not marker.exists():
            assert proc.poll() is None, "child exited before writing"
            assert time.monotonic() - t0 < 120
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert path.read_bytes() == old
    assert load(path).teacher == "modadd"
    leftovers = [n for n in os.listdir(tmp_path) if n not in ("scan.h5", "writing")]
    # whatever the killed writer left is a temporary name, never the target
    assert all(n.endswith(".tmp") for n in leftovers), leftovers
