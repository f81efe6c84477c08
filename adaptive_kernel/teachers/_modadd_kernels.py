"""Numba kernels of the modular-addition teacher (pure: arrays and scalars in, arrays out).

Notation (see ``shared/THEORY.md`` section 3 and ``docs/theory.md``): one complex Fourier
pair (k, P-k) of a read-in neuron has amplitudes W_k (first half of w) and V_k (second
half), with ``X = |W_k|^2`` and ``Y = |V_k|^2``. Its weight on the quarter plane
X, Y >= 0 is exp(-A(X, Y)) with the *pair action*

    A(X, Y) = P [ X + Y - 2 v X Y + (gamma/3) (X^3 + Y^3) ],    v = u r^2,

twice the per-k action of the paper's eq. (16) (k and P-k carry the same amplitude), and
the uniform measure dX dY (d^2 W = dX dtheta / 2).
"""
import math

import numpy as np
from numba import njit

#: log-integrand cut-off relative to the global maximum: blocks and nodes below
#: exp(-LOG_CUT) of the peak are skipped (1e-26 relative, far below the 1e-10 target).
LOG_CUT = 60.0


@njit(cache=True)
def pair_action(X, Y, P, v, gamma):
    """A(X, Y) = P [X + Y - 2 v X Y + (gamma/3)(X^3 + Y^3)]: -log weight of one complex pair."""
    return P * (X + Y - 2.0 * v * X * Y + (gamma / 3.0) * (X * X * X + Y * Y * Y))


@njit(cache=True)
def side_minimum(v, gamma):
    """Stationary points X = Y of the pair action off the origin.

    Solves (gamma/2) X^2 - v X + 1/2 = 0, i.e. X_pm = (v +- sqrt(v^2 - gamma))/gamma.
    Returns ``(X_plus, X_minus)`` (minimum, barrier), or ``(nan, nan)`` if v^2 <= gamma.
    X_minus is computed as 1/(v + sqrt(v^2 - gamma)) to avoid cancellation.
    """
    d = v * v - gamma
    if v <= 0.0 or d <= 0.0:
        return np.nan, np.nan
    s = math.sqrt(d)
    return (v + s) / gamma, 1.0 / (v + s)


@njit(cache=True)
def droplet_depth(P, v, gamma):
    """Depth -A(X_plus, X_plus) of the droplet minimum below the origin (A = 0), or 0 when
    there is no droplet minimum or it lies above the origin.

    The quadrature evaluates exp(-(A - A_min)) with A_min = -depth; rounding of the terms of
    A (each of size ~depth) limits its relative accuracy to ~1e-16 x depth (see
    ``adaptive_kernel.teachers.modadd.MAX_DROPLET_DEPTH``).
    """
    xp, xm = side_minimum(v, gamma)
    if math.isnan(xp):
        return 0.0
    a = pair_action(xp, xp, P, v, gamma)
    if not math.isfinite(a):
        return np.inf  # the droplet lies beyond the floating-point range
    return max(0.0, -a)


@njit(cache=True)
def _push(bp, n, x):
    if n < bp.shape[0]:
        bp[n] = x
        n += 1
    return n


@njit(cache=True)
def _finish_edges(bp, n):
    """Sort and de-duplicate the first ``n`` candidate edges in ``bp`` and fill the gaps
    with panels whose width grows at most geometrically (ratio 2), forward then backward."""
    b = np.sort(bp[:n])
    # unique (tolerant)
    u = np.empty(n)
    m = 0
    for i in range(n):
        if m == 0 or b[i] - u[m - 1] > 1e-14 * max(1.0, b[i]):
            u[m] = b[i]
            m += 1
    u = u[:m]
    # geometric gap filling, forward then backward
    out = np.empty(4 * m + 400)
    k = 0
    out[0] = u[0]
    k = 1
    wprev = u[1] - u[0]
    for i in range(1, m):
        cur = out[k - 1]
        # fill only while room is left for the remaining m - i landmark edges (the
        # capacity bounds the fill at extreme couplings, never in the documented range)
        while u[i] - cur > 2.0 * wprev and k < out.shape[0] - (m - i):
            cur = cur + 2.0 * wprev
            wprev = 2.0 * wprev
            out[k] = cur
            k += 1
        wprev = u[i] - out[k - 1]
        out[k] = u[i]
        k += 1
    fwd = out[:k].copy()
    # backward pass: growth from the right
    out2 = np.empty(2 * k + 400)
    j = 0
    out2[0] = fwd[k - 1]
    j = 1
    wprev = fwd[k - 1] - fwd[k - 2]
    for i in range(k - 2, -1, -1):
        cur = out2[j - 1]
        while cur - fwd[i] > 2.0 * wprev and j < out2.shape[0] - (i + 1):
            cur = cur - 2.0 * wprev
            wprev = 2.0 * wprev
            out2[j] = cur
            j += 1
        wprev = out2[j - 1] - fwd[i]
        out2[j] = fwd[i]
        j += 1
    return out2[:j][::-1].copy()


