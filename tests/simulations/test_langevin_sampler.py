"""The sampler reproduces known distributions: the prior (data term off), a closed-form
Gaussian posterior (linear read-out of fixed erf features), the cubic GFL variance of q
predicted by the theory; divergence is reported with the step size to lower."""
import math

import numpy as np
import pytest
from scipy.special import erf

from adaptive_kernel import reference as R
from adaptive_kernel.registry import get_teacher
from simulations import diagnostics as D
from simulations.langevin import LangevinConfig, run_langevin
from simulations.models import CubicNetwork, ModAddNetwork, dynamics_rng
from simulations.sampler import DivergenceError, LangevinSampler


def _run(sampler, steps, burn, thin, fn):
    out = []
    for it in range(steps):
        if it == burn:
            sampler.finish_adaptation()
        sampler.step(adapt=it < burn, check_stuck=it >= burn)
        if it >= burn and (it - burn) % thin == 0:
            out.append(fn(sampler))
    return np.array(out)          # (T, S, ...)


def _within(mean, err, target, k=4.0):
    assert abs(mean - target) <= k * err, f"{mean} +- {err} vs {target}"


def test_prior_is_reproduced_without_data_cubic():
    phys = dict(N=12, d=6, n=10, sigma_w2=0.5, sigma_a2=2.0, eps=-0.3, sigma2=1.0)
    S = 6
    m = CubicNetwork(phys, range(S), n_test=5, data_term=False)
    smp = LangevinSampler(m, 0.5, [dynamics_rng(1, j, 0) for j in range(S)]).initialize()
    tr = _run(smp, 1500, 300, 3, lambda s: (np.mean(s.theta["w"], axis=(1, 2)),
                                             np.mean(s.theta["w"] ** 2, axis=(1, 2)) / m.prior_var["w"],
                                             np.mean(s.theta["a"] ** 2, axis=1) / m.prior_var["a"]))
    for k, target in ((0, 0.0), (1, 1.0), (2, 1.0)):
        x = tr[:, k, :].T                      # (S, T)
        mean, err = D.mean_and_error(x)
        _within(mean, err, target)
        assert err < 0.05
    assert 0.4 < smp.acceptance.mean() < 0.8


def test_prior_with_sextic_decay_is_reproduced_modadd():
    """Data term off, Gamma on: <|W_k|^2> equals the one-pair moment at v = 0, integrated
    independently (reference.py). MALA has no discretisation bias, so the tolerance is the
    Monte Carlo error alone (spread of the 6 independent chains)."""
    P, gamma = 11, 30.0
    m = ModAddNetwork(dict(P=P, N=20, sigma_a2=0.5, gamma=gamma, sigma2=1.0), range(6), data_term=False)
    smp = LangevinSampler(m, 0.3, [dynamics_rng(2, j, 0) for j in range(6)]).initialize()
    tr = _run(smp, 2000, 300, 3, lambda s: np.mean(np.concatenate(m.fourier_power(s.theta["w"]), axis=1)[..., 1:],
                                                   axis=(1, 2)))
    mean, err = D.mean_and_error(tr.T)
    target = R.pair_moments(P, 0.0, gamma, which=("X",))["X"]
    assert target < 0.9 / P                     # the decay matters at this gamma
    assert err < 0.01 * target                  # and the run resolves it
    assert abs(mean - target) < 4 * err, (mean, err, target)


def test_closed_form_gaussian_posterior_of_the_readout():
    """Read-in frozen (group scale 0): a | w is Gaussian with known mean and covariance."""
    phys = dict(N=5, d=3, n=30, sigma_w2=1.0, sigma_a2=1.5, eps=0.5, sigma2=0.2)
    S = 4
    m = CubicNetwork(phys, range(S), seed=4, n_test=5)
    smp = LangevinSampler(m, 0.4, [dynamics_rng(3, j, 0) for j in range(S)], group_scale={"w": 0.0})
    smp.initialize()
    w0 = smp.theta["w"].copy()
    tr = _run(smp, 6000, 500, 2, lambda s: s.theta["a"].copy())      # (T, S, N)
    assert np.array_equal(smp.theta["w"], w0)
    for s in range(S):
        Phi = erf(m.X[s] @ w0[s].T)
        prec = Phi.T @ Phi / phys["sigma2"] + np.eye(5) * phys["N"] / phys["sigma_a2"]
        cov = np.linalg.inv(prec)
        mu = cov @ Phi.T @ m.y[s] / phys["sigma2"]
        x = tr[:, s, :]
        for i in range(5):
            sd = math.sqrt(cov[i, i])
            e = D.ess(x[None, :, i])
            _within(x[:, i].mean(), sd / math.sqrt(e), mu[i])
            # variance: relative error of a variance estimate ~ sqrt(2/ESS)
            assert x[:, i].var() / cov[i, i] == pytest.approx(1.0, abs=4 * math.sqrt(2.0 / e))


def test_cubic_gfl_variance_of_q_matches_theory():
    """Small erf network in the GFL phase: <q^2> (q = w.w*) is the theory's Gaussian value,
    enhanced over the prior sigma_w2/d by the data term."""
    t = get_teacher("cubic")
    params = t.make_params(N=40, d=12, n=100, sigma_w2=0.5, sigma_a2=0.006, eps=-0.3, alpha=1, beta=1)
    cfg = LangevinConfig("cubic", params, [0.3], steps=3000, burn_in=500, thin=5, seeds=6, n_test=200,
                         step_size=0.1)
    res = run_langevin(cfg, checkpoint_every=2500)
    p = res.points[0]
    q2, err = p["scalars"]["q2"]
    th = p["theory"]
    gauss = 1.0 / (params["d"] * th["core_curvature"])        # Gaussian prediction 1/(d Shat''(0))
    prior = params["sigma_w2"] / params["d"]
    assert th["phase"] == 0
    assert gauss > 1.3 * prior                                  # enhancement is resolvable
    print("q2", q2, "+-", err, "gaussian theory", gauss, "quadrature theory", th["q2"], "prior", prior)
    assert err < 0.05 * gauss
    assert abs(q2 - gauss) < 3 * err + 0.03 * gauss, (q2, err, gauss, prior)
    assert abs(q2 - th["q2"]) < 3 * err + 0.03 * gauss, (q2, err, th["q2"])


def test_divergence_names_the_step_size():
    phys = dict(N=6, d=4, n=50, sigma_w2=0.5, sigma_a2=4.0, eps=-0.3, sigma2=0.01)
    m = CubicNetwork(phys, range(2), n_test=5)
    smp = LangevinSampler(m, 50.0, [dynamics_rng(0, j, 0) for j in range(2)], integrator="ula").initialize()
    with pytest.raises(DivergenceError, match=r"lower --step-size \(e\.g\. --step-size 12\.5\)"):
        for _ in range(200):
            smp.step()
    smp = LangevinSampler(m, 50.0, [dynamics_rng(0, j, 0) for j in range(2)], adapt=False).initialize()
    with pytest.raises(DivergenceError, match="acceptance 0.0"):
        for _ in range(500):
            smp.step(check_stuck=True)
