"""Figures and inspection: ``phasesim plot`` / ``phasesim info`` / ``scan --vary``.

Every plot kind renders for both teachers from small files generated here: modadd scans
come from the real solver (a 15-point scan takes well under a second); cubic scans are
synthetic ScanResults written through the package's own writer (the landscape is the
cubic action Shat(q) at hand-chosen b, c that reproduce the three phases), so these tests
do not depend on the cubic solver. Langevin files follow the layout documented in
:class:`simulations.langevin_io.LangevinData`.
"""
from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import brentq, minimize_scalar

from adaptive_kernel import get_teacher, load, scan
from adaptive_kernel import plotting
from adaptive_kernel.cli import main
from adaptive_kernel.phase_diagram import PhaseDiagram, load_phase_diagram, scan_grid
from adaptive_kernel.results import ScanResult

PIL = pytest.importorskip("PIL.Image")


# ---------------------------------------------------------------------------------------
# generated files
CUBIC_PARAMS = {"N": 700, "n": 3000, "d": 150, "sigma_w2": 0.5, "sigma_a2": 8 / 700, "eps": -0.3,
                "method": "quadrature", "modes": 2, "alpha": 1.0, "beta": 1.0}


def cubic_shat(q, b, c, u, sigma_w2=0.5):
    """Shat(q) = q^2/(2 sigma_w2) - (u/2) (I0 (b - 2 c q^2/D))^2, D = 1 + 2(sigma_w2 + q^2)."""
    D = 1 + 2 * (sigma_w2 + q * q)
    i0 = 2 / math.sqrt(math.pi) * q / np.sqrt(D)
    return q * q / (2 * sigma_w2) - 0.5 * u * (i0 * (b - 2 * c * q * q / D)) ** 2


def _side_min(b, c, u):
    r = minimize_scalar(lambda q: cubic_shat(q, b, c, u), bounds=(0.05, 4.0), method="bounded")
    return float(r.fun), float(r.x)


def synthetic_cubic(sigma2=None, s_c=0.18, s_ii=0.125, differ=False) -> ScanResult:
    """A cubic-teacher ScanResult: b pinned to the degeneracy between s_ii and s_c (GMFL-I),
    below it for larger sigma2 (GFL) and above it for smaller (GMFL-II)."""
    p = CUBIC_PARAMS
    sigma2 = np.linspace(0.3, 0.1, 21) if sigma2 is None else np.asarray(sigma2, float)
    q = np.linspace(-2.0, 2.0, 401)
    rows, cols = [], {k: [] for k in ("u", "b", "c", "linear_learned", "cubic_learned",
                                      "droplet_fraction", "q_star")}
    phase = []
    for s in sigma2:
        u = p["n"] ** 2 * p["sigma_a2"] / (s * s * p["d"] * p["N"])
        c = p["eps"] * (0.95 - 1.5 * (0.3 - s))
        b_pin = brentq(lambda b: _side_min(b, c, u)[0], 1e-3, 5.0)
        if s > s_c:
            b, ph, f = b_pin * (1 - 1.5 * (s - s_c)), 0, 0.0
        elif s > s_ii:
            b, ph, f = b_pin, 1, (s_c - s) / (s_c - s_ii)
        else:
            b, ph, f = b_pin * 1.04, 2, 1.0
        rows.append(cubic_shat(q, b, c, u))
        for k, v in (("u", u), ("b", b), ("c", c), ("linear_learned", 1 - b), ("cubic_learned", (p["eps"] - c) / p["eps"]),
                     ("droplet_fraction", f), ("q_star", _side_min(b, c, u)[1])):
            cols[k].append(v)
        phase.append(ph)
    down = {k: np.array(v) for k, v in cols.items()}
    down["phase"] = np.array(phase, np.int8)
    down["converged"] = np.ones(len(sigma2), bool)
    up = {k: v.copy() for k, v in down.items()}
    if differ:  # hysteresis: the upward sweep stays in GFL a little longer
        sel = (sigma2 < s_c) & (sigma2 > s_c - 0.03)
        up["cubic_learned"] = np.where(sel, down["cubic_learned"] * 0.5, down["cubic_learned"])
        up["phase"] = np.where(sel, 0, down["phase"]).astype(np.int8)
    trans = {"sigma2_gmfl1": (s_c, 5e-7, True, "located by bisection"),
             "sigma2_gmfl2": (s_ii, 5e-7, True, "located by bisection")}
    u_c = p["n"] ** 2 * p["sigma_a2"] / (s_c * s_c * p["d"] * p["N"])  # u at the GMFL-I boundary
    return ScanResult("cubic", dict(p), sigma2, {"down": down, "up": up}, 0.1 if differ else 0.0, trans,
                      q, np.array(rows), {"residual_tol": 1e-10}, critical_u=u_c)


