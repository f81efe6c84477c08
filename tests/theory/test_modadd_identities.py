"""Brute-force checks of the algebra behind the modular-addition action and kernel.

Everything here is computed directly from the definitions (two-hot inputs, targets
y_p = delta_{p,(n+m) mod P} - 1/P, square activation, explicit DFT matrices written in the
test) and compared with the package's formulas:

* Fourier conventions and |w|^2 = P sum_k (|W_k|^2 + |V_k|^2);
* the data term sum_p (sum_nm y^p_nm (w.x_nm)^2)^2 = 4 P^3 sum_{k!=0} X_k Y_k, hence the
  single-neuron action P[... - u r^2 sum X_k Y_k] with u = 2 sigma_a2 P^2/(N sigma2^2), and
  its split into complex Fourier pairs with the pair action of the numba kernels;
* the Gram-matrix eigenvalue of the target, from P^2 x P^2 Gram matrices built from sampled
  weights, against Lambda = 4 P^2 sigma_a2 <XY> ("derived") and sigma_a2 <XY> ("paper");
* the NNGP kernel sigma_a2 [K_d K_d' + 2 K^2] and its eigenvalue 4 sigma_a2 on the target;
* prior moments and the measure of a complex amplitude (X = |W_k|^2 exponential, uniform dX).
"""
import math

import numpy as np
import pytest
from scipy import stats

from adaptive_kernel import reference as R
from adaptive_kernel.teachers import _modadd_kernels as K
from adaptive_kernel.teachers.modadd import ModularAddition, eigenvalue_factor, pair_moments

PRIMES = (5, 7, 11)


# ----------------------------------------------------------------------------------------
# independent constructions (no package code)
# ----------------------------------------------------------------------------------------
def two_hot(P):
    """Inputs x_nm (row n*P + m) and targets y (P^2 x P), built from the definitions."""
    X = np.zeros((P * P, 2 * P))
    Y = np.zeros((P * P, P))
    for n in range(P):
        for m in range(P):
            X[n * P + m, n] = 1.0
            X[n * P + m, P + m] = 1.0
            for p in range(P):
                Y[n * P + m, p] = (1.0 if p == (n + m) % P else 0.0) - 1.0 / P
    return X, Y


def dft_amplitudes(w):
    """W_k, V_k with w_n = sum_k W_k exp(-2 pi i k n / P), by an explicit DFT matrix."""
    w = np.atleast_2d(w)
    P = w.shape[-1] // 2
    k = np.arange(P)
    F = np.exp(2j * np.pi * np.outer(k, k) / P) / P  # W_k = (1/P) sum_n w_n e^{+2 pi i k n/P}
    return w[:, :P] @ F.T, w[:, P:] @ F.T


def planted_weights(rng, P, S, amplitude):
    """Prior samples plus a planted Fourier mode k0 (random k0 != 0, random phases) in both halves."""
    w = rng.standard_normal((S, 2 * P))
    k0 = rng.integers(1, P, size=S)
    th = rng.uniform(0, 2 * np.pi, size=(S, 2))
    n = np.arange(P)
    w[:, :P] += amplitude * np.cos(2 * np.pi * np.outer(k0, n) / P + th[:, :1])
    w[:, P:] += amplitude * np.cos(2 * np.pi * np.outer(k0, n) / P + th[:, 1:])
    return w


def mean_XY_nonzero_modes(w):
    """<X_k Y_k> averaged over the samples and over k != 0."""
    W, V = dft_amplitudes(w)
    return float(np.mean(np.abs(W[:, 1:]) ** 2 * np.abs(V[:, 1:]) ** 2))


def gram(w, Xin, sigma_a2):
    """Q = sigma_a2 <phi phi^T>, phi = (w.x)^2 on all P^2 inputs, averaged over the samples."""
    phi = (w @ Xin.T) ** 2
    return sigma_a2 * phi.T @ phi / w.shape[0]


def symmetrize(Q, P):
    """Average Q over the permutations (n, m) -> (q n + a, q m + b) of the inputs.

    This is the Gram matrix of the sample set closed under the symmetries of the weight
    distribution (shifts of each half, common multiplication by q != 0)."""
    out = np.zeros_like(Q)
    n, m = np.divmod(np.arange(P * P), P)
    count = 0
    for q in range(1, P):
        for a in range(P):
            for b in range(P):
                perm = ((q * n + a) % P) * P + (q * m + b) % P
                out += Q[np.ix_(perm, perm)]
                count += 1
    return out / count