@njit(cache=True)
def axis_breakpoints(P, v, gamma):
    """Panel edges on the X axis (the same are used for Y) that resolve every basin.

    * origin basin: exp(-P X) decay, edges at t/P for t in 0 .. 72;
    * droplet basin (if v^2 > gamma): +-14 marginal standard deviations around X_plus,
      panel width limited by the conditional width 1/sqrt(2 P gamma X_plus);
    * the inflection X = v/gamma of the diagonal action (spinodal region) when v > 0;
    * gaps are filled with panels whose width grows at most geometrically (ratio 2).
    """
    bp = np.empty(512)
    n = 0
    t_origin = (0.0, 0.5, 1.25, 2.5, 4.0, 6.0, 8.5, 11.5, 15.0, 19.5, 25.0, 32.0, 41.0, 52.0, 66.0, 84.0)
    for t in t_origin:
        n = _push(bp, n, t / P)
    xp, xm = side_minimum(v, gamma)
    if not math.isnan(xp):
        det = gamma * gamma * xp * xp - v * v
        sig_m = math.sqrt(gamma * xp / (2.0 * P * det))
        sig_c = 1.0 / math.sqrt(2.0 * P * gamma * xp)
        h = min(2.0 * sig_m, 3.0 * sig_c)
        half = 14.0 * sig_m
        npan = int(math.ceil(2.0 * half / h))
        if npan > 120:
            npan = 120
        h = 2.0 * half / npan
        for k in range(npan + 1):
            x = xp - half + k * h
            if x > 0.0:
                n = _push(bp, n, x)
        # the barrier is a panel edge, so the droplet quadrant X, Y > X_minus is exact
        n = _push(bp, n, xm)
    if v > 0.0:
        xc = v / gamma
        sc = max(1.0 / math.sqrt(2.0 * P * gamma * xc), (P * gamma) ** (-1.0 / 3.0))
        for k in range(-14, 15):
            x = xc + k * sc
            if x > 0.0:
                n = _push(bp, n, x)
    return _finish_edges(bp, n)


@njit(cache=True)
def axis_nodes(edges, gl_x, gl_w):
    """Composite Gauss-Legendre nodes and weights on the panels ``edges``."""
    npan = edges.shape[0] - 1
    ng = gl_x.shape[0]
    x = np.empty(npan * ng)
    w = np.empty(npan * ng)
    for p in range(npan):
        a = edges[p]
        b = edges[p + 1]
        c = 0.5 * (a + b)
        h = 0.5 * (b - a)
        for i in range(ng):
            x[p * ng + i] = c + h * gl_x[i]
            w[p * ng + i] = h * gl_w[i]
    return x, w


@njit(cache=True)
def pair_block_sums(xs, ws, a1, c, amax, split, pl, pc, ng):
    """Block-pruned tensor-product sums of exp(-A) with A = a(X) + a(Y) - c X Y.

    ``xs, ws``: composite Gauss-Legendre nodes and weights (``ng`` per panel); ``a1``: the
    separable part a(x) at the nodes; ``amax``: -min A (log-space shift); ``split``: X_minus
    (droplet quadrant X, Y > split); ``pl[p]``, ``pc[p]``: per-panel upper bounds of -a(x) and
    of the coordinate entering c X Y. A block (p, q) whose bound pl[p] + pl[q] + c pc[p] pc[q]
    is below exp(-LOG_CUT) of the peak is skipped; symmetric blocks are summed once.

    Returns [Z, Z<XY>, Z<X>, Z<X^2>, Zd, Zd<XY>, Zd<X>, Zd<X^2>, evaluations] (unnormalised).
    """
    npan = pl.shape[0]
    acc = np.zeros(9)
    nev = 0
    for p in range(npan):
        for q in range(p, npan):
            bound = pl[p] + pl[q] + c * pc[p] * pc[q] - amax
            if bound < -LOG_CUT:
                continue
            fac = 1.0 if p == q else 2.0
            for i in range(p * ng, (p + 1) * ng):
                xi = xs[i]
                for j in range(q * ng, (q + 1) * ng):
                    xj = xs[j]
                    L = -a1[i] - a1[j] + c * xi * xj - amax
                    nev += 1
                    if L < -700.0:
                        continue
                    e = fac * ws[i] * ws[j] * math.exp(L)
                    xy = xi * xj
                    x1 = 0.5 * (xi + xj)
                    x2 = 0.5 * (xi * xi + xj * xj)
                    acc[0] += e
                    acc[1] += e * xy
                    acc[2] += e * x1
                    acc[3] += e * x2
                    if xi > split and xj > split:
                        acc[4] += e
                        acc[5] += e * xy
                        acc[6] += e * x1
                        acc[7] += e * x2
    acc[8] = nev
    return acc


