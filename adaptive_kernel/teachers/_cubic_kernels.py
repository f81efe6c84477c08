r"""Numba kernels of the cubic teacher (pure: arrays and scalars in, arrays out).

Notation (``shared/THEORY.md`` section 2). Data x ~ N(0, I_d), teacher direction w* (|w*| = 1),
target y = H1(w*.x) + eps H3(w*.x), student f(x) = sum_i a_i erf(w_i . x). The discrepancy is
expanded in the normalised odd Hermite functions of z = w*.x,

    Hhat_k(z) = He_k(z) / sqrt(k!),      k = 1, 3, ..., 2K-1,

so that sigma2 tbar(x) = sum_k t_k Hhat_k(z); for K = 2, t = (b, sqrt(6) c).

Erf projections (derived in :func:`erf_hermite_coefficients`). For jointly Gaussian z and
g = w.x with Cov(z, g) = q = w.w* and Var g = |w|^2, Stein's identity gives
E[He_k(z) F(g)] = q^k E[F^(k)(g)], and for odd k = 2j+1

    E[erf^(2j+1)(g)] = (2/sqrt(pi)) (-1)^j (2j)!/j! (1 + 2|w|^2)^(-j-1/2),

hence the exact Gaussian integral

    I_k(w) = E_x[Hhat_k(w*.x) erf(w.x)] = c_k (q / sqrt(1 + 2|w|^2))^k,
    c_{2j+1} = (2/sqrt(pi)) (-1)^j (2j)! / (j! sqrt((2j+1)!)).

(I_1 = (2/sqrt(pi)) q/sqrt(D), I_3 = -(4/sqrt(6 pi)) q^3/D^(3/2), D = 1 + 2|w|^2.) In the
continuum theory the perpendicular norm concentrates, |w|^2 = sigma_w2 + q^2, so
D(q) = 1 + 2 sigma_w2 + 2 q^2 and r(q) = q/sqrt(D(q)) is the only combination that appears.

Per-neuron action (d times an O(1) function):

    Shat(q) = q^2 / (2 sigma_w2) - (u/2) g(q)^2,      g(q) = t . I(q) = sum_k t_k c_k r(q)^k,

and the kernel block is M = < I(q) I(q)^T > under p(q) ~ exp(-d Shat(q)).

All kernels take the coefficient vector ``c`` (from :func:`erf_hermite_coefficients`) and
the residual vector ``t`` in the normalised basis.
"""
import math

import numpy as np
from numba import njit

#: Log-weight cut-off of the quadrature: nodes with d (Shat - Shat_min) > LOG_CUT are
#: dropped, and the integration range ends where a rigorous lower bound of Shat exceeds it
#: (relative weight exp(-50) ~ 2e-22).
LOG_CUT = 50.0
#: Trapezoid step = (narrowest relevant Gaussian width) / STEP_RATIO. The trapezoid rule on
#: the even, rapidly decaying integrand is spectrally accurate; for a Gaussian of width s
#: its relative error is ~ 2 exp(-2 pi^2 (s/h)^2) = 2 exp(-2 pi^2 STEP_RATIO^2) ~ 1e-30.
STEP_RATIO = 2.5
#: Upper bound of the trapezoid step (resolves the O(1) structure of I(q) and D(q)).
STEP_MAX = 0.02
#: Number of coarse intervals used to locate the critical points of Shat.
N_SCAN = 600
#: Most trapezoid nodes of one :func:`quadrature_moments` call (128 MiB of log weights,
#: ~1 s). Beyond it the call returns NaN (the solver then reports the point as not
#: converged). States that need that many nodes occur only far beyond the noise range
#: accepted by ``CubicTeacher.check_sigma2`` (solutions there need ~100-1000 nodes).
MAX_NODES = 1 << 24


