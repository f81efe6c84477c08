"""The full mean-field action of modular addition (``action="full"``) against brute force.

Chain of checks, each against a direct construction (derivation: docstring of
:mod:`adaptive_kernel.teachers.modadd`):

1. the Fourier components c_kk' of phi_nm = (w_n + wt_m)^2 (closed forms) equal the
   projection of the P^2-vector phi on the normalised 2-D Fourier basis;
2. for any Q diagonal in that basis, phi^T (Q + sigma2)^-1 phi built as a P^2 x P^2 matrix
   equals sum |c|^2/(lambda + sigma2);
3. averaged over the phases (a uniform 5-point grid per angle integrates the degree-4
   trigonometric polynomial exactly) it equals :func:`kernel_term_phase_average`;
4. averaged in addition over a discrete product law of the other modes, the direct matrix
   action of one pair / of the zero pair is the mean-field action of
   :func:`full_coefficients` (linear field, quartic and XY coefficients, kappa, q4);
5. the eigenvalues of sigma_a2 <phi phi^T> of a product law (exact enumeration) are
   :func:`full_eigenvalues`, and Q is diagonal; under the prior they are the NNGP ones;
6. the polynomial pair quadrature against SciPy and against the EK kernel, the zero-pair
   quadrature against SciPy;
7. switching the kernel term off (extra = 0) gives the EK action and the EK residual;
8. solutions (GFL, mixed phase at P = 17 and at the paper's P = 401) satisfy their
   equations to 1e-10, also with every integral redone by QUADPACK (no stored regression
   values); the command line option.
"""
import itertools
import math

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate

from adaptive_kernel import get_teacher, reference as R, solve
from adaptive_kernel.cli import main
from adaptive_kernel.teachers import GFL, GMFL_I, GMFL_II
from adaptive_kernel.teachers import _modadd_kernels as K
from adaptive_kernel.teachers import modadd as MA
from adaptive_kernel.teachers.modadd import ModularAddition

T = get_teacher("modadd")


# -- brute-force constructions -------------------------------------------------------------
def fourier_basis(P):
    """U[(n, m), (k, k')] = exp(-2 pi i (k n + k' m)/P)/P, rows n*P + m, columns k*P + k'."""
    E = np.exp(-2j * np.pi * np.outer(np.arange(P), np.arange(P)) / P)
    return np.einsum("nk,ml->nmkl", E, E).reshape(P * P, P * P) / P


def weights(Wc, Vc, W0, V0, P):
    """Real read-in weights (..., 2P) with Fourier amplitudes W_k (k = 1..M), W_0 (and V)."""
    Wc, Vc = np.atleast_2d(Wc), np.atleast_2d(Vc)
    M = (P - 1) // 2
    out = []
    for A, a0 in ((Wc, W0), (Vc, V0)):
        F = np.zeros((A.shape[0], P), complex)
        F[:, 0] = a0
        F[:, 1:M + 1] = A
        F[:, P - M:] = np.conj(A[:, ::-1])
        out.append(np.fft.fft(F, axis=1).real)  # w_n = sum_k W_k exp(-2 pi i k n / P)
    return np.concatenate(out, axis=1)


def activations(w, P):
    X, _ = ModularAddition.dataset(P)
    return (w @ X.T) ** 2


def class_eigenvalues(P, Lam, lo, l1, l00):
    """lambda_kk' by class: (k, +-k) Lam, other (k, k') lo, (k, 0)/(0, k) l1, (0, 0) l00."""
    lam = np.full((P, P), lo)
    for k in range(1, P):
        lam[k, k] = lam[k, P - k] = Lam
        lam[k, 0] = lam[0, k] = l1
    lam[0, 0] = l00
    return lam.ravel()


def inverse_kernel(P, lam, sigma2):
    U = fourier_basis(P)
    Q = (U * lam) @ U.conj().T
    assert np.max(np.abs(Q.imag)) < 1e-12 * np.max(np.abs(Q))
    Q = Q.real
    assert np.allclose(Q, Q.T, atol=1e-12 * np.max(np.abs(Q)))
    return np.linalg.inv(Q + sigma2 * np.eye(P * P))


