"""Network simulations that cross-check the adaptive-kernel theory (Langevin-trained
ensembles). They reuse the teacher definitions of :mod:`adaptive_kernel.teachers`
(data, target, activation), so a parameter means the same thing on both sides."""