@njit(cache=True)
def erf_hermite_coefficients(K):
    """c_k of I_k = c_k (q/sqrt(1+2|w|^2))^k for k = 1, 3, ..., 2K-1 (see module docstring).

    Computed in log space: log((2j)!/(j! sqrt((2j+1)!))) with lgamma, so large K does not
    overflow.
    """
    c = np.empty(K)
    for j in range(K):
        lg = math.lgamma(2 * j + 1) - math.lgamma(j + 1) - 0.5 * math.lgamma(2 * j + 2)
        s = 1.0 if j % 2 == 0 else -1.0
        c[j] = s * 2.0 / math.sqrt(math.pi) * math.exp(lg)
    return c


@njit(cache=True)
def erf_projections(q, w2, c):
    """I_k(w) = E_x[Hhat_k(w*.x) erf(w.x)] = c_k (q/sqrt(1+2 w2))^k, k = 1, 3, ..., 2K-1.

    Parameters
    ----------
    q : float
        Overlap w . w* (|w*| = 1).
    w2 : float
        Squared norm |w|^2 (in the continuum theory sigma_w2 + q^2).
    c : ndarray (K,)
        :func:`erf_hermite_coefficients`.
    """
    K = c.shape[0]
    out = np.empty(K)
    r = q / math.sqrt(1.0 + 2.0 * w2)
    r2 = r * r
    p = r
    for j in range(K):
        out[j] = c[j] * p
        p *= r2
    return out


@njit(cache=True)
def erf_nngp_kernel(xx, yy, xy):
    """NNGP kernel of erf for w ~ N(0, S): E_w[erf(w.x) erf(w.y)].

    ``xx = x.S.x``, ``yy = y.S.y``, ``xy = x.S.y``; the closed form is
    (2/pi) arcsin(2 xy / sqrt((1 + 2 xx)(1 + 2 yy))) (Williams 1997).
    """
    return 2.0 / math.pi * math.asin(2.0 * xy / math.sqrt((1.0 + 2.0 * xx) * (1.0 + 2.0 * yy)))


@njit(cache=True)
def _proj_r(q, d0, c, out):
    """I(q) of the continuum theory into ``out``; returns r = q/sqrt(d0 + 2 q^2)."""
    r = q / math.sqrt(d0 + 2.0 * q * q)
    r2 = r * r
    p = r
    for j in range(c.shape[0]):
        out[j] = c[j] * p
        p *= r2
    return r


@njit(cache=True)
def action(q, t, c, u, sw2):
    """Shat(q) = q^2/(2 sigma_w2) - (u/2) (t . I(q))^2 (per-neuron action divided by d)."""
    d0 = 1.0 + 2.0 * sw2
    r = q / math.sqrt(d0 + 2.0 * q * q)
    r2 = r * r
    p = r
    g = 0.0
    for j in range(c.shape[0]):
        g += t[j] * c[j] * p
        p *= r2
    return q * q / (2.0 * sw2) - 0.5 * u * g * g


@njit(cache=True)
def action_derivatives(q, t, c, u, sw2):
    """(Shat, Shat', Shat'') at q, analytic.

    r = q/sqrt(D), D = D0 + 2 q^2, D0 = 1 + 2 sigma_w2: r' = D0/D^{3/2},
    r'' = -6 D0 q / D^{5/2}; g = sum_k t_k c_k r^k;
    Shat' = q/sigma_w2 - u g g',  Shat'' = 1/sigma_w2 - u (g'^2 + g g'').
    """
    d0 = 1.0 + 2.0 * sw2
    D = d0 + 2.0 * q * q
    sD = math.sqrt(D)
    r = q / sD
    r1 = d0 / (D * sD)
    r2d = -6.0 * d0 * q / (D * D * sD)
    g = 0.0
    g1 = 0.0
    g2 = 0.0
    for j in range(c.shape[0]):
        k = 2 * j + 1
        a = t[j] * c[j]
        rk1 = r ** (k - 1)
        g += a * rk1 * r
        g1 += a * k * rk1 * r1
        if k >= 2:
            g2 += a * (k * (k - 1) * r ** (k - 2) * r1 * r1 + k * rk1 * r2d)
        else:
            g2 += a * r2d
    S = q * q / (2.0 * sw2) - 0.5 * u * g * g
    S1 = q / sw2 - u * g * g1
    S2 = 1.0 / sw2 - u * (g1 * g1 + g * g2)
    return S, S1, S2