def phase_grid(amps, n=5):
    """All phase configurations (uniform n-point grid per angle) of complex amplitudes
    with moduli ``amps``; returns (n^len, len) complex."""
    th = 2 * np.pi * np.arange(n) / n
    grid = np.array(list(itertools.product(th, repeat=len(amps))))
    return np.asarray(amps)[None, :] * np.exp(1j * grid)


def phase_averaged_form(X, Y, W0, V0, P, Ainv):
    """<phi^T Ainv phi> over independent uniform phases of all pairs (exact on the grid)."""
    M = (P - 1) // 2
    Z = phase_grid(np.sqrt(np.concatenate([X, Y])))
    phi = activations(weights(Z[:, :M], Z[:, M:], W0, V0, P), P)
    return float(np.mean(np.einsum("gi,ij,gj->g", phi, Ainv, phi)))


def closed_form_components(W, V, P):
    """c_kk' from the closed forms of the module docstring (W, V: all P amplitudes)."""
    c = np.zeros((P, P), complex)
    s0 = W[0].real + V[0].real
    for k in range(1, P):
        for kp in range(1, P):
            c[k, kp] = 2 * P * W[k] * V[kp]
        Ck = sum(W[k1] * W[(k - k1) % P] for k1 in range(1, P) if (k - k1) % P != 0)
        Dk = sum(V[k1] * V[(k - k1) % P] for k1 in range(1, P) if (k - k1) % P != 0)
        c[k, 0] = P * (2 * W[k] * s0 + Ck)
        c[0, k] = P * (2 * V[k] * s0 + Dk)
    M = (P - 1) // 2
    Sx = np.sum(np.abs(W[1:M + 1]) ** 2)
    Sy = np.sum(np.abs(V[1:M + 1]) ** 2)
    c[0, 0] = P * (s0 ** 2 + 2 * Sx + 2 * Sy)
    return c.ravel()


# -- 1-3: Fourier form of the kernel term ---------------------------------------------------
@pytest.mark.parametrize("P", [5, 7])
def test_fourier_components_of_phi(P):
    rng = np.random.default_rng(P)
    w = rng.normal(size=2 * P)
    phi = activations(w, P)
    c_direct = fourier_basis(P).conj().T @ phi
    W, V = ModularAddition.fourier_amplitudes(w)
    c = closed_form_components(W, V, P)
    np.testing.assert_allclose(c, c_direct, atol=1e-12 * np.max(np.abs(c_direct)))


@pytest.mark.parametrize("P", [5, 7])
def test_quadratic_form_in_fourier_modes(P):
    """Any Q diagonal in the 2-D Fourier basis (lambda_kk' = lambda_-k-k', so Q is real)."""
    rng = np.random.default_rng(10 + P)
    neg = (-np.arange(P)) % P
    L = rng.uniform(0.01, 3.0, size=(P, P))
    L = 0.5 * (L + L[neg][:, neg])
    sigma2 = 0.13
    Ainv = inverse_kernel(P, L.ravel(), sigma2)
    for _ in range(3):
        w = rng.normal(size=2 * P) * rng.uniform(0.3, 2.0)
        phi = activations(w, P)
        W, V = ModularAddition.fourier_amplitudes(w)
        c = closed_form_components(W, V, P)
        direct = phi @ Ainv @ phi
        assert np.sum(np.abs(c) ** 2 / (L.ravel() + sigma2)) == pytest.approx(direct, rel=1e-11)


