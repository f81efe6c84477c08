r"""Fourier measures of two-layer networks on modular arithmetic (Gromov's diagnostics).

A network f = W2 (W1 x)^2 on two-hot inputs x = e_n (+) e_m has read-in weights
``W1`` of shape (..., N, 2P) (row i: neuron i; columns 0 .. P-1 the token n, columns
P .. 2P-1 the token m) and read-out weights ``W2`` of shape (..., P, N). Leading axes (seeds,
time) are allowed everywhere and carried through.

Fourier convention
------------------
The package's one convention (:func:`adaptive_kernel.tasks.fourier_amplitudes`): a neuron
w = (w_n) ++ (wt_m) has amplitudes

.. math:: w_n = \sum_k W_k e^{-2\pi i kn/P},\qquad \tilde w_m = \sum_k V_k e^{-2\pi i km/P},

W = ifft(first half), V = ifft(second half); a read-out column u_q = W2[q, i] has
U = ifft(u) over q. For real weights W_{-k} = conj(W_k), so k and -k carry the same
information: the *frequency* of a real wave is the class {k, -k}, k = 0 .. floor(P/2).

Frequency power (:func:`frequency_power`)
-----------------------------------------
.. math:: p_k = P\,\sum_{\pm}\big(|W_{\pm k}|^2 + |V_{\pm k}|^2\big),\quad 0 < k < P/2;
          \qquad p_0 = P(|W_0|^2 + |V_0|^2),\quad p_{P/2} = P(|W_{P/2}|^2 + |V_{P/2}|^2)

(the last only for even P). By Parseval sum_k p_k = |w|^2: p is the neuron's squared norm
split over its frequencies, both input halves together.

Inverse participation ratio (:func:`neuron_ipr`): the convention pinned here
---------------------------------------------------------------------------
Gromov (his eqs. 20-21) defines IPR_r = sum_nu |wt_nu|^{2r} for the Fourier transform wt of a
neuron's weights normalised to unit L2 norm, r = 2. Which components nu run over is not fixed
by the text; on his exact solution (one frequency k per neuron, in both halves) the value is

* 1    if one counts one component per frequency class and half (rfft per half), or - the
  convention used here - one component per frequency class {k, -k} with both halves pooled;
* 0.5  with the full FFT of each half normalised per half (k and -k counted separately);
* 0.25 with one normalisation over all 2P full-FFT components of both halves.

We use

.. math:: \mathrm{IPR}_r = \frac{\sum_{k=0}^{\lfloor P/2\rfloor} p_k^{\,r}}
          {\big(\sum_{k} p_k\big)^{r}} ,

i.e. Gromov's sum over the normalised power of each *real* frequency. Reasons: (i) it is
built on the package's amplitudes (W_k, V_k) and the order parameter |W_k|^2 of the theory;
(ii) k and -k are not independent components of a real vector, so counting them twice halves
the value for no physical reason; (iii) "the neuron carries one frequency" gives exactly 1,
whatever its phases and however its norm is split between the two halves (Gromov's reading of
IPR -> 1 as localisation in Fourier space). The other conventions follow on the exact solution
by the factors above (not in general).

Random rows (the level before learning): for w ~ N(0, I_2P), the unnormalised powers are
independent, P p_0 ~ chi^2_2 (W_0, V_0 real), P p_k ~ chi^2_4 (0 < k < P/2; Re and Im of W_k,
V_k), P p_{P/2} ~ chi^2_2 (even P). Gamma variables normalised by their sum are Dirichlet with
parameters alpha = (shape of each gamma) = 1, 2, ..., 2 (, 1), total A = P, independent of the
sum, and E[D_k^2] = alpha_k (alpha_k + 1)/(A (A + 1)), hence (:func:`gaussian_ipr_mean`)

.. math:: E[\mathrm{IPR}_2] = \frac{3P - 1}{P(P + 1)}\ (P\ \text{odd}),\qquad
          \frac{3P - 2}{P(P + 1)}\ (P\ \text{even}),

about 3/P: a random row is spread over all frequencies.

Dominant frequency and phases
-----------------------------
:func:`dominant_frequency`: the k in 1 .. floor(P/2) with the largest p_k (k = 0, the mean of
each half, is not a frequency of the solution and is excluded; the class {k, -k} is reported
by its representative k in 1 .. floor(P/2); for even P the Nyquist class P/2 is allowed (its
wave (-1)^n has phase 0 or pi only); ties go to the smallest k).

:func:`phase_combination`: Gromov's eq. 12 writes a neuron of the solution as
W1[i] = [cos(2 pi k n/P + phi1), cos(2 pi k m/P + phi2)], W2[q, i] = cos(-2 pi k q/P - phi3),
phi1 + phi2 = phi3. With our amplitudes, for 2k != 0 mod P,

.. math:: W_k = \tfrac12 e^{-i\varphi_1},\quad V_k = \tfrac12 e^{-i\varphi_2},\quad
          U_k = \tfrac12 e^{-i\varphi_3}

(ifft of cos(theta + phi) keeps the e^{-i(theta + phi)} half), so for any network

.. math:: \varphi_1 + \varphi_2 - \varphi_3 = \arg\big(\overline{W_k V_k}\, U_k\big),

returned as the principal value in (-pi, pi] (congruent mod 2 pi; a histogram of a solution
is centred on 0 rather than split between 0 and 2 pi).

Operations other than addition
------------------------------
For c = f(n) + g(m) with token permutations f, g (``sub``: g(m) = -m; bijective ``pow``;
:meth:`~adaptive_kernel.tasks.ModularArithmetic.addition_relabelling`), the network is an
addition network after permuting its read-in columns (:func:`addition_order`); the phase
combination of such a task is measured in that order (``task=`` argument).
"""
from __future__ import annotations

