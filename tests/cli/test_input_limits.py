"""Bad inputs, resource estimates and sampler health (issue 15).

* physical parameters: the smallest sigma2 the numerics resolve (modadd: the droplet depth
  of the exact quadrature, checked against the independent reference; cubic: the action
  depth n^2 sigma_a2 (1 + 6 eps^2)/(sigma2^2 N)), parameter ranges, int64 integers, seeds;
* grid sizes: ``scan --sigma2 START:STOP:NUM`` and ``--vary`` capped with an estimate;
* ``plot --kind landscape --sigma2`` within the scan's range;
* memory estimates of ``langevin`` (refusal naming the parameter; accuracy against
  tracemalloc on small real runs) and the worker cap of ``--jobs``;
* sampler health: a chain that cannot have sampled ends with a WARNING line and is flagged
  in ``langevin/sampling_ok``.

Every refusal on the command line: exit code 2, one ``Error:`` line naming the parameter,
its allowed range and the value received, no traceback, nothing written.
"""
import math
import os
import tracemalloc

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adaptive_kernel import limits
from adaptive_kernel.cli import main
from adaptive_kernel.errors import ParameterError
from adaptive_kernel.registry import get_teacher

CUBIC = ["--teacher", "cubic", "--N", "8", "--d", "4", "--n", "30", "--sigma-a2", "0.05",
         "--alpha", "1", "--beta", "1", "--n-test", "20"]
MODADD = ["--teacher", "modadd", "--P", "5", "--N", "6", "--sigma-a2", "0.02", "--gamma", "3"]
RUN = ["--steps", "60", "--burn-in", "20", "--thin", "5", "--seeds", "2", "-q"]


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=True)


def error_line(r):
    """The single ``Error:`` line of a refused command (asserts there is exactly one)."""
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


def assert_refused(r, *parts, folder=None):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    line = error_line(r)
    for p in parts:
        assert p in line, (p, line)
    if folder is not None:
        assert not any(folder.iterdir()), list(folder.iterdir())
    return line


# ------------------------------------------------------------------------------------------
# 1. physical parameters: the noise range the numerics resolve
# ------------------------------------------------------------------------------------------
def test_modadd_small_sigma2_now_solved_and_matches_reference():
    """sigma2 = 1e-3 ... 1e-150 used to give ZeroDivisionError / non-finite points (the
    bracket end r = 1 put u r^2 far beyond the quadrature). The solver now stays where the
    quadrature is exact; the root satisfies the independent reference's equation."""
    from adaptive_kernel import reference as R
    from adaptive_kernel.solver import solve

    t = get_teacher("modadd")
    p = t.make_params()
    ratios = []
    for s2 in (1e-3, 1e-12, 1e-150):
        sol = solve(t, p, s2)
        assert sol.success, sol
        ratios.append(float(sol.x[0]) / s2)
    # deep in the droplet phase the coupling u r^2 is pinned, so r is proportional to sigma2
    assert ratios[0] == pytest.approx(ratios[1], rel=1e-7)
    assert ratios[1] == pytest.approx(ratios[2], rel=1e-12)
    r = float(solve(t, p, 1e-12).x[0])
    T = R.fixed_point_map(r, 1e-12, p["P"], p["N"], p["sigma_a2"], p["gamma"], p["normalization"], "exact")
    # relative residual of the reference equation; the mixed phase amplifies the 1e-11
    # quadrature differences by its condition number (measured 1.4e-10)
    assert abs(r - T) / r < 1e-9


