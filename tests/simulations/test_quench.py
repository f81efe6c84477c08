"""Quench experiment (simulations/quench.py): the escape-time estimators on hand-made
traces, the theory side against the scan's restricted origin branch, and the measured sign
on a tiny network with a fixed seed."""
import math

import h5py
import numpy as np
import pytest

from adaptive_kernel import registry
from adaptive_kernel.errors import ParameterError
from simulations import quench as Q

TEACHER = "cubic"


# --- estimators on synthetic traces (hand values) ----------------------------------------
def test_escape_time_rising_falling_and_censored():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    # half-way value 0.5 first reached at t = 3
    assert Q.escape_time(t, [0.0, 0.1, 0.3, 0.6, 1.0], 0.0, 1.0) == (3.0, False)
    # exactly on the half-way value counts as crossed
    assert Q.escape_time(t, [0.0, 0.5, 0.3, 0.6, 1.0], 0.0, 1.0) == (1.0, False)
    # relaxing downward from 1 to 0: half-way 0.5 first reached at t = 2
    assert Q.escape_time(t, [1.0, 0.9, 0.4, 0.6, 0.0], 1.0, 0.0) == (2.0, False)
    # never: censored at the last time
    assert Q.escape_time(t, [0.0, 0.1, 0.2, 0.3, 0.4], 0.0, 1.0) == (4.0, True)
    tau, cen = Q.escape_time(t, [0.0] * 5, 0.2, 0.2)
    assert math.isnan(tau) and cen


def test_first_passage_times_by_hand():
    t = np.array([0.0, 10.0, 20.0])
    v = np.array([[0.0, 0.0, 0.1],
                  [0.5, -2.0, 0.2],
                  [3.0, 0.0, 0.3]])
    tau, cen = Q.first_passage_times(t, v, 1.0)
    np.testing.assert_array_equal(tau, [20.0, 10.0, 20.0])
    np.testing.assert_array_equal(cen, [False, False, True])


def test_km_median_and_rate_by_hand():
    # no censoring: the sample median
    assert Q.km_median([5, 1, 4, 2, 3], [False] * 5) == 3.0
    # S = 3/4 after t=1, censoring at 2 (2 at risk), S = 3/8 after t=3
    assert Q.km_median([1, 2, 3, 4], [False, True, False, False]) == 3.0
    assert math.isnan(Q.km_median([1, 2, 3], [False, True, True]))
    k, e = Q.exponential_rate([1.0, 2.0, 3.0], [False, False, True])
    assert k == pytest.approx(2.0 / 6.0) and e == pytest.approx(k / math.sqrt(2))


def test_exponential_rate_recovers_the_rate_of_censored_exponentials():
    rng = np.random.default_rng(7)
    true = 0.5
    tau = rng.exponential(1.0 / true, 20000)
    cen = tau > 3.0
    tau = np.minimum(tau, 3.0)
    k, e = Q.exponential_rate(tau, cen)
    assert abs(k - true) < 4 * e
    # the naive mean of the censored times is biased: the estimator is not
    assert abs(1.0 / np.mean(tau) - true) > 10 * e


def test_droplet_split_matches_the_quadrature_observable(tmp_path):
    """q_split of the saddle-method quench equals the observable the quadrature method
    stores (an independent code path)."""
    t = registry.get_theory(TEACHER)
    p = t.make_params(alpha=0.125, beta=0.125, method="quadrature", sigma_w2=0.7)
    from adaptive_kernel.solver import solve
    from simulations.models import network_for

    net = network_for(TEACHER)
    phys = net.physical(p, 0.2)
    tp = net.theory_params(p, phys)
    sol = solve(t, tp, phys["sigma2"])
    assert t.observables(sol.x, tp, phys["sigma2"])["q_split"] == pytest.approx(Q.droplet_split(0.7), rel=1e-12)


# --- theory side -------------------------------------------------------------------------
def test_origin_branch_barrier_is_the_landscape_maximum_and_falls_into_the_window():
    p = registry.get_theory(TEACHER).make_params(alpha=0.125, beta=0.125, method="saddle")
    hi = Q.origin_branch_point(TEACHER, p, 0.16)
    lo = Q.origin_branch_point(TEACHER, p, 0.12)
    above = Q.origin_branch_point(TEACHER, p, 0.25)      # GFL, no droplet minimum
    assert hi["success"] and lo["success"] and not above["success"]
    for pt in (hi, lo):
        # stored barrier d'(Shat(q_b) - Shat(0)) vs the maximum of the action on a q grid
        assert pt["barrier"] == pytest.approx(pt["barrier_grid"], abs=2e-3)
        assert 0.0 < pt["q_barrier"] < pt["q_star"]
        assert pt["action_gap"] < 0.0   # the droplet well is below the origin: metastable
    # the barrier falls deeper into the window (and is below 1 kT at this size)
    assert lo["barrier"] < hi["barrier"] < 1.0


def test_refuses_a_network_without_teacher_overlap():
    other = [n for n in registry.theory_names() if not Q.supports_quench(n)]
    assert other, "expected a registered network without a per-neuron teacher overlap"
    with pytest.raises(ParameterError, match="teacher must be one of"):
        Q.QuenchConfig(other[0], {}, [0.1])
    with pytest.raises(ParameterError, match="steps"):
        Q.QuenchConfig(TEACHER, {}, [0.1], steps=0)