@njit(cache=True)
def action_rows(q, T, c, u_values, sw2):
    """Landscape table: Shat(q_i) for each row of residual vectors ``T`` (one per sigma2)."""
    out = np.empty((T.shape[0], q.shape[0]))
    for a in range(T.shape[0]):
        for i in range(q.shape[0]):
            out[a, i] = action(q[i], T[a], c, u_values[a], sw2)
    return out


@njit(cache=True)
def upper_limit(t, c, u, d, sw2):
    """q beyond which d (Shat(q) - min Shat) > LOG_CUT for sure.

    |g(q)| <= B = sum_k |t_k c_k| 2^{-k/2} (r < 1/sqrt 2), so Shat(q) >= q^2/(2 sigma_w2) - u B^2/2,
    while min Shat <= Shat(0) = 0.
    """
    B = 0.0
    for j in range(c.shape[0]):
        B += abs(t[j] * c[j]) * 2.0 ** (-(2 * j + 1) / 2.0)
    return math.sqrt(2.0 * sw2 * (0.5 * u * B * B + LOG_CUT / d))


@njit(cache=True)
def _refine_root_s1(lo, hi, t, c, u, sw2):
    """Root of Shat' in [lo, hi] (sign change), safeguarded Newton."""
    flo = action_derivatives(lo, t, c, u, sw2)[1]
    x = 0.5 * (lo + hi)
    for _ in range(100):
        S, S1, S2 = action_derivatives(x, t, c, u, sw2)
        if S1 == 0.0:
            return x
        if (S1 < 0.0) == (flo < 0.0):
            lo = x
            flo = S1
        else:
            hi = x
        xn = x - S1 / S2 if S2 != 0.0 else 0.5 * (lo + hi)
        if not (lo < xn < hi):
            xn = 0.5 * (lo + hi)
        if abs(xn - x) <= 1e-15 * max(1.0, abs(x)):
            return xn
        x = xn
    return x


@njit(cache=True)
def _refine_root_s2(lo, hi, t, c, u, sw2):
    """Root of Shat'' in [lo, hi] (sign change), bisection (local extremum of Shat')."""
    flo = action_derivatives(lo, t, c, u, sw2)[2]
    for _ in range(200):
        m = 0.5 * (lo + hi)
        f = action_derivatives(m, t, c, u, sw2)[2]
        if (f < 0.0) == (flo < 0.0):
            lo = m
            flo = f
        else:
            hi = m
        if hi - lo <= 1e-15 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@njit(cache=True)
def critical_points(t, c, u, sw2, q_hi, nscan):
    """Stationary points of Shat on (0, q_hi].

    Returns ``(minima, maxima, inflection_minima)``: positions of the local minima and maxima
    of Shat with q > 0 (roots of Shat', refined to machine precision), and of the local minima
    of Shat' (roots of Shat'' where it turns positive), in increasing q. The origin (always
    stationary, Shat(0) = 0, curvature Shat''(0)) is not included. Pairs closer than
    q_hi/nscan (about to annihilate at a spinodal) can be missed.
    """
    mins = np.empty(nscan)
    maxs = np.empty(nscan)
    infl = np.empty(nscan)
    nmin = 0
    nmax = 0
    ninf = 0
    dq = q_hi / nscan
    qa = dq * 1e-3
    S, s1a, s2a = action_derivatives(qa, t, c, u, sw2)
    for i in range(1, nscan + 1):
        qb = i * dq
        S, s1b, s2b = action_derivatives(qb, t, c, u, sw2)
        if s1a < 0.0 and s1b >= 0.0:
            mins[nmin] = _refine_root_s1(qa, qb, t, c, u, sw2)
            nmin += 1
        elif s1a > 0.0 and s1b <= 0.0:
            maxs[nmax] = _refine_root_s1(qa, qb, t, c, u, sw2)
            nmax += 1
        if s2a < 0.0 and s2b >= 0.0:
            infl[ninf] = _refine_root_s2(qa, qb, t, c, u, sw2)
            ninf += 1
        qa = qb
        s1a = s1b
        s2a = s2b
    return mins[:nmin].copy(), maxs[:nmax].copy(), infl[:ninf].copy()


