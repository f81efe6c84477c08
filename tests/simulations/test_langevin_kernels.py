"""Kernels of the Langevin simulations against brute force: erf, potentials and their
gradients (incl. the sextic Fourier weight decay through the FFT), split-invariance of the
batched products."""
import math

import numpy as np
import pytest
from numba import njit
from scipy.special import erf

from simulations import _blas
from simulations._kernels import erf_pair, erf_pair32
from simulations.models import CubicNetwork, ModAddNetwork, dynamics_rng


@njit(cache=True)
def _erf_many(z, o1, o2):
    for i in range(z.shape[0]):
        a, b = erf_pair(z[i])
        o1[i] = a
        o2[i] = b


def test_erf_pair_matches_scipy():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(size=20000) * 2.5, np.linspace(-9, 9, 200001),
                        [0.0, -0.0, 0.5, -0.5, 5.9, -5.9, 6.0, 1e-300, -1e-300, 40.0]])
    e1, e2 = np.empty_like(z), np.empty_like(z)
    _erf_many(z, e1, e2)
    assert np.max(np.abs(e1 - erf(z))) < 1e-15
    small = np.abs(z) < 0.5                         # relative accuracy near 0 too
    assert np.max(np.abs(e1[small] - erf(z[small])) / np.maximum(np.abs(erf(z[small])), 1e-300)) < 1e-15
    ref = np.exp(-z * z)
    normal = ref > 1e-300
    assert np.max(np.abs(e2[normal] - ref[normal]) / ref[normal]) < 1e-15
    assert np.all(e2[~normal] < 1e-300)           # exp(-y) is held at exp(-708) beyond y = 708
    assert np.array_equal(np.sign(e1), np.sign(erf(z)))
    # non-finite input propagates (divergence checks); erf(+-inf) = +-1
    special = np.array([np.nan, np.inf, -np.inf])
    s1, s2 = np.empty(3), np.empty(3)
    _erf_many(special, s1, s2)
    assert np.isnan(s1[0]) and s1[1] == 1.0 and s1[2] == -1.0


@njit(cache=True)
def _erf_many32(z, o1, o2):
    for i in range(z.shape[0]):
        a, b = erf_pair32(z[i])
        o1[i] = a
        o2[i] = b


def test_erf_pair32_float32_accuracy():
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(size=20000) * 2.5, np.linspace(-6, 6, 120001), [0.0, 0.75, -0.75, 3.9, 40.0]])
    z = z.astype(np.float32)
    e1, e2 = np.empty_like(z), np.empty_like(z)
    _erf_many32(z, e1, e2)
    zd = z.astype(np.float64)
    assert np.max(np.abs(e1 - erf(zd))) < 1.2e-7                  # ~2 float32 ulp at 1
    u = (z * z).astype(np.float64)                                 # the float32 z^2
    ref = np.exp(-u)
    normal = ref > 1e-37
    assert np.max(np.abs(e2[normal] - ref[normal]) / ref[normal]) < 2e-7
    special = np.array([np.nan, np.inf, -np.inf], np.float32)
    s1, s2 = np.empty(3, np.float32), np.empty(3, np.float32)
    _erf_many32(special, s1, s2)
    assert np.isnan(s1[0]) and s1[1] == 1.0 and s1[2] == -1.0


def test_cubic_potential_float32_close_to_float64():
    phys = dict(N=30, d=12, n=200, sigma_w2=0.5, sigma_a2=2.0, eps=-0.3, sigma2=0.3)
    m64 = CubicNetwork(phys, [0, 1], seed=3, n_test=10)
    m32 = CubicNetwork(phys, [0, 1], seed=3, n_test=10, dtype=np.float32)
    theta = m64.sample_prior([dynamics_rng(0, j, 0) for j in range(2)])
    theta["w"] *= 2.0
    g64 = {k: np.empty_like(v) for k, v in theta.items()}
    th32 = {k: v.astype(np.float32) for k, v in theta.items()}
    g32 = {k: np.empty_like(v) for k, v in th32.items()}
    U64, _ = m64.potential(theta, g64)
    U32, _ = m32.potential(th32, g32)
    np.testing.assert_allclose(U32, U64, rtol=2e-5)
    for k in g64:
        scale = np.max(np.abs(g64[k]))
        assert np.max(np.abs(g32[k] - g64[k])) < 1e-4 * scale, k