# ----------------------------------------------------------------------------------------
# data set and Fourier conventions
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", PRIMES)
def test_dataset_matches_definition(P):
    X, Y = ModularAddition.dataset(P)
    X0, Y0 = two_hot(P)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_allclose(Y, Y0, atol=1e-15)


@pytest.mark.parametrize("P", PRIMES)
def test_fourier_convention_and_norm(P):
    rng = np.random.default_rng(P)
    w = rng.standard_normal((20, 2 * P)) + rng.uniform(-3, 3, (20, 2 * P))
    W, V = ModularAddition.fourier_amplitudes(w)
    W0, V0 = dft_amplitudes(w)
    np.testing.assert_allclose(W, W0, atol=1e-13)
    np.testing.assert_allclose(V, V0, atol=1e-13)
    # synthesis w_n = sum_k W_k e^{-2 pi i k n / P}
    k = np.arange(P)
    E = np.exp(-2j * np.pi * np.outer(k, k) / P)
    np.testing.assert_allclose((W @ E.T).real, w[:, :P], atol=1e-12)
    np.testing.assert_allclose((V @ E.T).imag, 0.0, atol=1e-12)
    # conjugate pairs: W_{P-k} = conj W_k
    np.testing.assert_allclose(W[:, 1:], np.conj(W[:, :0:-1]), atol=1e-13)
    # Parseval in the package's normalisation
    lhs = np.sum(w ** 2, axis=1)
    rhs = P * np.sum(np.abs(W) ** 2 + np.abs(V) ** 2, axis=1)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


# ----------------------------------------------------------------------------------------
# the data term and the single-neuron action
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", PRIMES)
def test_data_term_equals_fourier_form(P):
    rng = np.random.default_rng(100 + P)
    Xin, Y = two_hot(P)
    w_all = np.vstack([rng.standard_normal((5, 2 * P)), planted_weights(rng, P, 5, 4.0),
                       rng.exponential(1.0, (5, 2 * P))])  # Gaussian, planted mode, non-symmetric
    for w in w_all:
        phi = (Xin @ w) ** 2
        direct = sum(float(Y[:, p] @ phi) ** 2 for p in range(P))  # the P^2 sum, channel by channel
        W, V = dft_amplitudes(w)
        fourier = 4 * P ** 3 * np.sum(np.abs(W[0, 1:]) ** 2 * np.abs(V[0, 1:]) ** 2)
        assert direct == pytest.approx(fourier, rel=1e-11)
    # the k = 0 mode drops out (targets have zero mean): weights with a large mean would
    # change the result by a lot if it did not
    w = 3.0 + rng.standard_normal(2 * P)
    phi = (Xin @ w) ** 2
    direct = sum(float(Y[:, p] @ phi) ** 2 for p in range(P))
    W, V = dft_amplitudes(w)
    with_zero = 4 * P ** 3 * np.sum(np.abs(W[0]) ** 2 * np.abs(V[0]) ** 2)
    assert with_zero > 2 * direct