import numpy as np

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import fourier_amplitudes


def _read_in(W1) -> tuple:
    """(W1 as a float array, P), after checking the last axis is 2P >= 4."""
    W1 = np.asarray(W1)
    if W1.ndim < 1 or W1.shape[-1] % 2 or W1.shape[-1] < 4:
        raise ParameterError(f"W1 must have shape (..., N, 2P) with P >= 2; got shape {W1.shape}")
    if not np.issubdtype(W1.dtype, np.number) or np.iscomplexobj(W1):
        raise ParameterError(f"W1 must be a real array; got dtype {W1.dtype}")
    return W1, W1.shape[-1] // 2


def real_power(x) -> np.ndarray:
    r"""Power of real vectors of length P per real frequency {k, -k}.

    .. math:: p_k = P\sum_{\pm}|X_{\pm k}|^2\ (0<k<P/2),\qquad p_0 = P|X_0|^2,\quad
              p_{P/2} = P|X_{P/2}|^2\ (P\ \text{even}),\qquad X = \mathrm{ifft}(x),

    so that sum_k p_k = |x|^2 (Parseval).

    Parameters
    ----------
    x : array_like, shape (..., P)

    Returns
    -------
    ndarray, shape (..., P // 2 + 1)
        Index k = 0 .. floor(P/2).
    """
    x = np.asarray(x)
    P = x.shape[-1]
    per_k = P * np.abs(np.fft.ifft(x, axis=-1)) ** 2
    half = P // 2
    power = per_k[..., :half + 1].copy()
    # add the mirror -k = P - k for 0 < k < P/2 (not k = 0, not the Nyquist k = P/2)
    top = (P - 1) // 2
    power[..., 1:top + 1] += per_k[..., P - 1:P - 1 - top:-1]
    return power


def frequency_power(W1) -> np.ndarray:
    r"""Power of each neuron's read-in weights per real frequency, both halves pooled.

    .. math:: p_k = P\sum_{\pm}\big(|W_{\pm k}|^2 + |V_{\pm k}|^2\big)\ (0<k<P/2),\qquad
              p_0 = P(|W_0|^2 + |V_0|^2),\ p_{P/2} = P(|W_{P/2}|^2 + |V_{P/2}|^2)

    with (W, V) = :func:`~adaptive_kernel.tasks.fourier_amplitudes` (module docstring):
    :func:`real_power` of each half, added; sum_k p_k = |w|^2.

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)

    Returns
    -------
    ndarray, shape (..., N, P // 2 + 1)
        Index k = 0 .. floor(P/2).
    """
    W1, P = _read_in(W1)
    return real_power(W1[..., :P]) + real_power(W1[..., P:])


