"""Sensitivity analysis of saved runs: indices, convergence, triangulation, figures, appendix.

Reads run directories written by :mod:`study` through their record (:mod:`analysis.run`);
never imports or runs a model. One module per method, each declaring its
:class:`analysis.methods.Method` (name, kind, ranking index, labels, ``analyze``); this is
the registry, in the order the methods' rows appear in ``indices.csv``::

    METHODS = {"sobol": sobol.METHOD, "morris": morris.METHOD, "delta": delta.METHOD,
               "surrogate": surrogate_run.METHOD, "noise": noise.METHOD}
"""

from . import delta, morris, noise, sobol, surrogate_run

METHODS = {m.name: m for m in (sobol.METHOD, morris.METHOD, delta.METHOD, surrogate_run.METHOD, noise.METHOD)}

__all__ = ["METHODS"]