@pytest.mark.parametrize("P", PRIMES)
def test_single_neuron_action_in_fourier_pairs(P):
    """S(w) = |w|^2/2 + Gamma - (sigma_a2/(2N)) sum_p (tbar^p . phi)^2, tbar = -r y/sigma2,
    equals P/2 (X0 + Y0) + P gamma/6 (X0^3 + Y0^3) + sum over pairs (k, P-k) of
    A(X_k, Y_k) with v = u r^2 and u from ModularAddition.effective_interaction."""
    rng = np.random.default_rng(200 + P)
    Xin, Y = two_hot(P)
    t = ModularAddition()
    params = t.make_params(P=P, N=37, sigma_a2=0.3, gamma=0.07)
    sigma2, r = 0.21, 0.83
    u = t.effective_interaction(params, sigma2)
    assert u == pytest.approx(2 * 0.3 * P ** 2 / (37 * sigma2 ** 2), rel=1e-14)
    for w in planted_weights(rng, P, 4, 2.0):
        W, V = dft_amplitudes(w)
        Xk, Yk = np.abs(W[0]) ** 2, np.abs(V[0]) ** 2
        phi = (Xin @ w) ** 2
        tbar = -r * Y / sigma2
        data = -(params["sigma_a2"] / (2 * params["N"])) * np.sum((tbar.T @ phi) ** 2)
        decay = np.sum(P * params["gamma"] / 6 * (Xk ** 3 + Yk ** 3))
        S_direct = 0.5 * w @ w + decay + data
        S_pairs = P / 2 * (Xk[0] + Yk[0]) + P * params["gamma"] / 6 * (Xk[0] ** 3 + Yk[0] ** 3)
        for k in range(1, (P - 1) // 2 + 1):
            S_pairs += K.pair_action(Xk[k], Yk[k], float(P), u * r * r, params["gamma"])
        assert S_direct == pytest.approx(S_pairs, rel=1e-11, abs=1e-11)


# ----------------------------------------------------------------------------------------
# Gram-matrix eigenvalue of the target: derived vs paper
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P,kind", [(5, "prior"), (7, "prior"), (11, "prior"),
                                    (5, "planted"), (7, "planted"), (11, "planted")])
def test_gram_eigenvalue_on_target_matches_derived_formula(P, kind):
    """Mean Rayleigh quotient of the targets y^p on the sampled Gram matrix.

    sum_p y^p y^p^T = P Pi (Pi the projector on the target space) and |y^p|^2 = P - 1, so the
    mean over p of y^p.Q.y^p / |y^p|^2 is tr(Pi Q)/(P - 1) for ANY sample set: it must equal
    4 P^2 sigma_a2 <XY> (mean over samples and k != 0) to rounding, while the paper's
    sigma_a2 <XY> is smaller by exactly 4 P^2."""
    rng = np.random.default_rng(300 + P)
    sigma_a2 = 0.013
    S = 4000
    w = rng.standard_normal((S, 2 * P)) if kind == "prior" else planted_weights(rng, P, S, 3.0)
    Xin, Y = two_hot(P)
    Q = gram(w, Xin, sigma_a2)
    rayleigh = np.array([Y[:, p] @ Q @ Y[:, p] / (Y[:, p] @ Y[:, p]) for p in range(P)])
    lam_brute = rayleigh.mean()
    XY = mean_XY_nonzero_modes(w)
    lam_derived = eigenvalue_factor(P, sigma_a2, "derived") * XY
    lam_paper = eigenvalue_factor(P, sigma_a2, "paper") * XY
    assert lam_brute == pytest.approx(lam_derived, rel=1e-10)
    # the package's "paper" form against the paper's eq. 37, Lambda = sigma_a2 <XY> (the
    # published formula; the brute-force eigenvalue above is 4 P^2 times it)
    assert lam_paper == pytest.approx(sigma_a2 * XY, rel=1e-15)
    if kind == "planted":
        # far from the NNGP value: the test is sensitive to the weight distribution
        assert lam_brute > 3 * 4 * sigma_a2


@pytest.mark.parametrize("P", (5, 7))
def test_target_is_exact_eigenvector_of_symmetrized_planted_gram(P):
    """Non-Gaussian weights (planted Fourier mode); the Gram matrix of the sample set closed
    under the distribution's symmetries has every y^p as an exact eigenvector, with
    eigenvalue 4 P^2 sigma_a2 <XY> (the paper's sigma_a2 <XY> is checked in the test above)."""
    rng = np.random.default_rng(400 + P)
    sigma_a2 = 0.02
    w = planted_weights(rng, P, 1500, 3.0)
    Xin, Y = two_hot(P)
    Qs = symmetrize(gram(w, Xin, sigma_a2), P)
    XY = mean_XY_nonzero_modes(w)
    lam_derived = eigenvalue_factor(P, sigma_a2, "derived") * XY
    for p in range(P):
        Qy = Qs @ Y[:, p]
        lam = (Y[:, p] @ Qy) / (Y[:, p] @ Y[:, p])
        np.testing.assert_allclose(Qy, lam * Y[:, p], atol=1e-10 * abs(lam))
        assert lam == pytest.approx(lam_derived, rel=1e-10)
    # the eigenvalue differs from the NNGP value 4 sigma_a2 (the kernel has adapted)
    assert lam_derived / (4 * sigma_a2) > 3