# --- the measured sign on a tiny network --------------------------------------------------
@pytest.fixture(scope="module")
def tiny_quench():
    p = registry.get_theory(TEACHER).make_params(alpha=0.125, beta=0.125, method="saddle")
    cfg = Q.QuenchConfig(TEACHER, p, [0.17, 0.12], steps=3000, record_every=10, seeds=2, seed=3)
    return cfg, Q.run_quench(cfg)


def test_quench_starts_in_the_origin_basin(tiny_quench):
    cfg, pts = tiny_quench
    for pt in pts:
        # prior initialisation: no neuron beyond the droplet split, all far inside q_b
        assert np.all(pt["droplet_fraction"][:, 0] == 0.0)
        assert np.all(pt["q2"][:, 0] < 0.3 * pt["q_barrier"] ** 2)
        assert np.all((pt["acceptance"] > 0.5) & (pt["acceptance"] < 1.0))


def test_measured_sign_first_passage_is_faster_at_the_larger_barrier(tiny_quench):
    """The finding of docs/quench.md at this size: barriers of 0.2-0.5 kT are no barriers;
    the first passage to the droplet minimum q* is limited by the distance to q*, which
    grows deeper into the window, not by the barrier, so the neuron escape rate is *larger*
    at the larger barrier (anti-Arrhenius). A Kramers regime would give the opposite."""
    cfg, (near, deep) = tiny_quench
    assert near["barrier"] > deep["barrier"]
    assert near["q_star"] < deep["q_star"]
    k_near, e_near = Q.exponential_rate(near["neuron_tau"].ravel(), near["neuron_censored"].ravel())
    k_deep, e_deep = Q.exponential_rate(deep["neuron_tau"].ravel(), deep["neuron_censored"].ravel())
    assert k_near > 0
    assert not (k_deep > 0) or k_near - 3 * e_near > k_deep + 3 * e_deep


def test_write_quench(tiny_quench, tmp_path):
    cfg, pts = tiny_quench
    out = tmp_path / "q.h5"
    Q.write_quench(pts, cfg, out, command="test")
    with h5py.File(out) as f:
        assert f.attrs["kind"] == "quench"
        assert f["quench/0/neuron_tau"].shape == (2, pts[0]["N"])
        assert f["quench/1"].attrs["barrier"] == pytest.approx(pts[1]["barrier"])
    with pytest.raises(Exception):
        Q.write_quench(pts, cfg, out)        # exists, no overwrite


def test_arrhenius_slope_on_synthetic_kramers_points():
    """Points with rate = exp(-barrier)/5 (tau = 5 e^Delta) and network taus 2 e^(2 Delta):
    slopes 1 and 2 exactly."""
    pts = []
    for b in (0.5, 1.0, 2.0, 3.0):
        pts.append({"barrier": b, "neuron_rate": math.exp(-b) / 5.0,
                    "network_tau": np.array([2.0 * math.exp(2 * b)] * 3), "network_censored": np.zeros(3, bool)})
    s, e, n = Q.arrhenius_slope(pts, "neuron")
    assert s == pytest.approx(1.0, abs=1e-12) and n == 4 and e < 1e-10
    s, e, n = Q.arrhenius_slope(pts, "network")
    assert s == pytest.approx(2.0, abs=1e-12)
    pts[0]["network_censored"][1] = True        # a censored point is left out
    assert Q.arrhenius_slope(pts, "network")[2] == 3
    with pytest.raises(ParameterError):
        Q.arrhenius_slope(pts, "other")


def test_landscape_landmarks_at_the_origin_branch_reproduce_its_barrier():
    p = registry.get_theory(TEACHER).make_params(alpha=0.125, beta=0.125, method="saddle")
    o = Q.origin_branch_point(TEACHER, p, 0.15)
    lm = Q.landscape_landmarks(TEACHER, p, 0.15, o["b_origin"], o["c_origin"])
    assert lm["barrier"] == pytest.approx(o["barrier"], abs=2e-3)
    assert lm["q_star"] == pytest.approx(o["q_star"], abs=2e-3)
    # far above the window (b = 1: nothing learned) ... a strong drive: no side minimum
    # beyond a barrier exists only with a barrier; b = 0 (all learned): no side minimum
    assert math.isnan(Q.landscape_landmarks(TEACHER, p, 0.15, 0.0, 0.0)["barrier"])


def test_discrepancy_coefficients_against_monte_carlo():
    """b = 1 - E[f H1(x1)], c = eps - E[f H3(x1)]/6 for f = sum_i a_i erf(w_i.x), x ~ N(0, I)."""
    from scipy.special import erf

    rng = np.random.default_rng(11)
    S, N, d, eps = 2, 3, 4, -0.3
    W = rng.normal(0, 0.6, (S, N, d))
    a = rng.normal(0, 0.5, (S, N))
    q = W[..., 0]
    got = Q.discrepancy_coefficients(W, a, q, eps)
    x = rng.standard_normal((400_000, d))
    h1, h3 = x[:, 0], x[:, 0] ** 3 - 3 * x[:, 0]
    for s in range(S):
        f = erf(x @ W[s].T) @ a[s]
        b_mc, c_mc = 1 - np.mean(f * h1), eps - np.mean(f * h3) / 6
        se_b, se_c = np.std(f * h1) / 630, np.std(f * h3) / 6 / 630
        assert abs(got[s, 0] - b_mc) < 5 * se_b and abs(got[s, 1] - c_mc) < 5 * se_c