def readout_power(W2) -> np.ndarray:
    """:func:`real_power` of each neuron's read-out column W2[:, i] (over the outputs q).

    Parameters
    ----------
    W2 : array_like, shape (..., P, N)

    Returns
    -------
    ndarray, shape (..., N, P // 2 + 1)
    """
    W2 = np.asarray(W2)
    if W2.ndim < 2:
        raise ParameterError(f"W2 must have shape (..., P, N); got shape {W2.shape}")
    return real_power(np.swapaxes(W2, -1, -2))


def neuron_ipr(W1, r: float = 2) -> np.ndarray:
    r"""Inverse participation ratio of each neuron's Fourier spectrum (Gromov eqs. 20-21).

    .. math:: \mathrm{IPR}_r = \sum_{k=0}^{\lfloor P/2\rfloor} \Big(\frac{p_k}{\sum_{k'} p_{k'}}\Big)^{r}

    with p the :func:`frequency_power` (module docstring: the pinned convention). 1 for a
    neuron with one frequency (Gromov's solution), (3P - 1)/(P(P + 1)) on average for a
    Gaussian row (odd P, r = 2; :func:`gaussian_ipr_mean`); in [1/(floor(P/2) + 1)^(r-1), 1].

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)
    r : float
        Exponent (> 1; Gromov uses 2).

    Returns
    -------
    ndarray, shape (..., N)
        NaN for a neuron whose weights are all zero.
    """
    r = float(r)
    if not np.isfinite(r) or r <= 1.0:
        raise ParameterError(f"r must be a real number > 1; got {r}")
    power = frequency_power(W1)
    total = power.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(power ** r, axis=-1) / total ** r


def gaussian_ipr_mean(P: int) -> float:
    r"""Expected :func:`neuron_ipr` (r = 2) of a row w ~ N(0, sigma^2 I_{2P}).

    .. math:: E[\mathrm{IPR}_2] = \sum_k \frac{\alpha_k(\alpha_k + 1)}{A(A + 1)}
              = \frac{3P - 1}{P(P+1)}\ (P\ \text{odd}),\quad \frac{3P - 2}{P(P+1)}\ (P\ \text{even})

    (Dirichlet normalisation of independent chi^2 powers, alpha = 1 for k = 0 and the Nyquist
    frequency, 2 otherwise, A = P; module docstring). The reference level of an untrained
    network.
    """
    if isinstance(P, bool) or not isinstance(P, (int, np.integer)) or P < 2:
        raise ParameterError(f"P must be an integer >= 2; got {P!r}")
    P = int(P)
    return (3 * P - 1) / (P * (P + 1)) if P % 2 else (3 * P - 2) / (P * (P + 1))


def dominant_frequency(W1) -> np.ndarray:
    """The frequency carrying the largest power of each neuron's read-in weights.

    argmax over k = 1 .. floor(P/2) of :func:`frequency_power` (k = 0 excluded; k stands for
    the class {k, -k}; for even P the Nyquist frequency P/2 is included; ties: smallest k).

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)

    Returns
    -------
    ndarray of int64, shape (..., N)
    """
    power = frequency_power(W1)
    return (np.argmax(power[..., 1:], axis=-1) + 1).astype(np.int64)


def readout_amplitudes(W2) -> np.ndarray:
    r"""Fourier amplitudes U_k of each neuron's read-out column, u_q = sum_k U_k e^{-2 pi i kq/P}.

    Parameters
    ----------
    W2 : array_like, shape (..., P, N)

    Returns
    -------
    ndarray of complex, shape (..., N, P)
        ``ifft(W2, axis=-2)`` with the neuron axis moved before the frequency axis.
    """
    W2 = np.asarray(W2)
    if W2.ndim < 2:
        raise ParameterError(f"W2 must have shape (..., P, N); got shape {W2.shape}")
    return np.swapaxes(np.fft.ifft(W2, axis=-2), -1, -2)


