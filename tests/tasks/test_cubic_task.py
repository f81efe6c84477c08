"""Brute-force checks of the cubic-teacher task (adaptive_kernel.tasks.cubic).

Independent references: Hermite polynomials written out, Gaussian integrals by tensor
Gauss-Hermite quadrature (numpy.polynomial.hermite_e), the NNGP kernel by Monte Carlo over
the weight prior, and bit-identity with today's teacher (CubicTeacher.target /
teacher_direction). The erf projections and the NNGP kernel are compared with the numba
kernels used by the theory today (adaptive_kernel.teachers._cubic_kernels), which the task
module does not import.
"""
import math

import numpy as np
import pytest
from scipy.special import erf

from adaptive_kernel.errors import ParameterError
from adaptive_kernel.tasks import TASKS, CubicTeacherTask, get_task
from adaptive_kernel.tasks.cubic import erf_hermite_coefficient
from adaptive_kernel.teachers import _cubic_kernels as CK
from adaptive_kernel.teachers.cubic import CubicTeacher

# probabilists' Gauss-Hermite rule, weights normalised to the standard normal
_GX, _GW = np.polynomial.hermite_e.hermegauss(120)
_GW = _GW / _GW.sum()


def hhat(k, z):
    """Orthonormal probabilists' Hermite function He_k(z)/sqrt(k!) by the recursion."""
    h0, h1 = np.ones_like(z), z
    if k == 0:
        return h0
    for j in range(1, k):
        h0, h1 = h1, z * h1 - j * h0
    return h1 / math.sqrt(math.factorial(k))


def brute_projection(k, q, sw2):
    """E[Hhat_k(z) erf(q z + sqrt(sw2) xi)], z, xi ~ N(0, 1) independent: w = q w* + a
    perpendicular part of norm^2 sw2, so |w|^2 = sw2 + q^2 (2-D Gauss-Hermite)."""
    z, xi = np.meshgrid(_GX, _GX, indexing="ij")
    W = np.outer(_GW, _GW)
    return float(np.sum(W * hhat(k, z) * erf(q * z + math.sqrt(sw2) * xi)))


def test_teacher_direction_and_target_bit_identical():
    for d in (1, 5, 150):
        np.testing.assert_array_equal(CubicTeacherTask.teacher_direction(d),
                                      CubicTeacher.teacher_direction(d))
        a = CubicTeacherTask.teacher_direction(d, np.random.default_rng(4))
        b = CubicTeacher.teacher_direction(d, np.random.default_rng(4))
        assert a.tobytes() == b.tobytes() and np.linalg.norm(a) == pytest.approx(1.0, rel=1e-15)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 7))
    for eps in (-0.3, 0.0, 1.2):
        for ws in (None, CubicTeacher.teacher_direction(7, np.random.default_rng(1))):
            t = CubicTeacherTask(7, eps, w_star=ws)
            w = t.w_star
            assert t.target(X).tobytes() == CubicTeacher.target(X, w, eps).tobytes()
            z = np.array([sum(x[i] * w[i] for i in range(7)) for x in X])
            np.testing.assert_allclose(t.target(X), z + eps * (z ** 3 - 3 * z), rtol=1e-12, atol=1e-12)


def test_sample():
    t = CubicTeacherTask(6, -0.3)
    X, y = t.sample(40, np.random.default_rng(9))
    X0 = np.random.default_rng(9).standard_normal((40, 6))
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, t.target(X0))
    X1, _ = t.sample(40, 9)  # a seed works as well
    np.testing.assert_array_equal(X1, X0)


def test_target_hermite_coefficients():
    """<y Hhat_k> over z ~ N(0, 1) by Gauss-Hermite: (1, sqrt(6) eps, 0, 0)."""
    eps = -0.7
    t = CubicTeacherTask(3, eps)
    z = _GX
    y = z + eps * (z ** 3 - 3 * z)
    proj = [np.sum(_GW * y * hhat(k, z)) for k in (1, 3, 5, 7)]
    np.testing.assert_allclose(t.target_hermite(4), proj, atol=1e-12)
    np.testing.assert_allclose(t.target_hermite(), [1.0, math.sqrt(6) * eps], rtol=1e-15)


def test_activation():
    z = np.linspace(-3, 3, 13)
    np.testing.assert_array_equal(CubicTeacherTask.activation(z), erf(z))
    h = 1e-6
    fd = (erf(z + h) - erf(z - h)) / (2 * h)
    np.testing.assert_allclose(CubicTeacherTask.activation_derivative(z), fd, atol=1e-9)


