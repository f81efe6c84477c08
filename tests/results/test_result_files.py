"""Result files: the root ``kind`` attribute and :func:`adaptive_kernel.load` dispatching on it
(:mod:`adaptive_kernel.kinds`), files written before the attribute existed, the one writer
(:func:`adaptive_kernel.storage.write_result`), and what other tools see in the files
(HDF5 dimension scales read by xarray/h5netcdf, descriptions, units, code tables).

Every kind is made here with tiny parameters: a 3-point modular-addition scan at P = 7, a
2 x 3 phase diagram, and a 2-point Langevin run of the cubic teacher with 2 short chains.
"""
from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import adaptive_kernel
from adaptive_kernel import get_teacher, kinds, load, scan, storage
from adaptive_kernel.cli import main
from adaptive_kernel.errors import FileFormatError, OutputExistsError
from adaptive_kernel.phase_diagram import PhaseDiagram, scan_grid
from adaptive_kernel.results import ScanResult
from adaptive_kernel.solver import STATUS_MESSAGES

SIGMA2 = np.linspace(0.3, 0.2, 3)
PHASE_CODES = "0=GFL, 1=GMFL-I, 2=GMFL-II, 3=crossover, -1=not converged"


@pytest.fixture(scope="module")
def results():
    """One in-memory result of each kind."""
    from simulations.langevin import LangevinConfig, run_langevin

    t = get_teacher("modadd")
    p = t.make_params(P=7, N=50, sigma_a2=0.05, gamma=0.05)
    c = get_teacher("cubic")
    cp = c.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1)
    return {
        "scan": scan(t, p, SIGMA2),
        "phase_diagram": scan_grid(t, p, "gamma", np.array([0.04, 0.05]), SIGMA2),
        "langevin": run_langevin(LangevinConfig("cubic", cp, [0.3, 0.2], steps=40, burn_in=10, thin=2,
                                                seeds=2, n_test=20)),
    }


