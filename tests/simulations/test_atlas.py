"""The grokking atlas (simulations.atlas): alpha_c bracketing and bisection on hand values, the
kappa fit against an independent two-point formula and Monte Carlo, censoring, the same split
for every method, resume = uninterrupted, serial = ProcessRunner bit for bit, file round trip."""
import math

import numpy as np
import pytest

import adaptive_kernel
from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import ModularArithmetic, get_task
from simulations import atlas as A
from simulations.backends import HDFBackend

GRID = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


# ---------------------------------------------------------------------------------------
# alpha_c: bracket, quorum, bisection
# ---------------------------------------------------------------------------------------
def test_bracket_on_hand_values():
    F, T = False, True
    b = A.bracket_alpha_c(GRID, [F, F, T, F, T, T, T, T, T])    # isolated success at 0.3 ignored
    assert (b.lo, b.hi, b.status) == (0.4, 0.5, "bracketed") and b.estimate == pytest.approx(0.45)
    b = A.bracket_alpha_c(GRID[::-1], [T, T, T, T, T, F, T, F, F])   # any order
    assert (b.lo, b.hi, b.status) == (0.4, 0.5, "bracketed")
    b = A.bracket_alpha_c(GRID, [T] * 9)
    assert (b.lo, b.hi, b.status, b.estimate) == (0.0, 0.1, "below-grid", 0.1)
    b = A.bracket_alpha_c(GRID, [T] * 8 + [F])                   # the largest fails: not reached
    assert b.status == "not-reached" and b.lo == 0.9 and math.isnan(b.hi) and math.isnan(b.estimate)
    with pytest.raises(ParameterError):
        A.bracket_alpha_c([0.1, 0.2], [True])


def test_quorum_counts_seeds_and_nan_never_generalises():
    assert A.generalises([0.95, 0.5])                 # 1 of 2 = half
    assert not A.generalises([0.95, 0.5, 0.2])        # 1 of 3
    assert A.generalises([0.9, 0.9, 0.0])             # >= threshold, 2 of 3
    assert not A.generalises([np.nan, 0.95, 0.1])
    assert not A.generalises([0.89999])
    assert A.generalises([0.95, 0.5, 0.2], quorum=1 / 3)


def test_bisection_on_a_step_in_the_training_set_size():
    """P = 11 (121 pairs), generalises iff n_train >= 53. Grid bracket (0.4, 0.5] = n (48, 61];
    by hand the midpoints are n = floor((n_lo + n_hi)/2 + 1/2) on the lattice:
    54 (yes) -> 51 (no) -> 53 (yes) -> 52 (no), then nothing lies between 52 and 53."""
    n_total, n_star = 121, 53
    lo, hi = 0.4, 0.5
    seen = []
    while (mid := A.bisection_midpoint(lo, hi, n_total)) is not None:
        n = round(mid * n_total)
        assert get_task("modadd", P=11).split(mid, 0).n_train == n    # the lattice point is the split size
        seen.append(n)
        if n >= n_star:
            hi = mid
        else:
            lo = mid
    assert seen == [54, 51, 53, 52]
    assert (round(lo * n_total), round(hi * n_total)) == (52, 53)
    assert A.bisection_midpoint(0.9, math.nan, n_total) is None


def _step_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """A synthetic method: test accuracy 1 iff n_train >= budget['n_star'] (0.5 for seed 1
    above n_star - 3, so the quorum matters)."""
    task = get_task(task_name, **task_params)
    split = task.split(train_fraction, seed)
    acc = 1.0 if split.n_train >= budget["n_star"] else 0.0
    out = {"n_train": split.n_train, "n_test": split.n_test, "test_accuracy": acc, "train_accuracy": 1.0,
           "test_loss": 1.0 - acc, "train_loss": 0.0, "success": True, "status": "ok", "message": "",
           "split_digest": A.split_digest(split.train)}
    A._finish(out, [0], [acc], [1.0], threshold)
    out["seconds"] = 0.0
    return A._canonical(out)


@pytest.fixture
def step_method(monkeypatch):
    from adaptive_kernel.validation import Constraint

    m = A.Method("step", _step_unit, "none (closed form)", "kernel", "synthetic step",
                 {"n_star": A.Budget(53, Constraint("int", low=1), "")}, lambda *a: 0.0, lambda *a: 0)
    monkeypatch.setitem(A.METHODS, "step", m)
    return m