@njit(cache=True)
def side_minimum(t, c, u, sw2, q_hi):
    """The droplet minimum of Shat and its barrier.

    Returns ``(q_star, q_barrier, a0)``: q_star is the lowest local minimum of Shat beyond
    the first barrier (NaN if none); q_barrier the first local maximum with q > 0 (NaN if
    none); a0 = Shat''(0) the curvature of the origin basin. If a0 <= 0 the origin is not
    a minimum: q_barrier = 0 and q_star is the lowest minimum with q > 0.
    """
    mins, maxs, infl = critical_points(t, c, u, sw2, q_hi, N_SCAN)
    a0 = action_derivatives(0.0, t, c, u, sw2)[2]
    qs, qb = _droplet_landmarks(mins, maxs, a0, t, c, u, sw2)
    return qs, qb, a0


@njit(cache=True)
def _droplet_landmarks(mins, maxs, a0, t, c, u, sw2):
    """(q_star, q_barrier) from the critical points of Shat (see :func:`side_minimum`)."""
    qb = np.nan
    if a0 <= 0.0:
        qb = 0.0
    elif maxs.shape[0] > 0:
        qb = maxs[0]
    qs = np.nan
    best = np.inf
    if not math.isnan(qb):
        for i in range(mins.shape[0]):
            if mins[i] > qb:
                s = action(mins[i], t, c, u, sw2)
                if s < best:
                    best = s
                    qs = mins[i]
    return qs, qb


#: Droplet split: a neuron counts as a droplet neuron when its erf feature r(q) = q/sqrt(D(q))
#: has reached SPLIT_SATURATION of its saturation value 1/sqrt(2) (see :func:`droplet_split`).
SPLIT_SATURATION = 0.5
#: Gauss-Legendre order of the panels that integrate the droplet part |q| > q_split.
GL_ORDER = 16


@njit(cache=True)
def droplet_split(sw2):
    """q_split: the overlap beyond which a neuron counts as a droplet neuron.

    The erf feature of a neuron is r(q) = q/sqrt(D0 + 2 q^2) (every projection is
    I_k = c_k r^k), linear for small q and saturating at r_inf = 1/sqrt(2). q_split is where
    r reaches SPLIT_SATURATION r_inf (half saturation):

        q_split = s sqrt(D0 / (2 (1 - s^2))),  s = SPLIT_SATURATION,  D0 = 1 + 2 sigma_w2,

    i.e. sqrt(D0/6) = sqrt((1 + 2 sigma_w2)/6) for s = 1/2 (0.577 at sigma_w2 = 0.5). It
    depends on sigma_w2 only, so P(|q| > q_split) is a continuous function of the state: the
    droplet fraction does not jump where a side minimum of Shat is born (its spinodal, where
    the mass beyond the newborn barrier is already ~1e-2 at d = 150). The Gaussian core has
    width O(1/sqrt(d)) and the droplet minima sit beyond q_split (|q*| = 0.58-1.9 on every
    setting tried), so as d -> inf P(|q| > q_split) tends to the saddle-point weight of the
    side basins.
    """
    s = SPLIT_SATURATION
    return s * math.sqrt((1.0 + 2.0 * sw2) / (2.0 * (1.0 - s * s)))