@pytest.mark.parametrize("P", [5, 7])
def test_phase_average_matches_mean_field_form(P):
    rng = np.random.default_rng(20 + P)
    M = (P - 1) // 2
    Lam, lo, l1, l00, sigma2 = 0.07, 0.02, 0.4, 5.0, 0.11
    Ainv = inverse_kernel(P, class_eigenvalues(P, Lam, lo, l1, l00), sigma2)
    a = [1 / (x + sigma2) for x in (Lam, lo, l1, l00)]
    for _ in range(3):
        X, Y = rng.exponential(1.0 / P, M) * 3, rng.exponential(1.0 / P, M) * 3
        W0, V0 = rng.normal(0, 0.5, 2)
        direct = phase_averaged_form(X, Y, W0, V0, P, Ainv)
        assert MA.kernel_term_phase_average(X, Y, W0, V0, P, *a) == pytest.approx(direct, rel=1e-11)
    # the phase average is needed: a single phase configuration differs
    Z = np.sqrt(X) * np.exp(1j * rng.uniform(0, 2 * np.pi, M))
    one = activations(weights(Z, np.sqrt(Y) * np.exp(1j * rng.uniform(0, 2 * np.pi, M)), W0, V0, P), P)[0]
    assert abs(one @ Ainv @ one / direct - 1) > 1e-3


# -- 4: mode mean field against the direct action averaged over a product law --------------
def _discrete_law():
    """Symmetric (<X> = <Y>) joint law of one pair and a law of (W0, V0)."""
    pair = [((0.05, 0.21), 0.5), ((0.21, 0.05), 0.5)]
    zero = [((0.31, -0.12), 0.6), ((-0.25, 0.4), 0.4)]
    return pair, zero


def _setup(P, r=0.7, sigma2=0.1, lam1=0.3, lam00=6.0, N=50.0, sa2=0.02):
    pair, zero = _discrete_law()
    m = sum(p * xy[0] for xy, p in pair)
    s2 = sum(p * (w0 + v0) ** 2 for (w0, v0), p in zero)
    Lam = sigma2 / r - sigma2
    lo = 4 * P * P * sa2 * m * m
    Ainv = inverse_kernel(P, class_eigenvalues(P, Lam, lo, lam1, lam00), sigma2)
    full = MA.full_coefficients(P, N, sa2, 1.0, sigma2, r, m, lam1, lam00, s2, extra=1.0)
    ek = MA.full_coefficients(P, N, sa2, 1.0, sigma2, r, m, lam1, lam00, s2, extra=0.0)
    scale = 2 * P * P / full["g"]  # phi^T (Q + sigma2)^-1 phi = scale x (extra action)
    return pair, zero, Ainv, full, ek, scale


@pytest.mark.parametrize("P", [5, 7])
def test_pair_mean_field_action_from_direct_average(P):
    M = (P - 1) // 2
    pair, zero, Ainv, full, ek, scale = _setup(P)

    def E(X1, Y1):
        tot = 0.0
        for others in itertools.product(pair, repeat=M - 1):
            for (w0, v0), pz in zero:
                X = np.array([X1] + [o[0][0] for o in others])
                Y = np.array([Y1] + [o[0][1] for o in others])
                prob = pz * np.prod([o[1] for o in others])
                tot += prob * phase_averaged_form(X, Y, w0, v0, P, Ainv)
        return tot

    e0 = E(0.0, 0.0)
    for X1, Y1 in ((0.3, 0.0), (0.0, 0.45), (0.3, 0.45), (0.8, 0.2)):
        expect = ((full["p1"] - ek["p1"]) * (X1 + Y1) + full["p2"] * (X1 ** 2 + Y1 ** 2)
                  - (full["c"] - ek["c"]) * X1 * Y1)
        assert (E(X1, Y1) - e0) / scale == pytest.approx(expect, rel=1e-10)


@pytest.mark.parametrize("P", [5, 7])
def test_zero_pair_mean_field_action_from_direct_average(P):
    M = (P - 1) // 2
    pair, zero, Ainv, full, ek, scale = _setup(P)

    def E(w0, v0):
        tot = 0.0
        for pairs in itertools.product(pair, repeat=M):
            X = np.array([p[0][0] for p in pairs])
            Y = np.array([p[0][1] for p in pairs])
            tot += np.prod([p[1] for p in pairs]) * phase_averaged_form(X, Y, w0, v0, P, Ainv)
        return tot

    e0 = E(0.0, 0.0)
    for w0, v0 in ((0.4, 0.0), (0.3, 0.5), (-0.2, 0.9)):
        s2 = (w0 + v0) ** 2
        assert (E(w0, v0) - e0) / scale == pytest.approx(full["kappa"] * s2 + full["q4"] * s2 * s2, rel=1e-10)
    # only s0 = W0 + V0 enters: W0 - V0 is free
    assert E(0.5, -0.5) == pytest.approx(e0, rel=1e-12)