def write_cubic(path, **kw):
    synthetic_cubic(**kw).to_hdf5(path, overwrite=True, command="test")
    return path


MODADD_GRID = np.linspace(0.26, 0.15, 15)


@pytest.fixture(scope="module")
def modadd_file(tmp_path_factory):
    t = get_teacher("modadd")
    res = scan(t, t.make_params(normalization="paper"), MODADD_GRID)
    return str(res.to_hdf5(tmp_path_factory.mktemp("m") / "modadd.h5", command="test"))


@pytest.fixture(scope="module")
def cubic_file(tmp_path_factory):
    return write_cubic(str(tmp_path_factory.mktemp("c") / "cubic.h5"), differ=True)


def write_langevin(path, teacher="cubic", n_s=3, seed=0, mode="w"):
    """A synthetic Langevin file in the layout of ``phasesim langevin`` (simulations.langevin):
    measured order parameters with errors, theory columns, per-sigma2 histograms (subsets x
    bins) and the theory's bin probabilities. ``mode="a"`` adds the group to an existing file."""
    rng = np.random.default_rng(seed)
    s2 = np.linspace(0.25, 0.15, n_s)
    nb, rows = 200, 8
    with h5py.File(path, mode) as f:
        if mode == "w":
            f.attrs["kind"] = "langevin"
            f.attrs["teacher"] = teacher
            f.create_group("params").attrs["N"] = 50
        g = f.create_group("langevin")
        g.attrs["seeds"], g.attrs["time_blocks"], g.attrs["steps"] = 4, 2, 1000
        g.create_dataset("sigma2", data=s2)
        g.create_dataset("sigma2_physical", data=s2)
        if teacher == "cubic":
            cols = {"b": 0.5 - (0.25 - s2), "c": -0.25 + 0.0 * s2}
        else:
            cols = {"residual": 1.0 - 2 * (0.25 - s2), "residual_gpr": 1.0 - 1.8 * (0.25 - s2)}
        for name, th in cols.items():
            g.create_dataset(name, data=th + rng.normal(0, 0.01, n_s))
            g.create_dataset(name + "_err", data=np.full(n_s, 0.01))
        if teacher == "cubic":
            g.create_dataset("theory_b", data=cols["b"])
            g.create_dataset("theory_c", data=cols["c"])
            lo, hi = -2.5, 2.5
        else:
            g.create_dataset("theory_residual_derived", data=cols["residual"])
            g.create_dataset("theory_residual_paper", data=cols["residual"] - 0.02)
            lo, hi = 0.0, 5.0
        edges = np.linspace(lo, hi, nb + 1)
        x = 0.5 * (edges[1:] + edges[:-1])
        for j, s in enumerate(s2):
            gi = g.create_group(str(j))
            gi.attrs["sigma2"] = s
            gi.create_dataset("hist_edges", data=edges)
            if teacher == "cubic":
                width = 0.3 + 0.05 * j
                prob = np.exp(-x ** 2 / (2 * width ** 2))
                samples = rng.normal(0, width, size=(rows, 4000))
                counts = np.array([np.histogram(v, edges)[0] for v in samples])
                gi.create_dataset("hist_counts", data=counts)
                gi.create_group("theory").create_dataset("bin_prob", data=prob / prob.sum())
            else:
                scale = 0.4 + 0.1 * j
                prob = np.exp(-x / scale)
                samples = rng.exponential(scale, size=(rows, 3, 4000))
                counts = np.array([[np.histogram(v, edges)[0] for v in r] for r in samples])
                gi.create_dataset("hist_counts", data=counts)
                gi.create_dataset("hist_counts_pooled", data=counts[:, 1:].sum(axis=1))
                th = gi.create_group("theory")
                th.create_group("derived").create_dataset("bin_prob", data=prob / prob.sum())
                p2 = np.exp(-x / (1.1 * scale))
                th.create_group("paper").create_dataset("bin_prob", data=p2 / p2.sum())
    return path