def test_modadd_exact_quadrature_at_the_depth_limit_matches_reference():
    """At the deepest droplet accepted (MAX_DROPLET_DEPTH) the exact quadrature still agrees
    with the nested-QUADPACK reference (measured 4.5e-12 at P = 401)."""
    import warnings

    from adaptive_kernel import reference as R
    from adaptive_kernel.teachers import _modadd_kernels as K
    from adaptive_kernel.teachers.modadd import MAX_DROPLET_DEPTH, max_coupling, pair_moments

    P, g = 401, 1e-4
    v = max_coupling(P, g)
    assert K.droplet_depth(float(P), v, g) == pytest.approx(MAX_DROPLET_DEPTH, rel=1e-9)
    ker = pair_moments(P, v, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's own error estimate is ~1e-9 here
        ref = R.pair_moments(P, v, g, which=("XY", "X"))
    for key in ("XY", "X"):
        assert ker[key] == pytest.approx(ref[key], rel=3e-11), key


def test_modadd_tiny_coupling_keeps_panels_in_bounds():
    """sigma_a2 = 1e-300 used to corrupt the heap (panel edges written past their buffer at
    a coupling ~1e-300); the panels now stop at the buffer and the moments are the prior's."""
    from adaptive_kernel.teachers.modadd import pair_moments

    free = pair_moments(401, 0.0, 1e-4)
    tiny = pair_moments(401, 1e-290, 1e-4)
    for key in ("XY", "X", "X2"):
        assert tiny[key] == pytest.approx(free[key], rel=1e-12)


def test_modadd_sigma2_below_overflow_refused(tmp_path):
    out = tmp_path / "o.h5"
    r = invoke(["scan", "--sigma2", "1e-160", "-q", "-o", str(out)])
    line = assert_refused(r, "sigma2 = 1e-160", "sigma2 >= ", "overflows", folder=tmp_path)
    lim = float(line.split("sigma2 >= ")[1].split(")")[0])
    assert 1e-160 < lim < 1e-150


def test_modadd_sigma2_limit_api():
    t = get_teacher("modadd")
    for kw in ({}, {"method": "saddle"}, {"normalization": "paper"}):
        p = t.make_params(**kw)
        lim = t.sigma2_limit(p)
        assert 1e-160 < lim < 1e-150  # the only limit at these parameters: u overflows
        t.check_sigma2(p, [lim * 1.01])
        with pytest.raises(ParameterError, match="sigma2 >= "):
            t.check_sigma2(p, [lim / 2])


@pytest.mark.parametrize("args, parts", [
    (["--teacher", "cubic", "--sigma2", "1e-12"], ["sigma2 = 1e-12", "sigma2 >= 0.002746", "3e+07"]),
    (["--teacher", "cubic", "--N", "1", "--sigma2", "0.3:0.1:3"], ["sigma2 = 0.1", "sigma2 >= 1.922"]),
    (["--teacher", "cubic", "--n", "1000000000", "--sigma2", "0.3:0.1:3"], ["sigma2 = 0.1", "sigma2 >= 915"]),
    (["--teacher", "cubic", "--eps", "1000000", "--sigma2", "0.3:0.1:3"], ["sigma2 = 0.1", "sigma2 >= 5421"]),
    (["--teacher", "cubic", "--eps", "1e7"], ["eps", "in [-1e+06, 1e+06]", "10000000"]),
    (["--teacher", "cubic", "--d", "10000000000000"], ["d", "<= 1000000000000", "10000000000000"]),
    (["--teacher", "cubic", "--sigma-w2", "1e300"], ["sigma_w2", "<= 10000", "1e+300"]),
    (["--teacher", "cubic", "--beta", "1e300"], ["beta", "> 0, <= 1e+06", "1e+300"]),
    (["--teacher", "cubic", "--alpha", "1e-300"], ["alpha", ">= 1e-06", "1e-300"]),
    (["--N", "1000000000000000000000000000000"], ["N must be an integer", "in [1, 9223372036854775807]",
                                                  "1000000000000000000000000000000"]),
    (["--P", "1000000007"], ["P must be an integer", "in [5, 1000003]", "1000000007"]),
    (["--P", str(2 ** 61 - 1)], ["P must be", str(2 ** 61 - 1)]),  # refused before any prime test
    (["--gamma", "1e300"], ["gamma must be in [4.82e-15, 1.61e+05] at P = 401", "1e+300"]),
    (["--gamma", "1e-300"], ["gamma must be in", "1e-300"]),
])
def test_scan_parameter_ranges_refused(tmp_path, args, parts):
    r = invoke(["scan", *args, "-q", "-o", str(tmp_path / "o.h5")])
    assert_refused(r, *parts, folder=tmp_path)


def test_cubic_saddle_small_sigma2_runs(tmp_path):
    out = tmp_path / "s.h5"
    r = invoke(["scan", "--teacher", "cubic", "--method", "saddle", "--sigma2", "1e-12:1e-13:2", "-q",
                "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.exists()


def test_cubic_limit_scales_with_the_action_depth():
    t = get_teacher("cubic")
    p = t.make_params()
    lim = t.sigma2_limit(p)
    from adaptive_kernel.teachers.cubic import MAX_COUPLING_DEPTH

    assert t.coupling_depth(p, lim) == pytest.approx(MAX_COUPLING_DEPTH, rel=1e-12)
    t.check_sigma2(p, [lim * 1.0001, 0.3])
    with pytest.raises(ParameterError, match="sigma2 >= 0.002746"):
        t.check_sigma2(p, [lim * 0.999])


def test_cubic_quadrature_node_cap_returns_nan_not_memory_error():
    """A state needing more nodes than MAX_NODES gives NaN (solver: not converged), where it
    used to fail to allocate (MemoryError)."""
    from adaptive_kernel.teachers import _cubic_kernels as CK

    c = CK.erf_hermite_coefficients(2)
    t = np.array([1.0, -0.7])
    M, Ms, st = CK.quadrature_moments(t, c, 1e27, 150.0, 0.5, np.inf)
    assert np.all(np.isnan(M)) and st[5] > CK.MAX_NODES
    x = CK.quadrature_map(np.array([1.0, -0.3]), np.array([1.0, -0.73]), np.array([1.0, math.sqrt(6)]), c,
                          1e27, 1e9, 150.0, 0.5)
    assert np.all(np.isnan(x))


@pytest.mark.parametrize("seed", [str(2 ** 70), str(2 ** 63), "-1"])
def test_langevin_seed_out_of_range_refused_before_anything(tmp_path, seed):
    out = tmp_path / "x.h5"
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "--seed", seed, "-o", str(out)])
    assert_refused(r, "seed must be an integer in [0, 9223372036854775807]", seed, folder=tmp_path)
    assert not os.path.exists(str(out) + ".ckpt")


def test_langevin_largest_seed_is_written(tmp_path):
    out = tmp_path / "x.h5"
    r = invoke(["langevin", *MODADD, "--sigma2", "0.2", *RUN, "--seed", str(2 ** 63 - 1), "-o", str(out)])
    assert r.exit_code == 0, r.output
    with h5py.File(out, "r") as f:
        assert int(f["langevin"].attrs["seed"]) == 2 ** 63 - 1


def test_langevin_theory_noise_limit_checked_before_the_run(tmp_path):
    r = invoke(["langevin", *CUBIC, "--sigma2", "1e-12", *RUN, "-o", str(tmp_path / "x.h5")])
    assert_refused(r, "sigma2 = 1e-12", "sigma2 >= ", folder=tmp_path)


# ------------------------------------------------------------------------------------------
# 2. grid sizes
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, parts", [
    (["--sigma2", "0.3:0.1:10000000"], ["--sigma2 NUM = 10000000 points", "cap of 20000",
                                         "estimated file 40.3 GiB", "run time"]),
    (["--teacher", "cubic", "--sigma2", "0.3:0.1:30000"], ["--sigma2 NUM = 30000 points", "20000",
                                                           "estimated file 105.6 MiB"]),
    (["--vary", "gamma=1e-4:2e-4:100", "--sigma2", "0.3:0.1:1000"],
     ["--vary gamma NUM x --sigma2 NUM = 100 x 1000 = 100000 points", "20000", "estimated file"]),
    (["--vary", "gamma=1e-4:2e-4:10000000", "--sigma2", "0.3:0.1:3"], ["gamma grid: NUM must be <= 1000000",
                                                                        "10000000"]),
])
def test_scan_grid_size_capped_with_estimate(tmp_path, args, parts):
    r = invoke(["scan", *args, "-q", "-o", str(tmp_path / "o.h5")])
    assert_refused(r, *parts, folder=tmp_path)


