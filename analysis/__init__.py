"""Sensitivity analysis of saved runs: indices, convergence, triangulation, figures, appendix.

Reads run directories written by :mod:`study`; never imports or runs a model. One module
per method, each a pure function over arrays returning a labelled Dataset, listed here::

    METHODS = {"sobol": sobol, "morris": morris, "delta": delta}
"""

from . import delta, morris, sobol

METHODS = {"sobol": sobol, "morris": morris, "delta": delta}

__all__ = ["METHODS"]