@pytest.fixture(scope="module")
def langevin_files(tmp_path_factory, modadd_file):
    """Standalone Langevin files for both teachers, and a scan file that also holds one."""
    import shutil

    d = tmp_path_factory.mktemp("l")
    both = str(d / "modadd_scan_and_langevin.h5")
    shutil.copy(modadd_file, both)
    write_langevin(both, "modadd", seed=2, mode="a")
    return {"cubic": write_langevin(str(d / "cubic_l.h5"), "cubic"),
            "modadd": write_langevin(str(d / "modadd_l.h5"), "modadd", seed=1),
            "scan+langevin": both}


@pytest.fixture(scope="module")
def phase_files(tmp_path_factory):
    """2-D files: modadd from the real solver (gamma), cubic synthetic (eps)."""
    d = tmp_path_factory.mktemp("p")
    t = get_teacher("modadd")
    diag = scan_grid(t, t.make_params(normalization="paper"), "gamma", [6e-5, 1e-4, 2e-4],
                     np.linspace(0.28, 0.14, 8))
    mod = str(diag.to_hdf5(d / "modadd_phase.h5", command="test"))
    eps = np.array([-0.5, -0.3, -0.1])
    s2 = np.linspace(0.3, 0.1, 9)
    runs = [synthetic_cubic(s2, s_c=0.2 + 0.05 * e, s_ii=0.13 + 0.03 * e) for e in eps]
    data = {k: np.vstack([r.scan[k] for r in runs]) for k in runs[0].scan}
    bnd = {}
    for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
        bnd[name] = np.array([r.transitions[name][0] for r in runs])
        bnd[name + "_halfwidth"] = np.full(3, 5e-7)
        bnd[name + "_located"] = np.ones(3, bool)
    cp = {k: v for k, v in CUBIC_PARAMS.items() if k != "eps"}
    cub = PhaseDiagram("cubic", cp, "eps", eps, s2, data, bnd,
                       {n: ["located by bisection"] * 3 for n in ("sigma2_gmfl1", "sigma2_gmfl2")},
                       np.zeros(3))
    cub = str(cub.to_hdf5(d / "cubic_phase.h5", command="test"))
    return {"modadd": mod, "cubic": cub}


