"""Fourier measures of networks (simulations.fourier_features) against brute force and hand
values: frequency power by projection on cos/sin subspaces, the IPR of the exact solution
and of Gaussian rows (Dirichlet expectation, Monte Carlo), dominant frequencies, Gromov's
phase combination on his solution with random and shifted phases."""
import math

import numpy as np
import pytest

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import get_task
from simulations.fourier_features import (addition_order, dominant_frequency, frequency_power,
                                          gaussian_ipr_mean, neuron_ipr, phase_combination,
                                          readout_power)


def _gromov_neurons(P, ks, phi1, phi2, phi3, amp1=1.0, amp2=1.0, m_sign=1):
    """Gromov's eq. 6/12 written out: W1[i] = [a1 cos(2 pi k n/P + phi1), a2 cos(2 pi k s m/P + phi2)],
    W2[q, i] = cos(-2 pi k q/P - phi3) (s = -1: the subtraction solution)."""
    t = np.arange(P)
    ks = np.asarray(ks)[:, None]
    W1 = np.concatenate([amp1 * np.cos(2 * np.pi * ks * t / P + np.asarray(phi1)[:, None]),
                         amp2 * np.cos(2 * np.pi * ks * m_sign * t / P + np.asarray(phi2)[:, None])],
                        axis=1)
    W2 = np.cos(-2 * np.pi * t[:, None] * ks.T / P - np.asarray(phi3)[None, :])
    return W1, W2