@njit(cache=True)
def moments_from_sums(acc, amax, size):
    """Normalise :func:`pair_block_sums` into the moment layout of :func:`exact_moments`
    (size 8) or :func:`poly_exact_moments` (size 12, with the basin-conditional <X>, <X^2>)."""
    out = np.empty(size)
    Z, ZXY, ZX, ZX2, Zd, ZdXY, ZdX, ZdX2 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7]
    Zo = Z - Zd
    out[0] = amax + math.log(Z)
    out[1] = ZXY / Z
    out[2] = Zd / Z
    out[3] = ZdXY / Zd if Zd > 0.0 else np.nan
    out[4] = (ZXY - ZdXY) / Zo if Zo > 0.0 else np.nan
    out[5] = ZX / Z
    out[6] = ZX2 / Z
    out[7] = acc[8]
    if size > 8:
        out[8] = ZdX / Zd if Zd > 0.0 else np.nan
        out[9] = ZdX2 / Zd if Zd > 0.0 else np.nan
        out[10] = (ZX - ZdX) / Zo if Zo > 0.0 else np.nan
        out[11] = (ZX2 - ZdX2) / Zo if Zo > 0.0 else np.nan
    return out


@njit(cache=True)
def exact_moments(P, v, gamma, gl_x, gl_w):
    """Exact 2-D quadrature of the pair weight exp(-A(X, Y)) over X, Y >= 0.

    Returns an array ``out`` with

    0. log Z, Z = int_0^inf int_0^inf exp(-A) dX dY
    1. <X Y>
    2. droplet fraction: probability of X > X_minus and Y > X_minus (the basin of the
       nontrivial minimum beyond the barrier (X_minus, X_minus); 0 if there is no such
       minimum). X_minus is a panel edge, so this region is integrated exactly.
    3. <X Y | droplet basin> (nan if the droplet fraction is 0)
    4. <X Y | origin basin>
    5. <X> (= <Y>)
    6. <X^2>
    7. number of integrand evaluations

    The integrand is evaluated in log space relative to its global maximum, which is at
    the corner (A = 0) or at the droplet minimum; panel blocks whose upper bound is below
    exp(-LOG_CUT) of the maximum are skipped.
    """
    edges = axis_breakpoints(P, v, gamma)
    xs, ws = axis_nodes(edges, gl_x, gl_w)
    ng = gl_x.shape[0]
    npan = edges.shape[0] - 1
    nn = xs.shape[0]
    a1 = np.empty(nn)
    for i in range(nn):
        a1[i] = P * (xs[i] + (gamma / 3.0) * xs[i] ** 3)
    xp, xm = side_minimum(v, gamma)
    amax = 0.0
    split = np.inf
    if not math.isnan(xp):
        amax = max(0.0, -pair_action(xp, xp, P, v, gamma))
        split = xm
    # panel bounds
    pl = np.empty(npan)
    px = np.empty(npan)
    for p in range(npan):
        best = -np.inf
        for i in range(p * ng, (p + 1) * ng):
            if -a1[i] > best:
                best = -a1[i]
        pl[p] = best
        px[p] = edges[p + 1]
    acc = pair_block_sums(xs, ws, a1, 2.0 * P * v, amax, split, pl, px, ng)
    return moments_from_sums(acc, amax, 8)