@njit(cache=True)
def gauss_legendre(n):
    """Nodes and weights of n-point Gauss-Legendre quadrature on [-1, 1] (Newton on P_n)."""
    x = np.empty(n)
    w = np.empty(n)
    for i in range(n):
        z = math.cos(math.pi * (i + 0.75) / (n + 0.5))
        pp = 1.0
        for _ in range(100):
            p1 = 1.0
            p2 = 0.0
            for j in range(1, n + 1):
                p3 = p2
                p2 = p1
                p1 = ((2.0 * j - 1.0) * z * p2 - (j - 1.0) * p3) / j
            pp = n * (z * p1 - p2) / (z * z - 1.0)
            z1 = z
            z = z1 - p1 / pp
            if abs(z - z1) <= 1e-16:
                break
        x[i] = -z
        w[i] = 2.0 / ((1.0 - z * z) * pp * pp)
    return x, w


@njit(cache=True)
def quadrature_moments(t, c, u, d, sw2, q_split):
    """Exact 1-D integral over q of p(q) ~ exp(-d Shat(q)) (even in q) at finite d.

    Trapezoid rule on the whole line (the integrand is even, so the nodes are q_j = j h,
    j >= 0, with half weight at q = 0), in log space relative to the largest node. The step
    h resolves the narrowest relevant Gaussian feature: the origin core (width
    1/sqrt(d Shat''(0)) ~ 1/sqrt(d)) and every local minimum within LOG_CUT of the lowest
    one (width 1/sqrt(d Shat''(q_m))), divided by STEP_RATIO, and is at most STEP_MAX.
    The range ends at :func:`upper_limit`. Agreement with adaptive QUADPACK is ~1e-13
    relative (tests/theory/test_cubic_kernels.py).

    The droplet part |q| > q_split is integrated separately by composite Gauss-Legendre
    (GL_ORDER nodes on panels of width 2 STEP_RATIO h, starting exactly at q_split): a
    trapezoid sum over the nodes beyond a split point that is not a node would carry an
    O(h p(q_split)) error that jumps whenever a node crosses the split. Pass
    ``q_split = inf`` to skip it (the fixed-point map needs M only).

    Returns
    -------
    M : ndarray (K, K)
        <I I^T>.
    Ms : ndarray (K, K)
        Contribution of the droplet part |q| > q_split to M (weight included).
    stats : ndarray (8,)
        0 log Z (Z = int_0^inf exp(-d Shat) dq), 1 droplet fraction P(|q| > q_split),
        2 q_star (lowest minimum of Shat beyond the first barrier, NaN if none; if the
        origin is not a minimum, the lowest minimum with q > 0), 3 q_barrier (first local
        maximum with q > 0, 0 if the origin is not a minimum, NaN if none), 4 action gap
        Shat(q_star) - Shat(0) (NaN if no q_star), 5 number of nodes, 6 step h, 7 q_split.
    """
    K = c.shape[0]
    q_hi = upper_limit(t, c, u, d, sw2)
    mins, maxs, infl = critical_points(t, c, u, sw2, q_hi, N_SCAN)
    a0 = action_derivatives(0.0, t, c, u, sw2)[2]
    # lowest action among the minima (origin included when it is one)
    smin = 0.0 if a0 > 0.0 else np.inf
    for i in range(mins.shape[0]):
        s = action(mins[i], t, c, u, sw2)
        if s < smin:
            smin = s
    h = STEP_MAX
    if a0 > 0.0:
        h = min(h, 1.0 / math.sqrt(d * a0) / STEP_RATIO)
    for i in range(mins.shape[0]):
        S, S1, S2 = action_derivatives(mins[i], t, c, u, sw2)
        if d * (S - smin) < LOG_CUT and S2 > 0.0:
            h = min(h, 1.0 / math.sqrt(d * S2) / STEP_RATIO)
    h = max(h, 1e-6)
    nf = q_hi / h + 2.0
    if not nf <= MAX_NODES:
        # more nodes than the quadrature may allocate (u d |t|^2 far beyond the range
        # checked by CubicTeacher.check_sigma2): no value rather than an allocation failure
        M = np.full((K, K), np.nan)
        stats = np.full(8, np.nan)
        stats[5] = nf
        stats[6] = h
        stats[7] = q_split
        return M, M.copy(), stats
    n = int(q_hi / h) + 2
    # landmarks of the landscape
    qs, qb = _droplet_landmarks(mins, maxs, a0, t, c, u, sw2)
    # log integrand
    L = np.empty(n)
    Lmax = -np.inf
    for j in range(n):
        L[j] = -d * action(j * h, t, c, u, sw2)
        if L[j] > Lmax:
            Lmax = L[j]
    M = np.zeros((K, K))
    Ms = np.zeros((K, K))
    I = np.empty(K)
    Z = 0.0
    d0 = 1.0 + 2.0 * sw2
    for j in range(n):
        x = L[j] - Lmax
        if x < -LOG_CUT:
            continue
        w = math.exp(x)
        if j == 0:
            w *= 0.5
        _proj_r(j * h, d0, c, I)
        Z += w
        for a in range(K):
            for b in range(a, K):
                M[a, b] += w * I[a] * I[b]
    # droplet part: composite Gauss-Legendre on [q_split, q_end]
    Zs = 0.0
    q_end = (n - 1) * h
    if q_split < q_end:
        gx, gw = gauss_legendre(GL_ORDER)
        npan = int(math.ceil((q_end - q_split) / (2.0 * STEP_RATIO * h)))
        pw = (q_end - q_split) / npan
        for k in range(npan):
            lo = q_split + k * pw
            for i in range(GL_ORDER):
                q = lo + 0.5 * pw * (gx[i] + 1.0)
                # no log-weight cut here: f is reported down to underflow (~1e-300)
                x = -d * action(q, t, c, u, sw2) - Lmax
                w = math.exp(x) * 0.5 * pw * gw[i] / h  # in units of the trapezoid weights
                _proj_r(q, d0, c, I)
                Zs += w
                for a in range(K):
                    for b in range(a, K):
                        Ms[a, b] += w * I[a] * I[b]
    for a in range(K):
        for b in range(a, K):
            M[a, b] /= Z
            Ms[a, b] /= Z
            M[b, a] = M[a, b]
            Ms[b, a] = Ms[a, b]
    stats = np.empty(8)
    stats[0] = Lmax + math.log(Z * h)
    stats[1] = Zs / Z
    stats[2] = qs
    stats[3] = qb
    stats[4] = action(qs, t, c, u, sw2) if not math.isnan(qs) else np.nan
    stats[5] = n
    stats[6] = h
    stats[7] = q_split
    return M, Ms, stats


