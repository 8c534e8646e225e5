"""``study init NAME``: a commented study file and a model beside it, ready to run.

The two files are a starting point that runs as written (``study run NAME.toml``), so a
new user edits something that works instead of writing TOML from the README.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from study.errors import StudyError

STUDY_TEMPLATE = '''\
# {name}: a Monte Carlo sensitivity study (written by `study init {name}`).
# Run it with:   study run {name}.toml --samples 256
# Every key is explained in the README ("Study files"); this file runs as it is.

[study]
name = "{name}"
# The model: `module:function`. The module {module}.py sits beside this file.
model = "{module}:evaluate"
description = "Replace with one sentence on what the model computes"

[sampling]
# Saltelli/Sobol' design: N base rows; a power of two keeps the scrambled sequence balanced.
method = "sobol"
samples = 1024
seed = 1
second_order = false
# Independent replicate designs give the confidence intervals of the indices.
replicates = 4

[analysis]
methods = ["sobol", "delta"]
# Outputs that are 0/1 claims: the appendix reports the share of draws where each holds.
headline = ["exceeds"]
# The continuous output the figures and the appendix lead with.
key_output = "y"
# --until-converged doubles N until every total-order interval is narrower than this.
tolerance = 0.05

# Fixed inputs: one value each, visible to the model as 0-d variables.
[constants.threshold]
value = 1.0
description = "Level above which the claim `exceeds` holds"

# Uncertain inputs: one table per parameter, with its distribution.
[parameters.growth]
distribution = "uniform"
low = 0.0
high = 2.0
label = "growth rate"
unit = "1/yr"
description = "Why this range: cite the source or say it is a modelling choice"

[parameters.shock]
distribution = "triangular"
low = 0.0
mode = 0.2
high = 1.0
label = "shock size"
description = "Most likely small, occasionally large"
'''

MODEL_TEMPLATE = '''\
"""Model of the study {name}.toml (written by `study init {name}`).

`evaluate` receives an xarray.Dataset with one variable per parameter along the dimension
"sample" and each constant as a 0-d variable. It must be vectorized (no loop over samples),
pure (no I/O, no randomness) and return a Dataset whose variables all have "sample".
"""

import xarray as xr


def evaluate(x: xr.Dataset) -> xr.Dataset:
    y = x.growth * (1.0 + x.shock) - 0.5 * x.shock**2
    y.attrs.update(label="outcome", units="1", description="Replace with what y measures")
    exceeds = (y > x.threshold).astype(float)
    exceeds.attrs.update(label="outcome exceeds the threshold", units="1")
    return xr.Dataset({{"y": y, "exceeds": exceeds}})
'''


def check_name(name: str) -> str:
    """``NAME`` must be a plain study name that also makes a safe module name."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name) or keyword.iskeyword(name):
        raise StudyError("study init", "NAME", f"must be a name of letters, digits and '_' starting with a "
                                               f"letter (it names the study and its model module); got {name!r}")
    return name


def write_template(name: str, folder=".") -> tuple[Path, Path]:
    """Write ``NAME.toml`` and its model ``NAME_model.py`` into ``folder``.

    Parameters
    ----------
    name : str
        Study name; the model module is ``<name>_model``, a name no package of the toolkit
        or its dependencies has.
    folder : path
        Where to write; created if missing.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        The study file and the model file.

    Raises
    ------
    StudyError
        A bad name, or either file exists already (nothing is overwritten or half-written).
    """
    check_name(name)
    module = f"{name}_model"
    folder = Path(folder)
    study_file, model_file = folder / f"{name}.toml", folder / f"{module}.py"
    for p in (study_file, model_file):
        if p.exists():
            raise StudyError(p, "", "already exists; study init never overwrites a file (choose another NAME "
                                    "or --dir)")
    folder.mkdir(parents=True, exist_ok=True)
    model_file.write_text(MODEL_TEMPLATE.format(name=name), encoding="utf-8")
    study_file.write_text(STUDY_TEMPLATE.format(name=name, module=module), encoding="utf-8")
    return study_file, model_file