# -- 5: eigenvalues of a product law ----------------------------------------------------
@pytest.mark.parametrize("P,support", [(5, 3), (7, 2)])
def test_eigenvalues_of_product_law(P, support):
    M = (P - 1) // 2
    pts = [((0.05, 0.21), 0.3), ((0.21, 0.05), 0.3), ((0.12, 0.12), 0.4)][:support]
    if support == 2:
        pts = [(xy, 0.5) for xy, _ in pts]
    zero = [((0.31, -0.12), 0.6), ((-0.25, 0.4), 0.4)]
    sa2 = 0.03
    Qsum = np.zeros((P * P, P * P))
    for pairs in itertools.product(pts, repeat=M):
        X = np.array([p[0][0] for p in pairs])
        Y = np.array([p[0][1] for p in pairs])
        Z = phase_grid(np.sqrt(np.concatenate([X, Y])))
        pp = np.prod([p[1] for p in pairs])
        for (w0, v0), pz in zero:
            phi = activations(weights(Z[:, :M], Z[:, M:], w0, v0, P), P)
            Qsum += pp * pz * (phi.T @ phi) / phi.shape[0]
    Q = sa2 * Qsum
    U = fourier_basis(P)
    D = U.conj().T @ Q @ U
    off = D - np.diag(np.diag(D))
    assert np.max(np.abs(off)) < 1e-12 * np.max(np.abs(D))
    mom = {"X": sum(p * xy[0] for xy, p in pts), "X2": sum(p * xy[0] ** 2 for xy, p in pts),
           "XY": sum(p * xy[0] * xy[1] for xy, p in pts),
           "s0sq": sum(p * (a + b) ** 2 for (a, b), p in zero), "s0_4": sum(p * (a + b) ** 4 for (a, b), p in zero)}
    lam = MA.full_eigenvalues(P, sa2, mom)
    expect = class_eigenvalues(P, lam["target"], lam["offtarget"], lam["one"], lam["zero"])
    np.testing.assert_allclose(np.diag(D).real, expect, rtol=1e-11)


def test_prior_eigenvalues_are_nngp():
    P, sa2 = 7, 0.01
    X, _ = ModularAddition.dataset(P)
    G = X @ X.T
    Q = sa2 * (np.outer(np.diag(G), np.diag(G)) + 2 * G ** 2)  # E[(w.x)^2 (w.x')^2], w ~ N(0, I)
    U = fourier_basis(P)
    D = np.diag(U.conj().T @ Q @ U).real
    prior = {"X": 1 / P, "X2": 2 / P ** 2, "XY": 1 / P ** 2, "s0sq": 2 / P, "s0_4": 12 / P ** 2}
    lam = MA.full_eigenvalues(P, sa2, prior)
    np.testing.assert_allclose(D, class_eigenvalues(P, lam["target"], lam["offtarget"], lam["one"], lam["zero"]),
                               rtol=1e-12)
    assert lam["one"] == pytest.approx(sa2 * (2 * P + 4))
    assert lam["zero"] == pytest.approx(sa2 * (4 * P * P + 4 * P + 4))
    y0 = MA.inner_prior_state(P)
    np.testing.assert_allclose(y0, [P * prior["X"], lam["one"] / (sa2 * P), lam["zero"] / (sa2 * P * P),
                                    P * prior["s0sq"]], rtol=1e-14)


