"""How the polynomial coefficients of :mod:`simulations._kernels` (erf, exp) and
:mod:`simulations._noise` (ln, sin, cos) were obtained (development tool; needs mpmath,
which the package does not):

    python -m simulations._fit_polys

Each function is interpolated in 50-digit arithmetic at the Chebyshev nodes of its interval
(a near-minimax fit), the series is truncated to the stated number of terms, converted to
monomials in the variable the kernel evaluates (Horner), and rounded to double. The tail of
the dropped Chebyshev coefficients bounds the truncation error; the kernels' total errors
(truncation plus rounding) are checked in tests/simulations/test_langevin_kernels.py.
"""
from __future__ import annotations


def _cheb(mp, f, n):
    th = [mp.pi * (k + mp.mpf(0.5)) / n for k in range(n)]
    vals = [f(mp.cos(t)) for t in th]
    c = [2 * sum(vals[i] * mp.cos(j * th[i]) for i in range(n)) / n for j in range(n)]
    c[0] /= 2
    return c


def _to_monomial(mp, c):
    """Chebyshev series in s on [-1, 1] -> monomial coefficients in s."""
    T = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]
    for k in range(2, len(c)):
        a = [mp.mpf(0)] + [2 * v for v in T[k - 1]]
        b = T[k - 2] + [mp.mpf(0)] * (len(a) - len(T[k - 2]))
        T.append([x - y for x, y in zip(a, b)])
    out = [mp.mpf(0)] * len(c)
    for k, ck in enumerate(c):
        for j, v in enumerate(T[k]):
            out[j] += ck * v
    return out


def _affine(mp, mono, a, b):
    """Coefficients in u of sum_j m_j (a u + b)^j."""
    out = [mp.mpf(0)] * len(mono)
    for j, v in enumerate(mono):
        for i in range(j + 1):
            out[i] += v * mp.binomial(j, i) * a ** i * b ** (j - i)
    return out


def fit(mp, f, lo, hi, terms, nodes=40):
    """Monomial coefficients in u (lo <= u <= hi) and the truncation tail."""
    g = (lambda s: f(lo + (s + 1) / 2 * (hi - lo)))
    c = _cheb(mp, g, nodes)
    mono = _to_monomial(mp, c[:terms])
    return ([float(v) for v in _affine(mp, mono, 2 / (hi - lo), -(hi + lo) / (hi - lo))],
            float(sum(abs(v) for v in c[terms:])))


def fit_all():
    import mpmath as mp

    mp.mp.dps = 50
    out = {}
    # exp(r), |r| <= ln2/2
    h = mp.log(2) / 2
    out["exp"] = fit(mp, mp.exp, -h, h, 12, 30)
    # erf(x)/x as a function of u = x^2, 0 <= u <= 1/4
    out["erf_small"] = fit(mp, lambda u: mp.erf(mp.sqrt(u)) / mp.sqrt(u) if u > 0 else 2 / mp.sqrt(mp.pi),
                           mp.mpf(0), mp.mpf(0.25), 9)
    # erfcx(x) as a function of s = affine(t), t = 3/(3 + x), 1/2 <= x <= 5.9, s in [-1, 1]
    # (the interval ends rounded to double, as in the kernel)
    t0, t1 = mp.mpf(3.0 / (3.0 + 5.9)), mp.mpf(3.0 / (3.0 + 0.5))

    def erfcx_s(s):
        x = 3 / (t0 + (s + 1) / 2 * (t1 - t0)) - 3
        return mp.exp(x * x) * mp.erfc(x)

    out["erfcx"] = fit(mp, erfcx_s, mp.mpf(-1), mp.mpf(1), 17, 50)
    # 2 atanh(s)/s in u = s^2, |s| <= (sqrt2 - 1)/(sqrt2 + 1)
    smax = (mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)
    out["atanh"] = fit(mp, lambda u: 2 * mp.atanh(mp.sqrt(u)) / mp.sqrt(u) if u > 0 else mp.mpf(2),
                       mp.mpf(0), smax ** 2, 8)
    # sin(x)/x and cos(x) in u = x^2, |x| <= pi/4
    q = (mp.pi / 4) ** 2
    out["sin"] = fit(mp, lambda u: mp.sin(mp.sqrt(u)) / mp.sqrt(u) if u > 0 else mp.mpf(1), mp.mpf(0), q, 7)
    out["cos"] = fit(mp, lambda u: mp.cos(mp.sqrt(u)), mp.mpf(0), q, 8)
    # float32 (erf_pair32): exp(r) 7 terms, erf(x)/x on u = x^2 <= 9/16 6 terms, erfcx(x) on
    # 3/4 <= x <= 3.9 in s = affine(2/(2 + x)) 8 terms (ends as the kernel rounds them)
    out["exp_f32"] = fit(mp, mp.exp, -h, h, 7, 20)
    out["erf_small_f32"] = fit(mp, lambda u: mp.erf(mp.sqrt(u)) / mp.sqrt(u) if u > 0 else 2 / mp.sqrt(mp.pi),
                               mp.mpf(0), mp.mpf(0.5625), 6, 20)
    import numpy as np

    f32 = np.float32
    u0 = mp.mpf(float(f32(2.0) / (f32(2.0) + f32(3.9))))
    u1 = mp.mpf(float(f32(2.0) / (f32(2.0) + f32(0.75))))

    def erfcx_s32(s):
        x = 2 / (u0 + (s + 1) / 2 * (u1 - u0)) - 2
        return mp.exp(x * x) * mp.erfc(x)

    out["erfcx_f32"] = fit(mp, erfcx_s32, mp.mpf(-1), mp.mpf(1), 8, 30)
    return out


if __name__ == "__main__":  # pragma: no cover
    for name, (coef, tail) in fit_all().items():
        print(f"{name}: truncation tail {tail:.2e}")
        print("   ", ", ".join(repr(c) for c in coef))
    # the float32 sets are used rounded to float32