def addition_order(W1, task) -> np.ndarray:
    """Read-in weights with their columns permuted so that the task becomes addition.

    If the task's labels are c = f(n) + g(m) mod P with permutations f, g
    (:meth:`~adaptive_kernel.tasks.ModularArithmetic.addition_relabelling`), the columns
    w'_j = w_{f^{-1}(j)} (and likewise g for the m half) define a network that computes
    addition and has the same outputs on the relabelled pairs; read-out weights are unchanged.

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)
    task : ModularArithmetic

    Raises
    ------
    ParameterError
        The operation has no such relabelling (``mul``, ``div``, non-bijective ``pow``) or
        the task's P does not match W1.
    """
    W1, P = _read_in(W1)
    if getattr(task, "P", None) != P:
        raise ParameterError(f"W1 has 2P = {2 * P} columns but the task has P = {getattr(task, 'P', None)}")
    relabel = task.addition_relabelling()
    if relabel is None:
        raise ParameterError(f"operation {task.operation!r} is not addition after relabelling the "
                             "tokens; allowed: add, sub, pow:A,B with bijective powers")
    f, g = relabel
    finv, ginv = np.argsort(f), np.argsort(g)
    return np.concatenate([W1[..., finv], W1[..., P + ginv]], axis=-1)


def phase_combination(W1, W2, k=None, task=None) -> np.ndarray:
    r"""Gromov's phase combination phi1 + phi2 - phi3 of each neuron (his eq. 12).

    .. math:: \varphi_1 + \varphi_2 - \varphi_3 = \arg\big(\overline{W_k V_k}\,U_k\big)

    at the neuron's frequency k, with W, V the read-in amplitudes of the two halves and U the
    read-out amplitudes (module docstring); 0 on Gromov's solution.

    Parameters
    ----------
    W1 : array_like, shape (..., N, 2P)
    W2 : array_like, shape (..., P, N)
    k : int or array_like of int, optional
        Frequency (broadcast against (..., N)); default :func:`dominant_frequency`.
    task : ModularArithmetic, optional
        For an operation that is addition after relabelling the tokens (``sub``, ...), the
        phases are measured in the addition order (:func:`addition_order`); None: addition.

    Returns
    -------
    ndarray, shape (..., N)
        Principal value in (-pi, pi].
    """
    W1, P = _read_in(W1)
    W2 = np.asarray(W2)
    if W2.ndim < 2 or W2.shape[-2] != P or W2.shape[-1] != W1.shape[-2]:
        raise ParameterError(f"W2 must have shape (..., P, N) = (..., {P}, {W1.shape[-2]}); "
                             f"got shape {W2.shape}")
    if task is not None:
        W1 = addition_order(W1, task)
    if k is None:
        k = dominant_frequency(W1)
    k = np.asarray(k)
    if not np.issubdtype(k.dtype, np.integer):
        raise ParameterError(f"k must be an integer frequency; got {k!r}")
    W, V = fourier_amplitudes(W1)
    U = readout_amplitudes(W2)
    shape = np.broadcast_shapes(W.shape[:-1], k.shape)
    idx = np.broadcast_to(k % P, shape)[..., None]
    Wk = np.take_along_axis(np.broadcast_to(W, shape + (P,)), idx, axis=-1)[..., 0]
    Vk = np.take_along_axis(np.broadcast_to(V, shape + (P,)), idx, axis=-1)[..., 0]
    Uk = np.take_along_axis(np.broadcast_to(U, shape + (P,)), idx, axis=-1)[..., 0]
    return np.angle(np.conj(Wk * Vk) * Uk)


__all__ = ["real_power", "frequency_power", "readout_power", "neuron_ipr", "gaussian_ipr_mean", "dominant_frequency",
           "readout_amplitudes", "addition_order", "phase_combination"]