# -- 6: quadratures ---------------------------------------------------------------------
def _scipy_pair(p1, p2, p3, c):
    """Nested adaptive QUADPACK reference of <XY>, <X>, <X^2>, droplet fraction."""
    xp, xm = K.poly_side_minimum(p1, p2, p3, c)
    A = lambda X, Y: K.poly_pair_action(X, Y, p1, p2, p3, c)  # noqa: E731
    amin = min(0.0, A(xp, xp)) if not math.isnan(xp) else 0.0
    L = 200.0 / p1 if math.isnan(xp) else xp + 40.0 / math.sqrt(2 * p2 + 6 * p3 * xp)
    pts = [t / p1 for t in (1, 5, 20)] + ([xm, xp] if not math.isnan(xp) else [])
    pts = sorted(x for x in pts if 0 < x < L)

    def integ(f, lo=0.0):
        brk = [p for p in pts if p > lo]

        def inner(X):
            return integrate.quad(lambda Y: f(X, Y) * math.exp(amin - A(X, Y)), lo, L, points=brk,
                                  limit=400, epsabs=0, epsrel=1e-13)[0]
        return integrate.quad(inner, lo, L, points=brk, limit=400, epsabs=0, epsrel=1e-13)[0]

    Z = integ(lambda X, Y: 1.0)
    out = {"XY": integ(lambda X, Y: X * Y) / Z, "X": integ(lambda X, Y: X) / Z, "X2": integ(lambda X, Y: X * X) / Z}
    out["f"] = integ(lambda X, Y: 1.0, lo=xm) / Z if not math.isnan(xp) else 0.0
    return out


QUAD_CASES = [  # (p1, p2, p3, c): mean-field coefficients of solved points and variations
    (22.15, 0.535, 17 / 3, 30.50),     # GFL, P = 17, N = 289, sigma2 = 0.1
    (26.28, 0.382, 23 / 3, -3.0),      # repulsive XY coupling
    (34.45, 3.295, 17 / 3, 60.40),     # mixed phase, P = 17, N = 72 (droplet weight 1e-3)
    (34.45, 3.295, 17 / 3, 61.6),      # both basins comparable (droplet weight ~0.4)
    (34.45, 3.295, 17 / 3, 66.0),      # droplet-dominated
]


@pytest.mark.parametrize("coef", QUAD_CASES)
def test_poly_quadrature_matches_scipy(coef):
    out = K.poly_exact_moments(*coef, MA._GL_X, MA._GL_W)
    ref = _scipy_pair(*coef)
    assert out[1] == pytest.approx(ref["XY"], rel=1e-9)
    assert out[5] == pytest.approx(ref["X"], rel=1e-9)
    assert out[6] == pytest.approx(ref["X2"], rel=1e-9)
    assert out[2] == pytest.approx(ref["f"], rel=1e-8, abs=1e-14)
    f = out[2]
    if 0 < f < 1:  # basin-conditional moments recombine to the totals
        assert (1 - f) * out[4] + f * out[3] == pytest.approx(out[1], rel=1e-12)
        assert (1 - f) * out[10] + f * out[8] == pytest.approx(out[5], rel=1e-12)
        assert (1 - f) * out[11] + f * out[9] == pytest.approx(out[6], rel=1e-12)


@pytest.mark.parametrize("P,v,gamma", [(17, 0.1, 1.0), (17, 1.2, 1.0), (401, 0.0116, 1e-4), (401, 0.02, 1e-4),
                                       (11, 0.3, 0.05), (31, 2.0, 1.0)])
def test_poly_kernels_reduce_to_ek_kernels(P, v, gamma):
    args = (float(P), 0.0, P * gamma / 3, 2 * P * v)
    a = K.exact_moments(float(P), v, gamma, MA._GL_X, MA._GL_W)[:7]
    b = K.poly_exact_moments(*args, MA._GL_X, MA._GL_W)[:7]
    keep = np.isfinite(a)
    np.testing.assert_allclose(b[keep], a[keep], rtol=1e-10)
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    a = K.saddle_moments(float(P), v, gamma)[:7]
    b = K.poly_saddle_moments(*args)[:7]
    np.testing.assert_allclose(b[np.isfinite(a)], a[np.isfinite(a)], rtol=1e-12)


