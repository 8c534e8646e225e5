"""Errors the toolkit raises: for mistakes a user can make, and for its own bugs.

Every user error carries the file and the key path it concerns, so the command line can
print one line such as ``params/x.toml: parameters.x1.high: must be greater than low
(1.0); got 0.0`` and exit with status 2. The errors pickle, so they survive the trip
back from a dask worker.
"""

from __future__ import annotations


class StudyError(ValueError):
    """A mistake in a study file, a command-line option or a run directory.

    Parameters
    ----------
    path : str
        The file (or option, or run directory) the mistake is in.
    key : str
        The key path inside it, e.g. ``parameters.x1.high``; empty if none applies.
    msg : str
        What was expected and what was found.
    """

    def __init__(self, path, key, msg):
        self.path, self.key, self.msg = str(path), key, msg
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        super().__init__(where + msg)

    def __reduce__(self):
        return type(self), (self.path, self.key, self.msg)


class ModelContractError(StudyError):
    """A model returned something the contract does not allow (shape, dims, NaN)."""


class RunError(StudyError):
    """A run directory cannot be created, resumed or read as asked."""


class InternalError(RuntimeError):
    """A precondition inside the toolkit failed: a bug, not a user's mistake.

    The analysis functions check their arguments (shapes, levels, counts) although the
    study loader has already refused every study file that could break them; a failure
    here means a caller inside the toolkit passed something wrong. It is deliberately not
    a :class:`StudyError`: the command line lets it end with a traceback (exit status 1)
    instead of a one-line message that would blame the user.

    Parameters
    ----------
    where : str
        The function or module whose precondition failed, e.g. ``analysis.sobol``.
    key : str
        The argument concerned.
    msg : str
        What was expected and what was found.
    """

    def __init__(self, where, key, msg):
        self.where, self.key, self.msg = str(where), key, msg
        super().__init__(f"{self.where}: {key}: {msg}" if key else f"{self.where}: {msg}")

    def __reduce__(self):
        return type(self), (self.where, self.key, self.msg)


class StudyWarning(UserWarning):
    """A warning the toolkit itself issues (e.g. a constant input of the delta estimator).

    The test configuration turns it into an error, so no test passes while the toolkit
    warns unseen; code that expects one catches it (``pytest.warns``, or
    ``warnings.catch_warnings`` where the analysis records it as a note).
    """


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the (resumable) run directory."""

    def __init__(self, run_dir):
        super().__init__(str(run_dir))
        self.run_dir = run_dir