def test_erf_pair_against_mpmath():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    z = np.concatenate([np.linspace(0, 6.5, 1301), -np.linspace(0.001, 3, 300)])
    e1, e2 = np.empty_like(z), np.empty_like(z)
    _erf_many(z, e1, e2)
    ref = np.array([float(mp.erf(mp.mpf(float(v)))) for v in z])
    assert np.max(np.abs(e1 - ref)) < 5e-16


def _fd_check(model, theta, rng, n_checks=6, eps=1e-6):
    grad = {k: np.empty_like(v) for k, v in theta.items()}
    U, _ = model.potential(theta, grad)
    g2 = {k: np.empty_like(v) for k, v in theta.items()}
    for g in model.groups:
        for _ in range(n_checks):
            idx = tuple(int(rng.integers(0, s)) for s in theta[g].shape)
            th = {k: v.copy() for k, v in theta.items()}
            th[g][idx] += eps
            Up, _ = model.potential(th, g2)
            th[g][idx] -= 2 * eps
            Um, _ = model.potential(th, g2)
            s = idx[0]
            fd = (Up[s] - Um[s]) / (2 * eps)
            assert fd == pytest.approx(grad[g][idx], rel=2e-5, abs=1e-6 * max(1.0, abs(U[s])))


def test_cubic_potential_and_gradient():
    phys = dict(N=7, d=5, n=40, sigma_w2=0.5, sigma_a2=2.0, eps=-0.3, sigma2=0.3)
    m = CubicNetwork(phys, [0, 1], seed=3, n_test=10)
    rng = np.random.default_rng(0)
    theta = m.sample_prior([dynamics_rng(0, j, 0) for j in range(2)])
    theta["w"] *= 3.0
    grad = {k: np.empty_like(v) for k, v in theta.items()}
    U, aux = m.potential(theta, grad)
    # brute force U: scipy's erf, the stored training targets
    f = np.einsum("si,sni->sn", theta["a"], erf(np.einsum("snd,sid->sni", m.X, theta["w"])))
    data = np.sum((f - m.y) ** 2, axis=1) / (2 * phys["sigma2"])
    prior = (np.sum(theta["w"] ** 2, axis=(1, 2)) * phys["d"] / (2 * phys["sigma_w2"])
             + np.sum(theta["a"] ** 2, axis=1) * phys["N"] / (2 * phys["sigma_a2"]))
    np.testing.assert_allclose(U, data + prior, rtol=1e-12)
    _fd_check(m, theta, rng)


def test_modadd_potential_gamma_and_gradient():
    P, N = 7, 4
    phys = dict(P=P, N=N, sigma_a2=0.5, gamma=0.3, sigma2=0.4)
    m = ModAddNetwork(phys, [0, 1])
    theta = m.sample_prior([dynamics_rng(0, j, 0) for j in range(2)])
    theta["w"] *= 1.5
    grad = {k: np.empty_like(v) for k, v in theta.items()}
    U, aux = m.potential(theta, grad)
    # brute force, written here: all P^2 two-hot pairs, centred one-hot targets of
    # (n + m) mod P, square activation, w_n = sum_k W_k exp(-2 pi i k n / P)
    X = np.zeros((P * P, 2 * P))
    Y = np.full((P * P, P), -1.0 / P)
    for n in range(P):
        for mm in range(P):
            X[n * P + mm, n] = X[n * P + mm, P + mm] = 1.0
            Y[n * P + mm, (n + mm) % P] += 1.0
    U_ref = np.zeros(2)
    for s in range(2):
        z = X @ theta["w"][s].T                                   # (P^2, N)
        f = (z ** 2) @ theta["a"][s].T                            # (P^2, P)
        W, V = np.fft.ifft(theta["w"][s][:, :P], axis=-1), np.fft.ifft(theta["w"][s][:, P:], axis=-1)
        gam = P * phys["gamma"] / 6 * (np.sum(np.abs(W) ** 6) + np.sum(np.abs(V) ** 6))
        U_ref[s] = (np.sum((f - Y) ** 2) / (2 * phys["sigma2"]) + np.sum(theta["w"][s] ** 2) / 2
                    + N * np.sum(theta["a"][s] ** 2) / (2 * phys["sigma_a2"]) + gam)
    np.testing.assert_allclose(U, U_ref, rtol=1e-12)
    _fd_check(m, theta, np.random.default_rng(5))