@njit(cache=True)
def _gauss_moments(q0, var, c, d0, gh_x, gh_w, out):
    """Adds E[I I^T] over N(q0, var) (Gauss-Hermite, normalised weights) into ``out``."""
    K = c.shape[0]
    I = np.empty(K)
    s = math.sqrt(var)
    for i in range(gh_x.shape[0]):
        _proj_r(q0 + s * gh_x[i], d0, c, I)
        for a in range(K):
            for b in range(a, K):
                out[a, b] += gh_w[i] * I[a] * I[b]
    for a in range(K):
        for b in range(a + 1, K):
            out[b, a] = out[a, b]


#: Curvature floor (in units of 1/sigma_w2) of the saddle-point Gaussians: keeps the map
#: continuous if an iterate leaves the region where the origin / side point is a minimum.
CURV_FLOOR = 1e-3


@njit(cache=True)
def saddle_moments(t, f, c, u, d, sw2, gh_x, gh_w):
    """d -> inf Gaussian mixture: M = (1 - f) M_core + f M_side.

    * core: the Gaussian N(0, 1/(d a0)) at the origin, a0 = Shat''(0);
    * side: the Gaussian N(q*, 1/(d Shat''(q*))) at the lowest side minimum (both signs of q
      give the same I I^T). If Shat has no side minimum, the side point is the local minimum
      of Shat' (where the minimum is born at the spinodal), so the map stays continuous.

    In the limit the weight f of the side basins is not a function of (b, c): a basin whose
    action lies above the lowest one carries zero weight, degenerate basins share the weight
    in the proportion fixed by self-consistency. f is therefore an unknown of the problem
    (see :meth:`adaptive_kernel.teachers.cubic.CubicTeacher.fixed_point_map`), and this
    kernel also returns the action gap Shat(q_side) - Shat(0) that decides it.

    Returns
    -------
    M : ndarray (K, K)
    M_side : ndarray (K, K)
        Side-basin moments (per unit weight).
    stats : ndarray (5,)
        0 a0 = Shat''(0), 1 q_side (NaN if Shat' has no local minimum: no side structure),
        2 1.0 if q_side is a true minimum else 0.0, 3 gap = Shat(q_side) - Shat(0) (+inf if
        no side structure), 4 Shat''(q_side).
    """
    K = c.shape[0]
    d0 = 1.0 + 2.0 * sw2
    floor = CURV_FLOOR / sw2
    q_hi = upper_limit(t, c, u, d, sw2)
    mins, maxs, infl = critical_points(t, c, u, sw2, q_hi, N_SCAN)
    a0 = action_derivatives(0.0, t, c, u, sw2)[2]
    Mc = np.zeros((K, K))
    _gauss_moments(0.0, 1.0 / (d * max(a0, floor)), c, d0, gh_x, gh_w, Mc)
    qs = np.nan
    is_min = 0.0
    best = np.inf
    for i in range(mins.shape[0]):
        s = action(mins[i], t, c, u, sw2)
        if s < best:
            best = s
            qs = mins[i]
            is_min = 1.0
    if math.isnan(qs):
        # no minimum: the point of least slope, where the minimum would be born
        bs = np.inf
        for i in range(infl.shape[0]):
            s1 = action_derivatives(infl[i], t, c, u, sw2)[1]
            if s1 < bs:
                bs = s1
                qs = infl[i]
    Ms = np.zeros((K, K))
    stats = np.empty(5)
    stats[0] = a0
    stats[1] = qs
    stats[2] = is_min
    if math.isnan(qs):
        stats[3] = np.inf
        stats[4] = np.nan
    else:
        S, S1, S2 = action_derivatives(qs, t, c, u, sw2)
        _gauss_moments(qs, 1.0 / (d * max(S2, floor)), c, d0, gh_x, gh_w, Ms)
        stats[3] = S
        stats[4] = S2
    M = np.empty((K, K))
    for a in range(K):
        for b in range(K):
            M[a, b] = (1.0 - f) * Mc[a, b] + f * Ms[a, b]
    return M, Ms, stats


