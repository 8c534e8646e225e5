"""Monte Carlo sensitivity studies: study files in, sampled runs and run directories out.

The notebook API::

    from study import load_study, draw, open_run
    from mcsens import run_study         # running a study is the application layer's job
    study = load_study("params/ishigami.toml")
    run_dir = run_study("params/ishigami.toml", samples=256)
    results = open_run(run_dir)          # xarray.Dataset along "sample"
"""

from .errors import ModelContractError, RunError, StudyError

#: The toolkit's version: the one place it is written (the package metadata reads it from here).
__version__ = "0.1.0"

# Heavy modules load on first use, so that `study validate` and error paths start fast.
_LAZY = {"load_study": "spec", "draw": "sampling", "open_run": "store"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'study' has no attribute {name!r}")


__all__ = ["__version__", "load_study", "draw", "open_run", "StudyError", "ModelContractError", "RunError"]
