"""The application layer: the ``study`` command and the run orchestration.

It sits above both packages it drives: :mod:`study` (study files, sampling, evaluation,
storage) and :mod:`analysis` (estimators, figures, appendix). Neither of them imports
``mcsens``. The notebook API for running a study::

    from mcsens import run_study
    run_dir = run_study("params/ishigami.toml", samples=256)
"""

from study import __version__  # one version for the whole toolkit

# The runner loads on first use, so that `study validate` and error paths start fast.
_LAZY = {"run_study": "runner"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'mcsens' has no attribute {name!r}")


__all__ = ["__version__", "run_study"]
