"""Kernels of the Langevin simulations against brute force: erf, potentials and their
gradients (incl. the sextic Fourier weight decay through the FFT), split-invariance of the
batched products."""
import math

import numpy as np
import pytest
from numba import njit
from scipy.special import erf

from simulations import _blas
from simulations._kernels import erf_pair
from simulations.models import CubicNetwork, ModAddNetwork, dynamics_rng


@njit(cache=True)
def _erf_many(z, o1, o2):
    for i in range(z.shape[0]):
        a, b = erf_pair(z[i])
        o1[i] = a
        o2[i] = b


def test_erf_pair_matches_scipy():
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal(size=20000) * 2.5, np.linspace(-9, 9, 20001), [0.0, -0.0, 0.5, -0.5, 6.0]])
    e1, e2 = np.empty_like(z), np.empty_like(z)
    _erf_many(z, e1, e2)
    assert np.max(np.abs(e1 - erf(z))) < 3e-15
    ref = np.exp(-z * z)
    assert np.max(np.abs(e2 - ref) / np.maximum(ref, 1e-300)) < 1e-13


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
    # brute force U
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
    # brute force: all pairs, Gamma from the teacher's Fourier convention
    X, Y = m.teacher.dataset(P)
    U_ref = np.zeros(2)
    for s in range(2):
        z = X @ theta["w"][s].T                                   # (P^2, N)
        f = (z ** 2) @ theta["a"][s].T                            # (P^2, P)
        W, V = m.teacher.fourier_amplitudes(theta["w"][s])
        gam = P * phys["gamma"] / 6 * (np.sum(np.abs(W) ** 6) + np.sum(np.abs(V) ** 6))
        U_ref[s] = (np.sum((f - Y) ** 2) / (2 * phys["sigma2"]) + np.sum(theta["w"][s] ** 2) / 2
                    + N * np.sum(theta["a"][s] ** 2) / (2 * phys["sigma_a2"]) + gam)
    np.testing.assert_allclose(U, U_ref, rtol=1e-12)
    _fd_check(m, theta, np.random.default_rng(5))


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
    Z0 = rng.normal(size=(S, n, N))
    a, y = rng.normal(size=(S, N)), rng.normal(size=(S, n))
    nb = (n + KC.ROW_BLOCK - 1) // KC.ROW_BLOCK
    outs = []
    for fn in (KC.cubic_data_term, KC.cubic_data_term_serial):
        Z = Z0.copy()
        f, gp, lp = np.empty((S, n)), np.empty((S, nb, N)), np.empty((S, nb))
        fn(Z, a, y, 2.0, f, gp, lp)
        outs.append((Z, f, gp, lp))
    for x, y_ in zip(*outs):
        assert np.array_equal(x, y_)
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