@njit(cache=True)
def saddle_moments(P, v, gamma):
    """Gaussian-mixture (saddle-point, P -> inf) evaluation of the same moments as
    :func:`exact_moments`.

    Origin basin: Laplace at the corner, Z_o = 1/P^2, <XY>_o = 1/P^2, <X>_o = 1/P.
    Droplet basin: Gaussian at (X+, X+) with Hessian H = 2P [[g X+, -v], [-v, g X+]],
    Z_d = exp(-A(X+, X+)) 2 pi / sqrt(det H), <XY>_d = X+^2 + (H^-1)_12,
    (H^-1)_12 = v / (2P (g^2 X+^2 - v^2)).
    """
    out = np.empty(8)
    logzo = -2.0 * math.log(P)
    xy_o = 1.0 / (P * P)
    x_o = 1.0 / P
    x2_o = 2.0 / (P * P)
    xp, xm = side_minimum(v, gamma)
    if math.isnan(xp):
        out[0] = logzo
        out[1] = xy_o
        out[2] = 0.0
        out[3] = np.nan
        out[4] = xy_o
        out[5] = x_o
        out[6] = x2_o
        out[7] = 0.0
        return out
    det1 = gamma * gamma * xp * xp - v * v
    logdet = math.log(4.0 * P * P * det1)
    logzd = -pair_action(xp, xp, P, v, gamma) + math.log(2.0 * math.pi) - 0.5 * logdet
    var_x = gamma * xp / (2.0 * P * det1)
    cov = v / (2.0 * P * det1)
    xy_d = xp * xp + cov
    m = max(logzo, logzd)
    wo = math.exp(logzo - m)
    wd = math.exp(logzd - m)
    f = wd / (wo + wd)
    out[0] = m + math.log(wo + wd)
    out[1] = (1.0 - f) * xy_o + f * xy_d
    out[2] = f
    out[3] = xy_d
    out[4] = xy_o
    out[5] = (1.0 - f) * x_o + f * xp
    out[6] = (1.0 - f) * x2_o + f * (xp * xp + var_x)
    out[7] = 0.0
    return out


@njit(cache=True)
def landscape_rows(phi, P, v_values, gamma):
    """Per-k action along the diagonal divided by P: s(Phi)/P = Phi - v Phi^2 + (gamma/3) Phi^3.

    One row per entry of ``v_values`` (v = u r^2 of each scan point); this is the
    quantity of the paper's Fig. 3a (its eq. 16 at Phi = Psi, divided by P).
    """
    out = np.empty((v_values.shape[0], phi.shape[0]))
    for a in range(v_values.shape[0]):
        v = v_values[a]
        for i in range(phi.shape[0]):
            x = phi[i]
            out[a, i] = x - v * x * x + (gamma / 3.0) * x * x * x
    return out


# ---------------------------------------------------------------------------------------
# The full mean-field action (``action="full"``, see ``modadd.py``): the pair action becomes
# a general polynomial with a linear field and a separable quartic term,
#
#     A(X, Y) = p1 (X + Y) + p2 (X^2 + Y^2) + p3 (X^3 + Y^3) - c X Y ,
#
# p1 > 0, p2 >= 0, p3 > 0, c of either sign. The EK action is p1 = P, p2 = 0,
# p3 = P gamma/3, c = 2 P v. The zero Fourier pair (W_0, V_0), real, enters only through
# s0 = W_0 + V_0 (:func:`zero_pair_moments`).
# ---------------------------------------------------------------------------------------
@njit(cache=True)
def poly_pair_action(X, Y, p1, p2, p3, c):
    """A(X, Y) = p1 (X + Y) + p2 (X^2 + Y^2) + p3 (X^3 + Y^3) - c X Y."""
    return p1 * (X + Y) + p2 * (X * X + Y * Y) + p3 * (X * X * X + Y * Y * Y) - c * X * Y


@njit(cache=True)
def poly_side_minimum(p1, p2, p3, c):
    """Stationary points X = Y > 0 of the polynomial pair action.

    Along the diagonal dA/dX = 0 reads 3 p3 X^2 - e X + p1 = 0 with e = c - 2 p2, so
    X_pm = (e +- sqrt(e^2 - 12 p1 p3))/(6 p3); X_plus is a 2-D minimum (Hessian
    diagonal 2 p2 + 6 p3 X_plus = c + sqrt(e^2 - 12 p1 p3) > |c|), X_minus the saddle
    between it and the origin. Returns ``(nan, nan)`` if e <= 0 or e^2 <= 12 p1 p3.
    X_minus = 2 p1/(e + sqrt(.)) avoids cancellation.
    """
    e = c - 2.0 * p2
    d = e * e - 12.0 * p1 * p3
    if e <= 0.0 or d <= 0.0:
        return np.nan, np.nan
    s = math.sqrt(d)
    return (e + s) / (6.0 * p3), 2.0 * p1 / (e + s)


