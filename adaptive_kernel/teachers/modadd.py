r"""Modular-addition teacher learned by a square-activation network (Gromov's setting).

Data: all P^2 "two-hot" inputs x_nm in R^{2P} (1 at n and at P+m), targets

.. math:: y_p(x_{nm}) = \delta_{p,(n+m) \bmod P} - 1/P,
          \qquad f_p(x) = \sum_i a_{p,i} (w_i\cdot x)^2 .

With Fourier amplitudes :math:`w_n=\sum_k W_k e^{-2\pi i kn/P}` (first half of w) and
:math:`\tilde w_m=\sum_k V_k e^{-2\pi i km/P}` (second half), :math:`X=|W_k|^2`,
:math:`Y=|V_k|^2`, the mean-field action of one read-in neuron decouples into complex
Fourier pairs (k, P-k), each with weight exp(-A(X, Y)) on X, Y >= 0 where

.. math:: A = P\,[X + Y - 2 u r^2 XY + (\gamma/3)(X^3+Y^3)],\qquad
          u = 2\sigma_a^2 P^2/(N\sigma^4),

r the residual fraction (sigma2 tbar = -r y; r = 1 means nothing learned). Self-consistency:

.. math:: r = \sigma^2/(\Lambda(r) + \sigma^2),

with the target's kernel eigenvalue

* ``derived`` (default): :math:`\Lambda = 4P^2\sigma_a^2\langle XY\rangle`, the projection of
  the P^2 x P^2 Gram matrix on the normalised target (equals the NNGP value 4 sigma_a2 under
  the prior; checked against sampled Gram matrices in the tests);
* ``paper``: :math:`\Lambda = \sigma_a^2\langle XY\rangle` (the paper's eqs. 37-38).

Phases (documented thresholds, see :meth:`ModularAddition.observables`):

* GFL (0): the droplet basin carries less than half of the target eigenvalue;
* GMFL-I (1): it carries at least half, and the origin basin still has weight >= 1/P;
* GMFL-II (2): the origin basin weight 1 - f has dropped below 1/P (its free energy is more
  than log P above the droplet basin's).

Operations
----------
The task is :class:`adaptive_kernel.tasks.ModularArithmetic` (``operation=``). The theory
covers ``add`` and ``sub`` exactly and refuses the other operations
(:data:`COVERED_OPERATIONS`, :meth:`ModularAddition.check_params`). ``sub`` is ``add`` with
m -> -m: the relabelling maps V_k to conj(V_k), so |V_k|^2 = Y, the action, the sextic Gamma
and the target eigenvalue 4 sigma_a2 (the target sits on the modes (k, -k) instead of
(k, k); checked by brute force in ``tests/tasks/``) are unchanged, and every number of the
theory is that of ``add``. For ``mul``, ``div`` and non-bijective ``pow:A,B`` the target is
not an eigenvector of the kernel (its Rayleigh quotient is 12, 6, ... sigma_a2, with (0, 0)
and (k, 0) components); bijective ``pow`` targets are ``add`` after relabelling the tokens,
but they spread over all modes (k, l) and the relabelling does not leave the Fourier weight
decay Gamma invariant. Either way the one-scalar ansatz sigma2 tbar = -r y on the modes
(k, +-k) of this module does not describe them.

Actions
-------
``action="ek"`` (default) is the action above: the paper's equivalent-kernel (EK) form,
which keeps only the data term of the single-neuron action (bit-for-bit the behaviour of
earlier versions). ``action="full"`` keeps the second kernel term of THEORY.md sections 1
and 5 as well, in a mean field over Fourier modes. It needs ``normalization="derived"``.

Derivation of the full action
-----------------------------
**Kernel term.** Integrating out the read-outs, -log p of the read-in weights contains, per
output channel p, (1/2) y_p^T (Q + sigma2)^-1 y_p + (1/2) log det(Q + sigma2) with
Q = (sigma_a2/N) sum_i phi_i phi_i^T. Adding one neuron (dQ = (sigma_a2/N) phi phi^T) gives
the single-neuron action

.. math:: S[w] = |w|^2/2 + \Gamma - \frac{\sigma_a^2}{2N}\sum_p (\bar t_p\cdot\phi)^2
          + \frac{P\sigma_a^2}{2N}\,\phi^T (Q + \sigma^2)^{-1}\phi ,

phi_nm = (w_n + wt_m)^2 the neuron's activations on the P^2 inputs. The EK action drops the
last term.

**Fourier projection.** In the normalised 2-D basis e_kk'(n, m) = P^-1 exp(-2 pi i (kn + k'm)/P)
the components c_kk' = <e_kk', phi> of one neuron are (W_-k = conj W_k; W_0, V_0 real)

* c_kk' = 2 P W_k V_k'  (k, k' != 0), so |c_kk'|^2 = 4 P^2 X_k Y_k';
* c_k0 = P (2 W_k s0 + C_k), c_0k = P (2 V_k s0 + D_k)  (k != 0), with s0 = W_0 + V_0 and
  C_k = sum_{k1 + k2 = k; k1, k2 != 0} W_k1 W_k2 (D_k the same with V): the W-only part
  w_n^2 of phi, whose harmonics include the second harmonic W_{k/2}^2 of every mode;
* c_00 = P (s0^2 + 2 Sx + 2 Sy), Sx = sum_{pairs} X_j (sum over the (P-1)/2 complex pairs).

The shift symmetries n -> n + a, m -> m + b of the single-neuron law (and the permutation of
output channels) make Q diagonal in this basis; its eigenvalues fall into classes (multiplying
k, k' by q != 0 maps a class onto itself):

* target (k, k) and "difference" (k, -k) modes: the same Lambda = 4 P^2 sigma_a2 <X Y>
  (|c_{k,-k}|^2 = 4 P^2 X_k Y_k as well; the square network cannot tell n + m from n - m);
* off-target (k, k'), k' != 0, +-k: lambda_o = 4 P^2 sigma_a2 <X>^2;
* (k, 0) and (0, k): lambda_1 = sigma_a2 P^2 [<X^2> + 4 (M - 1) <X>^2 + 4 <X><s0^2>],
  M = (P - 1)/2;
* (0, 0): lambda_00 = sigma_a2 P^2 <T^2>, T = s0^2 + 2 (Sx + Sy) (contains the mean <T>^2).

Under the Gaussian prior these are the NNGP eigenvalues 4 sigma_a2, 4 sigma_a2,
sigma_a2 (2P + 4) and sigma_a2 (4P^2 + 4P + 4).

**Phase average.** The prior, Gamma and the data term depend only on |W_k|, |V_k|; the
kernel term also contains phase-dependent products (W_k1 W_k2 conj(W_k3 W_k4), ...). Averaged
over independent uniform phases of the pairs (and W_0, V_0 fixed), the quadratic form is

.. math:: \langle\phi^T(Q+\sigma^2)^{-1}\phi\rangle_\theta
   = 16 P^2 [a_T \textstyle\sum_j X_jY_j + a_o (S_xS_y - \sum_j X_jY_j)]
   + P^2 a_1 [8 s_0^2 (S_x+S_y) + 8S_x^2 - 6\sum_j X_j^2 + 8S_y^2 - 6\sum_j Y_j^2]
   + P^2 a_{00} (s_0^2 + 2S_x + 2S_y)^2,

a_T = 1/(Lambda + sigma2) = r/sigma2, a_o = 1/(lambda_o + sigma2), a_1 = 1/(lambda_1 + sigma2),
a_00 = 1/(lambda_00 + sigma2) (:func:`kernel_term_phase_average`; <|C_k|^2> summed over k is
8 Sx^2 - 6 sum_j X_j^2: all pairings except k1 = -k2, with the diagonal k1 = k2 counted once).

**Mean field over modes.** The cross-mode products Sx Sy, Sx^2, (Sx + Sy)^2 are sums over
M pairs; at large M they concentrate (a saddle point on the collective variables), which is
the product ansatz p = prod_j p_j(X_j, Y_j) x p_0(W_0, V_0) with each factor in the mean
field <.> of the others (the Gibbs-Bogoliubov optimum among product laws). With
g = sigma_a2 P^3/N and m = <X> = <Y>, every complex pair has

.. math:: A(X, Y) = p_1 (X+Y) + p_2 (X^2+Y^2) + \frac{P\gamma}{3}(X^3+Y^3) - c\,XY,

* p1 = P + 8 g a_o (M - 1) m + 4 g a_1 (<s0^2> + 2 (M - 1) m) + 2 g a_00 (<s0^2> + 4 (M - 1) m)
  (linear field from the other modes),
* p2 = g a_1 + 2 g a_00                                 (the pair's own second harmonic and
  its (0, 0) component),
* c = 4 g (r/sigma2)^2 - 8 g a_T - 4 g a_00 = 2 P u r^2 - 8 g r/sigma2 - 4 g a_00,

and the zero pair (real W_0, V_0; measure dW_0 dV_0) has
(P/2)(W_0^2 + V_0^2) + P (gamma/6)(W_0^6 + V_0^6) + kappa s0^2 + (g/2) a_00 s0^4 with
kappa = 4 g M m (2 a_1 + a_00). The EK action is p1 = P, p2 = 0, c = 2 P u r^2
(``extra=0`` in :func:`full_coefficients`). On the target modes the kernel term cancels a
fraction 2 sigma2/r = 2 (Lambda + sigma2) of the data term's attraction: the effective
coupling is u r^2 (1 - 2 (Lambda + sigma2)) (repulsive when Lambda + sigma2 > 1/2).

Sizes (solutions of this module; fields as fractions of P). Langevin setting P = 17,
N = 289, sigma_a2 = 0.01, gamma = 1, sigma2 = 0.1 (GFL): field (p1 - P)/P = 0.303 =
0.212 (off-target) + 0.087 ((k, 0), (0, k)) + 0.004 ((0, 0)), of which the zero-pair part
<s0^2> is 0.010; p2/P = 0.032; the kernel term on the target modes leaves c = 0.74 c_EK.
Fig. 3 setting (P = 401, N = 1000, gamma = 1e-4, sigma2 = 0.15, mixed phase): at the
droplet saddle X+ = 175 the EK attraction c_EK X+^2 = 5.2e5 is reduced to 3.4e5 by the
target term, and the droplet's own (k, 0)/(0, k) components (its second harmonic) cost
5.1e4, against 1.2e3 from the off-target field and 7.5e2 from (0, 0); in GFL the fields are
0.0087 (off-target), 0.0083 ((k, 0)) and 1e-4 ((0, 0)). So the (k, 0)/(0, k) pieces are
*not* subleading -- a third of the GFL field, and the main new cost of a droplet -- and all
pieces are kept. Only (0, 0) is small (its eigenvalue contains the mean <T>^2, so
a_00 << a_o); it is kept as well (it costs nothing).

**Self-consistency.** The eigenvalues are those of the product law: Lambda = 4 P^2 sigma_a2
<XY>, lambda_o, lambda_1, lambda_00 as above from the pair moments <X>, <X^2>, <XY> and the
zero-pair moments <s0^2>, <s0^4> (:func:`full_eigenvalues`), and r = sigma2/(Lambda + sigma2).
The solver state is the mode state y = (P<X>, lambda_1/(sigma_a2 P), lambda_00/(sigma_a2 P^2),
P<s0^2>) (all O(1) under the prior; vector path of :mod:`adaptive_kernel.solver`); for each y
the residual r*(y) solves the GPR equation by Brent's method on [0, 1] (:func:`residual_at`),
which copes with the exponential steepness of the mixed phase, and at the root the droplet
weight is fixed by the GPR relation (:func:`pinned_mixture`) so that the map y -> T(y) stays
smooth. The pair is integrated exactly in 2-D (:func:`_modadd_kernels.poly_exact_moments`,
the EK panel layout with the general Hessian) or by the Gaussian mixture (``saddle``), the
zero pair by a 2-D Gauss-Legendre rule.

Approximations beyond the EK theory's: phase correlations between modes are neglected
(phase-dependent terms average to zero under independent phases), and the product ansatz
lets one neuron be a droplet in several modes independently; both are controlled by
1/M in GFL. Like the EK theory it is the N -> inf mean field (finite-N corrections of the
GPR relation are not included).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from ..tasks import ModularArithmetic
from ..tasks import fourier_amplitudes as _fourier_amplitudes
from ..validation import Constraint
from . import _modadd_kernels as K
from .base import GFL, GMFL_I, GMFL_II, Teacher

#: Gauss-Legendre order per panel of the exact 2-D quadrature. With the panel layout of
#: :func:`_modadd_kernels.axis_breakpoints` the quadrature agrees with an independent
#: adaptive SciPy integration to < 3e-11 relative (tests/theory/test_modadd_quadrature.py).
GL_ORDER = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(GL_ORDER)

#: Largest modulus: --action full was checked up to P = 1,000,003 (15 s per point); at
#: P = 10,000,019 its map is non-finite and at 1e9 it divides by zero (the EK action was
#: solved up to P = 1e12; the cap is common to both).
MAX_P = 1_000_003

METHODS = ("exact", "saddle")
#: Operations of the task the theory solves (see the module docstring): ``sub`` is ``add``
#: with m -> -m and has the same action and target eigenvalue; the others are refused.
COVERED_OPERATIONS = ("add", "sub")
NORMALIZATIONS = ("derived", "paper")
ACTIONS = ("ek", "full")
#: Gauss-Legendre order per panel of the zero-pair quadrature (24 panels per axis).
ZERO_GL_ORDER = 12
_ZGL_X, _ZGL_W = np.polynomial.legendre.leggauss(ZERO_GL_ORDER)

#: Phase thresholds (documented in the README and the HDF5 attributes).
GMFL1_DROPLET_SHARE = 0.5

#: Deepest droplet minimum (depth -A(X+, X+) of the pair action below the origin) at which
#: the exact quadrature is used. The log weight A - A_min is a difference of terms of size
#: ~depth, so its rounding error is ~1e-16 x depth. Measured against the independent
#: reference (``adaptive_kernel.reference``, nested QUADPACK), largest relative difference
#: of <XY>, <X>, <X^2>: depth 1e9: 2.6e-12, 1e11: 4.5e-12 (P = 401, gamma = 1e-4) and
#: 9.7e-12 (P = 5, gamma = 1), 1e12: 2.3e-11 to 8.3e-11 (P = 5 ... 2003), 1e13: 6.9e-11 to
#: 1.4e-10; from ~5e17 on the quadrature returns NaN (division by zero). 1e11 keeps the
#: documented 3e-11 with a margin. The depth grows like (4/3) P v^3 / gamma^2.
MAX_DROPLET_DEPTH = 1e11
#: The saddle-point (P -> inf) moments are closed forms; their only limit is overflow of
#: the droplet action (~1e308).
SADDLE_MAX_DEPTH = 1e300


#: Largest action term P Phi* = P sqrt(3/gamma) (the droplet's position in units of the
#: origin basin's width 1/P, at the degenerate coupling) the quadrature resolves. Measured
#: against the reference at the degeneracy: 1e8: 4.9e-13, 1e10: 8.9e-12, 1e11: 2.6e-11,
#: 1e12: 6.8e-11 relative (P = 5 and 401). Sets the smallest gamma, 3 (P/1e10)^2.
MAX_DROPLET_TERM = 1e10
#: Largest gamma/P^2: the origin basin (width min(1/P, (P gamma)^(-1/3))) is resolved by
#: the panels at 1/P. Measured at v = 0 against 1-D QUADPACK: gamma/P^2 = 1: 1.7e-14,
#: 3: 6.1e-12, 10: 2.5e-10, 100: 3.3e-8 relative (P = 5 and 401); at ~2e8 P^2 the origin
#: panels are skipped altogether (division by zero).
MAX_GAMMA_OVER_P2 = 1.0


def gamma_range(P: int) -> tuple:
    """(smallest, largest) gamma the pair quadrature resolves at modulus P:
    3 (P/:data:`MAX_DROPLET_TERM`)^2 and :data:`MAX_GAMMA_OVER_P2` P^2."""
    return 3.0 * (P / MAX_DROPLET_TERM) ** 2, MAX_GAMMA_OVER_P2 * float(P) ** 2


def depth_limit(method: str) -> float:
    """Largest droplet depth -A(X+, X+) the method evaluates (:data:`MAX_DROPLET_DEPTH`)."""
    return SADDLE_MAX_DEPTH if method == "saddle" else MAX_DROPLET_DEPTH


_VMAX_CACHE = {}


def max_coupling(P: int, gamma: float, method: str = "exact") -> float:
    """Largest coupling v = u r^2 whose droplet depth is within :func:`depth_limit`.

    The depth is 0 up to the spinodal v = sqrt(gamma) and increases with v beyond it
    (d(-A)/dv = 2 P X+^2 > 0 at the minimum), so the limit is found by bisection in log v.
    """
    key = (float(P), float(gamma), method)
    if key in _VMAX_CACHE:
        return _VMAX_CACHE[key]
    limit = depth_limit(method)
    lo = math.sqrt(gamma)
    hi = 2.0 * lo
    while K.droplet_depth(float(P), hi, float(gamma)) <= limit:
        lo, hi = hi, 2.0 * hi
        if not math.isfinite(hi):  # pragma: no cover - only for absurd gamma
            break
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if K.droplet_depth(float(P), mid, float(gamma)) <= limit:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    _VMAX_CACHE[key] = lo
    return lo


def gmfl2_origin_weight(P: int) -> float:
    """Origin-basin weight below which a point is GMFL-II: 1/P."""
    return 1.0 / P


def pair_moments(P: int, v: float, gamma: float, method: str = "exact") -> dict:
    """Moments of one complex Fourier pair under exp(-A(X, Y)).

    Parameters
    ----------
    P : int
        Modulus (prime).
    v : float
        Coupling u r^2 of the quartic term.
    gamma : float
        Sextic weight-decay strength.
    method : {"exact", "saddle"}
        Exact 2-D quadrature at finite P, or the P -> inf Gaussian mixture.

    Returns
    -------
    dict
        ``logZ``, ``XY`` (<XY>), ``droplet_fraction``, ``XY_droplet``, ``XY_origin``,
        ``X`` (<X> = <|W_k|^2>), ``X2``, ``evaluations``.
    """
    if method == "exact":
        out = K.exact_moments(float(P), float(v), float(gamma), _GL_X, _GL_W)
    elif method == "saddle":
        out = K.saddle_moments(float(P), float(v), float(gamma))
    else:  # pragma: no cover - validated earlier
        raise ValueError(method)
    keys = ("logZ", "XY", "droplet_fraction", "XY_droplet", "XY_origin", "X", "X2", "evaluations")
    return dict(zip(keys, (float(o) for o in out)))


def classify_phase(droplet_share: float, droplet_fraction: float, P: int) -> int:
    """Phase from the droplet basin's share of the target eigenvalue and its weight f:
    GFL if the share is below 1/2, GMFL-II if the origin-basin weight 1 - f is below 1/P,
    GMFL-I otherwise (thresholds documented in the module docstring)."""
    if droplet_share < GMFL1_DROPLET_SHARE:
        return GFL
    if 1.0 - droplet_fraction >= gmfl2_origin_weight(P):
        return GMFL_I
    return GMFL_II


def eigenvalue_factor(P: int, sigma_a2: float, normalization: str) -> float:
    """Lambda / <XY>: 4 P^2 sigma_a2 (derived) or sigma_a2 (paper)."""
    return 4.0 * P * P * sigma_a2 if normalization == "derived" else sigma_a2



# ---------------------------------------------------------------------------------------
# thermodynamics of the EK action: free energy, restricted basins, barrier
# (derivation in docs/theory.md, section "Free energy and metastable branches")
# ---------------------------------------------------------------------------------------
#: Basins of the pair action (region codes of :func:`_modadd_kernels.basin_moments`).
BASINS = {"all": 0, "origin": 1, "droplet": 2}
_LOGZ0_CACHE = {}


def basin_pair_moments(P, v, gamma, method="exact", basin="all") -> dict:
    """log Z_b, <XY>_b, <X>_b, <X^2>_b of one complex pair restricted to a basin.

    ``basin``: ``"all"`` (the quarter plane), ``"origin"`` (the complement of the droplet
    quadrant X, Y > X_minus) or ``"droplet"`` (that quadrant; NaN where the droplet minimum
    does not exist, v^2 <= gamma). Exact 2-D quadrature with the basin's own log shift
    (:func:`_modadd_kernels.basin_moments`), or the P -> inf Gaussians (``saddle``).
    """
    region = BASINS[basin]
    if method == "exact":
        out = K.basin_moments(float(P), float(v), float(gamma), region, _GL_X, _GL_W)
    else:
        out = K.saddle_basin_moments(float(P), float(v), float(gamma), region)
    return dict(zip(("logZ", "XY", "X", "X2"), (float(o) for o in out)))


def prior_log_partition(P, gamma, method="exact") -> float:
    """log Z of one pair at v = 0 (the prior with Gamma): the zero of the free energy."""
    key = (float(P), float(gamma), method)
    if key not in _LOGZ0_CACHE:
        _LOGZ0_CACHE[key] = basin_pair_moments(P, 0.0, gamma, method, "all")["logZ"]
    return _LOGZ0_CACHE[key]


def target_norm_per_neuron(P, N, sigma_a2, normalization) -> float:
    r"""c_y = |y_eff|^2 / N in the free energy F/N = c_y (r - r^2/2)/sigma2 - M Delta log Z.

    |y|^2 = P (P - 1) (all P^2 inputs, P centred outputs) for the derived eigenvalue; the
    paper's eigenvalue Lambda = sigma_a2 <XY> is the stationary point of the same functional
    with the target norm scaled by 4 P^2 (Lambda_derived / Lambda_paper). In general
    c_y = 4 P^3 (P - 1) sigma_a2 / (fac N), fac = :func:`eigenvalue_factor`.
    """
    return 4.0 * P ** 3 * (P - 1) * sigma_a2 / (eigenvalue_factor(P, sigma_a2, normalization) * N)


def free_energy(r, params, sigma2, basin="all") -> dict:
    r"""Mean-field free energy per neuron of the EK posterior as a function of the residual r.

    .. math:: \frac{F(r)}{N} = c_y\,\frac{r - r^2/2}{\sigma^2}
              - M\,[\log Z_b(u r^2) - \log Z(0)],\qquad M = (P-1)/2,

    Z_b the pair partition function restricted to ``basin`` (:func:`basin_pair_moments`),
    c_y = :func:`target_norm_per_neuron`. dF/dr = 0 is the self-consistency
    r = sigma2/(Lambda_b + sigma2) (d log Z/dv = 2 P <XY>); at a stationary point
    (envelope theorem) dF/dsigma2 = -c_y r^2/(2 sigma2^2).

    Returns
    -------
    dict
        ``free_energy`` (F/N), ``free_energy_dsigma2`` (its sigma2 derivative at fixed r,
        the total derivative at a solution), ``logZ`` (the basin's pair log Z), ``XY``.
    """
    P, N, sa2, gamma = params["P"], params["N"], params["sigma_a2"], params["gamma"]
    method = params.get("method", "exact")
    cy = target_norm_per_neuron(P, N, sa2, params.get("normalization", "derived"))
    u = 2.0 * sa2 * P ** 2 / (N * sigma2 ** 2)
    m = basin_pair_moments(P, u * r * r, gamma, method, basin)
    M = 0.5 * (P - 1)
    return {"free_energy": cy * (r - 0.5 * r * r) / sigma2 - M * (m["logZ"] - prior_log_partition(P, gamma, method)),
            "free_energy_dsigma2": -cy * r * r / (2.0 * sigma2 * sigma2),
            "logZ": m["logZ"], "XY": m["XY"]}


_VM_CACHE = {}


def droplet_xy_minimum_coupling(P, gamma, method="exact") -> float:
    """The coupling v_m > sqrt(gamma) where <XY> of the droplet basin is smallest.

    At its birth (v = sqrt(gamma), a saddle-node) the droplet basin is broad and <XY>_d
    first decreases with v as the minimum sharpens, then grows with X_+ ~ 2 v/gamma. Golden
    section on [sqrt(gamma), 1.5 sqrt(gamma)] (cached per P, gamma, method).
    """
    key = (float(P), float(gamma), method)
    if key not in _VM_CACHE:
        g0 = math.sqrt(gamma)
        f = lambda v: basin_pair_moments(P, v, gamma, method, "droplet")["XY"]  # noqa: E731
        a, b = g0 * (1.0 + 1e-12), 1.5 * g0
        phi = 0.5 * (math.sqrt(5.0) - 1.0)
        c, d = b - phi * (b - a), a + phi * (b - a)
        fc, fd = f(c), f(d)
        for _ in range(80):
            if b - a <= 1e-12 * b:
                break
            if fc < fd:
                b, d, fd = d, c, fc
                c = b - phi * (b - a)
                fc = f(c)
            else:
                a, c, fc = c, d, fd
                d = a + phi * (b - a)
                fd = f(d)
        _VM_CACHE[key] = 0.5 * (a + b)
    return _VM_CACHE[key]


def pair_barrier(P, v, gamma) -> tuple:
    """Barriers of the pair action between the basins along the diagonal X = Y (the path
    of least action: the saddle (X_minus, X_minus) is the only stationary point between
    the corner and the droplet minimum): (A(X-, X-) - A(0, 0), A(X-, X-) - A(X+, X+));
    (NaN, NaN) without a droplet minimum."""
    xp, xm = K.side_minimum(float(v), float(gamma))
    if math.isnan(xp):
        return math.nan, math.nan
    a_saddle = K.pair_action(xm, xm, float(P), float(v), float(gamma))
    return a_saddle, a_saddle - K.pair_action(xp, xp, float(P), float(v), float(gamma))


# ---------------------------------------------------------------------------------------
# full mean-field action (action="full"); derivation in the module docstring
# ---------------------------------------------------------------------------------------
def _is_full(params) -> bool:
    return params.get("action", "ek") == "full"


def kernel_term_phase_average(X, Y, W0, V0, P, aT, ao, a1, a00) -> float:
    """phi^T (Q + sigma2)^-1 phi of one neuron averaged over independent uniform phases.

    Parameters
    ----------
    X, Y : array_like
        |W_k|^2, |V_k|^2 of the (P - 1)/2 complex pairs k = 1 .. (P - 1)/2.
    W0, V0 : float
        The real zero-frequency amplitudes.
    P : int
    aT, ao, a1, a00 : float
        1/(lambda + sigma2) of the target and difference modes (k, +-k), the off-target
        modes (k, k'), the (k, 0)/(0, k) modes and the (0, 0) mode.

    Returns
    -------
    float
        16 P^2 [aT sum XY + ao (Sx Sy - sum XY)] + P^2 a1 [8 s0^2 (Sx + Sy) + 8 Sx^2
        - 6 sum X^2 + 8 Sy^2 - 6 sum Y^2] + P^2 a00 (s0^2 + 2 Sx + 2 Sy)^2 (module docstring).
    """
    X = np.asarray(X, float)
    Y = np.asarray(Y, float)
    Sx, Sy, sxy = X.sum(), Y.sum(), float(np.dot(X, Y))
    s2 = (W0 + V0) ** 2
    return float(16.0 * P * P * (aT * sxy + ao * (Sx * Sy - sxy))
                 + P * P * a1 * (8.0 * s2 * (Sx + Sy) + 8.0 * Sx * Sx - 6.0 * np.dot(X, X)
                                 + 8.0 * Sy * Sy - 6.0 * np.dot(Y, Y))
                 + P * P * a00 * (s2 + 2.0 * Sx + 2.0 * Sy) ** 2)


def full_coefficients(P, N, sigma_a2, gamma, sigma2, r, m, lam1, lam00, s2, extra=1.0) -> dict:
    """Coefficients of the mean-field pair and zero-pair actions of ``action="full"``.

    Parameters
    ----------
    P, N, sigma_a2, gamma, sigma2 : float
        Physical parameters.
    r : float
        Residual fraction (sigma2 tbar = -r y); 1/(Lambda + sigma2) = r/sigma2.
    m : float
        <X> = <|W_k|^2> of the other pairs (mean field).
    lam1, lam00 : float
        Kernel eigenvalues of the (k, 0)/(0, k) modes and of the (0, 0) mode.
    s2 : float
        <s0^2>, s0 = W_0 + V_0.
    extra : float
        Factor on the (Q + sigma2)^-1 term: 1 full action, 0 the EK action.

    Returns
    -------
    dict
        ``p1, p2, p3, c`` of A(X, Y) = p1 (X+Y) + p2 (X^2+Y^2) + p3 (X^3+Y^3) - c XY;
        ``kappa, q4`` of the zero pair; the inverse gaps ``aT, ao, a1, a00``; ``g``.
    """
    g = sigma_a2 * P ** 3 / N
    M = 0.5 * (P - 1)
    aT = r / sigma2
    ao = 1.0 / (4.0 * P * P * sigma_a2 * m * m + sigma2)
    a1 = 1.0 / (lam1 + sigma2)
    a00 = 1.0 / (lam00 + sigma2)
    return {
        "p1": P + extra * (8.0 * g * ao * (M - 1.0) * m + 4.0 * g * a1 * (s2 + 2.0 * (M - 1.0) * m)
                           + 2.0 * g * a00 * (s2 + 4.0 * (M - 1.0) * m)),
        "p2": extra * (g * a1 + 2.0 * g * a00),
        "p3": P * gamma / 3.0,
        "c": 4.0 * g * r * r / (sigma2 * sigma2) - extra * (8.0 * g * aT + 4.0 * g * a00),
        "kappa": extra * 4.0 * g * M * m * (2.0 * a1 + a00),
        "q4": extra * 0.5 * g * a00,
        "aT": aT, "ao": ao, "a1": a1, "a00": a00, "g": g,
    }


_POLY_KEYS = ("logZ", "XY", "droplet_fraction", "XY_droplet", "XY_origin", "X", "X2", "evaluations",
              "X_droplet", "X2_droplet", "X_origin", "X2_origin")


def poly_pair_moments(coef, method="exact") -> dict:
    """Moments of one complex pair under exp(-A) with the polynomial pair action ``coef``
    (:func:`_modadd_kernels.poly_exact_moments` or ``poly_saddle_moments``)."""
    args = (float(coef["p1"]), float(coef["p2"]), float(coef["p3"]), float(coef["c"]))
    if method == "exact":
        out = K.poly_exact_moments(*args, _GL_X, _GL_W)
    elif method == "saddle":
        out = K.poly_saddle_moments(*args)
    else:  # pragma: no cover - validated earlier
        raise ValueError(method)
    return dict(zip(_POLY_KEYS, (float(o) for o in out)))


def zero_pair_moments(P, gamma, coef) -> dict:
    """<s0^2>, <s0^4>, <W_0^2>, <W_0 V_0> of the zero pair (exact 2-D quadrature)."""
    z = K.zero_pair_moments(float(P), float(gamma), float(coef["kappa"]), float(coef["q4"]), _ZGL_X, _ZGL_W)
    return {"s0sq": float(z[0]), "s0_4": float(z[1]), "X0": float(z[2]), "W0V0": float(z[3])}


def pinned_mixture(mom, xy_target) -> dict:
    """Pair moments with the droplet weight f set so that <XY> = ``xy_target``.

    The pair distribution is the mixture (1 - f) p_origin + f p_droplet of its two basins.
    At a root of the GPR equation, <XY> = Lambda/(4 P^2 sigma_a2) with
    Lambda = sigma2 (1 - r)/r; the basin-conditional moments are smooth in r, while the
    weight f depends on it exponentially (as exp(-P x action gap)). Taking f from the GPR
    relation, f = (xy_target - <XY>_o)/(<XY>_d - <XY>_o), is exact at the root and removes
    the amplification of the root's rounding error into f (a factor ~1e6 at P = 401 in the
    mixed phase). Unchanged if a basin has no weight.
    """
    need = ("XY_droplet", "XY_origin", "X_droplet", "X2_droplet", "X_origin", "X2_origin")
    if not all(math.isfinite(mom[k]) for k in need) or mom["XY_droplet"] <= mom["XY_origin"]:
        return mom
    f = (xy_target - mom["XY_origin"]) / (mom["XY_droplet"] - mom["XY_origin"])
    f = min(max(f, 0.0), 1.0)
    out = dict(mom)
    out["droplet_fraction"] = f
    for k in ("XY", "X", "X2"):
        out[k] = (1.0 - f) * mom[k + "_origin"] + f * mom[k + "_droplet"]
    return out


def full_eigenvalues(P, sigma_a2, mom) -> dict:
    """Kernel eigenvalues of the product (mean-field) distribution with moments ``mom``.

    Lambda (target (k, k) and (k, -k)) = 4 P^2 sigma_a2 <XY>; off-target (k, k'),
    k' != +-k: 4 P^2 sigma_a2 <X>^2; (k, 0) and (0, k): sigma_a2 P^2 [<X^2> +
    4 (M - 1) <X>^2 + 4 <X> <s0^2>]; (0, 0): sigma_a2 P^2 <T^2>, T = s0^2 + 2 U,
    U = sum over pairs of X + Y.
    """
    M = 0.5 * (P - 1)
    m, X2, XY = mom["X"], mom["X2"], mom["XY"]
    U1 = 2.0 * M * m
    U2 = M * (2.0 * X2 + 2.0 * XY) + 4.0 * M * (M - 1.0) * m * m
    return {
        "target": 4.0 * P * P * sigma_a2 * XY,
        "offtarget": 4.0 * P * P * sigma_a2 * m * m,
        "one": sigma_a2 * P * P * (X2 + 4.0 * (M - 1.0) * m * m + 4.0 * m * mom["s0sq"]),
        "zero": sigma_a2 * P * P * (mom["s0_4"] + 4.0 * mom["s0sq"] * U1 + 4.0 * U2),
    }


#: Inner state of ``action="full"`` (scaled to O(1) at the GP state): P<X>,
#: lambda_1/(sigma_a2 P), lambda_00/(sigma_a2 P^2), P<s0^2>.
INNER_STATE = ("P_mean_X", "lambda1_scaled", "lambda00_scaled", "P_mean_s0sq")


def inner_prior_state(P) -> np.ndarray:
    """Inner state of the Gaussian prior (NNGP): P<X> = 1, lambda_1 = sigma_a2 (2P + 4),
    lambda_00 = sigma_a2 (4P^2 + 4P + 4), P<s0^2> = 2."""
    return np.array([1.0, 2.0 + 4.0 / P, 4.0 + 4.0 / P + 4.0 / P ** 2, 2.0])


def _mode_state(y, P, sa2):
    """(m, lambda_1, lambda_00, <s0^2>) from the scaled mode state y (clipped at 0)."""
    y = np.maximum(np.asarray(y, float), 0.0)  # moments and eigenvalues are >= 0; keeps the map defined
    return y[0] / P, y[1] * sa2 * P, y[2] * sa2 * P * P, y[3] / P


def _image(P, sa2, sigma2, mom):
    lam = full_eigenvalues(P, sa2, mom)
    ty = np.array([P * mom["X"], lam["one"] / (sa2 * P), lam["zero"] / (sa2 * P * P), P * mom["s0sq"]])
    return lam, sigma2 / (lam["target"] + sigma2), ty


def full_evaluate(r, y, params, sigma2, extra=1.0) -> tuple:
    """Coefficients, moments, eigenvalues and the images (T_r, T_y) at residual r and
    scaled mode state y (:data:`INNER_STATE`), by plain quadrature (no pinning)."""
    P, N, sa2, gamma = params["P"], params["N"], params["sigma_a2"], params["gamma"]
    coef = full_coefficients(P, N, sa2, gamma, sigma2, r, *_mode_state(y, P, sa2), extra)
    mom = poly_pair_moments(coef, params["method"])
    mom.update(zero_pair_moments(P, gamma, coef))
    lam, tr, ty = _image(P, sa2, sigma2, mom)
    return coef, mom, lam, tr, ty


def full_r_max(P, N, sigma_a2, gamma, sigma2, state, extra=1.0, method="exact") -> float:
    """Largest residual r in [0, 1] at which the full-action pair's droplet depth stays
    within :func:`depth_limit` (1.0 when r = 1 is within it). The attraction c, hence the
    depth, grows with r beyond r = 2 sigma2 (below it c < 0 and there is no droplet), so
    the limit is found by bisection."""
    limit = depth_limit(method)

    def depth(r):
        c = full_coefficients(P, N, sigma_a2, gamma, sigma2, r, *state, extra)
        d = K.poly_droplet_depth(float(c["p1"]), float(c["p2"]), float(c["p3"]), float(c["c"]))
        return d if math.isfinite(d) else math.inf

    if depth(1.0) <= limit:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if depth(mid) <= limit:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return lo


def residual_at(y, params, sigma2, extra=1.0, r_guess=None) -> dict:
    """Solve the GPR equation r = sigma2/(Lambda(r, y) + sigma2) for r at fixed mode state y.

    F(r) = r - T(r) is < 0 at r = 0 (T > 0) and >= 0 at r = 1 (T <= 1), so Brent's method
    on [0, 1] finds the root however steep T is (in the mixed phase the droplet weight,
    hence Lambda, depends exponentially on r). One pair quadrature per evaluation; the
    zero pair does not depend on r. At the root the pair moments are taken with the
    droplet weight fixed by the GPR relation (:func:`pinned_mixture`).

    With ``r_guess`` (the root at a nearby y, see :meth:`ModularAddition.solve_map`),
    Brent's method runs on a bracket searched around the guess (:func:`_bracket_around`)
    instead of the whole [0, r_max]: a root to the same tolerance (xtol 1e-15, rtol 4 eps)
    in about 3 pair quadratures instead of about 25 (default Fig. 3 scan).

    Returns
    -------
    dict
        ``r``, ``coef``, ``mom``, ``lam``, ``T_r`` (sigma2/(Lambda + sigma2) at the root),
        ``T_inner`` (the image of y), ``nfev``.
    """
    from scipy import optimize

    P, N, sa2, gamma = params["P"], params["N"], params["sigma_a2"], params["gamma"]
    state = _mode_state(y, P, sa2)
    zero = zero_pair_moments(P, gamma, full_coefficients(P, N, sa2, gamma, sigma2, 1.0, *state, extra))
    c4 = 4.0 * P * P * sa2

    known = {}  # F at the points already evaluated (the bracket ends are passed to Brent again)
    moments_at = {}  # and the pair moments there (the root's are used again below)

    def F(r):
        if r not in known:
            coef = full_coefficients(P, N, sa2, gamma, sigma2, r, *state, extra)
            moments_at[r] = poly_pair_moments(coef, params["method"])
            known[r] = r - sigma2 / (c4 * moments_at[r]["XY"] + sigma2)
        return known[r]

    hi = full_r_max(P, N, sa2, gamma, sigma2, state, extra, params["method"])
    if hi < 1.0 and not F(hi) >= 0.0:
        # the root lies beyond the couplings the quadrature resolves: no solution here
        coef = full_coefficients(P, N, sa2, gamma, sigma2, hi, *state, extra)
        mom = {k: math.nan for k in _POLY_KEYS}
        mom.update(zero)
        lam, tr, ty = _image(P, sa2, sigma2, mom)
        return {"r": math.nan, "coef": coef, "mom": mom, "lam": lam, "T_r": math.nan,
                "T_inner": np.full(len(INNER_STATE), math.nan), "nfev": 1}
    a, b, extra_calls = 0.0, hi, 0
    if r_guess is not None:
        a, b, extra_calls = _bracket_around(F, float(r_guess), 0.0, hi)
    r, info = optimize.brentq(F, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200,
                              full_output=True, disp=False)
    from ..solver import refine_small_root

    r = refine_small_root(F, r, 0.0, hi, 1e-15)
    coef = full_coefficients(P, N, sa2, gamma, sigma2, r, *state, extra)
    mom = dict(moments_at[r]) if r in moments_at else poly_pair_moments(coef, params["method"])
    if r > 0.0:
        mom = pinned_mixture(mom, sigma2 * (1.0 - r) / (r * c4))
    mom.update(zero)
    lam, tr, ty = _image(P, sa2, sigma2, mom)
    return {"r": float(r), "coef": coef, "mom": mom, "lam": lam, "T_r": tr, "T_inner": ty,
            "nfev": info.function_calls + extra_calls}


#: Warm start of the inner root search (:func:`_bracket_around`): distance from the guess
#: of the second trial point (relative to the guess; the first is at Brent's resolution)
#: and the growth factor of the distance after it.
WARM_BRACKET_START = 1e-10
WARM_BRACKET_GROWTH = 30.0


def _brent_resolution(r):
    """Half the final bracket width at which Brent's method (xtol 1e-15, rtol 4 eps)
    stops at r: a sign change within this distance needs no further iteration."""
    return 0.5 * (1e-15 + 4.0 * np.finfo(float).eps * abs(r))


def _bracket_around(F, guess, lo, hi):
    """Interval [a, b] within [lo, hi] on which F changes sign, searched outwards from
    ``guess`` (the inner root of a nearby state), with the number of evaluations of F.

    F(lo) < 0 <= F(hi) is known (the caller's bracket), so if F(guess) < 0 a root lies in
    (guess, hi], otherwise in [lo, guess). Trial points are placed on that side at
    increasing distances: first Brent's resolution d0 (:func:`_brent_resolution`; when the
    root has not moved, about half of the solver's evaluations, the bracket is then
    already final), then :data:`WARM_BRACKET_START` x guess, growing by
    :data:`WARM_BRACKET_GROWTH`. The bracket is the last trial point with the sign of
    F(guess) and the first with the other sign, so it always contains a sign change (a
    root); at worst the search ends at lo or hi. A guess outside (lo, hi) or a non-finite
    F gives back [lo, hi].
    """
    if not lo < guess < hi:
        return lo, hi, 0
    fg = F(guess)
    n = 1
    if not math.isfinite(fg):
        return lo, hi, n
    if fg == 0.0:
        return guess, guess, n
    up = fg < 0.0
    end = hi if up else lo
    d0 = _brent_resolution(guess)
    prev = guess
    dist = d0
    while True:
        c = guess + dist if up else guess - dist
        if (up and c >= end) or (not up and c <= end):
            return ((prev, end) if up else (end, prev)) + (n,)
        fc = F(c)
        n += 1
        if not math.isfinite(fc):
            return ((prev, end) if up else (end, prev)) + (n,)
        if (fc >= 0.0) if up else (fc < 0.0):
            return ((prev, c) if up else (c, prev)) + (n,)
        prev = c
        dist = max(WARM_BRACKET_START * guess, d0) if dist == d0 else dist * WARM_BRACKET_GROWTH


class ModularAddition(Teacher):
    """Modular addition mod P, square activation, sextic Fourier weight decay."""

    name = "modadd"
    state_names = ("residual",)
    default_sigma2 = "0.26:0.15:111"
    default_output = "modadd_scan.h5"
    constraints = {
        "P": Constraint("int", low=5, high=MAX_P, prime=True,
                        doc="modulus (prime >= 5); inputs are two-hot vectors in R^{2P}"),
        "N": Constraint("int", low=1, doc="network width (number of hidden units)"),
        "sigma_a2": Constraint("real", low=0, low_open=True, doc="read-out prior variance times N"),
        "gamma": Constraint("real", low=0, low_open=True, doc="sextic Fourier weight decay strength"),
        "normalization": Constraint("choice", choices=NORMALIZATIONS, doc="target eigenvalue: derived or paper"),
        "method": Constraint("choice", choices=METHODS, doc="exact 2-D quadrature or saddle point"),
        "action": Constraint("choice", choices=ACTIONS,
                             doc="single-neuron action: ek (the paper's data term only) or full "
                                 "(with the (Q + sigma2)^-1 kernel term, mean field over Fourier modes)"),
        "operation": ModularArithmetic.parameters["operation"],
    }
    defaults = {"P": 401, "N": 1000, "sigma_a2": 0.002 / 1000, "gamma": 1e-4,
                "normalization": "derived", "method": "exact", "action": "ek", "operation": "add"}
    task_name = "modadd"
    summary = ("addition mod P learned by a square-activation network (the paper's Sec. 3.2; "
               "--operation sub as well)")
    langevin_summary = "square-activation network on all P^2 pairs of addition mod P, with Gamma"
    default_for = ("scan",)
    cli_options = {
        "P": dict(type=int,
                  help="Modulus P (prime >= 5). Inputs are two-hot vectors in R^{2P}; all P^2 pairs are "
                       "the training set. Default 401.",
                  langevin_help="Modulus P (prime >= 5). Default 401."),
        "N": dict(type=int,
                  help="Network width (hidden units). Mean-field coupling scales as 1/N. Default 1000.",
                  langevin_help="Network width. Default 1000."),
        "sigma_a2": dict(type=float,
                         help="Read-out prior variance times N: a ~ N(0, sigma_a2/N). Default 0.002/N.",
                         langevin_help="Read-out prior variance times N. Default 0.002/N."),
        "gamma": dict(type=float,
                      help="Strength of the sextic Fourier weight decay "
                           "Gamma = sum_k P (gamma/6)(|W_k|^6 + |V_k|^6) that decouples the Fourier modes "
                           "and bounds the droplet minima at |W_k|^2 ~ sqrt(3/gamma). Default 1e-4.",
                      langevin_help="Sextic Fourier weight decay strength (in the simulated posterior "
                                    "too). Default 1e-4."),
        "operation": dict(type=str, commands=("scan",),
                          help="The operation c(n, m) mod P learned: 'add' (default) or 'sub' (the same "
                               "theory: m -> -m maps V_k to conj(V_k)). mul, div and pow:A,B are tasks "
                               "of the package that this theory refuses (their targets do not lie on "
                               "the Fourier modes (k, +-k) of its one-scalar ansatz)."),
        "normalization": dict(type=NORMALIZATIONS,
                              help="Kernel eigenvalue of the target: 'derived' Lambda = 4 P^2 sigma_a2 <XY> "
                                   "(Gram-matrix projection; equals the NNGP value under the prior) or "
                                   "'paper' Lambda = sigma_a2 <XY> (the paper's eq. 37-38). Default derived.",
                              langevin_help="Accepted for parity with 'scan'; the file always holds the "
                                            "theory in both normalisations."),
        "action": dict(type=ACTIONS, commands=("scan",),
                       help="Single-neuron action of the read-in weights. 'ek' (default): the paper's "
                            "equivalent-kernel action, data term -(sigma_a2/2N) sum_p (tbar_p . phi)^2 only "
                            "(reproduces the paper). 'full': adds the kernel term +(sigma_a2/2N) sum_p "
                            "phi^T (Q + sigma2)^-1 phi, in a mean field over Fourier modes: it weakens the "
                            "XY attraction on the target modes, penalises every neuron's off-target, "
                            "second-harmonic and constant components (P<|W_k|^2> drops below the prior's "
                            "1) and moves the transition to lower sigma2. Needs --normalization derived."),
        "method": dict(type=str,
                       help="How the weight posterior is integrated: 'exact' (2-D quadrature at finite P, "
                            "default) or 'saddle' (P -> inf Gaussian mixture).",
                       langevin_help="How the theory integrates the weight posterior: 'exact' (default) "
                                     "or 'saddle' (as for 'scan')."),
    }
    example = {"P": 7}
    example_sigma2 = "0.26:0.15:5"
    landscape_parameter = "phi"
    langevin_table_columns = ("residual", "residual_derived", "residual_paper")

    #: Measured on the 2-core development machine: 400 points of the default scan 6.5 s
    #: (exact), 100 points 1.6 s (saddle); --action full: the default 111 points 5-7 s
    #: in-process (exact; 61 s before the warm-started inner root of issue 12), but
    #: mixed-phase points on a coarse grid cost up to ~1 s each (P = 23), hence 0.2.
    scan_seconds_per_point = {"exact": 0.012, "saddle": 0.004}
    FULL_ACTION_SECONDS = {"exact": 0.2, "saddle": 0.4}

    def scan_seconds(self, params):
        """Seconds per scan point: :attr:`scan_seconds_per_point` (EK action) or
        :attr:`FULL_ACTION_SECONDS` (``action="full"``)."""
        table = self.FULL_ACTION_SECONDS if _is_full(params) else self.scan_seconds_per_point
        return float(table.get(params.get("method"), 0.05))

    # -- parameters -------------------------------------------------------------
    def check_params(self, params):
        """The operation must be one the theory covers (:data:`COVERED_OPERATIONS`);
        ``action="full"`` is derived with the Gram-matrix eigenvalue only; gamma must lie
        in the range the quadrature resolves at this P (:func:`gamma_range`)."""
        op = params.get("operation", "add")
        if op not in COVERED_OPERATIONS:
            raise ParameterError(
                f"operation must be {' or '.join(COVERED_OPERATIONS)} for the adaptive-kernel theory "
                f"(sub is add with m -> -m; the targets of the others do not lie on the Fourier modes "
                f"(k, +-k) of the one-scalar ansatz sigma2 tbar = -r y); got {op!r}")
        lo, hi = gamma_range(params["P"])
        if not lo <= params["gamma"] <= hi:
            raise ParameterError(
                f"gamma must be in [{lo:.3g}, {hi:.3g}] at P = {params['P']} (3 (P/{MAX_DROPLET_TERM:g})^2 "
                f"<= gamma <= P^2: the range the pair quadrature resolves); got {params['gamma']!r}")
        if params.get("action") == "full" and params.get("normalization") != "derived":
            raise ParameterError("action 'full' is derived with the Gram-matrix eigenvalue "
                                 "Lambda = 4 P^2 sigma_a2 <XY>; it requires normalization 'derived' "
                                 f"(got {params.get('normalization')!r})")
        return params

    def state_labels(self, params):
        """('residual',) for the EK action; the mode state :data:`INNER_STATE` for the full
        action (the residual is then solved inside the map, see :func:`residual_at`)."""
        return INNER_STATE if _is_full(params) else self.state_names

    # -- physics ----------------------------------------------------------------
    def effective_interaction(self, params, sigma2):
        """u = 2 sigma_a2 P^2 / (N sigma2^2)."""
        return 2.0 * params["sigma_a2"] * params["P"] ** 2 / (params["N"] * sigma2 ** 2)

    def moments(self, r, params, sigma2):
        v = self.effective_interaction(params, sigma2) * r * r
        return pair_moments(params["P"], v, params["gamma"], params["method"])

    def eigenvalue(self, r, params, sigma2):
        """Kernel eigenvalue of the target at residual r."""
        m = self.moments(r, params, sigma2)
        return eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"]) * m["XY"]

    def initial_state(self, params, sigma2):
        if _is_full(params):
            return inner_prior_state(params["P"])
        lam = eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"]) / params["P"] ** 2
        return np.array([sigma2 / (lam + sigma2)])

    def solve_map(self, params, sigma2):
        """The fixed-point map for one solve at sigma2 (:func:`adaptive_kernel.solver.solve`),
        or None for the EK action (then :meth:`fixed_point_map` is used).

        For ``action="full"`` each evaluation solves the GPR equation for r*(y)
        (:func:`residual_at`); the returned map starts that inner root search from the root
        of its previous evaluation (the solver's successive states are close, so the root
        moves little), which cuts the pair quadratures per evaluation about threefold. The
        root is the same to Brent's tolerance (1e-15) as from a cold start; the warm state
        lives only as long as the returned closure (one solve), so results do not depend on
        what was computed before.
        """
        if not _is_full(params):
            return None
        last = {"r": None}

        def image(x):
            sol = residual_at(np.asarray(x, float), params, sigma2, r_guess=last["r"])
            if math.isfinite(sol["r"]):
                last["r"] = sol["r"]
            return sol["T_inner"]

        return image

    def restart_states(self, params, sigma2):
        """Extra starting points of the multi-component root finder after Powell's method
        fails from the continuation guess (:func:`adaptive_kernel.solver.solve`): for
        ``action="full"`` the prior (NNGP) mode state. Where a branch ends (the mixed
        branch just above its spinodal, in the upward sweep) Powell's method from the
        prior state reaches the remaining (GFL-like) solution directly; the solver's
        homotopies took 2450 map evaluations there (default Fig. 3 scan, sigma2 = 0.172),
        now 127 (most of them the failed attempts from the guess and its image). Empty for
        the EK action (scalar state)."""
        return [inner_prior_state(params["P"])] if _is_full(params) else []

    def fixed_point_map(self, x, params, sigma2):
        """T(r) = sigma2 / (Lambda(r) + sigma2); for ``action="full"`` the image of the mode
        state y at the residual r*(y) that solves the GPR equation (:func:`residual_at`)."""
        if _is_full(params):
            return residual_at(np.asarray(x, float), params, sigma2)["T_inner"]
        r = float(x[0])
        return np.array([sigma2 / (self.eigenvalue(r, params, sigma2) + sigma2)])

    def bracket(self, params, sigma2):
        """r - T(r) < 0 at r = 0 and >= 0 at r = 1 (Lambda >= 0).

        The upper end is lowered below 1 where u r^2 would exceed :func:`max_coupling` (the
        deepest droplet the method resolves, :data:`MAX_DROPLET_DEPTH`): the map is never
        evaluated there. Whether the root lies inside is checked up front by
        :meth:`check_sigma2`.
        """
        return 0.0, self.r_max(params, sigma2)

    def r_max(self, params, sigma2):
        """min(1, sqrt(v_max/u)): the largest residual whose coupling u r^2 the method
        resolves (:func:`max_coupling`)."""
        if sigma2 * sigma2 == 0.0:
            return 0.0  # u overflows (refused by check_sigma2)
        u = self.effective_interaction(params, sigma2)
        vmax = max_coupling(params["P"], params["gamma"], params["method"])
        return 1.0 if u <= vmax else math.sqrt(vmax / u)

    def _root_inside(self, params, sigma2) -> bool:
        """Whether the self-consistent residual at sigma2 lies where the method is exact."""
        if sigma2 * sigma2 == 0.0 or not math.isfinite(self.effective_interaction(params, sigma2)):
            return False  # u = 2 sigma_a2 P^2/(N sigma2^2) overflows
        if _is_full(params):
            P, N, sa2, gamma = params["P"], params["N"], params["sigma_a2"], params["gamma"]
            y0 = inner_prior_state(P)
            state = _mode_state(y0, P, sa2)
            hi = full_r_max(P, N, sa2, gamma, sigma2, state, 1.0, params["method"])
            if hi >= 1.0:
                return True
            coef = full_coefficients(P, N, sa2, gamma, sigma2, hi, *state)
            lam = 4.0 * P * P * sa2 * poly_pair_moments(coef, params["method"])["XY"]
            return hi - sigma2 / (lam + sigma2) >= 0.0
        hi = self.r_max(params, sigma2)
        if hi >= 1.0:
            return True
        if hi <= 0.0:
            return False
        return float(hi - self.fixed_point_map(np.array([hi]), params, sigma2)[0]) >= 0.0

    def sigma2_limit(self, params) -> float:
        """Smallest sigma2 whose self-consistent point the method resolves (0.0: none).

        Below it the root r of the GPR equation would need a coupling u r^2 beyond
        :func:`max_coupling` (a droplet deeper than :data:`MAX_DROPLET_DEPTH` for the
        exact quadrature). Found by bisection in log sigma2 (for ``action="full"``, at the
        prior mode state). Parameters where every sigma2 is resolved return 0.0.
        """
        tiny = 1e-300
        if self._root_inside(params, tiny):
            return 0.0
        # at s_hi the coupling at r = 1 is within the limit, so the whole bracket is
        vmax = max_coupling(params["P"], params["gamma"], params["method"])
        s_hi = max(math.sqrt(2.0 * params["sigma_a2"] * params["P"] ** 2 / (params["N"] * vmax)) * 1.0001,
                   1e-150)
        for _ in range(2000):  # (full action: the prior mode state may need a larger sigma2)
            if self._root_inside(params, s_hi) or s_hi > 1e300:
                break
            s_hi *= 2.0
        lo, hi = math.log(tiny), math.log(s_hi)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self._root_inside(params, math.exp(mid)):
                hi = mid
            else:
                lo = mid
            if hi - lo < 1e-6:
                break
        return math.exp(hi)

    def check_sigma2(self, params, sigma2_values):
        """Refuse a grid whose smallest sigma2 is below :meth:`sigma2_limit`
        (:class:`~adaptive_kernel.errors.ParameterError` naming the limit)."""
        s = float(np.min(sigma2_values))
        if self._root_inside(params, s):
            return
        lim = self.sigma2_limit(params)
        vmax = max_coupling(params["P"], params["gamma"], params["method"])
        what = ("exact quadrature" if params["method"] == "exact" else "saddle-point evaluation")
        if s * s == 0.0 or not math.isfinite(self.effective_interaction(params, s)):
            why = "u = 2 sigma_a2 P^2/(N sigma2^2) overflows double precision"
        else:
            why = (f"the self-consistent coupling u r^2, u = 2 sigma_a2 P^2/(N sigma2^2), would exceed "
                   f"{vmax:.4g} (a droplet deeper than {depth_limit(params['method']):g} in the pair action)")
        raise ParameterError(f"sigma2 = {s:g} is below the smallest noise the {what} resolves at these "
                             f"parameters (sigma2 >= {lim:.4g}): {why}")

    def observables(self, x, params, sigma2):
        if _is_full(params):
            return self._full_observables(x, params, sigma2)
        r = float(x[0])
        P = params["P"]
        u = self.effective_interaction(params, sigma2)
        v = u * r * r
        m = pair_moments(P, v, params["gamma"], params["method"])
        fac = eigenvalue_factor(P, params["sigma_a2"], params["normalization"])
        f = m["droplet_fraction"]
        lam = fac * m["XY"]
        share = f * m["XY_droplet"] / m["XY"] if f > 0 else 0.0
        xp, xm = K.side_minimum(v, params["gamma"])
        gap = K.pair_action(xp, xp, float(P), v, params["gamma"]) if not math.isnan(xp) else math.inf
        phase = classify_phase(share, f, P)
        fe = free_energy(r, params, sigma2)
        barrier, barrier_back = pair_barrier(P, v, params["gamma"])
        return {
            "u": u,
            "residual": r,
            "learned": 1.0 - r,
            "lambda": lam,
            "droplet_fraction": f,
            "droplet_share": share,
            "action_gap": gap,
            "phi_star": xp,
            "mean_X": m["X"],
            "phase": phase,
            "free_energy": fe["free_energy"],
            "free_energy_dsigma2": fe["free_energy_dsigma2"],
            "barrier": barrier,
            "barrier_droplet": barrier_back,
            "droplet_neurons": params["N"] * f,
        }

    # -- thermodynamics (EK action): restricted basins, free energy, latent heat --------
    def supports_basins(self, params) -> bool:
        """Restricted-basin branches and the free energy exist for the EK action."""
        return not _is_full(params)

    def basin_fixed_point_map(self, x, params, sigma2, basin):
        """T_b(r) = sigma2/(fac <XY>_b(u r^2) + sigma2) with the pair confined to ``basin``
        (``"origin"`` or ``"droplet"``, :func:`basin_pair_moments`); NaN where the basin
        does not exist."""
        r = float(x[0])
        v = self.effective_interaction(params, sigma2) * r * r
        xy = basin_pair_moments(params["P"], v, params["gamma"], params["method"], basin)["XY"]
        fac = eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"])
        return np.array([sigma2 / (fac * xy + sigma2)])

    def basin_bracket(self, params, sigma2, basin):
        """Interval of r where the basin exists and r - T_b(r) changes sign if it has a
        root: [0, 1] for the origin (the corner is a minimum at every coupling: the origin
        branch has no spinodal);
        for the droplet, r from r_m = sqrt(v_m/u) to r_max (the deepest droplet the method
        resolves), v_m the coupling where <XY>_d is smallest (:func:`droplet_xy_minimum_coupling`):
        beyond it T_b decreases with r and the root is unique. Just after the droplet's birth
        <XY>_d decreases, r - T_d(r) dips, and the branch ends at a fold (two roots merge);
        when r - T_d(r_m) > 0 the lower end is moved to the dip's minimum if it is negative.
        T_b decreases with r (<XY>_b grows with v), so the root is unique."""
        hi = self.r_max(params, sigma2)
        if basin == "origin":
            # the origin basin is integrated with its own shift (the corner), so the depth
            # limit of the droplet (r_max) does not apply to it
            return 0.0, 1.0
        u = self.effective_interaction(params, sigma2)
        v_m = droplet_xy_minimum_coupling(params["P"], params["gamma"], params["method"])
        r_m = math.sqrt(v_m / u)
        if r_m >= hi:
            return hi, hi
        F = lambda r: r - float(self.basin_fixed_point_map(np.array([r]), params, sigma2, basin)[0])  # noqa: E731
        if F(r_m) <= 0.0:
            return r_m, hi
        # near the fold: the root, if any, lies beyond the minimum of r - T_d(r) on the
        # decreasing stretch of <XY>_d (golden section on [birth, r_m])
        a, b = math.sqrt(math.sqrt(params["gamma"]) / u) * (1.0 + 1e-9), r_m
        phi = 0.5 * (math.sqrt(5.0) - 1.0)
        c, d = b - phi * (b - a), a + phi * (b - a)
        fc, fd = F(c), F(d)
        for _ in range(60):
            if fc < 0.0 or fd < 0.0 or b - a <= 1e-15 * b:
                break
            if fc < fd:
                b, d, fd = d, c, fc
                c = b - phi * (b - a)
                fc = F(c)
            else:
                a, c, fc = c, d, fd
                d = a + phi * (b - a)
                fd = F(d)
        best = c if fc < fd else d
        return (best, hi) if min(fc, fd) < 0.0 else (r_m, hi)

    def basin_without_spinodal(self, params, basin) -> str:
        """The origin basin: the corner X = Y = 0 is a minimum of the pair action at every
        coupling (dA/dX = P > 0 there), so the origin branch never ends."""
        if basin == "origin":
            return ("none: the corner X = Y = 0 is a minimum of the pair action at every coupling "
                    "(dA/dX = dA/dY = P there); the origin branch exists on the whole grid")
        return ""

    def basin_valid(self, x, params, sigma2, basin) -> bool:
        """The basin exists at the state: always for the origin; for the droplet,
        v = u r^2 > sqrt(gamma) (its minimum exists)."""
        if basin == "origin":
            return True
        v = self.effective_interaction(params, sigma2) * float(x[0]) ** 2
        return v * v > params["gamma"]

    def basin_observables(self, x, params, sigma2, basin) -> dict:
        """Scalars stored per point of a restricted-basin branch: u, residual, learned,
        lambda, free_energy (F_b/N), free_energy_dsigma2, the barriers, phi_star."""
        r = float(x[0])
        u = self.effective_interaction(params, sigma2)
        v = u * r * r
        fe = free_energy(r, params, sigma2, basin)
        fac = eigenvalue_factor(params["P"], params["sigma_a2"], params["normalization"])
        barrier, barrier_back = pair_barrier(params["P"], v, params["gamma"])
        return {"u": u, "residual": r, "learned": 1.0 - r, "lambda": fac * fe["XY"],
                "free_energy": fe["free_energy"], "free_energy_dsigma2": fe["free_energy_dsigma2"],
                "barrier": barrier, "barrier_droplet": barrier_back,
                "phi_star": K.side_minimum(v, params["gamma"])[0]}

    def latent_heat(self, x, params, sigma2) -> dict:
        """Jumps across the basins at state x (the first-order transition's latent heat).

        ``latent_heat``: v d/dv [log Z_droplet - log Z_origin] = 2 P v (<XY>_d - <XY>_o),
        per pair, in units of kT (the analogue of T Delta S = T d(Delta G)/dT with the
        coupling v = u r^2 as inverse temperature); ``eigenvalue_jump``: the jump of the
        target eigenvalue Lambda_d - Lambda_o between the basins (for the paper's
        eigenvalue it is the width sigma2_I - sigma2_II of the mixed phase)."""
        r = float(x[0])
        v = self.effective_interaction(params, sigma2) * r * r
        P, gamma, method = params["P"], params["gamma"], params["method"]
        d = basin_pair_moments(P, v, gamma, method, "droplet")["XY"]
        o = basin_pair_moments(P, v, gamma, method, "origin")["XY"]
        fac = eigenvalue_factor(P, params["sigma_a2"], params["normalization"])
        return {"latent_heat": 2.0 * P * v * (d - o), "eigenvalue_jump": fac * (d - o)}

    def _full_observables(self, x, params, sigma2):
        P = params["P"]
        sol = residual_at(np.asarray(x, float), params, sigma2)
        r, coef, mom, lam = sol["r"], sol["coef"], sol["mom"], sol["lam"]
        f = mom["droplet_fraction"]
        share = f * mom["XY_droplet"] / mom["XY"] if f > 0 else 0.0
        xp, xm = K.poly_side_minimum(coef["p1"], coef["p2"], coef["p3"], coef["c"])
        gap = (K.poly_pair_action(xp, xp, coef["p1"], coef["p2"], coef["p3"], coef["c"])
               if not math.isnan(xp) else math.inf)
        phase = classify_phase(share, f, P)
        return {
            "u": self.effective_interaction(params, sigma2),
            "residual": r,
            "learned": 1.0 - r,
            "lambda": 4.0 * P * P * params["sigma_a2"] * mom["XY"],
            "droplet_fraction": f,
            "droplet_share": share,
            "action_gap": gap,
            "phi_star": xp,
            "mean_X": mom["X"],
            "mean_X0": mom["X0"],
            "lambda_offtarget": lam["offtarget"],
            "lambda_1": lam["one"],
            "lambda_00": lam["zero"],
            "coupling": coef["c"] / (2.0 * P),
            "field": coef["p1"] / P - 1.0,
            "quartic": coef["p2"] / P,
            "P_mean_X": P * mom["X"],
            "mean_s0sq": mom["s0sq"],
            "phase": phase,
        }

    def landscape_grid(self, params):
        """Phi = Psi = |W_k|^2 from 0 to 1.6 x the degenerate minimum sqrt(3/gamma)."""
        return np.linspace(0.0, 1.6 * math.sqrt(3.0 / params["gamma"]), 481)

    def landscape(self, x, params, sigma2, grid):
        """Per-k action at Phi = Psi divided by P: Phi - u r^2 Phi^2 + (gamma/3) Phi^3
        (``action="full"``: A(Phi, Phi)/(2P) of the mean-field pair action)."""
        if _is_full(params):
            P = params["P"]
            c = residual_at(np.asarray(x, float), params, sigma2)["coef"]
            phi = np.asarray(grid, float)
            return (c["p1"] * phi + (c["p2"] - 0.5 * c["c"]) * phi ** 2 + c["p3"] * phi ** 3) / P
        v = self.effective_interaction(params, sigma2) * float(x[0]) ** 2
        return K.landscape_rows(np.asarray(grid, float), float(params["P"]), np.array([v]), params["gamma"])[0]

    # -- analytic landmarks -----------------------------------------------------
    @staticmethod
    def degenerate_coupling(gamma):
        """u r^2 at which the nontrivial minimum is degenerate with Phi = 0 (P -> inf):
        Phi* = sqrt(3/gamma), (u r^2)* = 2 sqrt(gamma/3)."""
        return 2.0 * math.sqrt(gamma / 3.0)

    # -- data: delegated to the task (adaptive_kernel.tasks.ModularArithmetic) ------
    @staticmethod
    def dataset(P: int, operation: str = "add"):
        """All P^2 two-hot inputs (rows ordered n*P + m) and centred targets y (P^2 x P) of
        the task (:meth:`ModularArithmetic.inputs`, :meth:`ModularArithmetic.targets`)."""
        task = ModularArithmetic(P, operation)
        return task.inputs(), task.targets()

    @staticmethod
    def activation(z):
        """Square activation phi(z) = z^2 (:meth:`ModularArithmetic.activation`)."""
        return ModularArithmetic.activation(z)

    @staticmethod
    def fourier_amplitudes(w):
        """(W_k, V_k) of read-in weights w (..., 2P): w_n = sum_k W_k exp(-2 pi i k n / P)
        (:func:`adaptive_kernel.tasks.fourier_amplitudes`, the package's one convention)."""
        return _fourier_amplitudes(w)

    # -- plot labels and per-theory presentation --
    # (the meaning of each member: the same block of :class:`.base.Teacher`)
    landscape_labels = (r"$\Phi=\Psi=|W_k|^2$", r"$\mathcal{S}_k(\Phi,\Phi)\,/\,P$")
    order_series = (("residual", r"residual $r$ ($\bar f=(1-r)\,y$)", "left"),
                    ("droplet_fraction", r"droplet fraction $f$", "right"))
    family_quantity = "residual"
    scan_table_columns = ("residual", "lambda", "droplet_fraction")
    parameter_symbols = {"gamma": r"$\gamma$", "P": r"$P$"}
    observable_descriptions = {
        "learned": "1 - r: fraction of the target learned",
        "lambda": "Lambda: kernel eigenvalue of the target (in the file's normalization)",
        "droplet_share": "share of the target eigenvalue carried by the droplet basin",
        "action_gap": "pair action at the droplet minimum X = Y = X_+ minus its value at the origin "
                      "(inf: no droplet minimum)",
        "phi_star": "X_+: position of the droplet minimum of the pair action on the diagonal (NaN: none)",
        "mean_X": "<X> = <|W_k|^2>, k != 0: mean squared Fourier amplitude of a read-in neuron",
        "mean_X0": "<|W_0|^2>: mean squared amplitude of the constant Fourier mode",
        "lambda_offtarget": "lambda_o = 4 P^2 sigma_a2 <X>^2: kernel eigenvalue of the off-target (k, k') modes",
        "lambda_1": "lambda_1: kernel eigenvalue of the (k, 0) and (0, k) modes",
        "lambda_00": "lambda_00: kernel eigenvalue of the (0, 0) mode",
        "coupling": "c/(2P): XY coupling of the mean-field pair action",
        "field": "(p1 - P)/P: linear field of the other modes on a pair, relative to P",
        "quartic": "p2/P: quadratic self-term of the pair action (second harmonic and (0, 0) parts)",
        "P_mean_X": "P <X> (1 under the prior)",
        "mean_s0sq": "<s0^2>, s0 = W_0 + V_0: the zero pair's mean square",
    }
    langevin_order_label = r"$\Phi=|W_k|^2$ ($k\neq0$)"
    langevin_variant_label = r"theory ({} $\Lambda$)"
    langevin_series = (
        {"name": "residual", "label": r"residual $r$",
         "theory": (("residual_derived", r"theory, derived $\Lambda$"),
                    ("residual_paper", r"theory, paper $\Lambda$"))},
        {"name": "residual_gpr", "label": r"$\sigma^2/(\Lambda_{\rm Gram}+\sigma^2)$", "marker": "s",
         "filled": False, "theory": ()},
    )
    langevin_ylabel = "residual"

    @classmethod
    def plot_title(cls, params, num=str, full=True):
        """``modular addition: P, N, [gamma,] normalisation`` (another operation: its name)."""
        from ..tasks import parse_operation

        p = params
        what = "modular addition"
        op = p.get("operation")
        if op is not None and op != "add":
            try:
                what = parse_operation(op).label
            except ParameterError:
                what = f"modular {op}"
        gamma = rf"$\gamma={num(p.get('gamma'))}$, " if full else ""
        return (rf"{what}: $P={p.get('P')}$, $N={p.get('N')}$, "
                rf"{gamma}{p.get('normalization', '')} $\Lambda$")

    @classmethod
    def large_parameter(cls, params):
        """P: the pair action is P times the plotted curve."""
        return float(params["P"])