def test_run_atlas_bisects_to_the_step(step_method):
    cfg = A.AtlasConfig(P=[11], fractions=[0.2, 0.4, 0.5, 0.8], seeds=[0, 1], methods=["step"], refine=10)
    res = A.run_atlas(cfg)
    b = res.alpha_c_of("step", 11)
    assert b.status == "bracketed"
    assert (round(b.lo * 121), round(b.hi * 121)) == (52, 53)
    refined = np.unique(res.units["train_fraction"][res.units["refined"]])
    assert sorted(round(f * 121) for f in refined) == [51, 52, 53, 54]
    assert res.alpha_c["n_refined"][0] == 4 and res.alpha_c["n_fractions"][0] == 8


# ---------------------------------------------------------------------------------------
# kappa
# ---------------------------------------------------------------------------------------
def test_kappa_fit_exact_power_law_and_two_point_formula():
    P = np.array([23.0, 31, 41, 61, 97])
    y = math.log(2.0) - (1 / 3) * np.log(P)
    fit = A.fit_power_law(P, y, np.full(5, 0.1))
    assert fit.status == "ok" and fit.n_points == 5
    assert fit.kappa == pytest.approx(1 / 3, abs=1e-12) and fit.log_amplitude == pytest.approx(math.log(2), abs=1e-12)
    assert fit.chi2 == pytest.approx(0.0, abs=1e-20)
    # two points: kappa = -(y2 - y1)/(log P2 - log P1), error sqrt(s1^2 + s2^2)/|log P2 - log P1|
    y2 = np.array([-1.2, -1.7])
    s2 = np.array([0.05, 0.12])
    fit = A.fit_power_law([31, 61], y2, s2)
    d = math.log(61) - math.log(31)
    assert fit.kappa == pytest.approx(-(y2[1] - y2[0]) / d, rel=1e-12)
    assert fit.kappa_err == pytest.approx(math.hypot(*s2) / d, rel=1e-12)


def test_kappa_error_matches_monte_carlo_scatter():
    rng = np.random.default_rng(7)
    P = np.array([23.0, 31, 41, 61, 97])
    s = np.array([0.05, 0.1, 0.08, 0.15, 0.1])
    truth = math.log(1.5) - 0.3 * np.log(P)
    est = np.array([A.fit_power_law(P, truth + s * rng.standard_normal(5), s).kappa for _ in range(3000)])
    err = A.fit_power_law(P, truth, s).kappa_err
    assert abs(est.mean() - 0.3) < 4 * err / math.sqrt(est.size)
    assert est.std(ddof=1) == pytest.approx(err, rel=0.06)


def test_kappa_from_brackets_leaves_out_censored_values():
    P = [23, 31, 41, 61]
    lo = [0.3, 0.25, 0.0, 0.9]          # 41: below the grid; 61: not reached
    hi = [0.4, 0.3, 0.1, math.nan]
    fit = A.fit_kappa(P, lo, hi)
    assert fit.n_points == 2
    y = [0.5 * (math.log(0.3) + math.log(0.4)), 0.5 * (math.log(0.25) + math.log(0.3))]
    assert fit.kappa == pytest.approx(-(y[1] - y[0]) / (math.log(31) - math.log(23)), rel=1e-12)
    s = [(math.log(0.4) - math.log(0.3)) / math.sqrt(12), (math.log(0.3) - math.log(0.25)) / math.sqrt(12)]
    assert fit.kappa_err == pytest.approx(math.hypot(*s) / (math.log(31) - math.log(23)), rel=1e-12)
    none = A.fit_kappa([23, 31], [0.0, 0.9], [0.1, math.nan])
    assert none.status != "ok" and math.isnan(none.kappa) and none.n_points == 0


