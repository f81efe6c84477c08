"""The cubic teacher's formulas against brute force (Monte Carlo, empirical sums, QUADPACK).

Every closed form in :mod:`adaptive_kernel.teachers._cubic_kernels` is checked here against
an evaluation that does not use it: sampled Gaussian data or weights, finite differences,
or adaptive SciPy quadrature.
"""
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf, factorial

from adaptive_kernel.teachers import _cubic_kernels as CK

RNG_SEED = 20240


def hermite_e(k, z):
    """Probabilists' Hermite He_k(z) by the three-term recursion (independent of the package)."""
    h0, h1 = np.ones_like(z), z
    if k == 0:
        return h0
    for m in range(1, k):
        h0, h1 = h1, z * h1 - m * h0
    return h1


def mc_mean(values):
    """Mean and standard error."""
    return float(np.mean(values)), float(np.std(values) / math.sqrt(values.size))


def test_hermite_coefficients_first_two():
    """c_1 = 2/sqrt(pi), c_3 = -4/sqrt(6 pi) (THEORY.md section 2)."""
    c = CK.erf_hermite_coefficients(2)
    assert c[0] == pytest.approx(2 / math.sqrt(math.pi), rel=1e-15)
    assert c[1] == pytest.approx(-4 / math.sqrt(6 * math.pi), rel=1e-15)


@pytest.mark.parametrize("k_index", [0, 1, 2, 3])
def test_erf_projections_monte_carlo(k_index):
    """I_k(w) = E_x[Hhat_k(w*.x) erf(w.x)], x ~ N(0, I_d), for random w, w* (k = 1, 3, 5, 7)."""
    rng = np.random.default_rng(RNG_SEED + k_index)
    d = 12
    w_star = rng.standard_normal(d)
    w_star /= np.linalg.norm(w_star)
    w = rng.standard_normal(d) * 0.15 + 1.0 * w_star  # sizeable overlap q ~ 1, |w|^2 ~ 1.3
    q, w2 = float(w @ w_star), float(w @ w)
    k = 2 * k_index + 1
    c = CK.erf_hermite_coefficients(4)
    pred = CK.erf_projections(q, w2, c)[k_index]
    n, chunks = 400_000, 5
    vals = []
    for _ in range(chunks):
        x = rng.standard_normal((n, d))
        z = x @ w_star
        vals.append(hermite_e(k, z) / math.sqrt(factorial(k)) * erf(x @ w))
    mean, se = mc_mean(np.concatenate(vals))
    assert abs(mean - pred) < 5 * se, (k, mean, pred, se)
    assert abs(pred) > 10 * se  # the test resolves the value, not just its sign


def test_erf_projections_against_sherman_morrison_recursion():
    """I_1, I_3 from the paper's A.4 route: <z erf> and <z^3 erf> by 1-D quadrature."""
    # z = w*.x and g = w.x are jointly Gaussian: Var z = 1, Var g = |w|^2, Cov = q.
    q, w2 = 0.7, 0.5 + 0.49
    c = CK.erf_hermite_coefficients(2)
    I = CK.erf_projections(q, w2, c)
    # E[z^m erf(g)]: g = q z + sqrt(w2 - q^2) e, integrate e analytically:
    # E_e[erf(a + s e)] = erf(a / sqrt(1 + 2 s^2))
    s2 = w2 - q * q

    def moment(m):
        f = lambda z: z ** m * erf(q * z / math.sqrt(1 + 2 * s2)) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        return integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-13)[0]

    assert I[0] == pytest.approx(moment(1), rel=1e-11)
    assert I[1] == pytest.approx((moment(3) - 3 * moment(1)) / math.sqrt(6), rel=1e-10)


def test_erf_nngp_kernel_monte_carlo():
    """E_w[erf(w.x) erf(w.y)], w ~ N(0, S), against the arcsin closed form."""
    rng = np.random.default_rng(RNG_SEED)
    d = 6
    A = rng.standard_normal((d, d)) / math.sqrt(d)
    S = A @ A.T + 0.1 * np.eye(d)
    x, y = rng.standard_normal(d), rng.standard_normal(d)
    pred = CK.erf_nngp_kernel(x @ S @ x, y @ S @ y, x @ S @ y)
    L = np.linalg.cholesky(S)
    vals = []
    for _ in range(5):
        w = rng.standard_normal((400_000, d)) @ L.T
        vals.append(erf(w @ x) * erf(w @ y))
    mean, se = mc_mean(np.concatenate(vals))
    assert abs(mean - pred) < 5 * se
    assert abs(pred) > 10 * se