def test_zero_pair_quadrature_matches_scipy():
    P, gamma, kappa, q4 = 17.0, 1.0, 1.57, 0.4
    w = lambda V, W, k: np.exp(-K.zero_pair_action(W, V, P, gamma, kappa, q4)) * (W + V) ** k  # noqa: E731
    m = [integrate.dblquad(lambda V, W: w(V, W, k), -3.5, 3.5, -3.5, 3.5, epsabs=0, epsrel=1e-12)[0] for k in (0, 2, 4)]
    out = K.zero_pair_moments(P, gamma, kappa, q4, MA._ZGL_X, MA._ZGL_W)
    assert out[0] == pytest.approx(m[1] / m[0], rel=1e-10)
    assert out[1] == pytest.approx(m[2] / m[0], rel=1e-10)
    # Gaussian limit: <s0^2> = 1/(P/2 + 2 kappa)
    g = K.zero_pair_moments(P, 0.0, kappa, 0.0, MA._ZGL_X, MA._ZGL_W)
    assert g[0] == pytest.approx(1 / (P / 2 + 2 * kappa), rel=1e-12)
    assert g[1] == pytest.approx(3 * g[0] ** 2, rel=1e-12)


# -- 7: EK limit -----------------------------------------------------------------------
@pytest.mark.parametrize("kw,sigma2", [(dict(P=17, N=289, sigma_a2=0.01, gamma=1.0), 0.1),
                                       (dict(P=401), 0.2), (dict(P=401), 0.22)])
def test_ek_recovered_without_kernel_term(kw, sigma2):
    p_ek = T.make_params(**kw)
    p_full = T.make_params(action="full", **kw)
    r_ek = solve(T, p_ek, sigma2).x[0]
    P = p_full["P"]
    for y in (MA.inner_prior_state(P), np.array([0.5, 3.0, 7.0, 1.0])):
        out = MA.residual_at(y, p_full, sigma2, extra=0.0)
        assert out["r"] == pytest.approx(r_ek, abs=1e-12)
        c = out["coef"]
        assert c["p1"] == P and c["p2"] == 0.0 and c["kappa"] == 0.0 and c["q4"] == 0.0
        u = T.effective_interaction(p_full, sigma2)
        assert c["c"] == pytest.approx(2 * P * u * out["r"] ** 2, rel=1e-14)
        assert c["p3"] == pytest.approx(P * p_full["gamma"] / 3, rel=1e-15)


def test_full_action_tends_to_ek_as_N_grows():
    """The kernel term is O(sigma_a2 P^2/(N sigma2)) relative: r_full - r_ek ~ 1/N."""
    base = dict(P=17, sigma_a2=0.01, gamma=1.0)
    d = []
    for N in (1e4, 1e5):
        r_ek = solve(T, T.make_params(N=N, **base), 0.1).x[0]
        sol = solve(T, T.make_params(N=N, action="full", **base), 0.1)
        d.append(T.observables(sol.x, T.make_params(N=N, action="full", **base), 0.1)["residual"] - r_ek)
    assert d[0] > 0 and d[1] > 0
    assert d[0] / d[1] == pytest.approx(10, rel=0.1)


# -- 8: solutions ----------------------------------------------------------------------
def _scipy_basins(p1, p2, p3, c):
    """Basin-conditional <XY>, <X>, <X^2> of the polynomial pair action and the droplet
    weight f by nested adaptive QUADPACK: droplet basin X, Y > X_- (the quadrant beyond the
    barrier of the diagonal), origin basin its complement, integrated as the box
    [0, X_-]^2 (break points at 1, 5, 20, 50 / p1, the origin's scale) plus the two arms."""
    xp, xm = K.poly_side_minimum(p1, p2, p3, c)
    A = lambda X, Y: K.poly_pair_action(X, Y, p1, p2, p3, c)  # noqa: E731
    has = not math.isnan(xp)
    amin = min(0.0, A(xp, xp)) if has else 0.0
    L = 200.0 / p1 if not has else xp + 40.0 / math.sqrt(2 * p2 + 6 * p3 * xp)
    pts = [t / p1 for t in (1, 5, 20, 50)] + ([xm, xp] if has else [])

    def integ(f, xlo, xhi, ylo, yhi):
        def inner(X):
            return integrate.quad(lambda Y: f(X, Y) * math.exp(amin - A(X, Y)), ylo, yhi,
                                  points=[q for q in pts if ylo < q < yhi] or None, limit=400,
                                  epsabs=0, epsrel=1e-12)[0]
        return integrate.quad(inner, xlo, xhi, points=[q for q in pts if xlo < q < xhi] or None,
                              limit=400, epsabs=0, epsrel=1e-12)[0]

    fs = {"1": lambda X, Y: 1.0, "XY": lambda X, Y: X * Y, "X": lambda X, Y: X, "X2": lambda X, Y: X * X}
    cut = xm if has else L
    o = {k: integ(f, 0, cut, 0, cut) + (integ(f, 0, cut, cut, L) + integ(f, cut, L, 0, cut) if has else 0.0)
         for k, f in fs.items()}
    out = {"f": 0.0, "origin": {k: o[k] / o["1"] for k in ("XY", "X", "X2")}, "droplet": None}
    if has:
        d = {k: integ(f, xm, L, xm, L) for k, f in fs.items()}
        out["f"] = d["1"] / (d["1"] + o["1"])
        out["droplet"] = {k: d[k] / d["1"] for k in ("XY", "X", "X2")}
    return out