@njit(cache=True)
def ek_residual(M, y, rho):
    """t = (I + rho M)^{-1} y: the EK (GPR) discrepancy in the normalised Hermite basis."""
    K = y.shape[0]
    A = np.empty((K, K))
    for a in range(K):
        for b in range(K):
            A[a, b] = rho * M[a, b] + (1.0 if a == b else 0.0)
    return np.linalg.solve(A, y)


@njit(cache=True)
def quadrature_map(x, y, sqf, c, u, rho, d, sw2):
    """T(x) for --method quadrature; x = Hermite coefficients (b, c, c5, ...), t = x sqrt(k!)."""
    t = x * sqf
    M, Ms, stats = quadrature_moments(t, c, u, d, sw2, np.inf)
    if not np.all(np.isfinite(M)):
        return np.full(x.shape[0], np.nan)
    return ek_residual(M, y, rho) / sqf


@njit(cache=True)
def saddle_map(x, y, sqf, c, u, rho, d, sw2, gh_x, gh_w):
    """T(x) for --method saddle; x = (b, c, ..., f), f the side-basin weight.

    The f component is min(1, max(0, f - gap)): its fixed points are exactly f = 0 with
    gap >= 0 (GFL), 0 < f < 1 with gap = 0 (degenerate minima, mixed phase), or f = 1 with
    gap <= 0 (GMFL-II); the map is continuous (piecewise smooth).
    """
    K = y.shape[0]
    t = x[:K] * sqf
    f = x[K]
    M, Ms, stats = saddle_moments(t, f, c, u, d, sw2, gh_x, gh_w)
    out = np.empty(K + 1)
    out[:K] = ek_residual(M, y, rho) / sqf
    gap = stats[3]
    out[K] = min(1.0, max(0.0, f - gap))
    return out