def test_scan_size_estimate_matches_a_real_file(tmp_path):
    """The file-size estimate of check_scan_size against files actually written (within 25%)."""
    from adaptive_kernel.solver import scan

    for teacher, grid in (("modadd", np.linspace(0.26, 0.15, 60)), ("cubic", np.linspace(0.3, 0.1, 60))):
        t = get_teacher(teacher)
        p = t.make_params()
        est = limits.check_scan_size(t, p, len(grid))
        out = tmp_path / f"{teacher}.h5"
        scan(t, p, grid).to_hdf5(out)
        assert 0.75 < est["file_bytes"] / os.path.getsize(out) < 1.25, (teacher, est, os.path.getsize(out))


def test_scan_grid_refused_by_memory(monkeypatch):
    t = get_teacher("cubic")
    p = t.make_params()
    with pytest.raises(ParameterError, match=r"--sigma2 NUM = 10000: the run needs about .* available"):
        limits.check_scan_size(t, p, 10000, available=10 * 2 ** 20)


# ------------------------------------------------------------------------------------------
# 3. plot --sigma2
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "s.h5"
    r = invoke(["scan", "--sigma2", "0.26:0.15:5", "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("values, bad", [("-1,nan", "-1.0"), ("0.2,nan", "nan"), ("inf", "inf"),
                                         ("0.5", "0.5"), ("0", "0.0")])