@njit(cache=True)
def poly_droplet_depth(p1, p2, p3, c):
    """:func:`droplet_depth` of the polynomial pair action: -A(X_plus, X_plus) or 0."""
    xp, xm = poly_side_minimum(p1, p2, p3, c)
    if math.isnan(xp):
        return 0.0
    a = poly_pair_action(xp, xp, p1, p2, p3, c)
    if not math.isfinite(a):
        return np.inf
    return max(0.0, -a)


@njit(cache=True)
def poly_axis_breakpoints(p1, p2, p3, c):
    """Panel edges for :func:`poly_exact_moments`; the layout of :func:`axis_breakpoints`
    with the widths taken from the general Hessian H = [[2 p2 + 6 p3 X, -c], [-c, 2 p2 + 6 p3 X]]:

    * origin basin: decay exp(-p1 X), edges at t/p1;
    * droplet basin: +-14 marginal standard deviations sqrt(H11/det H) around X_plus,
      panel width limited by the conditional width 1/sqrt(H11); the barrier X_minus;
    * the inflection X_c = (c - 2 p2)/(6 p3) of the diagonal action, width
      max(1/sqrt(H11(X_c)), (3 p3)^(-1/3)).

    For p1 = P, p2 = 0, p3 = P gamma/3, c = 2 P v these are the edges of
    :func:`axis_breakpoints` (up to rounding).
    """
    bp = np.empty(512)
    n = 0
    t_origin = (0.0, 0.5, 1.25, 2.5, 4.0, 6.0, 8.5, 11.5, 15.0, 19.5, 25.0, 32.0, 41.0, 52.0, 66.0, 84.0)
    for t in t_origin:
        n = _push(bp, n, t / p1)
    xp, xm = poly_side_minimum(p1, p2, p3, c)
    if not math.isnan(xp):
        h11 = 2.0 * p2 + 6.0 * p3 * xp
        det = h11 * h11 - c * c
        sig_m = math.sqrt(h11 / det)
        sig_c = 1.0 / math.sqrt(h11)
        h = min(2.0 * sig_m, 3.0 * sig_c)
        half = 14.0 * sig_m
        npan = int(math.ceil(2.0 * half / h))
        if npan > 120:
            npan = 120
        h = 2.0 * half / npan
        for k in range(npan + 1):
            x = xp - half + k * h
            if x > 0.0:
                n = _push(bp, n, x)
        n = _push(bp, n, xm)
    e = c - 2.0 * p2
    if e > 0.0:
        xc = e / (6.0 * p3)
        sc = max(1.0 / math.sqrt(2.0 * p2 + 6.0 * p3 * xc), (3.0 * p3) ** (-1.0 / 3.0))
        for k in range(-14, 15):
            x = xc + k * sc
            if x > 0.0:
                n = _push(bp, n, x)
    return _finish_edges(bp, n)


@njit(cache=True)
def poly_exact_moments(p1, p2, p3, c, gl_x, gl_w):
    """Exact 2-D quadrature of exp(-A(X, Y)) (polynomial pair action) over X, Y >= 0.

    Output: the layout of :func:`exact_moments` (0 log Z, 1 <XY>, 2 droplet fraction
    (X, Y > X_minus), 3 <XY | droplet>, 4 <XY | origin>, 5 <X>, 6 <X^2>, 7 evaluations)
    followed by the basin-conditional 8 <X | droplet>, 9 <X^2 | droplet>, 10 <X | origin>,
    11 <X^2 | origin> (nan where a basin has no weight). The separable part
    a(x) = p1 x + p2 x^2 + p3 x^3 is increasing on x >= 0 (p1 > 0, p2, p3 >= 0), so a panel
    block is bounded by its lower edges for a(x) and by the upper (c >= 0) or lower
    (c < 0) edges for c X Y.
    """
    edges = poly_axis_breakpoints(p1, p2, p3, c)
    xs, ws = axis_nodes(edges, gl_x, gl_w)
    ng = gl_x.shape[0]
    npan = edges.shape[0] - 1
    nn = xs.shape[0]
    a1 = np.empty(nn)
    for i in range(nn):
        x = xs[i]
        a1[i] = p1 * x + p2 * x * x + p3 * x * x * x
    xp, xm = poly_side_minimum(p1, p2, p3, c)
    amax = 0.0
    split = np.inf
    if not math.isnan(xp):
        amax = max(0.0, -poly_pair_action(xp, xp, p1, p2, p3, c))
        split = xm
    pl = np.empty(npan)
    pc = np.empty(npan)
    for p in range(npan):
        lo = edges[p]
        pl[p] = -(p1 * lo + p2 * lo * lo + p3 * lo * lo * lo)
        pc[p] = edges[p + 1] if c >= 0.0 else lo
    acc = pair_block_sums(xs, ws, a1, c, amax, split, pl, pc, ng)
    return moments_from_sums(acc, amax, 12)