def _scipy_zero_pair(P, gamma, kappa, q4):
    """<s0^2>, <s0^4> of the zero pair by adaptive 2-D QUADPACK."""
    w = lambda V, W, k: math.exp(-K.zero_pair_action(W, V, P, gamma, kappa, q4)) * (W + V) ** k  # noqa: E731
    L = math.sqrt(80.0 / (0.25 * P))  # exp(-(P/4)(W0^2 + V0^2)) bounds the weight: e^-80 at L
    m = [integrate.dblquad(lambda V, W: w(V, W, k), -L, L, -L, L, epsabs=0, epsrel=1e-11)[0] for k in (0, 2, 4)]
    return m[1] / m[0], m[2] / m[0]


SOLVED = [  # (params, sigma2): GFL and mixed phase at P = 17, mixed phase at the Fig. 3 setting
    (dict(P=17, N=289, sigma_a2=0.01, gamma=1.0), 0.1),
    (dict(P=17, N=72, sigma_a2=0.01, gamma=1.0), 0.1),
    (dict(P=401), 0.15),
]


@pytest.mark.parametrize("kw,sigma2", SOLVED)
def test_full_solutions_satisfy_their_equations(kw, sigma2):
    p = T.make_params(action="full", **kw)
    sol = solve(T, p, sigma2)
    assert sol.success and sol.residual <= 1e-10
    y = sol.x
    out = MA.residual_at(y, p, sigma2)
    assert np.max(np.abs(y - out["T_inner"])) <= 1e-10
    # the GPR equation with the plain (unpinned) quadrature at the solution's r
    coef, mom, lam, tr, ty = MA.full_evaluate(out["r"], y, p, sigma2)
    assert abs(out["r"] - tr) <= 1e-10
    assert mom["droplet_fraction"] == pytest.approx(out["mom"]["droplet_fraction"], rel=1e-6, abs=1e-300)
    # the map's image is the moments' own definition
    P = p["P"]
    assert y[0] == pytest.approx(P * out["mom"]["X"], abs=1e-10)
    assert y[3] == pytest.approx(P * out["mom"]["s0sq"], abs=1e-10)
    obs = T.observables(y, p, sigma2)
    assert obs["lambda"] == pytest.approx(sigma2 * (1 - obs["residual"]) / obs["residual"], rel=1e-9)

    # the same fixed point with every integral done independently (QUADPACK): the
    # coefficients (full_coefficients) and eigenvalues (full_eigenvalues) are the formulas
    # checked against the P^2 x P^2 matrices above. The droplet weight is fixed by the GPR
    # relation at r (it depends on r like exp(P x action gap)); the QUADPACK weight at r
    # must agree with it, which is the GPR equation itself.
    r = out["r"]
    N, sa2, gamma = p["N"], p["sigma_a2"], p["gamma"]
    co = MA.full_coefficients(P, N, sa2, gamma, sigma2, r, y[0] / P, y[1] * sa2 * P, y[2] * sa2 * P * P, y[3] / P)
    b = _scipy_basins(co["p1"], co["p2"], co["p3"], co["c"])
    s0sq, s0_4 = _scipy_zero_pair(P, gamma, co["kappa"], co["q4"])
    c4 = 4 * P * P * sa2
    if b["droplet"] is None:
        f, share, mo = 0.0, 0.0, dict(b["origin"])
    else:
        o, dr = b["origin"], b["droplet"]
        f = (sigma2 * (1 - r) / (r * c4) - o["XY"]) / (dr["XY"] - o["XY"])
        mo = {k: (1 - f) * o[k] + f * dr[k] for k in ("XY", "X", "X2")}
        share = f * dr["XY"] / mo["XY"]
        assert b["f"] == pytest.approx(f, rel=1e-6)
    mo.update(s0sq=s0sq, s0_4=s0_4)
    lam = MA.full_eigenvalues(P, sa2, mo)
    image = np.array([P * mo["X"], lam["one"] / (sa2 * P), lam["zero"] / (sa2 * P * P), P * s0sq])
    np.testing.assert_allclose(image, y, rtol=0, atol=2e-10)  # solver tolerance 1e-10
    # GPR equation (with a droplet basin it holds by the choice of f, and the comparison of
    # the QUADPACK weight with f above is the equation)
    assert sigma2 / (lam["target"] + sigma2) == pytest.approx(r, abs=1e-10)
    # the phase from these moments (thresholds of the module docstring)
    expect = GFL if share < 0.5 else (GMFL_I if 1 - f >= 1 / P else GMFL_II)
    assert obs["phase"] == expect
    assert obs["droplet_fraction"] == pytest.approx(f, rel=1e-6, abs=1e-300)