@pytest.mark.parametrize("P", (5, 7))
def test_sampled_prior_gram_approaches_nngp(P):
    """Unsymmetrised prior samples: each target is an eigenvector up to sampling noise, with
    eigenvalue 4 sigma_a2 (the derived formula at <XY> = 1/P^2), not sigma_a2 / P^2."""
    rng = np.random.default_rng(500 + P)
    sigma_a2 = 0.5
    w = rng.standard_normal((200_000, 2 * P))
    Xin, Y = two_hot(P)
    Q = gram(w, Xin, sigma_a2)
    for p in range(P):
        y = Y[:, p]
        lam = y @ Q @ y / (y @ y)
        assert lam == pytest.approx(4 * sigma_a2, rel=0.03)
        # the residual of the eigen-equation is small compared with the eigenvalue
        assert np.linalg.norm(Q @ y - lam * y) < 0.1 * lam * np.linalg.norm(y)


# ----------------------------------------------------------------------------------------
# NNGP kernel
# ----------------------------------------------------------------------------------------
def nngp_kernel(P, sigma_a2):
    """Q = sigma_a2 [K_d K_d' + 2 K o K] with K = x.x' = delta_nn' + delta_mm' (o: elementwise)."""
    n, m = np.divmod(np.arange(P * P), P)
    Kmat = (n[:, None] == n[None, :]).astype(float) + (m[:, None] == m[None, :]).astype(float)
    d = np.diag(Kmat)
    return sigma_a2 * (np.outer(d, d) + 2 * Kmat ** 2)


@pytest.mark.parametrize("P", PRIMES)
def test_nngp_kernel_eigenvalue_on_target(P):
    sigma_a2 = 0.37
    Q = nngp_kernel(P, sigma_a2)
    Xin, Y = two_hot(P)
    assert np.allclose(Q, Q.T)
    for p in range(P):
        np.testing.assert_allclose(Q @ Y[:, p], 4 * sigma_a2 * Y[:, p], atol=1e-12)
    # the package's prior eigenvalue: derived factor x <XY>_prior = 4 P^2 sigma_a2 / P^2
    assert eigenvalue_factor(P, sigma_a2, "derived") / P ** 2 == pytest.approx(4 * sigma_a2, rel=1e-14)
    assert eigenvalue_factor(P, sigma_a2, "paper") / P ** 2 != pytest.approx(4 * sigma_a2, rel=0.5)
    # the GP starting point of the solver is the NNGP residual sigma2/(4 sigma_a2 + sigma2)
    t = ModularAddition()
    params = t.make_params(P=P, sigma_a2=sigma_a2)
    assert t.initial_state(params, 0.2)[0] == pytest.approx(0.2 / (4 * sigma_a2 + 0.2), rel=1e-14)
    # three distinct eigenvalues: sigma_a2 x {4P^2 + 4P + 4, 2P + 4, 4}
    ev = np.linalg.eigvalsh(Q) / sigma_a2
    distinct = np.unique(np.round(ev, 8))
    np.testing.assert_allclose(distinct, sorted([4.0, 2 * P + 4.0, 4 * P * P + 4 * P + 4.0]), rtol=1e-10)


@pytest.mark.parametrize("P", (5, 7))
def test_nngp_kernel_matches_prior_monte_carlo(P):
    rng = np.random.default_rng(600 + P)
    Xin, _ = two_hot(P)
    w = rng.standard_normal((400_000, 2 * P))
    Qmc = gram(w, Xin, 1.0)
    Q = nngp_kernel(P, 1.0)
    assert np.max(np.abs(Qmc - Q)) < 0.05 * np.max(Q)