@njit(cache=True)
def poly_saddle_moments(p1, p2, p3, c):
    """Gaussian-mixture evaluation of the moments of the polynomial pair action (layout of
    :func:`poly_exact_moments`; entries 0-6 reproduce :func:`saddle_moments` for p2 = 0).

    Origin basin: Laplace at the corner, Z_o = 1/p1^2, <X>_o = 1/p1, <X^2>_o = 2/p1^2,
    <XY>_o = 1/p1^2. Droplet basin: Gaussian at (X+, X+) with H = [[H11, -c], [-c, H11]],
    H11 = 2 p2 + 6 p3 X+; Var X = H11/det H, Cov(X, Y) = c/det H.
    """
    out = np.empty(12)
    logzo = -2.0 * math.log(p1)
    xy_o = 1.0 / (p1 * p1)
    x_o = 1.0 / p1
    x2_o = 2.0 / (p1 * p1)
    out[10] = x_o
    out[11] = x2_o
    out[7] = 0.0
    out[4] = xy_o
    xp, xm = poly_side_minimum(p1, p2, p3, c)
    if math.isnan(xp):
        out[0] = logzo
        out[1] = xy_o
        out[2] = 0.0
        out[3] = np.nan
        out[5] = x_o
        out[6] = x2_o
        out[8] = np.nan
        out[9] = np.nan
        return out
    h11 = 2.0 * p2 + 6.0 * p3 * xp
    det = h11 * h11 - c * c
    logzd = -poly_pair_action(xp, xp, p1, p2, p3, c) + math.log(2.0 * math.pi) - 0.5 * math.log(det)
    xy_d = xp * xp + c / det
    x2_d = xp * xp + h11 / det
    m = max(logzo, logzd)
    wo = math.exp(logzo - m)
    wd = math.exp(logzd - m)
    f = wd / (wo + wd)
    out[0] = m + math.log(wo + wd)
    out[1] = (1.0 - f) * xy_o + f * xy_d
    out[2] = f
    out[3] = xy_d
    out[5] = (1.0 - f) * x_o + f * xp
    out[6] = (1.0 - f) * x2_o + f * x2_d
    out[8] = xp
    out[9] = x2_d
    return out


@njit(cache=True)
def zero_pair_action(W0, V0, P, gamma, kappa, q4):
    """Action of the real zero-frequency pair (W_0, V_0) in the full mean-field action:
    (P/2)(W0^2 + V0^2) + P (gamma/6)(W0^6 + V0^6) + kappa s0^2 + q4 s0^4, s0 = W0 + V0."""
    s = W0 + V0
    s2 = s * s
    return (0.5 * P * (W0 * W0 + V0 * V0) + P * (gamma / 6.0) * (W0 ** 6 + V0 ** 6)
            + kappa * s2 + q4 * s2 * s2)