# ---------------------------------------------------------------------------------------
# censoring and the units
# ---------------------------------------------------------------------------------------
def test_first_clock_reaching_and_censoring():
    clock = [0, 10, 20, 50]
    assert A.first_clock_reaching([0.1, 0.5, 0.95, 0.97], clock, 0.9) == 20
    assert A.first_clock_reaching([0.1, np.nan, 0.5, 0.89], clock, 0.9) == -1
    assert A.first_clock_reaching([0.9, 0.0, 0.0, 0.0], clock, 0.9) == 0
    # kernel regression at alpha < 1 on addition: fits (time 0) and never generalises (censored, kept)
    b = A.METHODS["kernel-nngp"].check_budget({})
    u = A.atlas_unit("kernel-nngp", "modadd", {"P": 11, "operation": "add"}, 0.5, 0, b, 0.9)
    assert (u["fit_time"], u["grok_time"], u["fitted"], u["generalised"]) == (0, -1, True, False)
    assert u["status"] == "censored" and u["success"] and u["test_accuracy"] == 0.0
    # gd with too few steps: censored, with its traces kept
    b = A.METHODS["gd"].check_budget({"steps": 5, "width": 16, "log_every": 5})
    u = A.atlas_unit("gd", "modadd", {"P": 7, "operation": "add"}, 0.5, 1, b, 0.9)
    assert u["grok_time"] == -1 and not u["generalised"] and u["status"] == "censored"
    # logged steps: 0, 5 and floor(10^(i/20)) <= 5 (1, 2, 3, 4)
    np.testing.assert_array_equal(u["trace_clock"], [0, 1, 2, 3, 4, 5])
    assert u["trace_test_accuracy"].shape == (6,)


def test_every_method_uses_the_same_split(monkeypatch):
    calls = []
    original = ModularArithmetic.split

    def recording(self, train_fraction, seed):
        calls.append((self.P, train_fraction, seed))
        return original(self, train_fraction, seed)

    monkeypatch.setattr(ModularArithmetic, "split", recording)
    expected = original(get_task("modadd", P=11), 0.45, 3)
    digests = set()
    for m, meth in A.METHODS.items():
        small = {"steps": 3, "width": 8, "iterations": 2, "log_every": 1}
        if m == "langevin":
            small = {"steps": 12, "burn_in": 4, "thin": 2, "width": 8}
        b = meth.check_budget({k: v for k, v in small.items() if k in meth.budget})
        calls.clear()
        u = A.atlas_unit(m, "modadd", {"P": 11, "operation": "add"}, 0.45, 3, b, 0.9)
        assert calls and set(calls) == {(11, 0.45, 3)}, (m, calls)
        assert (u["n_train"], u["n_test"]) == (expected.n_train, expected.n_test), m
        digests.add(u["split_digest"])
    assert digests == {A.split_digest(expected.train)}


def test_config_validation():
    with pytest.raises(ParameterError, match="train-fraction"):
        A.AtlasConfig(P=[7], fractions=[0.5, 1.0])
    with pytest.raises(ParameterError, match="methods"):
        A.AtlasConfig(P=[7], methods=["kernel-nngp", "sgd"])
    with pytest.raises(ParameterError, match="gd steps"):
        A.AtlasConfig(P=[7], methods=["gd"], budgets={"gd": {"steps": 0}})
    with pytest.raises(ParameterError, match="unknown budget"):
        A.AtlasConfig(P=[7], methods=["gd"], budgets={"gd": {"lr": 0.1}})
    with pytest.raises(ParameterError, match="seeds"):
        A.AtlasConfig(P=[7], seeds=[1, 1])


def test_runs_too_large_or_too_long_are_refused_naming_the_parameter():
    with pytest.raises(ParameterError, match="--P 61"):
        A.check_resources(A.AtlasConfig(P=[61], methods=["kernel-nngp"]), 1, available=10 ** 6)
    cfg = A.AtlasConfig(P=[61], methods=["kernel-nngp", "gd"], budgets={"gd": {"steps": 10 ** 7}})
    with pytest.raises(ParameterError, match="--gd-steps 10000000"):
        A.check_resources(cfg, 2, available=10 ** 12)
    est = A.check_resources(A.AtlasConfig(P=[7], methods=["kernel-nngp"]), 1, available=10 ** 12)
    assert set(est) == {"kernel-nngp"} and est["kernel-nngp"] < 10


# ---------------------------------------------------------------------------------------
# runners, resume, files
# ---------------------------------------------------------------------------------------
def _small_config(**kw):
    budgets = {"rfm-quadratic": {"iterations": 3}, "gd": {"steps": 20, "width": 16, "log_every": 10},
               "analytic": {"width": 128}}
    d = dict(P=[7, 11], fractions=[0.5, 0.8], seeds=[0, 1],
             methods=["kernel-nngp", "rfm-quadratic", "gd", "analytic"], budgets=budgets)
    d.update(kw)
    return A.AtlasConfig(**d)


