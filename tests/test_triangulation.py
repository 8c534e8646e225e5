"""Rank-agreement table on hand-built importances whose ranks are known."""

import numpy as np
import pytest
import xarray as xr

from analysis.triangulation import per_output_agreement, rank_agreement
from study.errors import InternalError

P = list("abcdefgh")


def da(rows, elements=("y", "z")):
    return xr.DataArray(np.array(rows, dtype=float), coords={"element": list(elements), "param": P},
                        dims=("element", "param"))


@pytest.fixture
def table():
    st = da([[.5, .3, .1, .05, .02, .01, .005, 0], [.5, .3, .1, .05, .02, .01, .005, 0]])
    mu = da([[5, 3, 1, .5, .2, .1, .05, 0], [5, .1, 1, .5, .2, 3, .05, 0]])
    delta = da([[.4, .2, .1, .05, .03, .01, .02, 0], [.4, .2, .1, .05, .03, .01, .02, np.nan]])
    return rank_agreement(st, mu, delta, top_k=3)


def test_ranks_gaps_and_top_k_membership(table):
    y = table[table.element == "y"]
    z = table[table.element == "z"]
    assert list(y.param) == P
    assert y.rank_sobol.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert y.rank_morris.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert y.rank_delta.tolist() == [1, 2, 3, 4, 5, 7, 6, 8]
    assert z.rank_morris.tolist() == [1, 6, 3, 4, 5, 2, 7, 8]
    assert z.rank_delta.iloc[:7].tolist() == [1, 2, 3, 4, 5, 7, 6] and z.rank_delta.isna().iloc[7]
    assert z.rank_gap.tolist() == [0, 4, 0, 0, 0, 5, 1, 0]
    assert z.top_k_under.tolist()[:3] == ["sobol, morris, delta", "sobol, delta", "sobol, morris, delta"]
    assert z.top_k_under.iloc[5] == "morris"


def test_disagreements_are_named_with_their_ranks(table):
    assert (table[table.element == "y"].disagreement == "").all()
    z = table[table.element == "z"].set_index("param").disagreement
    assert z["b"] == "top 3 by Sobol ST and delta, rank 6 by Morris mu*"
    assert z["f"] == "top 3 by Morris mu*, rank 6 by Sobol ST, 7 by delta"
    assert (z.drop(["b", "f"]) == "").all()


def test_rank_correlations_are_the_textbook_values(table):
    out = table.attrs["per_output"].set_index("element")
    # y: Sobol and Morris identical; delta swaps ranks 6 and 7 once among 8 parameters:
    # rho = 1 - 6 * 2 / (8 * 63), tau = (27 - 1) / 28
    assert out.loc["y", "spearman_sobol_morris"] == pytest.approx(1.0)
    assert out.loc["y", "spearman_sobol_delta"] == pytest.approx(1 - 12 / 504)
    assert out.loc["y", "kendall_sobol_delta"] == pytest.approx(26 / 28)
    assert out.loc["y", "spearman_top_sobol_delta"] == pytest.approx(1.0)
    # z: Sobol vs Morris, ranks 2<->6 exchanged in effect: d = (0,4,0,0,0,4,0,0)
    assert out.loc["z", "spearman_sobol_morris"] == pytest.approx(1 - 6 * 32 / 504)
    # top-3 union of Sobol {a,b,c} and Morris {a,f,c}: Sobol ranks (1,2,3,6), Morris
    # (1,6,3,2), re-ranked within the four (1,2,3,4) and (1,4,3,2): d = (0,2,0,2)
    assert out.loc["z", "spearman_top_sobol_morris"] == pytest.approx(1 - 6 * 8 / (4 * 15))
    # delta's NaN for h leaves 7 parameters: Sobol (1..7) vs delta (1,2,3,4,5,7,6)
    assert out.loc["z", "spearman_sobol_delta"] == pytest.approx(1 - 6 * 2 / (7 * 48))
    assert out.loc["z", "disagreements"] == "b; f"


def test_summary_sentences(table):
    out = table.attrs["per_output"].set_index("element").summary
    assert out["y"] == "For y, Sobol ST, Morris mu* and delta agree on the top 3 (a, b, c) (Spearman rho 0.98 to 1.00)."
    assert out["z"] == ("For z, Sobol ST, Morris mu* and delta disagree on 2 parameters: "
                        "b (top 3 by Sobol ST and delta, rank 6 by Morris mu*); "
                        "f (top 3 by Morris mu*, rank 6 by Sobol ST, 7 by delta) (Spearman rho 0.25 to 0.96).")
    assert per_output_agreement(table, top_k=3).equals(table.attrs["per_output"])


def test_rank_gap_counts_only_near_the_top():
    n = 16
    names = [f"p{i:02d}" for i in range(n)]
    base = np.arange(n, 0, -1.0)  # p00 first
    other = base.copy()
    other[[3, 7]] = other[[7, 3]]  # ranks 4 and 8 swap: gap 4, within 2 * top_k = 6 for p03
    other[[10, 15]] = other[[15, 10]]  # ranks 11 and 16 swap: far below the top
    a = xr.DataArray(base, coords={"param": names}, dims="param", name="out")
    b = xr.DataArray(other, coords={"param": names}, dims="param", name="out")
    t = rank_agreement(a, None, b, top_k=3, max_rank_gap=3).set_index("param")
    assert t.loc["p03", "disagreement"] == "rank 4 by Sobol ST, 8 by delta"
    assert t.loc["p07", "disagreement"] == "rank 8 by Sobol ST, 4 by delta"
    assert (t.drop(["p03", "p07"]).disagreement == "").all()
    assert list(t.columns[:3]) == ["element", "sobol", "delta"]
    assert (t.element == "out").all()


def test_ties_share_the_better_rank_and_output_dims_become_labels():
    v = xr.DataArray(np.array([[[3.0, 3.0, 1.0]], [[1.0, 2.0, 3.0]]]),
                     coords={"actor": ["us", "eu"], "phase": [1], "param": ["a", "b", "c"]},
                     dims=("actor", "phase", "param"))
    t = rank_agreement(v, v, v)
    assert t.element.unique().tolist() == ["actor=us, phase=1", "actor=eu, phase=1"]
    assert t.rank_sobol.tolist() == [1, 1, 3, 3, 2, 1]


def test_fewer_than_two_methods_or_bad_thresholds_are_errors():
    v = xr.DataArray([1.0, 2.0], coords={"param": ["a", "b"]}, dims="param")
    with pytest.raises(InternalError, match=r"methods: must include at least two of sobol, morris, delta; got \['morris'\]"):
        rank_agreement(None, v, None)
    with pytest.raises(InternalError, match=r"top_k: must be a positive integer; got 0"):
        rank_agreement(v, v, None, top_k=0)
    with pytest.raises(InternalError, match=r"must have a 'param' dimension; got dims \('x',\)"):
        rank_agreement(v.rename(param="x"), v, None)
