"""Numba kernels of the Langevin simulations (the element-wise parts; matrix products go
to BLAS through :func:`numpy.matmul`).

Every kernel is deterministic: work is split into fixed blocks (never by thread count)
and partial sums are reduced in a fixed order, so a result does not depend on
``NUMBA_NUM_THREADS``, on how many ensemble members share a batch, or on ``--jobs``.

``erf_pair`` evaluates erf(z) and exp(-z^2) together with arithmetic only (no libm call,
no branch), so that the loops around it vectorise:

* exp(-y): Cody-Waite reduction y = k ln2 - r, |r| <= ln2/2, a degree-11 polynomial
  (Chebyshev-economised Taylor series, truncation < 1e-17 relative) and 2^-k built from its
  bits (the rounding constant 1.5 * 2^52 leaves k in the low bits of y/ln2 + 1.5 * 2^52);
* erf(x), |x| < 1/2: x P(x^2) with P of degree 8 (Chebyshev fit on [0, 1/4]);
* erf(x), 1/2 <= |x| <= 5.9: 1 - exp(-x^2) erfcx(x), erfcx a degree-16 polynomial in
  s = affine(3 / (3 + x)) (Chebyshev fit); beyond 5.9 erf = +-1 in double precision.

About 55 floating-point operations and one division per element, both branches evaluated
and selected (about 1.7 ns per element on one core of the development machine, against 4 ns
for the previous branch-free Taylor/Chebyshev-Clenshaw version and 9 ns for
scipy.special.erf). Absolute error of erf < 5e-16 (measured max 2.2e-16 against mpmath;
relative error < 1e-15 for |z| < 1/2), relative error of exp(-z^2) < 1e-15
(tests/simulations/test_langevin_kernels.py). Coefficients: :mod:`simulations._fit_polys`.

``erf_pair32`` is the float32 counterpart (float32 arithmetic, twice the lanes, shorter
polynomials; error ~2 float32 ulp), used when the network is simulated in float32; the
kernels dispatch on the array's precision.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

# fastmath without 'reassoc' (keeps Cody-Waite and the compensated parts intact) and
# without 'nnan'/'ninf' (non-finite values must propagate to the divergence checks)
_FM = {"contract", "nsz", "arcp"}
# reductions: reassociation lets LLVM vectorise them; deterministic for a given build
_FM_RED = {"contract", "nsz", "arcp", "reassoc"}

_TWO_OVER_SQRTPI = 1.1283791670955126


@intrinsic
def _as_f64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _as_i64(typingctx, x):
    """Reinterpret the bits of a float64 as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_SHIFTER = 6755399441055744.0          # 1.5 * 2^52
_EXP_BIAS = 0x4338000000000000 + 1023  # bits of _SHIFTER plus the exponent bias