def _assert_same_units(a, b):
    assert set(a.units) == set(b.units)
    for k in a.units:
        if k == "seconds":
            continue
        np.testing.assert_array_equal(a.units[k], b.units[k], err_msg=k)
    for k in a.alpha_c:
        np.testing.assert_array_equal(a.alpha_c[k], b.alpha_c[k], err_msg=k)
    for k in a.kappa:
        np.testing.assert_array_equal(a.kappa[k], b.kappa[k], err_msg=k)


@pytest.fixture(scope="module")
def uninterrupted():
    return A.run_atlas(_small_config())


class _Stop(A.UnitCheckpoint):
    """A checkpoint that stops the run (as Ctrl-C would) after ``after`` new units."""

    after = 5

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.after -= 1
        if self.after == 0:
            raise KeyboardInterrupt


def test_resume_equals_uninterrupted(tmp_path, uninterrupted):
    cfg = _small_config()
    path = tmp_path / "a.ckpt"
    with pytest.raises(KeyboardInterrupt):
        A.run_atlas(cfg, store=_Stop(HDFBackend(path), cfg.unit_meta(), flush_seconds=1e9))
    store = A.UnitCheckpoint(HDFBackend(path), cfg.unit_meta(), resume=True)
    assert store.n_loaded == 5                     # flushed when the run stopped
    first = []
    res = A.run_atlas(cfg, store=store, progress=lambda d, t, s: first.append((d, t)) if not first else None)
    assert first == [(5, 32)]                       # only the 27 unfinished units were computed
    _assert_same_units(res, uninterrupted)
    with pytest.raises(ParameterError, match="different settings"):
        A.UnitCheckpoint(HDFBackend(path), _small_config(threshold=0.8).unit_meta(), resume=True)


def test_process_runner_gives_the_same_bits(uninterrupted, langevin_serial):
    """Serial = ProcessRunner bit for bit, the Langevin units and the alpha = 1 link included."""
    from adaptive_kernel.runner import ProcessRunner

    with ProcessRunner(2) as runner:
        res = A.run_atlas(_small_config(), runner=runner)
        lres = A.run_atlas(_langevin_config(), runner=runner)
    _assert_same_units(res, uninterrupted)
    assert langevin_serial.params["theory_link"] and langevin_serial.link["P"].tolist() == [5, 5, 7, 7]
    _assert_same_units(lres, langevin_serial)
    for k in langevin_serial.link:
        if k != "seconds":
            np.testing.assert_array_equal(lres.link[k], langevin_serial.link[k], err_msg=k)


def test_file_round_trip(tmp_path, uninterrupted):
    path = tmp_path / "atlas.h5"
    uninterrupted.to_hdf5(path, command="phasesim atlas (test)")
    back = adaptive_kernel.load(path)
    assert type(back) is A.AtlasResult and back.kind == "atlas"
    _assert_same_units(back, uninterrupted)
    np.testing.assert_array_equal(back.units["seconds"], uninterrupted.units["seconds"])
    assert back.params == uninterrupted.params and back.clocks == uninterrupted.clocks
    assert back.attrs["command"] == "phasesim atlas (test)"
    assert "alpha_c" in back.info() and "kappa" in back.table()
    # the splits group: one digest per (P, fraction, seed), equal to the task's split
    import h5py

    with h5py.File(path, "r") as f:
        sp = f["splits"]
        for P, fr, s, d in zip(sp["P"][()], sp["train_fraction"][()], sp["seed"][()], sp["split_digest"][()]):
            assert d == A.split_digest(get_task("modadd", P=int(P)).split(float(fr), int(s)).train)
    # derived quantities recomputed from the units agree with the stored ones
    again = A.AtlasResult(back.params, back.units, {}, {}, clocks=back.clocks).derive()
    for k in back.alpha_c:
        np.testing.assert_array_equal(again.alpha_c[k], back.alpha_c[k])


def test_the_atlas_on_small_P(uninterrupted):
    """Kernel regression never generalises on unseen pairs, the analytic network always does."""
    r = uninterrupted
    k = r.units["method"] == "kernel-nngp"
    assert np.all(r.units["test_accuracy"][k] == 0.0) and np.all(r.units["train_accuracy"][k] == 1.0)
    assert set(r.alpha_c["status"][r.alpha_c["method"] == "kernel-nngp"]) == {"not-reached"}
    an = r.units["method"] == "analytic"
    assert np.all(r.units["test_accuracy"][an] >= 0.9)
    assert set(r.alpha_c["status"][r.alpha_c["method"] == "analytic"]) == {"below-grid"}
    assert r.units["method"].size == 4 * 2 * 2 * 2 and r.success