def test_plot_landscape_sigma2_validated(small_scan, tmp_path, values, bad):
    png = tmp_path / "l.png"
    r = invoke(["plot", str(small_scan), "--kind", "landscape", f"--sigma2={values}", "-o", str(png)])
    assert_refused(r, "--sigma2", "[0.15, 0.26]", f"got {bad}")
    assert not png.exists()


def test_plot_landscape_sigma2_near_the_range_drawn(small_scan, tmp_path):
    png = tmp_path / "l.png"
    r = invoke(["plot", str(small_scan), "--kind", "landscape", "--sigma2=0.14,0.2", "-o", str(png)])
    assert r.exit_code == 0, r.output
    assert png.exists()


# ------------------------------------------------------------------------------------------
# 4. memory estimates
# ------------------------------------------------------------------------------------------
def test_available_memory_reads_meminfo_and_falls_back(monkeypatch):
    avail = limits.available_memory()
    assert avail > 0
    with open("/proc/meminfo") as f:
        kb = next(int(ln.split()[1]) for ln in f if ln.startswith("MemAvailable:"))
    assert abs(avail - kb * 1024) < 0.5 * avail  # it moves a little between the two reads
    import builtins

    real_open = builtins.open

    def no_proc(path, *a, **k):
        if str(path) == "/proc/meminfo":
            raise OSError("no /proc")
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", no_proc)
    assert limits.available_memory() > 0  # os.sysconf


@pytest.mark.parametrize("args, parts", [
    (["--teacher", "cubic", "--N", "1000000000", "--sigma2", "0.2"], ["--N 1000000000", "TiB", "available"]),
    (["--teacher", "cubic", "--d", "10000000", "--sigma2", "0.2"], ["--d 10000000", "TiB", "available"]),
    (["--teacher", "cubic", "--n", "1000000000", "--sigma2", "1000"], ["--n 1000000000", "TiB"]),
    (["--teacher", "modadd", "--P", "401", "--sigma2", "0.2"], ["--P 401", "GiB"]),
    (["--teacher", "cubic", "--sigma2", "0.2", "--seeds", "1000000"], ["--seeds 1000000", "TiB"]),
])
def test_langevin_memory_refused_before_start(tmp_path, monkeypatch, args, parts):
    monkeypatch.setattr(limits, "available_memory", lambda: 16 * 2 ** 30)
    out = tmp_path / "x.h5"
    line = assert_refused(invoke(["langevin", *args, "-q", "-o", str(out)]), *parts, folder=tmp_path)
    assert "16.0 GiB available" in line


def test_langevin_memory_refusal_against_small_available(tmp_path, monkeypatch):
    """A run that fits is refused when the available memory is made smaller than its estimate."""
    from simulations.langevin import LangevinConfig
    from simulations.resources import estimate_memory

    t = get_teacher("cubic")
    cfg = LangevinConfig("cubic", t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1), [0.2],
                         steps=60, burn_in=20, thin=5, seeds=2, n_test=20)
    est = estimate_memory(cfg, 1)
    monkeypatch.setattr(limits, "available_memory", lambda: int(est))  # 80% of it may be used
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "-o", str(tmp_path / "x.h5")])
    assert_refused(r, "the run needs about", folder=tmp_path)
    monkeypatch.setattr(limits, "available_memory", lambda: int(2 * est))
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "-o", str(tmp_path / "x.h5")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("teacher, kw, extra", [
    ("cubic", dict(N=200, d=100, n=2000, alpha=1, beta=1), dict(n_test=500)),
    ("cubic", dict(N=87, d=53, n=375, alpha=1, beta=1), dict(n_test=1000)),
    ("modadd", dict(P=31, N=200, sigma_a2=0.02, gamma=1.0), {}),
    ("modadd", dict(P=17, N=289, sigma_a2=0.01, gamma=1.0), {}),
])
def test_memory_estimate_within_factor_two_of_tracemalloc(teacher, kw, extra):
    """The per-worker estimate against the peak traced by tracemalloc while a batch of two
    members is built, initialised and advanced (measured ratios 0.90-1.24)."""
    from simulations.langevin import Chain, LangevinConfig, physical
    from simulations.models import model_class

    p = get_teacher(teacher).make_params(**kw)
    cfg = LangevinConfig(teacher, p, [0.2], steps=40, burn_in=10, thin=5, seeds=2, **extra)
    tracemalloc.start()
    try:
        ch = Chain(cfg, 0, [0, 1]).init()
        ch.advance(20)
        ch.get_state()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    est, _ = model_class(teacher).estimate_bytes(physical(teacher, p, 0.2), 2, cfg.dtype, cfg.n_test,
                                                  cfg.n_samples, cfg.time_blocks)
    assert 0.5 < est / peak < 2.0, (est, peak)