# exp(r), |r| <= ln2/2
_E2, _E3, _E4, _E5 = 0.5000000000000019, 0.16666666666666702, 0.04166666666648808, 0.008333333333309526
_E6, _E7, _E8, _E9 = 0.0013888888952318045, 0.00019841269909219843, 2.480148547921643e-05, 2.755722495611072e-06
_E10, _E11 = 2.7632640675430235e-07, 2.5114870219497476e-08
# erf(x)/x in u = x^2, 0 <= u <= 1/4
_S0, _S1, _S2, _S3 = 1.1283791670955126, -0.37612638903183476, 0.11283791670925457, -0.026866170632921085
_S4, _S5, _S6, _S7 = 0.005223977373542183, -0.0008548297798086192, 0.00012053337222877719, -1.4845900896375835e-05
_S8 = 1.4726381680017032e-06
# erfcx(x) in s = SA * 3/(3+x) + SB, 1/2 <= x <= 5.9
_ERF_SMALL = 0.5
_ERF_ONE = 5.9
_TC = 3.0
_T0, _T1 = _TC / (_TC + _ERF_ONE), _TC / (_TC + _ERF_SMALL)      # s = -1 at x = 5.9, +1 at x = 1/2
_SA = 2.0 / (_T1 - _T0)
_SB = -(_T0 + _T1) / (_T1 - _T0)
_L0, _L1, _L2, _L3 = 0.2528361421640859, 0.22929900502538467, 0.09497833238615076, 0.030322714900697982
_L4, _L5, _L6, _L7 = 0.007134352149844362, 0.0010864735828942462, 5.280290014017464e-05, -1.683831498075775e-05
_L8, _L9, _L10, _L11 = -2.9862370934824633e-06, 2.5482286150037566e-07, 1.0008680414229535e-07, -6.2772025529472244e-09
_L12, _L13, _L14, _L15 = -3.391105285357317e-09, 2.972585203510295e-10, 1.1492829340745799e-10, -1.4614239721586726e-11
_L16 = -3.128450856985692e-12


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def exp_neg(y):
    """exp(-y) for y >= 0 (held at exp(-708) = 3e-308 beyond y = 708), arithmetic only."""
    y = min(y, 708.0)
    kf = y * _INV_LN2 + _SHIFTER          # round(y / ln2) in the low mantissa bits
    k = kf - _SHIFTER
    r = (k * _LN2_HI - y) + k * _LN2_LO    # -y + k ln2, |r| <= ln2/2
    p = _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    p = p * r + _E2
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _as_f64((_EXP_BIAS - _as_i64(kf)) << 52)     # p * 2^-k


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def erf_pair(z):
    """(erf(z), exp(-z^2)) in float64 with arithmetic only (vectorisable)."""
    x = abs(np.float64(z))
    u = x * x
    e = exp_neg(u)
    p = _S8
    p = p * u + _S7
    p = p * u + _S6
    p = p * u + _S5
    p = p * u + _S4
    p = p * u + _S3
    p = p * u + _S2
    p = p * u + _S1
    p = p * u + _S0
    small = x * p
    s = (_TC / (_TC + x)) * _SA + _SB
    q = _L16
    q = q * s + _L15
    q = q * s + _L14
    q = q * s + _L13
    q = q * s + _L12
    q = q * s + _L11
    q = q * s + _L10
    q = q * s + _L9
    q = q * s + _L8
    q = q * s + _L7
    q = q * s + _L6
    q = q * s + _L5
    q = q * s + _L4
    q = q * s + _L3
    q = q * s + _L2
    q = q * s + _L1
    q = q * s + _L0
    large = 1.0 - e * q
    v = small if x < _ERF_SMALL else large
    v = 1.0 if x > _ERF_ONE else v
    return math.copysign(v, z), e