@njit(cache=True)
def zero_pair_moments(P, gamma, kappa, q4, gl_x, gl_w):
    """Moments of the zero pair under exp(-:func:`zero_pair_action`) on R^2 (measure dW0 dV0).

    Integrated in s = W0 + V0, d = W0 - V0 (W0^2 + V0^2 = (s^2 + d^2)/2) by composite
    Gauss-Legendre on [-L_s, L_s] x [-L_d, L_d] with 24 panels per axis. The integrand is
    bounded by exp(-(P/4 + kappa) s^2 - (P/4) d^2) (kappa, q4 >= 0) and by
    exp(-P gamma (s^6 + d^6)/192) (power means: W0^6 + V0^6 >= (s^2 + d^2)^3/32), so each
    half-width is where the tighter bound reaches e^-80.

    Returns ``out``: 0 <s0^2>, 1 <s0^4>, 2 <W0^2> (= <V0^2>), 3 <W0 V0>.
    """
    out = np.empty(4)
    ls = math.sqrt(80.0 / (0.25 * P + kappa))
    ld = math.sqrt(80.0 / (0.25 * P))
    if gamma > 0.0:
        lg = (80.0 * 192.0 / (P * gamma)) ** (1.0 / 6.0)
        ls = min(ls, lg)
        ld = min(ld, lg)
    # The action is even in s and in d separately (s -> -s maps (W0, V0) to (-V0, -W0),
    # d -> -d swaps W0 and V0), and so are the moments s^2, s^4, (s^2 + d^2)/4 = (W0^2 +
    # V0^2)/2 and (s^2 - d^2)/4 = W0 V0. The 24 panels per axis are symmetric about 0 (0 is
    # a panel edge), so the rule's sum over [-L_s, L_s] x [-L_d, L_d] is 4 x its sum over
    # the quadrant s, d > 0 (12 panels per axis); the common factor cancels in the ratios.
    npan = 12
    es = np.empty(npan + 1)
    ed = np.empty(npan + 1)
    for k in range(npan + 1):
        es[k] = ls * k / npan
        ed[k] = ld * k / npan
    ss, wss = axis_nodes(es, gl_x, gl_w)
    dd, wdd = axis_nodes(ed, gl_x, gl_w)
    Z = 0.0
    Z2 = 0.0
    Z4 = 0.0
    ZW = 0.0
    ZWV = 0.0
    for i in range(ss.shape[0]):
        s = ss[i]
        for j in range(dd.shape[0]):
            d = dd[j]
            W0 = 0.5 * (s + d)
            V0 = 0.5 * (s - d)
            e = wss[i] * wdd[j] * math.exp(-zero_pair_action(W0, V0, P, gamma, kappa, q4))
            Z += e
            Z2 += e * s * s
            Z4 += e * s * s * s * s
            ZW += e * 0.5 * (W0 * W0 + V0 * V0)
            ZWV += e * W0 * V0
    out[0] = Z2 / Z
    out[1] = Z4 / Z
    out[2] = ZW / Z
    out[3] = ZWV / Z
    return out


# ---------------------------------------------------------------------------------------
# Restricted basins (metastable branches, free energy): the pair weight integrated over one
# basin only, with the log-space shift at that basin's own peak, so a basin exponentially
# lighter than the other is still resolved.
# ---------------------------------------------------------------------------------------
@njit(cache=True)
def basin_block_sums(xs, ws, a1, c, shift, split, pl, pc, pe, ng, region):
    """Tensor-product sums of exp(-A - shift) over one region of the quarter plane.

    ``region``: 0 the whole quarter plane, 1 the origin basin (not both X, Y > ``split``),
    2 the droplet basin (X > ``split`` and Y > ``split``). ``split`` is a panel edge, so a
    panel (lower edge ``pe[p]``) lies wholly on one side and blocks outside the region are
    skipped whole. Blocks whose upper bound pl[p] + pl[q] + c pc[p] pc[q] - shift is below
    exp(-LOG_CUT) are skipped (as in :func:`pair_block_sums`). Returns [Z, Z<XY>, Z<X>,
    Z<X^2>] (unnormalised, shifted).
    """
    npan = pl.shape[0]
    acc = np.zeros(4)
    for p in range(npan):
        for q in range(p, npan):
            both = pe[p] >= split and pe[q] >= split
            if (region == 1 and both) or (region == 2 and not both):
                continue
            bound = pl[p] + pl[q] + c * pc[p] * pc[q] - shift
            if bound < -LOG_CUT:
                continue
            fac = 1.0 if p == q else 2.0
            for i in range(p * ng, (p + 1) * ng):
                xi = xs[i]
                for j in range(q * ng, (q + 1) * ng):
                    xj = xs[j]
                    inside = xi > split and xj > split
                    if (region == 1 and inside) or (region == 2 and not inside):
                        continue
                    L = -a1[i] - a1[j] + c * xi * xj - shift
                    if L < -700.0:
                        continue
                    e = fac * ws[i] * ws[j] * math.exp(L)
                    acc[0] += e
                    acc[1] += e * xi * xj
                    acc[2] += e * 0.5 * (xi + xj)
                    acc[3] += e * 0.5 * (xi * xi + xj * xj)
    return acc


