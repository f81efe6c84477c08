"""Domain errors of :mod:`adaptive_kernel`, all in one place.

Every error a user can provoke with bad input derives from :class:`PhasesimError`;
the command line turns these into one-line usage errors (exit code 2). The one exception
is :class:`WriteError` (an output could not be written although its location was checked
before the run: disk full, quota, a folder made read-only meanwhile): a one-line error with
exit code 1.
Non-convergence of a solver is *not* an error: it is reported through the
``success``/``status`` fields of the result objects.
"""


class PhasesimError(Exception):
    """Base class of all errors raised on purpose by the package."""


class ParameterError(PhasesimError, ValueError):
    """A physics or numerical parameter is outside its allowed range."""


class OutputError(PhasesimError):
    """An output location is refused before anything is computed (empty path, parent is a
    file or cannot be created, read-only or unwritable folder, file name too long, target
    is a folder). Exit code 2 on the command line."""


class OutputExistsError(OutputError, FileExistsError):
    """The output file exists and overwriting was not requested."""


class WriteError(OutputError):
    """Writing an output or checkpoint failed (disk full, quota exceeded, read-only file
    system, permission denied, ...). The temporary file was removed and the previous file at
    the target path, if any, is untouched. Exit code 1 on the command line.

    Attributes
    ----------
    path : str
        The target that could not be written.
    errno : int or None
        The operating-system error number, when there was one.
    """

    def __init__(self, message, path=None, errno=None):
        super().__init__(message)
        self.path = path
        self.errno = errno


class FileFormatError(PhasesimError, ValueError):
    """An HDF5 file does not have the layout written by :mod:`adaptive_kernel.io`."""