# ----------------------------------------------------------------------------------------
# prior moments and the measure of a complex amplitude
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", (5, 11, 31))
def test_prior_fourier_moments(P):
    rng = np.random.default_rng(700 + P)
    w = rng.standard_normal((100_000, 2 * P))
    W, V = ModularAddition.fourier_amplitudes(w)
    X = np.abs(W) ** 2
    np.testing.assert_allclose(X.mean(axis=0), 1.0 / P, rtol=0.03)
    np.testing.assert_allclose((np.abs(V) ** 2).mean(axis=0), 1.0 / P, rtol=0.03)
    # k != 0: circular complex Gaussian, X exponential with mean 1/P (uniform measure dX)
    x = P * X[:, 1]
    assert stats.kstest(x, "expon").pvalue > 1e-3
    # a real amplitude (measure dX / sqrt(X), chi^2 with 1 dof) is clearly rejected
    assert stats.kstest(x, stats.gamma(0.5, scale=2.0).cdf).pvalue < 1e-12
    # independence of X_k and Y_k under the prior: <XY> = 1/P^2
    assert np.mean(X[:, 1:] * np.abs(V[:, 1:]) ** 2) == pytest.approx(1.0 / P ** 2, rel=0.03)


def reweighted_mean(wt, f):
    """Self-normalised importance-sampling mean of f and its standard error
    (delta method: SE^2 = sum w^2 (f - mean)^2 / (sum w)^2)."""
    S = wt.sum()
    mean = float(np.sum(wt * f) / S)
    return mean, float(math.sqrt(np.sum(wt ** 2 * (f - mean) ** 2)) / S)


@pytest.mark.parametrize("P,v,gamma,s2", [(5, 0.8, 1.0, 3.0), (5, 0.3, 0.1, 4.0),
                                          (5, 0.8, 0.5, 8.0), (7, 0.6, 0.3, 10.0)])
def test_pair_measure_by_reweighted_weights(P, v, gamma, s2):
    """Sample real weights w ~ N(0, s2 I) (a widened prior), take the Fourier pair
    (k, P-k) = (1, P-1) and reweight each sample by exp(-A(X, Y)) / exp(-P (X + Y)/s2), the
    ratio of the pair weight to the proposal's Gaussian weight.

    This is exact only if the proposal's density of (X, Y) is exp(-P(X + Y)/s2) with the
    uniform measure dX dY (d^2 W = dX dtheta/2). The reweighted <XY>, <X> must then equal the
    2-D integral of exp(-A) over X, Y >= 0 (reference.py and the kernels), with A twice the
    per-k action. Includes cases where the droplet minimum carries most of the weight."""
    rng = np.random.default_rng(800 + P)
    w = math.sqrt(s2) * rng.standard_normal((1_000_000, 2 * P))
    W, V = ModularAddition.fourier_amplitudes(w)
    X, Y = np.abs(W[:, 1]) ** 2, np.abs(V[:, 1]) ** 2
    logw = -R.pair_action(X, Y, P, v, gamma) + P * (X + Y) / s2
    wt = np.exp(logw - logw.max())
    ess = wt.sum() ** 2 / np.sum(wt ** 2)
    assert ess > 2e4
    mc_XY, se_XY = reweighted_mean(wt, X * Y)
    mc_X, se_X = reweighted_mean(wt, X)
    ref = R.pair_moments(P, v, gamma, which=("XY", "X"))
    # tolerance from the self-normalised estimator's standard error (4 SE)
    assert abs(mc_XY - ref["XY"]) < 4 * se_XY, (mc_XY, ref["XY"], se_XY)
    assert abs(mc_X - ref["X"]) < 4 * se_X, (mc_X, ref["X"], se_X)
    assert se_XY < 0.01 * ref["XY"]  # the check resolves <XY> at the per-cent level
    # the non-Gaussian part matters: far from the prior's 1/P^2
    assert mc_XY > 1.5 / P ** 2
    # a real-amplitude measure dX/sqrt(X) (extra weight 1/sqrt(XY)) would fail the check
    # above by far (more than ten times its tolerance) ...
    mc2, se2 = reweighted_mean(wt / np.sqrt(X * Y), X * Y)
    assert abs(mc2 - ref["XY"]) > 10 * 4 * se2
    # ... and so would the per-k action (coupling v instead of 2v for the pair)
    assert abs(R.pair_moments(P, v / 2, gamma, which=("XY",))["XY"] - mc_XY) > 10 * 4 * se_XY
    # the kernels give the same integral
    assert pair_moments(P, v, gamma)["XY"] == pytest.approx(ref["XY"], rel=1e-10)
