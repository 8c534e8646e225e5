"""Errors the toolkit raises for mistakes a user can make.

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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the (resumable) run directory."""

    def __init__(self, run_dir):
        super().__init__(str(run_dir))
        self.run_dir = run_dir