def test_kernel_block_is_hermite_projection_of_nngp_kernel():
    """Under the prior (no feature learning), the kernel block M_11 = E_w[I_1(w)^2] equals the
    Hhat_1 x Hhat_1 matrix element of the erf NNGP kernel operator on the data measure
    (Monte Carlo over pairs x, x'), which is what the EK equation uses."""
    rng = np.random.default_rng(RNG_SEED + 7)
    d, sw2 = 8, 0.5
    s = sw2 / d
    w_star = np.zeros(d)
    w_star[0] = 1.0
    n = 600_000
    x, xp = rng.standard_normal((n, d)), rng.standard_normal((n, d))
    kern = 2 / np.pi * np.arcsin(2 * s * np.sum(x * xp, 1)
                                 / np.sqrt((1 + 2 * s * np.sum(x * x, 1)) * (1 + 2 * s * np.sum(xp * xp, 1))))
    mean, se = mc_mean(x[:, 0] * kern * xp[:, 0])
    # E_w[I_1^2] with the exact |w|^2 of each prior sample
    w = rng.standard_normal((2_000_000, d)) * math.sqrt(s)
    q, w2 = w[:, 0], np.sum(w * w, 1)
    m11, se11 = mc_mean(4 / np.pi * q * q / (1 + 2 * w2))
    # both sides are Monte Carlo: 5 combined standard errors
    assert abs(mean - m11) < 5 * math.hypot(se, se11)
    assert m11 > 10 * math.hypot(se, se11)