# ---------------------------------------------------------------------------------------
# checks on the images
def check_png(path, figsize, dpi=plotting.DPI):
    with PIL.open(path) as im:
        im.verify()
    with PIL.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        arr = np.asarray(im.convert("L"), float)
    assert (w, h) == (round(figsize[0] * dpi), round(figsize[1] * dpi))
    # not blank: many distinct grey levels and real contrast
    assert arr.std() > 20, arr.std()
    assert len(np.unique(arr)) > 50
    # something drawn in the interior, not only a frame
    inner = arr[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    assert inner.std() > 5


def run(args):
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r


# ---------------------------------------------------------------------------------------
# tests
@pytest.mark.parametrize("teacher", ["modadd", "cubic"])
@pytest.mark.parametrize("kind", ["landscape", "order"])
def test_cli_kinds_render(tmp_path, modadd_file, cubic_file, teacher, kind):
    f = modadd_file if teacher == "modadd" else cubic_file
    out = tmp_path / f"{teacher}_{kind}.png"
    r = run(["plot", f, "--kind", kind, "-o", str(out), "--dpi", "80"])
    assert r.exit_code == 0, r.output
    check_png(out, plotting.FIGSIZE[kind], 80)


@pytest.mark.parametrize("teacher", ["modadd", "cubic"])
def test_cli_phase_renders(tmp_path, phase_files, teacher):
    out = tmp_path / "phase.png"
    r = run(["plot", phase_files[teacher], "--kind", "phase", "-o", str(out), "--dpi", "80"])
    assert r.exit_code == 0, r.output
    check_png(out, plotting.FIGSIZE["phase"], 80)
    # without --kind a --vary file gets its phase diagram, next to the file
    import os

    r = run(["plot", phase_files[teacher], "--dpi", "60"])
    assert r.exit_code == 0, r.output
    default = os.path.splitext(phase_files[teacher])[0] + "_phase.png"
    check_png(default, plotting.FIGSIZE["phase"], 60)
    os.remove(default)
    out2 = tmp_path / "family.png"
    r = run(["plot", phase_files[teacher], "--kind", "order", "-o", str(out2), "--dpi", "80"])
    assert r.exit_code == 0, r.output
    check_png(out2, plotting.FIGSIZE["order"], 80)


@pytest.mark.parametrize("teacher", ["modadd", "cubic", "scan+langevin"])
def test_cli_langevin_renders(tmp_path, langevin_files, teacher):
    out = tmp_path / "lang.png"
    r = run(["plot", langevin_files[teacher], "--kind", "langevin", "-o", str(out), "--dpi", "80"])
    assert r.exit_code == 0, r.output
    check_png(out, plotting.FIGSIZE["langevin"], 80)


def test_pdf_svg_size_option_and_overwrite(tmp_path, modadd_file):
    for ext in ("pdf", "svg"):
        out = tmp_path / f"o.{ext}"
        assert run(["plot", modadd_file, "--kind", "order", "-o", str(out)]).exit_code == 0
        head = out.read_bytes()[:200]
        assert head.startswith(b"%PDF") if ext == "pdf" else b"<svg" in out.read_bytes()[:2000]
    out = tmp_path / "s.png"
    r = run(["plot", modadd_file, "--kind", "landscape", "-o", str(out), "--size", "4,3", "--dpi", "50"])
    assert r.exit_code == 0, r.output
    check_png(out, (4, 3), 50)
    before = out.read_bytes()
    r = run(["plot", modadd_file, "--kind", "landscape", "-o", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert out.read_bytes() == before
    r = run(["plot", modadd_file, "--kind", "landscape", "-o", str(out), "--overwrite", "--dpi", "50"])
    assert r.exit_code == 0
    r = run(["plot", modadd_file, "-o", str(tmp_path / "x.jpg")])
    assert r.exit_code == 2 and ".png" in r.output


def test_missing_group_is_a_clear_error(tmp_path, modadd_file, cubic_file):
    import shutil

    broken = str(tmp_path / "broken.h5")
    shutil.copy(modadd_file, broken)
    with h5py.File(broken, "a") as f:
        del f["landscape"]
    for args in (["plot", broken, "--kind", "landscape", "-o", str(tmp_path / "a.png")],
                 ["info", broken]):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
        assert "missing group 'landscape'" in r.output
        assert len([ln for ln in r.output.splitlines() if ln.startswith("Error")]) == 1
    # a scan file has no grid / langevin group
    for kind, word in (("phase", "'grid'"), ("langevin", "'langevin'")):
        r = CliRunner().invoke(main, ["plot", cubic_file, "--kind", kind, "-o", str(tmp_path / "b.png")])
        assert r.exit_code == 2 and word in r.output and cubic_file in r.output, r.output
        assert not (tmp_path / "b.png").exists()
    # not HDF5 / no such file / empty HDF5
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    empty = str(tmp_path / "empty.h5")
    h5py.File(empty, "w").close()
    for f in (str(junk), str(tmp_path / "nope.h5"), empty):
        r = CliRunner().invoke(main, ["info", f])
        assert r.exit_code == 2 and "Error" in r.output and r.exception is None or isinstance(r.exception, SystemExit)


def test_info_reports_stored_boundaries(modadd_file, cubic_file):
    for f in (modadd_file, cubic_file):
        with h5py.File(f, "r") as h:
            t = dict(h["transitions"].attrs)
            n = len(h["scan/sigma2"])
        r = run(["info", f])
        assert r.exit_code == 0, r.output
        out = r.output
        for name in ("sigma2_gmfl1", "sigma2_gmfl2"):
            v = float(t[name])
            assert f"{name} = {v:.8g}" in out
        assert f"{n} points" in out
        assert "converged:" in out and "GMFL-I" in out and "parameters:" in out


def test_info_phase_diagram_and_langevin(phase_files, langevin_files):
    r = run(["info", phase_files["modadd"]])
    assert r.exit_code == 0, r.output
    d = load_phase_diagram(phase_files["modadd"])
    assert "varied:     gamma" in r.output
    for v in d.boundaries["sigma2_gmfl1"]:
        assert f"{v:.6f}" in r.output
    for key in ("cubic", "modadd", "scan+langevin"):
        r = run(["info", langevin_files[key]])
        assert r.exit_code == 0 and "langevin:" in r.output and "histogram" in r.output, r.output
    # a Langevin-only file has no landscape / order data
    r = CliRunner().invoke(main, ["plot", langevin_files["cubic"], "--kind", "order", "-o", "x.png"])
    assert r.exit_code == 2 and "--kind langevin" in r.output


def test_vary_writes_2d_file_that_phase_kind_renders(tmp_path):
    out = tmp_path / "pd.h5"
    r = run(["scan", "--teacher", "modadd", "--normalization", "paper", "--sigma2", "0.28:0.14:8",
             "--vary", "gamma=6e-5:2e-4:3", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    d = load_phase_diagram(out)
    assert d.name == "gamma" and d.phase.shape == (3, 8) and d.data["residual"].shape == (3, 8)
    assert np.allclose(d.values, [6e-5, 1.3e-4, 2e-4])
    assert "gamma" not in d.params and d.params["normalization"] == "paper"
    assert np.all(np.isfinite(d.boundaries["sigma2_gmfl1"]))
    with h5py.File(out, "r") as f:
        assert f["grid"].attrs["name"] == "gamma" and f["grid/phase"].shape == (3, 8)
    # the same as one 1-D scan per value
    t = get_teacher("modadd")
    one = scan(t, t.make_params(normalization="paper", gamma=1.3e-4), np.linspace(0.28, 0.14, 8))
    assert np.array_equal(one.scan["phase"], d.phase[1])
    assert d.boundaries["sigma2_gmfl1"][1] == pytest.approx(one.sigma2_gmfl1, abs=1e-9)
    png = tmp_path / "pd.png"
    r = run(["plot", str(out), "--kind", "phase", "-o", str(png), "--dpi", "80"])
    assert r.exit_code == 0, r.output
    check_png(png, plotting.FIGSIZE["phase"], 80)
    # bad --vary
    for bad, word in (("foo=1:2:3", "numeric parameter"), ("gamma", "NAME=START:STOP:NUM"),
                      ("gamma=-1:1:3", "gamma must be")):
        r = CliRunner().invoke(main, ["scan", "--vary", bad, "-o", str(tmp_path / "x.h5"), "-q"])
        assert r.exit_code == 2 and word in r.output, r.output
    r = CliRunner().invoke(main, ["scan", "--vary", "gamma=1e-4:2e-4:2", "--gamma", "1e-4",
                                  "-o", str(tmp_path / "x.h5"), "-q"])
    assert r.exit_code == 2 and "both given" in r.output
    assert not (tmp_path / "x.h5").exists()


def test_python_api_functions(modadd_file, cubic_file, langevin_files, phase_files):
    """Notebook use: the plotting functions take the loaded objects, return Axes and draw
    on a given ax (the result classes have no plot methods: they never import plotting)."""
    from matplotlib.figure import Figure

    res = load(modadd_file)
    assert not hasattr(res, "plot_order")
    ax = plotting.plot_landscape(res, n_curves=4)
    assert ax.get_xlabel() and ax.get_ylabel() and len(ax.lines) >= 4
    ax = plotting.plot_order(res)
    assert "sigma" in ax.get_xlabel()
    fig = Figure()
    own = fig.add_subplot()
    assert plotting.plot_order(res, ax=own) is own
    assert plotting.load_any is load
    cub = load(cubic_file)
    ax = plotting.plot_order(cub)
    # both sweeps drawn when they differ (dashed upward branch)
    assert any(line.get_linestyle() == "--" for line in ax.lines)
    assert plotting.plot_langevin(load(langevin_files["cubic"]))[0].get_ylabel()
    d = load(phase_files["cubic"])
    assert plotting.plot_phase(d).get_ylabel() == r"$\epsilon$"
    with pytest.raises(Exception, match="grid"):
        plotting.plot(res, "phase")


def test_landscape_marks_minima_and_inset(modadd_file):
    """Markers at the minima of the drawn curves; the inset (mixed phase) zooms on the
    near-degenerate side minimum."""
    res = load(modadd_file)
    ax = plotting.plot_landscape(res, n_curves=6)
    gamma = res.params["gamma"]
    marks = [line for line in ax.lines if line.get_marker() == "o" and len(line.get_xdata()) == 1]
    xs = np.array([m.get_xdata()[0] for m in marks])
    assert np.any(np.abs(xs) < 1.0)                         # the origin minimum
    assert np.any(np.abs(xs - math.sqrt(3 / gamma)) < 10)   # droplet minimum near sqrt(3/gamma)
    insets = [c for c in ax.child_axes]
    assert len(insets) == 1
    x0, x1 = insets[0].get_xlim()
    assert x0 < math.sqrt(3 / gamma) < x1 and (x1 - x0) < 0.3 * math.sqrt(3 / gamma)
    ax2 = plotting.plot_landscape(res, inset=False)
    assert not ax2.child_axes


def test_real_cubic_teacher_scan_renders(tmp_path):
    """The cubic teacher's own (small) scan through the CLI: every kind it supports renders."""
    from adaptive_kernel.registry import THEORIES

    if "cubic" not in THEORIES:
        pytest.skip("cubic teacher not registered")
    f = tmp_path / "c.h5"
    r = run(["scan", "--teacher", "cubic", "--method", "saddle", "--sigma2", "0.3:0.1:11", "-o", str(f), "-q"])
    assert r.exit_code == 0, r.output
    for kind in ("landscape", "order"):
        out = tmp_path / f"{kind}.png"
        r = run(["plot", str(f), "--kind", kind, "-o", str(out), "--dpi", "60"])
        assert r.exit_code == 0, r.output
        check_png(out, plotting.FIGSIZE[kind], 60)
    r = run(["info", str(f)])
    assert r.exit_code == 0 and "sigma2_gmfl1 = " in r.output
    d = tmp_path / "cd.h5"
    r = run(["scan", "--teacher", "cubic", "--method", "saddle", "--sigma2", "0.3:0.1:6",
             "--vary", "eps=-0.5,-0.3", "-o", str(d), "-q"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "phase.png"
    assert run(["plot", str(d), "--kind", "phase", "-o", str(out), "--dpi", "60"]).exit_code == 0
    check_png(out, plotting.FIGSIZE["phase"], 60)


def test_not_converged_points_render(tmp_path, cubic_file):
    """Points marked converged=False (NaN values, phase -1) leave gaps, not errors."""
    import shutil

    f = str(tmp_path / "nc.h5")
    shutil.copy(cubic_file, f)
    with h5py.File(f, "a") as h:
        for g in ("scan", "scan_up"):
            ph = h[g]["phase"][()]
            ph[[3, 4]] = -1
            h[g]["phase"][...] = ph
            conv = h[g]["converged"][()]
            conv[[3, 4]] = False
            h[g]["converged"][...] = conv
            for k in ("linear_learned", "cubic_learned", "droplet_fraction"):
                v = h[g][k][()]
                v[[3, 4]] = np.nan
                h[g][k][...] = v
        a = h["landscape/action"][()]
        a[[3, 4]] = np.nan
        h["landscape/action"][...] = a
    for kind in ("order", "landscape"):
        out = tmp_path / f"{kind}.png"
        r = run(["plot", f, "--kind", kind, "-o", str(out), "--dpi", "60"])
        assert r.exit_code == 0, r.output
        check_png(out, plotting.FIGSIZE[kind], 60)
    r = run(["info", f])
    assert "19/21 (downward sweep)" in r.output and "not converged" in r.output


def test_real_langevin_run_renders(tmp_path):
    """A (very short) real ``simulations.langevin`` run for each teacher: its file is read,
    plotted and described."""
    lang = pytest.importorskip("simulations.langevin")
    runs = {"cubic": (dict(N=8, d=6, n=30), dict(n_test=30)),
            "modadd": (dict(P=5, N=8, sigma_a2=0.002 / 8, gamma=1e-2), {})}
    for teacher, (phys, extra) in runs.items():
        t = get_teacher(teacher)
        cfg = lang.LangevinConfig(teacher, t.make_params(**phys), [0.2, 0.1], steps=120, burn_in=60,
                                  thin=10, seeds=2, time_blocks=2, **extra)
        f = str(tmp_path / f"{teacher}.h5")
        lang.run_langevin(cfg).to_hdf5(f)
        out = tmp_path / f"{teacher}.png"
        r = run(["plot", f, "--kind", "langevin", "-o", str(out), "--dpi", "60"])
        assert r.exit_code == 0, r.output
        check_png(out, plotting.FIGSIZE["langevin"], 60)
        r = run(["info", f])
        assert r.exit_code == 0 and "langevin:" in r.output
