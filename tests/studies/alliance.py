"""A small alliance model shaped like the flagship, for the figure and appendix tests.

Three actors weigh a net benefit before and after a shock as a sum of named terms, so the
run has an output with extra dimensions (``net_benefit``: actor × phase), a per-term
breakdown (``terms``, for the decomposition figure), a 0/1 headline (``europe_flip``:
Europe's net benefit turns from negative to positive) and a scalar key output
(``delta_nb_europe``). Europe's "other" term moves from −0.3 to the constant
``europe_other_post`` (0 in the study file), so that the headline holds in about 30% of
draws: common enough for reliable Sobol' indices at N = 128, close enough to 50% for a
centre shift of ``commitment`` to reverse it, too far for ``autonomy`` (which acts on
both phases) to.
"""

import numpy as np
import xarray as xr

ACTORS = ["united_states", "europe", "asia_pacific"]
PHASES = ["pre", "post"]
TERMS = ["commitment", "autonomy", "china", "russia", "other"]
#: Europe's dependence on the United States before the shock.
D0 = 0.45


def evaluate(x: xr.Dataset) -> xr.Dataset:
    c, a, shift, china, russia = (x[k].values for k in (
        "commitment", "autonomy", "dependence_shift", "china_options", "russia_capacity"))
    t = np.zeros((c.size, len(ACTORS), len(PHASES), len(TERMS)))
    us, eu, ap = range(3)
    t[:, eu, 0, 0] = c * D0
    t[:, eu, 1, 0] = c * (D0 + shift * (1 - D0))
    t[:, eu, :, 1] = -a[:, None]
    t[:, eu, 1, 2] = -china
    t[:, eu, 0, 4] = -0.3
    t[:, eu, 1, 4] = x["europe_other_post"].values
    t[:, ap, 0, 3] = -0.5
    t[:, ap, 1, 3] = -0.5 * russia
    t[:, ap, :, 4] = 0.3
    t[:, us, :, 0] = 0.5 * t[:, eu, :, 0]  # the United States follow Europe's acceptance
    t[:, us, 1, 2] = -0.5 * china
    t[:, us, :, 4] = 0.05
    nb = t.sum(axis=-1)
    flip = ((nb[:, eu, 0] < 0) & (nb[:, eu, 1] > 0)).astype(float)
    coords = {"sample": x["sample"], "actor": ACTORS, "phase": PHASES, "term": TERMS}
    return xr.Dataset({
        "terms": (("sample", "actor", "phase", "term"), t, {"label": "Net-benefit term"}),
        "net_benefit": (("sample", "actor", "phase"), nb, {"label": "Net benefit"}),
        "europe_flip": ("sample", flip, {"label": "Europe: not worth it → worth a try"}),
        "delta_nb_europe": ("sample", nb[:, eu, 1] - nb[:, eu, 0],
                            {"label": "Change in Europe's net benefit"}),
    }, coords=coords)