# --------------------------------------------------------------------------------------
# float32: the same construction in single precision (8 lanes per AVX2 register, shorter
# polynomials): exp(r) degree 6, erf(x)/x in x^2 degree 5 for |x| < 3/4, erfcx(x) degree 7
# in s = affine(2/(2 + x)) for 3/4 <= |x| <= 3.9 (erf = +-1 in float32 beyond). Absolute
# error of erf < 1.2e-7 (2.4 ulp of float32 at 1), relative error of exp(-z^2) < 1e-7 for
# the float32 z^2 (tests/simulations/test_langevin_kernels.py); about 0.6 ns per element.
# --------------------------------------------------------------------------------------
@intrinsic
def _as_f32(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _as_i32(typingctx, x):
    """Reinterpret the bits of a float32 as an int32."""
    sig = types.int32(types.float32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


_f32 = np.float32
_INV_LN2_F, _LN2_HI_F, _LN2_LO_F = _f32(_INV_LN2), _f32(0.693359375), _f32(-2.12194440e-4)
_SHIFTER_F = _f32(12582912.0)                 # 1.5 * 2^23
_EXP_BIAS_F = np.int32(0x4B400000 + 127)
_EXP_CAP_F = _f32(87.0)
_ONE_F = _f32(1.0)
(_E0F, _E1F, _E2F, _E3F, _E4F, _E5F, _E6F) = (_f32(v) for v in (
    1.0, 1.0, 0.5, 0.16666415333747864, 0.041666217148303986, 0.008375128731131554, 0.001394858118146658))
(_S0F, _S1F, _S2F, _S3F, _S4F, _S5F) = (_f32(v) for v in (
    1.1283791065216064, -0.3761261999607086, 0.1128338947892189, -0.026835275813937187,
    0.005115657113492489, -0.000675878778565675))
(_L0F, _L1F, _L2F, _L3F, _L4F, _L5F, _L6F, _L7F) = (_f32(v) for v in (
    0.28478309512138367, 0.1787111610174179, 0.03881307691335678, 0.004663234110921621,
    3.11469666485209e-05, -6.388341716956347e-05, -1.3848692788087646e-06, 1.236143134519807e-06))
_ERF_SMALL_F, _ERF_ONE_F, _TC_F = _f32(0.75), _f32(3.9), _f32(2.0)
_T0F, _T1F = float(_TC_F / (_TC_F + _ERF_ONE_F)), float(_TC_F / (_TC_F + _ERF_SMALL_F))
_SA_F, _SB_F = _f32(2.0 / (_T1F - _T0F)), _f32(-(_T0F + _T1F) / (_T1F - _T0F))


@njit(inline="always", fastmath=_FM, error_model="numpy", cache=True)
def erf_pair32(z):
    """(erf(z), exp(-z^2)) in float32 arithmetic (z float32), vectorisable."""
    x = abs(z)
    u = x * x
    y = min(u, _EXP_CAP_F)
    kf = y * _INV_LN2_F + _SHIFTER_F
    k = kf - _SHIFTER_F
    r = (k * _LN2_HI_F - y) + k * _LN2_LO_F
    p = _E6F
    p = p * r + _E5F
    p = p * r + _E4F
    p = p * r + _E3F
    p = p * r + _E2F
    p = p * r + _E1F
    p = p * r + _E0F
    e = p * _as_f32((_EXP_BIAS_F - _as_i32(kf)) << np.int32(23))
    q = _S5F
    q = q * u + _S4F
    q = q * u + _S3F
    q = q * u + _S2F
    q = q * u + _S1F
    q = q * u + _S0F
    small = x * q
    s = (_TC_F / (_TC_F + x)) * _SA_F + _SB_F
    w = _L7F
    w = w * s + _L6F
    w = w * s + _L5F
    w = w * s + _L4F
    w = w * s + _L3F
    w = w * s + _L2F
    w = w * s + _L1F
    w = w * s + _L0F
    large = _ONE_F - e * w
    v = small if x < _ERF_SMALL_F else large
    v = _ONE_F if x > _ERF_ONE_F else v
    return np.float32(math.copysign(v, z)), e


# --------------------------------------------------------------------------------------
# cubic teacher, erf student:  f(x) = sum_i a_i erf(w_i . x)
# --------------------------------------------------------------------------------------
#: rows of the test-point matrix per work block of :func:`cubic_forward` (fixed: results
#: never depend on the thread count)
ROW_BLOCK = 32


@njit(fastmath=_FM_RED, error_model="numpy", cache=True, nogil=True)
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def _erf_only_row64(z, phi):
    for i in range(z.shape[0]):
        v, e = erf_pair(z[i])
        phi[i] = v


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def _erf_only_row32(z, phi):
    for i in range(z.shape[0]):
        v, e = erf_pair32(z[i])
        phi[i] = v


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def _erf_flat64(z, phi, count):
    """phi[:count] <- erf(z[:count]);  z[:count] <- exp(-z^2)."""
    for i in range(count):
        v, e = erf_pair(z[i])
        phi[i] = v
        z[i] = e


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def _erf_flat32(z, phi, count):
    for i in range(count):
        v, e = erf_pair32(z[i])
        phi[i] = v
        z[i] = e


def _erf_flat(z, phi, count):
    """Dispatch on the precision of z (float32 arithmetic for float32 data)."""


def _erf_only_row(z, phi):
    """Dispatch on the precision of z."""


@overload(_erf_flat)
def _ol_erf_flat(z, phi, count):
    if z.dtype == types.float32:
        return lambda z, phi, count: _erf_flat32(z, phi, count)
    return lambda z, phi, count: _erf_flat64(z, phi, count)


@overload(_erf_only_row)
def _ol_erf_only_row(z, phi):
    if z.dtype == types.float32:
        return lambda z, phi: _erf_only_row32(z, phi)
    return lambda z, phi: _erf_only_row64(z, phi)


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def _grad_row(z, phi, ca, r, c, acc):
    """acc += phi r;  z <- z * c * ca."""
    for i in range(z.shape[0]):
        acc[i] += phi[i] * r
        z[i] = z[i] * c * ca[i]


#: rows per pass of the erf loop in :func:`cubic_rows` (one flat loop over ERF_ROWS x N
#: elements: no per-row vector remainder)
ERF_ROWS = 16


@njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)
def cubic_rows(Z, a, y, inv_sigma2, f, ga, loss):
    """Fused element-wise part of the erf network's data term and its gradient, for a
    block of members and a block of data rows (serial; releases the GIL).

    Parameters
    ----------
    Z : (B, m, N) C-contiguous pre-activations w_i . x_mu; **overwritten** with
        G = (f_mu - y_mu) a_i erf'(z_mu,i) / sigma2, so that dU/dW = G^T X.
    a : (B, N) read-out weights.
    y : (B, m) targets.
    inv_sigma2 : float
    f : (B, m) out: network outputs.
    ga : (B, N) float64 out: sum_mu erf(z_mu,i) (f_mu - y_mu), rows added in order.
    loss : (B,) float64 out: sum_mu (f_mu - y_mu)^2, rows added in order.
    """
    B, m, N = Z.shape
    phi = np.empty(ERF_ROWS * N, Z.dtype)
    ca = np.empty(N, Z.dtype)
    for b in range(B):
        a_b = a[b]
        for i in range(N):
            ca[i] = _TWO_OVER_SQRTPI * a_b[i]
        acc = ga[b]
        acc[:] = 0.0
        lsum = 0.0
        Zf = Z[b].reshape(m * N)
        for r0 in range(0, m, ERF_ROWS):
            r1 = min(m, r0 + ERF_ROWS)
            _erf_flat(Zf[r0 * N:r1 * N], phi, (r1 - r0) * N)
            for mu in range(r0, r1):
                ph = phi[(mu - r0) * N:(mu - r0 + 1) * N]
                fm = _dot(ph, a_b)
                f[b, mu] = fm
                r = fm - y[b, mu]
                lsum += r * r
                _grad_row(Z[b, mu], ph, ca, r, r * inv_sigma2, acc)
        loss[b] = lsum


@njit(parallel=True, fastmath=_FM, error_model="numpy", cache=True)
def cubic_forward(Z, a, f):
    """f[s, mu] = sum_i a[s, i] erf(Z[s, mu, i]) (Z is not modified)."""
    S, n, N = Z.shape
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for job in prange(S * nb):
        s = job // nb
        blk = job - s * nb
        r0 = blk * ROW_BLOCK
        r1 = min(n, r0 + ROW_BLOCK)
        phi = np.empty(N, Z.dtype)
        for mu in range(r0, r1):
            _erf_only_row(Z[s, mu], phi)
            f[s, mu] = _dot(phi, a[s])


#: Below this many matrix elements per call, the serial twin is used: a parallel region
#: is a barrier, and on a shared machine a barrier costs more than small work.
PARALLEL_MIN_WORK = 400_000


def _serial(fn):
    return njit(fastmath=_FM, error_model="numpy", cache=True, nogil=True)(fn.py_func)


cubic_forward_serial = _serial(cubic_forward)
