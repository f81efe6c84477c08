"""Domain errors of :mod:`adaptive_kernel`, all in one place.

Every error a user can provoke with bad input derives from :class:`PhasesimError`;
the command line turns these into one-line usage errors (exit code 2).
Non-convergence of a solver is *not* an error: it is reported through the
``success``/``status`` fields of the result objects.
"""


class PhasesimError(Exception):
    """Base class of all errors raised on purpose by the package."""


class ParameterError(PhasesimError, ValueError):
    """A physics or numerical parameter is outside its allowed range."""


class OutputExistsError(PhasesimError, FileExistsError):
    """The output file exists and overwriting was not requested."""


class FileFormatError(PhasesimError, ValueError):
    """An HDF5 file does not have the layout written by :mod:`adaptive_kernel.io`."""
