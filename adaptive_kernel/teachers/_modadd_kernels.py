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
def _push(bp, n, x):
    if n < bp.shape[0]:
        bp[n] = x
        n += 1
    return n


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
        while u[i] - cur > 2.0 * wprev and k < out.shape[0] - 1:
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
        while cur - fwd[i] > 2.0 * wprev and j < out2.shape[0] - 1:
            cur = cur - 2.0 * wprev
            wprev = 2.0 * wprev
            out2[j] = cur
            j += 1
        wprev = out2[j - 1] - fwd[i]
        out2[j] = fwd[i]
        j += 1
    return out2[:j][::-1].copy()


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
    out = np.empty(8)
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
    c = 2.0 * P * v
    Z = 0.0
    ZXY = 0.0
    ZX = 0.0
    ZX2 = 0.0
    Zd = 0.0
    ZdXY = 0.0
    nev = 0
    for p in range(npan):
        for q in range(p, npan):
            bound = pl[p] + pl[q] + c * px[p] * px[q] - amax
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
                    Z += e
                    ZXY += e * xy
                    ZX += e * 0.5 * (xi + xj)
                    ZX2 += e * 0.5 * (xi * xi + xj * xj)
                    if xi > split and xj > split:
                        Zd += e
                        ZdXY += e * xy
    out[0] = amax + math.log(Z)
    out[1] = ZXY / Z
    out[2] = Zd / Z
    out[3] = ZdXY / Zd if Zd > 0.0 else np.nan
    out[4] = (ZXY - ZdXY) / (Z - Zd) if Z - Zd > 0.0 else np.nan
    out[5] = ZX / Z
    out[6] = ZX2 / Z
    out[7] = nev
    return out


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