def test_continuum_action_vs_empirical_sum():
    """Data term of the per-neuron action, (sigma_a2/(2N)) (sum_mu tbar_mu erf(w.x_mu))^2, for a
    random w over n samples, against its continuum form d (u/2) (t.I(w))^2 (exact |w|^2),
    and the continuum Shat against the concentrated form |w|^2 = sigma_w2 + q^2 at d = 150."""
    rng = np.random.default_rng(RNG_SEED + 3)
    d, N, sw2, sa2, s2 = 40, 700, 0.5, 8 / 700, 0.18
    b, c3 = 0.3, -0.28
    w_star = rng.standard_normal(d)
    w_star /= np.linalg.norm(w_star)
    w = rng.standard_normal(d) * math.sqrt(sw2 / d) + 0.8 * w_star
    n = 2_000_000
    acc = acc2 = 0.0
    for _ in range(4):
        x = rng.standard_normal((n // 4, d))
        z = x @ w_star
        tbar = (b * z + c3 * (z ** 3 - 3 * z)) / s2
        e = tbar * erf(x @ w)
        acc += float(np.sum(e))
        acc2 += float(np.sum(e * e))
    empirical = sa2 / (2 * N) * acc ** 2
    u = n ** 2 * sa2 / (s2 ** 2 * d * N)
    t = np.array([b, math.sqrt(6) * c3])
    cK = CK.erf_hermite_coefficients(2)
    tI = float(t @ CK.erf_projections(float(w @ w_star), float(w @ w), cK))
    continuum = d * u / 2 * tI ** 2
    # sampling error of the sum: sqrt(n Var) relative to n E, doubled for the square
    mean = acc / n
    rel_se = 2 * math.sqrt(acc2 / n - mean * mean) / (math.sqrt(n) * abs(mean))
    assert abs(empirical / continuum - 1) < 5 * rel_se
    assert rel_se < 0.01

    # Shat(q) of the package = prior term + data term with |w|^2 = sigma_w2 + q^2
    q = 0.8
    u0 = 30.0
    S_pkg = CK.action(q, t, cK, u0, sw2)
    tI_conc = float(t @ CK.erf_projections(q, sw2 + q * q, cK))
    assert S_pkg == pytest.approx(q * q / (2 * sw2) - u0 / 2 * tI_conc ** 2, rel=1e-14)
    # concentration of |w_perp|^2 at d = 150: prior samples with fixed q. The average over
    # |w_perp|^2 (mean sigma_w2 (d-1)/d, variance 2 (d-1) (sigma_w2/d)^2) differs from the
    # concentrated value by the O(1/d) delta-method bias, written here from the closed forms
    # I1 = (2/sqrt(pi)) q/sqrt(D), I3 = -(4/sqrt(6 pi)) q^3/D^{3/2}, D = 1 + 2|w|^2
    d2 = 150
    wp = rng.standard_normal((4000, d2 - 1)) * math.sqrt(sw2 / d2)
    tI_samples = np.array([float(t @ CK.erf_projections(q, q * q + float(v @ v), cK)) for v in wp])

    def tI_of(w2):
        D = 1 + 2 * w2
        return t[0] * 2 / math.sqrt(math.pi) * q / math.sqrt(D) - t[1] * 4 / math.sqrt(6 * math.pi) * q ** 3 / D ** 1.5

    assert tI_of(sw2 + q * q) == pytest.approx(tI_conc, rel=1e-13)
    m2, var2, h = q * q + sw2 * (d2 - 1) / d2, 2 * (d2 - 1) * (sw2 / d2) ** 2, 1e-3
    curv = (tI_of(m2 + h) - 2 * tI_of(m2) + tI_of(m2 - h)) / h ** 2
    predicted = tI_of(m2) + 0.5 * curv * var2
    se = float(np.std(tI_samples)) / math.sqrt(tI_samples.size)
    assert abs(np.mean(tI_samples) - predicted) < 5 * se
    assert abs(predicted / tI_conc - 1) < 3 / d2  # the bias is O(1/d): concentration holds


def test_action_derivatives_finite_differences():
    rng = np.random.default_rng(1)
    cK = CK.erf_hermite_coefficients(3)
    for _ in range(5):
        t = rng.standard_normal(3)
        q, u, sw2, h = rng.uniform(0.1, 1.5), rng.uniform(5, 80), 0.5, 1e-5
        S, S1, S2 = CK.action_derivatives(q, t, cK, u, sw2)
        assert S == pytest.approx(CK.action(q, t, cK, u, sw2), rel=1e-13)
        fd1 = (CK.action(q + h, t, cK, u, sw2) - CK.action(q - h, t, cK, u, sw2)) / (2 * h)
        fd2 = (CK.action_derivatives(q + h, t, cK, u, sw2)[1] - CK.action_derivatives(q - h, t, cK, u, sw2)[1]) / (2 * h)
        assert S1 == pytest.approx(fd1, rel=1e-7, abs=1e-8)
        assert S2 == pytest.approx(fd2, rel=1e-7, abs=1e-8)


def _quad_moments(t, cK, u, d, sw2, split=None):
    """M = <I I^T> under exp(-d Shat) by adaptive QUADPACK with break points on a coarse grid;
    with ``split``, also P(q > split) and the part of M from q > split."""
    qs = np.linspace(0, 4, 801)
    Smin = min(CK.action(q, t, cK, u, sw2) for q in qs)
    f = lambda q: math.exp(-d * (CK.action(q, t, cK, u, sw2) - Smin))  # noqa: E731
    Kk = cK.size
    I = lambda q: CK.erf_projections(q, sw2 + q * q, cK)  # noqa: E731
    opts = dict(epsabs=0, epsrel=1e-13, limit=500)

    def integral(g, lo):
        pts = [p for p in qs[1::40] if p > lo]
        return integrate.quad(g, lo, 6, points=pts, **opts)[0]

    Z = integral(f, 0.0)
    M = np.empty((Kk, Kk))
    for a in range(Kk):
        for b_ in range(a, Kk):
            M[a, b_] = M[b_, a] = integral(lambda q: f(q) * I(q)[a] * I(q)[b_], 0.0) / Z
    if split is None:
        return M
    Ms = np.empty((Kk, Kk))
    for a in range(Kk):
        for b_ in range(a, Kk):
            Ms[a, b_] = Ms[b_, a] = integral(lambda q: f(q) * I(q)[a] * I(q)[b_], split) / Z
    return M, integral(f, split) / Z, Ms


STATES = [
    (0.40, -0.295, 15.0, 150.0),   # GFL: one narrow core
    (0.23, -0.28, 43.5, 150.0),    # bimodal p(q)
    (0.20, -0.27, 50.0, 1200.0),   # deep side basins at large d
    (0.13, -0.25, 98.0, 150.0),    # origin unstable
]


@pytest.mark.parametrize("state", STATES)
def test_quadrature_against_quadpack(state):
    b, c3, u, d = state
    sw2 = 0.5
    cK = CK.erf_hermite_coefficients(3)
    t = np.array([b, math.sqrt(6) * c3, 0.02])
    split = math.sqrt((1 + 2 * sw2) / 6)
    M, Ms, st = CK.quadrature_moments(t, cK, u, d, sw2, split)
    R, fR, MsR = _quad_moments(t, cK, u, d, sw2, split)
    assert np.max(np.abs(M - R) / np.abs(R)) < 1e-11
    # the droplet part |q| > q_split: fraction and kernel block, against QUADPACK
    assert st[7] == split
    assert 0.0 <= st[1] <= 1.0
    assert st[1] == pytest.approx(fR, rel=1e-10, abs=1e-300)
    assert np.max(np.abs(Ms - MsR) / np.abs(np.diag(R)).max()) < 1e-11
    assert np.all(np.diag(Ms) <= np.diag(M) + 1e-15)


@pytest.mark.parametrize("state", [STATES[1], STATES[3]])
def test_droplet_part_does_not_depend_on_node_alignment(state):
    """The droplet mass beyond an arbitrary split point (not a trapezoid node: the nodes are
    j h) matches QUADPACK for splits spread over a trapezoid step. A sum over the nodes
    beyond the split is off by ~h p(split) and jumps when a node crosses it."""
    b, c3, u, d = state
    sw2 = 0.5
    cK = CK.erf_hermite_coefficients(2)
    t = np.array([b, math.sqrt(6) * c3])
    h = CK.quadrature_moments(t, cK, u, d, sw2, np.inf)[2][6]
    j = int(0.55 / h)
    for frac in (0.0, 0.13, 0.5, 0.91):
        split = (j + frac) * h
        M, Ms, st = CK.quadrature_moments(t, cK, u, d, sw2, split)
        R, fR, MsR = _quad_moments(t, cK, u, d, sw2, split)
        assert st[1] == pytest.approx(fR, rel=1e-10), (frac, st[1], fR)
        assert np.allclose(Ms, MsR, rtol=1e-10, atol=1e-14)


def test_quadrature_without_split_has_no_droplet_part():
    cK = CK.erf_hermite_coefficients(2)
    t = np.array([0.23, math.sqrt(6) * -0.28])
    M, Ms, st = CK.quadrature_moments(t, cK, 43.5, 150.0, 0.5, np.inf)
    M2 = CK.quadrature_moments(t, cK, 43.5, 150.0, 0.5, 0.6)[0]
    assert st[1] == 0.0 and np.all(Ms == 0.0)
    assert np.array_equal(M, M2)


def test_droplet_split_is_half_saturation_of_the_erf_feature():
    """r(q) = q/sqrt(1 + 2 sigma_w2 + 2 q^2) -> 1/sqrt(2); at q_split it is half of that."""
    for sw2 in (0.25, 0.5, 1.0, 3.0):
        q = CK.droplet_split(sw2)
        assert q / math.sqrt(1 + 2 * sw2 + 2 * q * q) == pytest.approx(0.5 / math.sqrt(2), rel=1e-14)


def test_gauss_legendre_nodes():
    x, w = CK.gauss_legendre(16)
    xr, wr = np.polynomial.legendre.leggauss(16)
    assert np.allclose(np.sort(x), xr, rtol=0, atol=1e-14)
    assert np.allclose(w[np.argsort(x)], wr, rtol=0, atol=1e-14)
    # exact for polynomials of degree 31
    assert float(np.sum(w * x ** 30)) == pytest.approx(2 / 31, rel=1e-13)


def test_side_minimum_landmarks():
    """q_star is a local minimum of Shat beyond the barrier q_barrier (a local maximum)."""
    cK = CK.erf_hermite_coefficients(2)
    t = np.array([0.23, math.sqrt(6) * -0.28])
    u, sw2 = 43.5, 0.5
    qs, qb, a0 = CK.side_minimum(t, cK, u, sw2, 4.0)
    assert a0 > 0 and 0 < qb < qs
    S = lambda q: CK.action(q, t, cK, u, sw2)  # noqa: E731
    for h in (1e-3, 1e-2):
        assert S(qs) < S(qs - h) and S(qs) < S(qs + h)
        assert S(qb) > S(qb - h) and S(qb) > S(qb + h)