@pytest.fixture(scope="module")
def files(results, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    return {kind: str(res.to_hdf5(folder / f"{kind}.h5", command="test")) for kind, res in results.items()}


def _datasets(path):
    """{name: array} of every dataset in the file."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same_datasets(a, b):
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        assert da[name].dtype == db[name].dtype, name
        assert np.array_equal(da[name], db[name], equal_nan=da[name].dtype.kind == "f"), name


def _copy_without_kind(src, dst):
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(fin.read())
    with h5py.File(dst, "r+") as f:
        del f.attrs["kind"]
    return str(dst)


# ---------------------------------------------------------------------------------------
# kind and load
def test_every_file_carries_its_kind(files):
    for kind, path in files.items():
        with h5py.File(path, "r") as f:
            assert f.attrs["kind"] == kind
        assert kinds.kind_of(path) == kind
    assert kinds.known_kinds() == ["analytic", "atlas", "kernel", "langevin", "phase_diagram", "rfm", "scan", "train"]
    assert adaptive_kernel.load is kinds.load


def test_round_trip_through_load(files, results, tmp_path):
    """Each kind loads as its class; a scan and a phase diagram written again from the
    loaded object give the same datasets, bit for bit."""
    res = load(files["scan"])
    assert type(res) is ScanResult and res.kind == "scan" and res.langevin is None
    assert np.array_equal(res.sigma2, results["scan"].sigma2)
    for branch in ("down", "up"):
        orig = results["scan"].branches[branch]
        assert sorted(res.branches[branch]) == sorted(orig)
        for k, v in orig.items():
            assert np.array_equal(res.branches[branch][k], v, equal_nan=True), (branch, k)
    assert res.to_hdf5(tmp_path / "scan2.h5")
    _assert_same_datasets(files["scan"], tmp_path / "scan2.h5")

    d = load(files["phase_diagram"])
    assert type(d) is PhaseDiagram and d.kind == "phase_diagram"
    for k, v in results["phase_diagram"].data.items():
        assert np.array_equal(d.data[k], v, equal_nan=True), k
    d.to_hdf5(tmp_path / "diag2.h5")
    _assert_same_datasets(files["phase_diagram"], tmp_path / "diag2.h5")

    lg = load(files["langevin"])
    assert type(lg).__name__ == "LangevinData" and lg.kind == "langevin"
    assert type(lg).__module__ == "simulations.langevin_io"
    run = results["langevin"]
    assert np.array_equal(lg.sigma2, run.config.sigma2)
    for name in ("b", "c", "q2"):
        assert np.array_equal(lg.measured[name][0], run.column(name), equal_nan=True)
        assert np.array_equal(lg.measured[name][1], run.column_err(name), equal_nan=True)
    with h5py.File(files["langevin"], "r") as f:
        for i, p in enumerate(run.points):
            assert np.array_equal(f[f"langevin/{i}/hist_counts"][()], p["arrays"]["hist_counts"])


def test_root_attributes_carry_over(files, tmp_path):
    """A loaded file written again keeps its provenance; ``kind`` is always the writer's."""
    res = load(files["scan"])
    res.attrs["kind"] = "something else"
    res.to_hdf5(tmp_path / "again.h5")
    with h5py.File(files["scan"], "r") as a, h5py.File(tmp_path / "again.h5", "r") as b:
        assert b.attrs["kind"] == "scan"
        for k in ("created", "command", "teacher", "format_version", "phase_codes"):
            assert a.attrs[k] == b.attrs[k], k
        assert a.attrs["phase_codes"] == PHASE_CODES


def test_files_without_kind_load_by_their_groups(files, tmp_path):
    """Files written before the attribute existed are recognised as plotting.load_any did."""
    for kind, cls_name in (("scan", "ScanResult"), ("phase_diagram", "PhaseDiagram"),
                           ("langevin", "LangevinData")):
        old = _copy_without_kind(files[kind], tmp_path / f"old_{kind}.h5")
        with h5py.File(old, "r") as f:
            assert "kind" not in f.attrs
        assert type(load(old)).__name__ == cls_name
        assert kinds.kind_of(old) == kind
    # a scan with a langevin group next to it: the scan, with the Langevin data attached
    both = _copy_without_kind(files["scan"], tmp_path / "both.h5")
    with h5py.File(both, "r+") as f, h5py.File(files["langevin"], "r") as g:
        g.copy("langevin", f)
    res = load(both)
    assert type(res) is ScanResult
    assert type(res.langevin).__name__ == "LangevinData"
    assert np.array_equal(res.langevin.sigma2, load(files["langevin"]).sigma2)
    # the same with the new attribute
    with h5py.File(both, "r+") as f:
        f.attrs["kind"] = "scan"
    assert type(load(both).langevin).__name__ == "LangevinData"
    # and a file of none of these
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("something")
    with pytest.raises(FileFormatError, match="not a phasesim file"):
        load(tmp_path / "other.h5")


def test_unknown_kind_is_a_one_line_error(files, tmp_path):
    bad = _copy_without_kind(files["scan"], tmp_path / "bad.h5")
    with h5py.File(bad, "r+") as f:
        f.attrs["kind"] = "hologram"
    with pytest.raises(FileFormatError) as info:
        load(bad)
    msg = str(info.value)
    assert "\n" not in msg and "hologram" in msg
    assert all(k in msg for k in ("scan", "phase_diagram", "langevin"))
    r = CliRunner().invoke(main, ["info", bad])
    assert r.exit_code == 2
    assert "hologram" in r.output and "Traceback" not in r.output
    with pytest.raises(FileFormatError, match="known kinds"):
        kinds.reader_for("hologram")


def test_registering_a_kind(tmp_path, monkeypatch):
    """A new kind is one register_kind call; its files go through the one writer."""

    class Note:
        kind = "note"

        def __init__(self, text):
            self.text = text

        def to_hdf5(self, path, overwrite=False):
            def fill(f):
                storage.describe(f.create_dataset("text", data=self.text), "the note")
            return storage.write_result(path, self.kind, fill, overwrite, command="test", teacher="")

        @classmethod
        def from_hdf5(cls, path):
            with storage.open_h5(path) as f:
                return cls(f["text"][()].decode())

    monkeypatch.setitem(kinds._READERS, "note", None)  # restored after the test
    kinds.register_kind("note", lambda: Note)         # a lazily imported reader
    path = Note("hello").to_hdf5(tmp_path / "n.h5")
    back = load(path)
    assert isinstance(back, Note) and back.text == "hello"
    with h5py.File(path, "r") as f:
        assert f.attrs["kind"] == "note" and f.attrs["command"] == "test"
        assert "package_version" in f.attrs


# ---------------------------------------------------------------------------------------
# what other tools see
def test_sweeps_have_sigma2_as_a_dimension_scale(files):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    ref = _datasets(files["scan"])
    for group in ("scan", "scan_up"):
        with xr.open_dataset(files["scan"], group=group, engine="h5netcdf") as ds:
            assert "sigma2" in ds.coords and "sigma2" in ds.indexes
            assert ds["residual"].dims == ("sigma2",)
            assert np.array_equal(ds["sigma2"].values, ref[f"{group}/sigma2"])
            assert np.array_equal(ds["residual"].sel(sigma2=SIGMA2[1]).values, ref[f"{group}/residual"][1],
                                  equal_nan=True)
            assert all(ds[v].dims == ("sigma2",) for v in ds.data_vars)
            assert ds["residual"].attrs["units"] == "1"
    with xr.open_dataset(files["phase_diagram"], group="grid", engine="h5netcdf") as ds:
        assert {"values", "sigma2"} <= set(ds.coords)
        assert ds["phase"].dims == ("values", "sigma2")
        assert ds["branch_difference"].dims == ("values",)
        assert np.array_equal(ds["values"].values, [0.04, 0.05])
    with xr.open_dataset(files["langevin"], group="langevin", engine="h5netcdf") as ds:
        assert "sigma2" in ds.coords
        assert ds["b"].dims == ("sigma2",) and ds["b_err"].dims == ("sigma2",)
        assert np.array_equal(ds["sigma2"].values, [0.3, 0.2])
    with h5py.File(files["scan"], "r") as f:
        assert f["scan/sigma2"].is_scale
        assert f["scan/residual"].dims[0][0] == f["scan/sigma2"]


def test_every_dataset_is_described(files):
    for kind, path in files.items():
        seen = []

        def check(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            seen.append(name)
            text = obj.attrs.get("description")
            assert isinstance(text, str) and text.strip() and "\n" not in text, (kind, name)
            if obj.dtype.kind == "f" and not name.rsplit("/", 1)[-1].startswith(("theory_phase", "theory_converged")):
                assert obj.attrs.get("units") == "1", (kind, name)
            if obj.dtype.kind == "b":
                assert "units" not in obj.attrs, (kind, name)

        with h5py.File(path, "r") as f:
            f.visititems(check)
            assert len(seen) > 5
            if kind != "langevin":
                assert f.attrs["phase_codes"] == PHASE_CODES
    with h5py.File(files["scan"], "r") as f:
        for group in ("scan", "scan_up"):
            assert f[f"{group}/phase"].attrs["phase_codes"] == PHASE_CODES
            codes = f[f"{group}/status"].attrs["status_codes"]
            for code, message in STATUS_MESSAGES.items():
                assert f"{code}={message}" in codes
        # theory-specific observables: the task's one-line description
        assert f["scan/residual"].attrs["description"].startswith("r: residual fraction")
        assert f["landscape/phi"].attrs["description"].startswith("Phi = |W_k|^2")
    with h5py.File(files["phase_diagram"], "r") as f:
        assert f["grid/phase"].attrs["phase_codes"] == PHASE_CODES
        assert "gamma" in f["grid/values"].attrs["description"]
    with h5py.File(files["langevin"], "r") as f:
        assert f["langevin/theory_phase"].attrs["phase_codes"] == PHASE_CODES


# ---------------------------------------------------------------------------------------
# the one writer
def test_writers_refuse_an_existing_file(files, results, tmp_path):
    for kind, res in results.items():
        path = tmp_path / f"{kind}.h5"
        res.to_hdf5(path)
        before = path.read_bytes()
        with pytest.raises(OutputExistsError, match="exists; pass --overwrite"):
            res.to_hdf5(path)
        assert path.read_bytes() == before
        res.to_hdf5(path, overwrite=True)
        assert load(path).kind == kind

    def fill(f):
        raise AssertionError("nothing is assembled for a refused file")

    with pytest.raises(OutputExistsError):
        storage.write_result(tmp_path / "scan.h5", "scan", fill)


def test_results_do_not_import_plotting(files):
    """Loading and writing results never imports the plotting module (nor Matplotlib)."""
    code = (f"import sys; from adaptive_kernel import load; r = load({files['scan']!r}); "
            f"load({files['phase_diagram']!r}); load({files['langevin']!r}); "
            "assert 'adaptive_kernel.plotting' not in sys.modules, 'plotting imported'; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