@njit(cache=True)
def basin_moments(P, v, gamma, region, gl_x, gl_w):
    """Exact 2-D quadrature of the pair weight exp(-A(X, Y)) restricted to one basin.

    ``region``: 0 all of X, Y >= 0; 1 the origin basin, the complement of the droplet
    quadrant X, Y > X_minus (all of the quarter plane when there is no droplet minimum);
    2 the droplet basin X, Y > X_minus (only when the droplet minimum exists, v^2 > gamma;
    NaN otherwise). The same panels as :func:`exact_moments` (X_minus is a panel edge).
    The log-space shift is the basin's own peak: 0 (the corner, A = 0) for the origin basin,
    -A(X_plus, X_plus) for the droplet basin (the maximum of both for region 0).

    Returns [log Z_b, <XY>_b, <X>_b, <X^2>_b] with Z_b = int_basin exp(-A) dX dY.
    """
    out = np.full(4, np.nan)
    xp, xm = side_minimum(v, gamma)
    if region == 2 and math.isnan(xp):
        return out
    edges = axis_breakpoints(P, v, gamma)
    xs, ws = axis_nodes(edges, gl_x, gl_w)
    ng = gl_x.shape[0]
    npan = edges.shape[0] - 1
    nn = xs.shape[0]
    a1 = np.empty(nn)
    for i in range(nn):
        a1[i] = P * (xs[i] + (gamma / 3.0) * xs[i] ** 3)
    split = np.inf
    ad = np.inf
    if not math.isnan(xp):
        split = xm
        ad = pair_action(xp, xp, P, v, gamma)
    if region == 2:
        shift = -ad
    elif region == 1:
        shift = 0.0
    else:
        shift = max(0.0, -ad) if math.isfinite(ad) else 0.0
    if region == 1 and math.isnan(xp):
        region = 0
    pl = np.empty(npan)
    px = np.empty(npan)
    pe = np.empty(npan)
    for p in range(npan):
        best = -np.inf
        for i in range(p * ng, (p + 1) * ng):
            if -a1[i] > best:
                best = -a1[i]
        pl[p] = best
        px[p] = edges[p + 1]
        pe[p] = edges[p]
    if region != 0:
        # the split must be a panel edge for whole-block decisions (it is: axis_breakpoints)
        ok = False
        for p in range(npan + 1):
            if edges[p] == split:
                ok = True
        if not ok and math.isfinite(split):
            return out
    acc = basin_block_sums(xs, ws, a1, 2.0 * P * v, shift, split, pl, px, pe, ng, region)
    if not acc[0] > 0.0:
        return out
    out[0] = shift + math.log(acc[0])
    out[1] = acc[1] / acc[0]
    out[2] = acc[2] / acc[0]
    out[3] = acc[3] / acc[0]
    return out


@njit(cache=True)
def saddle_basin_moments(P, v, gamma, region):
    """The P -> inf (Gaussian) evaluation of :func:`basin_moments` (the two basins of
    :func:`saddle_moments`): origin Z_o = 1/P^2, <XY>_o = 1/P^2, <X>_o = 1/P,
    <X^2>_o = 2/P^2; droplet the Gaussian at (X_plus, X_plus); region 0 their sum."""
    out = np.full(4, np.nan)
    xp, xm = side_minimum(v, gamma)
    lo = -2.0 * math.log(P)
    if region == 1 or (region == 0 and math.isnan(xp)):
        out[0] = lo
        out[1] = 1.0 / (P * P)
        out[2] = 1.0 / P
        out[3] = 2.0 / (P * P)
        return out
    if math.isnan(xp):
        return out
    det1 = gamma * gamma * xp * xp - v * v
    ld = -pair_action(xp, xp, P, v, gamma) + math.log(2.0 * math.pi) - 0.5 * math.log(4.0 * P * P * det1)
    xy = xp * xp + v / (2.0 * P * det1)
    x2 = xp * xp + gamma * xp / (2.0 * P * det1)
    if region == 2:
        out[0] = ld
        out[1] = xy
        out[2] = xp
        out[3] = x2
        return out
    m = max(lo, ld)
    wo = math.exp(lo - m)
    wd = math.exp(ld - m)
    f = wd / (wo + wd)
    out[0] = m + math.log(wo + wd)
    out[1] = (1.0 - f) / (P * P) + f * xy
    out[2] = (1.0 - f) / P + f * xp
    out[3] = (1.0 - f) * 2.0 / (P * P) + f * x2
    return out