@pytest.mark.parametrize("sw2", (0.5, 2.0))
@pytest.mark.parametrize("q", (0.0, 0.1, -0.6, 1.3))
def test_projections_against_quadrature_and_todays_kernels(q, sw2):
    t = CubicTeacherTask
    I1, I3 = t.I1(q, sw2), t.I3(q, sw2)
    assert I1 == pytest.approx(brute_projection(1, q, sw2), abs=1e-11)
    assert I3 == pytest.approx(brute_projection(3, q, sw2), abs=1e-11)
    for k in (1, 2, 3, 4, 5, 7):
        assert t.erf_projection(q, sw2, k) == pytest.approx(brute_projection(k, q, sw2), abs=1e-10)
    # the closed forms of THEORY.md section 2
    D = 1 + 2 * (sw2 + q * q)
    assert I1 == pytest.approx(2 / math.sqrt(math.pi) * q / math.sqrt(D), rel=1e-14, abs=1e-300)
    assert I3 == pytest.approx(-4 / math.sqrt(6 * math.pi) * q ** 3 / D ** 1.5, rel=1e-14, abs=1e-300)
    # the numba kernels of today's theory
    c = CK.erf_hermite_coefficients(2)
    np.testing.assert_allclose([I1, I3], CK.erf_projections(q, sw2 + q * q, c), rtol=1e-14, atol=1e-300)
    out = np.empty(2)
    CK._proj_r(q, 1 + 2 * sw2, c, out)
    np.testing.assert_allclose([I1, I3], out, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(t.erf_projection(np.array([q, 2 * q]), sw2, 3), [I3, t.I3(2 * q, sw2)],
                               rtol=1e-14)


def test_erf_hermite_coefficients_match_todays_kernels():
    c = CK.erf_hermite_coefficients(8)
    np.testing.assert_allclose([erf_hermite_coefficient(k) for k in range(1, 16, 2)], c, rtol=1e-14)
    assert erf_hermite_coefficient(4) == 0.0


def test_nngp_kernel_monte_carlo():
    """sigma_a2 E_w[erf(w.x) erf(w.x')], w ~ N(0, (sigma_w2/d) I), 400k samples; every entry
    within 5 Monte Carlo standard errors."""
    d, sw2, sa2 = 4, 2.0, 0.6
    t = CubicTeacherTask(d, -0.3)
    rng = np.random.default_rng(21)
    A = rng.standard_normal((5, d)) * np.array([[0.3], [1.0], [1.0], [2.5], [1.0]])
    A[4] = A[1]  # a repeated point (diagonal-like entry off the diagonal)
    K = t.nngp_kernel(A, A, sw2, sigma_a2=sa2)
    S, chunks = 100_000, 4
    s1 = np.zeros((5, 5))
    s2 = np.zeros((5, 5))
    for _ in range(chunks):
        phi = erf(rng.standard_normal((S, d)) * math.sqrt(sw2 / d) @ A.T)
        prod = phi[:, :, None] * phi[:, None, :]
        s1 += prod.sum(axis=0)
        s2 += (prod ** 2).sum(axis=0)
    n = S * chunks
    mean = sa2 * s1 / n
    se = sa2 * np.sqrt((s2 / n - (s1 / n) ** 2) / n)
    assert np.all(np.abs(mean - K) < 5 * se)
    assert np.all(np.abs(K) > 10 * se)
    # today's numba closed form, entry by entry (S = sigma_w2/d I)
    s = sw2 / d
    for i in range(5):
        for j in range(5):
            ref = CK.erf_nngp_kernel(s * A[i] @ A[i], s * A[j] @ A[j], s * A[i] @ A[j])
            assert K[i, j] == pytest.approx(sa2 * ref, rel=1e-14)
    with pytest.raises(ParameterError, match="d = 4"):
        t.nngp_kernel(np.zeros((2, 3)), A, sw2)


def test_parameters_and_registry():
    theory = {"N": 700, "n": 3000, "d": 150, "sigma_w2": 0.5, "sigma_a2": 8 / 700, "eps": -0.3,
              "method": "quadrature", "modes": 2, "alpha": 1.0, "beta": 1.0}
    t = CubicTeacherTask.from_params(theory)
    assert t == CubicTeacherTask(150, -0.3) and t.params() == {"d": 150, "eps": -0.3}
    assert get_task("cubic", d=150, eps=-0.3) == t and TASKS["cubic"] is CubicTeacherTask
    w_random = CubicTeacherTask.teacher_direction(150, np.random.default_rng(0))
    assert t != CubicTeacherTask(150, -0.3, w_star=w_random)
    with pytest.raises(ParameterError, match="missing parameter eps"):
        get_task("cubic", d=3)
    with pytest.raises(ParameterError, match="unknown parameter"):
        get_task("cubic", d=3, eps=0.1, N=5)
    for bad in ({"d": 0, "eps": 0.1}, {"d": 2.5, "eps": 0.1}, {"d": 3, "eps": float("nan")},
                {"d": 3, "eps": "x"}):
        with pytest.raises(ParameterError, match="d must|eps must"):
            CubicTeacherTask(**bad)
    with pytest.raises(ParameterError, match="shape"):
        CubicTeacherTask(3, 0.1, w_star=np.ones(4) / 2)
    with pytest.raises(ParameterError, match="unit norm"):
        CubicTeacherTask(3, 0.1, w_star=np.ones(3))
    assert set(CubicTeacherTask.order_parameters) == {"q", "b", "c", "droplet_fraction"}
    assert set(CubicTeacherTask.order_parameter_labels) == set(CubicTeacherTask.order_parameters)
    assert CubicTeacherTask.student["activation"] == "erf" and CubicTeacherTask.label == "cubic teacher"
