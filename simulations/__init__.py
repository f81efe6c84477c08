"""Network simulations that cross-check the adaptive-kernel theory (Langevin-trained
ensembles). They reuse the teacher definitions of :mod:`adaptive_kernel.teachers`
(data, target, activation), so a parameter means the same thing on both sides."""
import adaptive_kernel._numba_cache  # noqa: F401,E402  (compiled kernels go to a user cache folder)