def test_full_gfl_suppresses_modes_below_prior():
    """The kernel term pulls <|W_k|^2> below its value without data in GFL; the EK action
    raises it. The reference is the prior with the same sextic decay Gamma (coupling 0),
    integrated by reference.py."""
    kw = dict(P=17, N=289, sigma_a2=0.01, gamma=1.0)
    p = T.make_params(action="full", **kw)
    y = solve(T, p, 0.1).x
    ek = T.make_params(**kw)
    r = solve(T, ek, 0.1).x[0]
    prior = 17 * R.pair_moments(17, 0.0, 1.0, which=("X",))["X"]
    assert prior < 1  # Gamma alone lowers P<X> below the Gaussian prior's 1
    assert y[0] < prior
    assert MA.pair_moments(17, T.effective_interaction(ek, 0.1) * r * r, 1.0)["X"] * 17 > prior


def test_parameters_and_cli(tmp_path):
    with pytest.raises(Exception, match="normalization 'derived'"):
        T.make_params(action="full", normalization="paper")
    assert T.make_params()["action"] == "ek"
    runner = CliRunner()
    out = tmp_path / "f.h5"
    res = runner.invoke(main, ["scan", "--action", "full", "--P", "17", "--N", "289", "--sigma-a2", "0.01",
                               "--gamma", "1", "--sigma2", "0.12:0.1:2", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert f["params"].attrs["action"] == "full"
        r = f["scan/residual"][()]
    # the command line solved the full action (checked independently in
    # test_full_solutions_satisfy_their_equations), not the EK one
    kw = dict(P=17, N=289, sigma_a2=0.01, gamma=1.0)
    r_full = solve(T, T.make_params(action="full", **kw), 0.1).x
    r_full = T.observables(r_full, T.make_params(action="full", **kw), 0.1)["residual"]
    r_ek = solve(T, T.make_params(**kw), 0.1).x[0]
    assert r[-1] == pytest.approx(r_full, abs=1e-9)
    assert abs(r_full - r_ek) > 1e-3
    bad = runner.invoke(main, ["scan", "--action", "full", "--normalization", "paper", "--P", "17", "-q",
                               "-o", str(tmp_path / "g.h5")])
    assert bad.exit_code == 2 and "derived" in bad.output
    bad = runner.invoke(main, ["scan", "--teacher", "cubic", "--action", "full", "-o", str(tmp_path / "h.h5")])
    assert bad.exit_code == 2 and "--action" in bad.output
    help_text = " ".join(runner.invoke(main, ["scan", "--help"]).output.split())
    assert "--action [ek|full]" in help_text and "phi^T (Q + sigma2)^-1 phi" in help_text
