"""Speed and storage (issue 17): what variant runs compute, delta's kernel sums, storage."""

import json
import shutil

import pandas as pd

from study import run_study
from tests.helpers import MODELS, write_study

ALL = '["sobol", "morris", "delta"]'


def _variant_pair(tmp_path):
    shutil.copy(MODELS / "slow_model.py", tmp_path)
    kw = dict(samples=64, chunk_rows=64, methods=ALL)
    variant = write_study(tmp_path, "slow_model:evaluate", name="v", seed=5, extra='headline = ["y_high"]', **kw)
    main = write_study(tmp_path, "slow_model:evaluate", name="main",
                       extra='headline = ["y_high"]\nvariants = ["v.toml"]', **kw)
    return main, variant


def test_a_variant_run_computes_only_what_its_comparison_reads(tmp_path):
    main, variant = _variant_pair(tmp_path)
    main_dir = run_study(main, out=tmp_path / "runs", figures=False, appendix=False)
    v_dir, = (tmp_path / "runs" / "v").iterdir()
    scope = json.loads((v_dir / "manifest.json").read_text())["analysis_scope"]
    assert (scope["methods"], scope["outputs"]) == (["sobol"], ["y_high"])
    assert not (v_dir / "results-morris.nc").exists()  # no Morris design evaluated
    table = pd.read_csv(v_dir / "indices.csv")
    assert sorted(table["method"].unique()) == ["headline", "sobol"]
    assert set(table["output"]) == {"y_high"}
    # The same study run on its own computes everything; the drivers compared are the same.
    alone = run_study(variant, out=tmp_path / "alone", figures=False, appendix=False)
    full = pd.read_csv(alone / "indices.csv")
    assert {"morris", "delta"} <= set(full["method"]) and (alone / "results-morris.nc").exists()
    key = ["method", "output", "param", "index"]
    both = table.merge(full, on=key, suffixes=("", "_full"))
    assert len(both) == len(table)
    assert both["value"].equals(both["value_full"]) and both["conf"].equals(both["conf_full"])
    compared = pd.read_csv(main_dir / "variants" / "compare.csv").set_index("study").loc["v"]
    st = full[(full["method"] == "sobol") & (full["index"] == "ST") & (full["output"] == "y_high")]
    assert compared["driver_1"] == st.sort_values("value", ascending=False)["param"].iloc[0]
