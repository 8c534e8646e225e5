"""The worked examples of issue 15 run as a user runs them: an R model and Mesa's Schelling.

Both need software beyond the toolkit: R with deSolve (installed by ``.ci/run`` from
Debian's packages) and Mesa with networkx (the ``test`` extra). They run at a few samples:
these tests prove the plumbing (the command, the seeds, the replications), not the indices.
"""

import hashlib
import json

import numpy as np
import pandas as pd
import xarray as xr

from mcsens import run_study
from tests.helpers import ROOT

EXAMPLES = ROOT / "params" / "examples"


def _run(name, tmp_path, samples):
    return run_study(EXAMPLES / f"{name}.toml", samples=samples, out=tmp_path, figures=False, appendix=False)


def test_the_r_model_runs_through_rscript_and_its_script_is_hashed(tmp_path):
    run_dir = _run("aquaphy", tmp_path, 16)
    ds = xr.open_dataset(run_dir / "results.nc")
    assert ds.sizes["sample"] == 16 * (6 + 2)  # (d + 2) rows per base sample
    assert (ds.phyto_c.values > 0).all() and np.isfinite(ds.din.values).all()
    # More dilution washes phytoplankton out: the stock falls with the dilution rate.
    assert np.corrcoef(ds.dilutionRate.values, ds.phyto_c.values)[0, 1] < -0.3
    digest = hashlib.sha256((EXAMPLES / "aquaphy.R").read_bytes()).hexdigest()
    assert json.loads((run_dir / "manifest.json").read_text())["model"]["sources"] == {"aquaphy.R": digest}


def test_mesas_schelling_runs_as_a_stochastic_per_sample_model_with_a_noise_share(tmp_path):
    # Two replications instead of the example's three keep the test short (80 simulations).
    for name in ("schelling.toml", "schelling.py"):
        text = (EXAMPLES / name).read_text()
        (tmp_path / name).write_text(text.replace("replications = 3", "replications = 2"))
    run_dir = run_study(tmp_path / "schelling.toml", samples=8, out=tmp_path / "runs", figures=False,
                        appendix=False)
    table = pd.read_csv(run_dir / "indices.csv")
    noise = table[table.method == "noise"].set_index("output")
    assert sorted(noise.index) == ["happy", "segregation"]
    assert ((noise.value >= 0) & (noise.value <= 1)).all()
    ds = xr.open_dataset(run_dir / "results.nc")
    assert (ds.segregation__noise_var.values > 0).any()  # the replications differ: the seeds reach Mesa