# ---------------------------------------------------------------------------------------
# Langevin networks
# ---------------------------------------------------------------------------------------
TINY_LANGEVIN = {"steps": 40, "burn_in": 20, "thin": 2, "members": 2}


def test_langevin_unit_equals_the_langevin_result_and_its_traces():
    """The unit's summary is the Langevin result's stored metrics for the same config (per
    sample: test_accuracy ...; of the averaged output: test_accuracy_mean_output ...), its
    traces are the member means of the per-sample accuracies at the recorded steps, and the
    final accuracy is the mean of that trace."""
    from simulations.langevin import run_langevin

    b = A.METHODS["langevin"].check_budget(TINY_LANGEVIN)
    tp = {"P": 5, "operation": "add"}
    u = A.atlas_unit("langevin", "modadd", tp, 0.6, 4, b, 0.9)
    ref = run_langevin(A.langevin_config("modadd", tp, 0.6, 4, b), checkpoint_every=15)
    pt = ref.points[0]
    sc = pt["scalars"]
    for k in ("test_accuracy", "train_accuracy", "test_loss", "train_loss", "test_accuracy_mean_output",
              "train_accuracy_mean_output", "test_loss_mean_output"):
        assert u[k] == sc[k][0], k
    assert u["sampling_ok"] == float(pt["diag_attrs"]["sampling_ok"])
    assert u["acceptance"] == pytest.approx(np.mean(pt["diagnostics"]["acceptance"]), rel=1e-14)
    np.testing.assert_array_equal(u["trace_clock"], 20 + 2 * np.arange(1, 11))
    np.testing.assert_allclose(u["trace_test_accuracy"], pt["traces"]["test_accuracy"].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(u["trace_train_accuracy"], pt["traces"]["train_accuracy"].mean(axis=0), rtol=1e-14)
    assert u["test_accuracy"] == pytest.approx(np.mean(u["trace_test_accuracy"]), rel=1e-12)
    assert u["n_train"] == 15 and u["n_test"] == 10


def test_langevin_times_and_censoring():
    """Times are the first recorded step whose member-mean accuracy reaches the level,
    checked against the traces by hand; threshold 0: the first recorded step; a level no
    sample reaches: -1 (censored, kept)."""
    b = A.METHODS["langevin"].check_budget(TINY_LANGEVIN)
    tp = {"P": 5, "operation": "add"}
    u0 = A.atlas_unit("langevin", "modadd", tp, 0.6, 4, b, 1e-9)
    assert u0["grok_time"] == 22 and u0["generalised"]                     # burn_in + thin
    tr, clock = u0["trace_train_accuracy"], u0["trace_clock"]
    hit = np.flatnonzero(tr == 1.0)
    assert u0["fit_time"] == (int(clock[hit[0]]) if hit.size else -1) and u0["fitted"] == bool(hit.size)
    u1 = A.atlas_unit("langevin", "modadd", tp, 0.6, 4, b, 0.9)
    assert np.max(u1["trace_test_accuracy"]) < 0.9                         # unseen pairs: no generalisation
    assert u1["grok_time"] == -1 and not u1["generalised"]
    assert u1["status"] in ("censored", "not-equilibrated") and u1["success"]


def _sampler_unit(task_name, task_params, train_fraction, seed, budget, threshold):
    """A synthetic sampled method: test accuracy 1 everywhere, the sampler check failed for
    seed 1 (and for every seed at fractions below 0.5)."""
    split = get_task(task_name, **task_params).split(train_fraction, seed)
    out = {"n_train": split.n_train, "n_test": split.n_test, "test_accuracy": 1.0, "train_accuracy": 1.0,
           "test_loss": 0.0, "train_loss": 0.0, "success": True, "status": "ok", "message": "",
           "split_digest": A.split_digest(split.train), "sampling_ok": 0.0 if seed == 1 or train_fraction < 0.5 else 1.0,
           "acceptance": 0.5, "test_accuracy_mean_output": 0.0}
    A._finish(out, [0], [1.0], [1.0], threshold)
    out["seconds"] = 0.0
    return A._canonical(out)


def test_failed_sampler_check_is_left_out_and_shown(monkeypatch):
    m = A.Method("sampled", _sampler_unit, "steps", "langevin", "synthetic", {}, lambda *a: 0.0, lambda *a: 0)
    monkeypatch.setitem(A.METHODS, "sampled", m)
    cfg = A.AtlasConfig(P=[7], fractions=[0.3, 0.6, 0.8], seeds=[0, 1, 2], methods=["sampled"], quorum=0.6)
    res = A.run_atlas(cfg)
    fr, mean, _ = res.mean_by_fraction("sampled", 7)
    assert np.isnan(mean[0]) and np.all(mean[1:] == 1.0)          # 0.3: every unit left out
    # 0.6, 0.8: 2 of 3 seeds usable and generalising (>= 0.6); 0.3: none -> bracket (0.3, 0.6]
    b = res.alpha_c_of("sampled", 7)
    assert (b.lo, b.hi, b.status) == (0.3, 0.6, "bracketed")
    assert np.count_nonzero(~res.usable()) == 3 + 2
    assert np.all(res.units["test_accuracy"] == 1.0)                 # kept in the file as measured
    text = res.table()
    assert "left out" in text and " 0/3 " in text and " 2/3 " in text


def _langevin_config(**kw):
    d = dict(P=[5, 7], fractions=[0.5], seeds=[0, 1], methods=["kernel-nngp", "langevin"],
             budgets={"langevin": TINY_LANGEVIN})
    d.update(kw)
    return A.AtlasConfig(**d)


@pytest.fixture(scope="module")
def langevin_serial():
    return A.run_atlas(_langevin_config())


def test_langevin_file_round_trip(langevin_serial, tmp_path):
    langevin_serial.to_hdf5(tmp_path / "l.h5")
    back = adaptive_kernel.load(tmp_path / "l.h5")
    _assert_same_units(back, langevin_serial)
    for k in langevin_serial.link:
        np.testing.assert_array_equal(back.link[k], langevin_serial.link[k], err_msg=k)
    assert back.params["theory_link"] is True
    text = back.info()
    assert "alpha = 1 link" in text and "mean-output" in text


def test_theory_link_against_the_scan_and_the_langevin_run(langevin_serial):
    """The link's theory value is the residual of the public scan at the same parameters
    (computed here: make_params(P, N = P^2, sigma_a2, gamma) and the one sigma2); its network
    value is the residual phasesim langevin stores for the same chains on every pair."""
    from adaptive_kernel.registry import get_theory
    from adaptive_kernel.solver import scan
    from simulations.langevin import LangevinConfig, run_langevin

    b = langevin_serial.params["budgets"]["langevin"]
    L = langevin_serial.link
    t = get_theory("modadd")
    for i in (0, 2):
        P = int(L["P"][i])
        params = t.make_params(P=P, N=P * P, sigma_a2=b["sigma_a2"], gamma=b["gamma"])
        expected = scan(t, params, [b["sigma2"]]).scan["residual"][0]
        assert L["residual_theory"][i] == expected and L["sigma2"][i] == b["sigma2"] and L["N"][i] == P * P
        assert L["difference"][i] == L["residual"][i] - expected
    params = t.make_params(P=5, N=25, sigma_a2=b["sigma_a2"], gamma=b["gamma"])
    cfg = LangevinConfig("modadd", params, [b["sigma2"]], steps=b["steps"], burn_in=b["burn_in"], thin=b["thin"],
                         seeds=b["members"], seed=1)
    ref = run_langevin(cfg, checkpoint_every=b["steps"]).points[0]["scalars"]["residual"]
    assert (L["residual"][1], L["residual_err"][1]) == (ref[0], ref[1])


def test_langevin_budget_and_link_validation():
    with pytest.raises(ParameterError, match="burn_in"):
        _langevin_config(budgets={"langevin": {"steps": 100, "burn_in": 100}})
    with pytest.raises(ParameterError, match="theory-link"):
        A.AtlasConfig(P=[7], methods=["kernel-nngp"], theory_link=True)
    assert not A.AtlasConfig(P=[7], methods=["kernel-nngp"]).theory_link
    assert "langevin" not in A.AtlasConfig(P=[7]).methods            # not in the default set
    est = A.estimate_seconds(_langevin_config())
    assert est["langevin"] > 0