def test_fourier_power_is_the_task_convention():
    """ModAddNetwork.fourier_power (one real FFT) is |W_k|^2, |V_k|^2 of the task's
    fourier_amplitudes for k = 0 .. (P-1)/2."""
    P = 11
    m = ModAddNetwork(dict(P=P, N=3, sigma_a2=1.0, gamma=0.0, sigma2=1.0), [0, 1])
    w = np.random.default_rng(4).normal(size=(2, 3, 2 * P))
    X, Y = m.fourier_power(w)
    W, V = m.task.fourier_amplitudes(w)
    K = (P + 1) // 2
    np.testing.assert_allclose(X, np.abs(W[..., :K]) ** 2, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(Y, np.abs(V[..., :K]) ** 2, rtol=1e-13, atol=1e-16)


def test_gamma_gradient_alone():
    m = ModAddNetwork(dict(P=11, N=3, sigma_a2=1.0, gamma=2.0, sigma2=1.0), [0], data_term=False)
    w = np.random.default_rng(2).normal(size=(1, 3, 22))
    G, gG = m.gamma_term(w)
    for idx in [(0, 0, 0), (0, 1, 5), (0, 2, 17)]:
        e = 1e-6
        wp = w.copy()
        wp[idx] += e
        wm = w.copy()
        wm[idx] -= e
        fd = (m.gamma_term(wp)[0][0] - m.gamma_term(wm)[0][0]) / (2 * e)
        assert fd == pytest.approx(gG[idx], rel=1e-6)


def test_bmm_does_not_depend_on_the_split():
    rng = np.random.default_rng(0)
    for S, m_, k, n in [(1, 375, 53, 87), (3, 300, 40, 50), (5, 64, 7, 9)]:
        A = rng.normal(size=(S, m_, k))
        B = rng.normal(size=(S, n, k)).transpose(0, 2, 1)
        ref = np.empty((S, m_, n))
        _blas.bmm(A, B, ref, threads=1)
        for th in (2, 3):
            out = np.empty((S, m_, n))
            _blas.bmm(A, B, out, threads=th)
            assert np.array_equal(out, ref)
            # one member at a time (another batch composition)
            for s in range(S):
                o1 = np.empty((1, m_, n))
                _blas.bmm(A[s:s + 1], B[s:s + 1], o1, threads=th)
                assert np.array_equal(o1[0], ref[s])
        np.testing.assert_allclose(ref, np.matmul(A, B), rtol=1e-12, atol=1e-12)


def test_serial_and_parallel_twins_agree_bitwise():
    from simulations import _kernels as KC
    from simulations import _kernels_modadd as KM

    rng = np.random.default_rng(3)
    S, n, N = 3, 70, 33
    Z = rng.normal(size=(S, n, N))
    a = rng.normal(size=(S, N))
    f1, f2 = np.empty((S, n)), np.empty((S, n))
    KC.cubic_forward(Z, a, f1)
    KC.cubic_forward_serial(Z, a, f2)
    assert np.array_equal(f1, f2)
    np.testing.assert_allclose(f1, np.einsum("si,sni->sn", a, erf(Z)), rtol=1e-13, atol=1e-13)
    P = 7
    wT = rng.normal(size=(S, 2 * P, N))
    RA = rng.normal(size=(S, P * P, N))
    r = []
    for feat, wg in ((KM.modadd_features, KM.modadd_wgrad), (KM.modadd_features_serial, KM.modadd_wgrad_serial)):
        Phi, g = np.empty((S, P * P, N)), np.empty((S, 2 * P, N))
        feat(wT, Phi)
        wg(wT, RA, 0.5, g)
        r.append((Phi, g))
    assert np.array_equal(r[0][0], r[1][0]) and np.array_equal(r[0][1], r[1][1])


@pytest.mark.parametrize("n", [40, 2 * CubicNetwork.ROW_CHUNK + 37])
def test_cubic_potential_does_not_depend_on_threads_or_batch(n):
    """Same bits with 1-3 threads (members or data chunks spread over them) and for a
    member evaluated alone; several data chunks when n > ROW_CHUNK."""
    phys = dict(N=9, d=5, n=n, sigma_w2=0.5, sigma_a2=2.0, eps=-0.3, sigma2=0.3)
    m = CubicNetwork(phys, [0, 1, 2], seed=5, n_test=4)
    theta = m.sample_prior([dynamics_rng(0, j, 0) for j in range(3)])
    theta["w"] *= 2.0
    ref = None
    for threads in (1, 2, 3, 4):
        grad = {k: np.empty_like(v) for k, v in theta.items()}
        U, aux = m.potential(theta, grad, threads=threads)
        out = (U, aux["loss"], grad["w"], grad["a"])
        if ref is None:
            ref = out
        assert all(np.array_equal(x, y) for x, y in zip(out, ref)), threads
    for j in range(3):
        m1 = CubicNetwork(phys, [j], seed=5, n_test=4)
        th1 = {k: v[j:j + 1].copy() for k, v in theta.items()}
        for threads in (1, 2):
            g1 = {k: np.empty_like(v) for k, v in th1.items()}
            U1, aux1 = m1.potential(th1, g1, threads=threads)
            assert U1[0] == ref[0][j] and aux1["loss"][0] == ref[1][j]
            assert np.array_equal(g1["w"][0], ref[2][j]) and np.array_equal(g1["a"][0], ref[3][j])


def test_sampler_does_not_depend_on_threads():
    from simulations.sampler import LangevinSampler

    phys = dict(N=9, d=5, n=CubicNetwork.ROW_CHUNK + 20, sigma_w2=0.5, sigma_a2=2.0, eps=-0.3, sigma2=0.3)
    states = []
    for threads in (1, 2, 3, 5):
        m = CubicNetwork(phys, [0, 1, 2], seed=5, n_test=4)
        smp = LangevinSampler(m, 0.3, [dynamics_rng(0, j, 0) for j in range(3)], threads=threads).initialize()
        for it in range(12):
            smp.step(adapt=it < 6)
        states.append(smp.get_state())
    for st in states[1:]:
        for k, v in states[0].items():
            if isinstance(v, np.ndarray):
                assert np.array_equal(v, st[k]), k
            else:
                assert v == st[k], k


def test_box_muller_noise():
    """The sampler's normals: ln, cos, sin to ~1 ulp; moments and the K-S test of N(0, 1);
    the two numbers of a pair uncorrelated."""
    from scipy import stats

    from simulations import _noise as NZ

    @njit(cache=True)
    def parts(u, lg, c, s):
        for i in range(u.shape[0]):
            lg[i] = NZ.log_unit(1.0 - u[i])
            c[i], s[i] = NZ.cos_sin_2pi(u[i])

    rng = np.random.default_rng(7)
    u = np.concatenate([rng.random(100000), np.arange(4096) / 4096, [2.0 ** -53, 1 - 2.0 ** -53]])
    lg, c, s = np.empty_like(u), np.empty_like(u), np.empty_like(u)
    parts(u, lg, c, s)
    ref = np.log1p(-u)
    assert np.max(np.abs(lg - ref) / np.maximum(np.abs(ref), 1e-300)) < 1e-15
    assert np.max(np.abs(c - np.cos(2 * np.pi * u))) < 2e-15
    assert np.max(np.abs(s - np.sin(2 * np.pi * u))) < 2e-15
    U = rng.random((4, 500_000))
    Z = np.empty_like(U)
    NZ.box_muller(U, Z)
    z = Z.ravel()
    n = z.size
    assert abs(z.mean()) < 4 / math.sqrt(n)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(stats.kurtosis(z)) < 4 * math.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(np.corrcoef(Z[:, :250_000].ravel(), Z[:, 250_000:].ravel())[0, 1]) < 4 / math.sqrt(n / 2)
    assert np.max(np.abs(z)) < 8.58


def test_blas_thread_count_restored():
    """The pool runs with single-threaded OpenBLAS (a process-wide setting) and gives the
    previous thread count back afterwards."""
    if not _blas._probe():
        pytest.skip("NumPy's BLAS is not OpenBLAS")
    before = _blas._get()
    seen = _blas.run_parallel(lambda i: _blas._get(), [(0,), (1,)], threads=2)
    assert seen == [1, 1]
    assert _blas._get() == before