# ---------------------------------------------------------------------------------------
# Restricted basins (metastable branches, free energy)
# ---------------------------------------------------------------------------------------
@njit(cache=True)
def basin_quadrature(t, c, u, d, sw2, q_lo, q_hi):
    """Integral of exp(-d Shat(q)) over q in [q_lo, q_hi] (0 <= q_lo < q_hi; q_hi = inf:
    up to :func:`upper_limit`) and the kernel block restricted to it.

    Composite Gauss-Legendre (GL_ORDER nodes) on panels of width 2 STEP_RATIO h, h the
    trapezoid step of :func:`quadrature_moments` (the narrowest Gaussian feature / STEP_RATIO),
    starting exactly at q_lo; log weights shifted by their largest value on the interval, so
    a basin exponentially lighter than the other is resolved.

    Returns
    -------
    logZ : float
        log int_{q_lo}^{q_hi} exp(-d Shat(q)) dq (NaN on failure).
    M : ndarray (K, K)
        <I I^T> restricted to the interval.
    """
    K = c.shape[0]
    qmax = upper_limit(t, c, u, d, sw2)
    if q_hi > qmax:
        q_hi = qmax
    M = np.zeros((K, K))
    if not q_hi > q_lo:
        M[:, :] = np.nan
        return np.nan, M
    mins, maxs, infl = critical_points(t, c, u, sw2, qmax, N_SCAN)
    a0 = action_derivatives(0.0, t, c, u, sw2)[2]
    h = STEP_MAX
    if a0 > 0.0:
        h = min(h, 1.0 / math.sqrt(d * a0) / STEP_RATIO)
    for i in range(mins.shape[0]):
        S2 = action_derivatives(mins[i], t, c, u, sw2)[2]
        if S2 > 0.0:
            h = min(h, 1.0 / math.sqrt(d * S2) / STEP_RATIO)
    h = max(h, 1e-6)
    gx, gw = gauss_legendre(GL_ORDER)
    npan = int(math.ceil((q_hi - q_lo) / (2.0 * STEP_RATIO * h)))
    if npan * GL_ORDER > MAX_NODES:
        M[:, :] = np.nan
        return np.nan, M
    pw = (q_hi - q_lo) / npan
    n = npan * GL_ORDER
    L = np.empty(n)
    qs = np.empty(n)
    ws = np.empty(n)
    Lmax = -np.inf
    for k in range(npan):
        lo = q_lo + k * pw
        for i in range(GL_ORDER):
            j = k * GL_ORDER + i
            q = lo + 0.5 * pw * (gx[i] + 1.0)
            qs[j] = q
            ws[j] = 0.5 * pw * gw[i]
            L[j] = -d * action(q, t, c, u, sw2)
            if L[j] > Lmax:
                Lmax = L[j]
    d0 = 1.0 + 2.0 * sw2
    I = np.empty(K)
    Z = 0.0
    for j in range(n):
        x = L[j] - Lmax
        if x < -700.0:
            continue
        w = ws[j] * math.exp(x)
        _proj_r(qs[j], d0, c, I)
        Z += w
        for a in range(K):
            for b in range(a, K):
                M[a, b] += w * I[a] * I[b]
    for a in range(K):
        for b in range(a, K):
            M[a, b] /= Z
            M[b, a] = M[a, b]
    return Lmax + math.log(Z), M