# ------------------------------------------------------------------------------------------
# 5. worker counts
# ------------------------------------------------------------------------------------------
def test_effective_jobs(monkeypatch):
    from simulations import resources
    from simulations.langevin import LangevinConfig

    t = get_teacher("cubic")
    cfg = LangevinConfig("cubic", t.make_params(N=8, d=4, n=30, sigma_a2=0.05, alpha=1, beta=1), [0.2, 0.3],
                         steps=60, burn_in=20, thin=5, seeds=2, n_test=20)
    monkeypatch.setattr(limits, "cpu_count", lambda: 16)
    assert resources.effective_jobs(cfg, 1000) == (4, "--jobs 1000 capped at 4: 16 CPU(s) available and "
                                                       "4 unit(s) of work (2 sigma2 point(s) x 2 seed(s))")
    assert resources.effective_jobs(cfg, 3) == (3, "")
    monkeypatch.setattr(limits, "cpu_count", lambda: 2)
    n, note = resources.effective_jobs(cfg, 3)
    assert n == 2 and note == "--jobs 3 capped at 2: 2 CPU(s) available"


def test_jobs_capped_on_stderr(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "cpu_count", lambda: 1)
    out = tmp_path / "j.h5"
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "--jobs", "1000", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "--jobs 1000 capped at 1: 1 CPU(s) available and 2 unit(s) of work" in r.stderr
    assert out.exists()


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_impossible_refused(tmp_path, jobs):
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", *RUN, "--jobs", jobs, "-o", str(tmp_path / "x.h5")])
    assert_refused(r, "--jobs must be >= 1", jobs, folder=tmp_path)


# ------------------------------------------------------------------------------------------
# 6. sampler health
# ------------------------------------------------------------------------------------------
def test_sampler_that_cannot_sample_is_flagged(tmp_path):
    out = tmp_path / "h.h5"
    r = invoke(["langevin", *CUBIC, "--sigma2", "0.2", "--steps", "160", "--burn-in", "20", "--thin", "5",
                "--seeds", "2", "-q", "--step-size", "100", "--no-adapt", "-o", str(out)])
    assert r.exit_code == 0, r.output
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warn) == 1 and "sigma2=0.2" in warn[0] and "acceptance 0.000 below 0.05" in warn[0]
    assert "within a network" in r.stdout and "across networks" in r.stdout and "different data sets" in r.stdout
    with h5py.File(out, "r") as f:
        ok = f["langevin/sampling_ok"]
        assert ok.shape == (1,) and not ok[0]
        assert "acceptance" in ok.attrs["reasons"][0]
        assert "criteria" in ok.attrs
        d = f["langevin/0/diagnostics"].attrs
        assert not d["sampling_ok"] and "below 0.05" in d["sampling_reason"]


def test_healthy_run_not_flagged(tmp_path):
    out = tmp_path / "g.h5"
    r = invoke(["langevin", *MODADD, "--sigma2", "0.3:0.1:2", *RUN, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "WARNING" not in r.stderr
    assert "same data, different initialisations" in r.stdout
    with h5py.File(out, "r") as f:
        assert f["langevin/sampling_ok"][()].tolist() == [True, True]
        assert list(f["langevin/sampling_ok"].attrs["reasons"]) == ["", ""]


def test_sampling_health_thresholds():
    from simulations import diagnostics as D

    good = {"b": {"rhat_split_max": 1.01}}
    assert D.sampling_health([0.6, 0.7], good, "mala", 100) == (True, "")
    ok, why = D.sampling_health([0.02, 0.7], good, "mala", 100)
    assert not ok and "0.020 below 0.05" in why
    ok, why = D.sampling_health([0.999, 0.7], good, "mala", 100)
    assert not ok and "0.999 above 0.995" in why
    assert D.sampling_health([1.0, 1.0], good, "ula", 100)[0]  # ULA accepts every step
    bad = {"b": {"rhat_split_max": 1.5}, "c": {"rhat_split_max": math.nan}}
    ok, why = D.sampling_health([0.6], bad, "mala", 100)
    assert not ok and "split R-hat within a network 1.5 (b) above 1.1" in why
    assert D.sampling_health([0.6], bad, "mala", D.RHAT_MIN_DRAWS - 1)[0]  # too short to judge