@pytest.mark.parametrize("P", [7, 8, 11])
def test_frequency_power_is_projection_on_real_frequency_subspaces(P):
    # brute force: squared norm of the orthogonal projection of each half on span{cos, sin}
    # of frequency k (one real vector for k = 0 and the Nyquist k = P/2), by least squares
    rng = np.random.default_rng(P)
    w = rng.normal(size=(3, 2 * P))
    t = np.arange(P)
    expected = np.zeros((3, P // 2 + 1))
    for k in range(P // 2 + 1):
        cols = [np.cos(2 * np.pi * k * t / P)]
        if 0 < k and 2 * k != P:
            cols.append(np.sin(2 * np.pi * k * t / P))
        B = np.stack(cols, axis=1)
        for half in (w[:, :P], w[:, P:]):
            coef, *_ = np.linalg.lstsq(B, half.T, rcond=None)
            proj = B @ coef
            expected[:, k] += np.sum(proj ** 2, axis=0)
    got = frequency_power(w)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.sum(-1), np.sum(w * w, axis=-1), rtol=1e-12)
    # the read-out columns (over q) use the same per-half power: one half, the other zero
    W2 = w[:, :P].T                                                  # (P, N = 3)
    np.testing.assert_allclose(readout_power(W2), frequency_power(np.concatenate([w[:, :P], 0 * w[:, P:]], 1)),
                               rtol=1e-12)


@pytest.mark.parametrize("P", [7, 10, 13])
def test_ipr_of_exact_solution_is_one(P):
    rng = np.random.default_rng(1)
    N = 12
    ks = rng.integers(1, (P + 1) // 2, size=N)                     # 0 < k < P/2
    phi1, phi2 = rng.uniform(0, 2 * np.pi, (2, N))
    W1, _ = _gromov_neurons(P, ks, phi1, phi2, phi1 + phi2, amp1=rng.uniform(0.2, 3, (N, 1)),
                            amp2=rng.uniform(0.2, 3, (N, 1)))
    np.testing.assert_allclose(neuron_ipr(W1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(dominant_frequency(W1), ks)


def test_ipr_hand_values_and_other_conventions():
    P = 11
    t = np.arange(P)
    c = lambda k, ph=0.0: np.cos(2 * np.pi * k * t / P + ph)  # noqa: E731
    # two frequencies with equal power: 1/2; powers 3:1 -> (9 + 1)/16; a constant -> 1
    two = np.concatenate([c(2) + c(5, 0.4), c(2, 1.0) + c(5)])
    split = np.concatenate([math.sqrt(3) * c(1), c(4)])
    const = np.concatenate([np.ones(P), 2 * np.ones(P)])
    np.testing.assert_allclose(neuron_ipr(np.stack([two, split, const])), [0.5, 10 / 16, 1.0], rtol=1e-12)
    # r = 3: powers 3:1 -> (27 + 1)/64
    np.testing.assert_allclose(neuron_ipr(split, r=3), 28 / 64, rtol=1e-12)
    # the other readings of Gromov's eq. 20 on one exact neuron (documented factors 0.5, 0.25)
    w = np.concatenate([c(3, 0.7), c(3, -1.2)])
    F = np.concatenate([np.fft.fft(w[:P]), np.fft.fft(w[P:])])
    per_half = [np.sum(np.abs(h) ** 4) / np.sum(np.abs(h) ** 2) ** 2 for h in (F[:P], F[P:])]
    both = np.sum(np.abs(F) ** 4) / np.sum(np.abs(F) ** 2) ** 2
    np.testing.assert_allclose([np.mean(per_half), both, float(neuron_ipr(w))], [0.5, 0.25, 1.0],
                               rtol=1e-12)


@pytest.mark.parametrize("P", [7, 12, 23])
def test_ipr_of_gaussian_rows_matches_dirichlet_expectation(P):
    # hand value: E IPR_2 = sum_k a_k (a_k + 1) / (A (A + 1)), a = 1 (k = 0), 2 (0 < k < P/2),
    # 1 (k = P/2, even P), A = P; written out here for the two parities
    hand = (3 * P - 1) / (P * (P + 1)) if P % 2 else (3 * P - 2) / (P * (P + 1))
    assert gaussian_ipr_mean(P) == pytest.approx(hand, rel=1e-14)
    rng = np.random.default_rng(P)
    ipr = neuron_ipr(2.5 * rng.normal(size=(40000, 2 * P)))     # scale-free
    se = ipr.std() / math.sqrt(ipr.size)
    assert abs(ipr.mean() - hand) < 5 * se
    assert np.all((ipr >= 1 / (P // 2 + 1) - 1e-12) & (ipr <= 1 + 1e-12))


def test_dominant_frequency_conventions():
    P = 10
    t = np.arange(P)
    # strong mean (k = 0) is ignored; the class {k, -k} is reported as k; Nyquist allowed for even P
    w_mean = np.concatenate([5 + np.cos(2 * np.pi * 7 * t / P), 5 + 0.1 * np.cos(2 * np.pi * 2 * t / P)])
    w_nyq = np.concatenate([(-1.0) ** t, 0.2 * np.cos(2 * np.pi * t / P)])
    w_tie = np.concatenate([np.cos(2 * np.pi * 4 * t / P), np.cos(2 * np.pi * 2 * t / P)])
    W1 = np.stack([w_mean, w_nyq, w_tie])
    np.testing.assert_array_equal(dominant_frequency(W1), [3, 5, 2])
    # leading axes are carried through
    stacked = np.stack([W1, W1[::-1]])
    assert dominant_frequency(stacked).shape == (2, 3)
    np.testing.assert_array_equal(dominant_frequency(stacked)[1], [2, 5, 3])
    assert dominant_frequency(W1).dtype == np.int64


@pytest.mark.parametrize("P", [11, 12])
def test_phase_combination_on_gromov_solution(P):
    rng = np.random.default_rng(3)
    N = 9
    ks = rng.integers(1, (P + 1) // 2, size=N)
    phi1, phi2 = rng.uniform(-10, 10, (2, N))
    W1, W2 = _gromov_neurons(P, ks, phi1, phi2, phi1 + phi2)
    np.testing.assert_allclose(phase_combination(W1, W2), 0.0, atol=1e-12)
    # shifted phases: phi3 = phi1 + phi2 - delta -> combination delta (principal value)
    delta = rng.uniform(-np.pi + 1e-3, np.pi, N)
    W1, W2 = _gromov_neurons(P, ks, phi1, phi2, phi1 + phi2 - delta)
    got = phase_combination(W1, W2)
    np.testing.assert_allclose(got, delta, atol=1e-10)
    assert np.all((got > -np.pi) & (got <= np.pi))
    # explicit k, leading (seed) axes
    got2 = phase_combination(np.stack([W1, W1]), np.stack([W2, W2]), k=ks)
    np.testing.assert_allclose(got2, np.stack([delta, delta]), atol=1e-10)


def test_phase_combination_of_subtraction_in_addition_order():
    P = 13
    rng = np.random.default_rng(4)
    N = 6
    ks = rng.integers(1, 7, size=N)
    phi1, phi2 = rng.uniform(0, 2 * np.pi, (2, N))
    W1, W2 = _gromov_neurons(P, ks, phi1, phi2, phi1 + phi2, m_sign=-1)
    task = get_task("modadd", P=P, operation="sub")
    np.testing.assert_allclose(phase_combination(W1, W2, task=task), 0.0, atol=1e-12)
    # without the relabelling the m half has phase -phi2: combination phi1 - phi2 - phi3 = -2 phi2
    expected = np.angle(np.exp(-2j * phi2))
    np.testing.assert_allclose(np.exp(1j * phase_combination(W1, W2)), np.exp(1j * expected), atol=1e-10)
    # addition order is an explicit column permutation: w'_{g(m)} = w_m with g(m) = -m
    W1a = addition_order(W1, task)
    np.testing.assert_array_equal(W1a[:, P + (-np.arange(P)) % P], W1[:, P:])
    with pytest.raises(ParameterError, match="operation 'mul'"):
        addition_order(W1, get_task("modadd", P=P, operation="mul"))


def test_bad_shapes_are_parameter_errors():
    with pytest.raises(ParameterError, match="2P"):
        neuron_ipr(np.ones((3, 7)))
    with pytest.raises(ParameterError, match="r must be"):
        neuron_ipr(np.ones((3, 8)), r=1)
    with pytest.raises(ParameterError, match="W2 must have shape"):
        phase_combination(np.ones((3, 8)), np.ones((3, 3)))
    with pytest.raises(ParameterError, match="P must be"):
        gaussian_ipr_mean(1)
