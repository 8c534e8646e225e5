"""Read what the figures and the appendix need from a saved run directory.

Nothing here imports the model or SALib: a run directory's files, read through its
:class:`analysis.run.Run` record, are the only source. :func:`load_run` gathers them into
a :class:`RunData`; the helpers turn the tidy ``indices.csv`` into the frames each figure
and table wants.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from study.spec import Parameter

from .. import draws
from ..draws import iid_positions, read_selection, select_rows
from ..run import Run, read_run

__all__ = ["Factor", "RunData", "load_run", "INDEX_COLUMNS", "output_cells", "cell_title",
           "coord_label"]

# Columns of indices.csv that are not output dimensions (docs/architecture.md).
INDEX_COLUMNS = ("method", "output", "param", "index", "value", "conf", "conf_low",
                 "conf_high", "estimator", "conf_method", "influential", "rank", "converged",
                 "status")


#: One uncertain input as the appendix describes it: the study's own parameter, with its
#: label and group filled in by its name where the study file gives none.
Factor = Parameter


@dataclass
class RunData:
    """Everything a figure or table may draw on, read once from a run directory."""

    path: Path
    manifest: dict
    study: dict  # the run's study.toml as parsed TOML (Run.document)
    results: xr.Dataset  # the independent draws only (see load_run)
    indices: pd.DataFrame | None
    convergence: xr.Dataset | None
    factors: list[Factor]
    constants: dict = field(default_factory=dict)
    record: Run | None = None  # the run's record, for a stage that needs more of it
    n_draws: int | None = None  # the run's independent draws; results holds the first MAX_DRAWS
    # What a stage derived from these data and reuses, e.g. the appendix's reweighted
    # draws, which the English and each translated appendix tabulate alike.
    kept: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def shown(self) -> str:
        """``""``, or, when :attr:`results` holds only the first :data:`analysis.draws.MAX_DRAWS`
        of the run's independent draws, a clause saying so (for a caption)."""
        n = self.results.sizes.get("sample", 0)
        if self.n_draws is None or self.n_draws <= n:
            return ""
        return f" (the first {n:,} of the {self.n_draws:,} independent draws)"

    # -- naming ---------------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        """Parameter name -> label (the name when no label was given)."""
        return {f.name: f.label or f.name for f in self.factors}

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group -> member parameters, in file order."""
        out: dict[str, list[str]] = {}
        for f in self.factors:
            out.setdefault(f.group, []).append(f.name)
        return out

    def label(self, name: str) -> str:
        """Label of a parameter, group or output, falling back to a readable name.

        Outputs use their ``label`` (or ``long_name``) attribute, else a short
        ``description`` (one that fits an axis, and is not an indicator's "1 if ..."
        definition), else the name with spaces.
        """
        if name in self.labels:
            return self.labels[name]
        if name in self.results.data_vars:
            attrs = self.results[name].attrs
            # A long_name copied from the description (study.store.cf_attributes) is no label.
            long = attrs.get("long_name") if attrs.get("long_name") != attrs.get(
                "description") else None
            lab = attrs.get("label") or long
            desc = str(attrs.get("description") or "")
            if not lab and 0 < len(desc) <= 60 and not desc.startswith("1 if"):
                lab = desc
            if lab:
                return str(lab)
        s = str(name).replace("_", " ")
        return s[:1].upper() + s[1:]

    # -- study settings (the run's validated study: the probe checked these are outputs) ----
    @property
    def headline(self) -> list[str]:
        """Binary headline indicators (0/1 outputs)."""
        return list(self.record.study.analysis.headline)

    @property
    def key_output(self) -> str | None:
        """The output for the S2 heatmap and scatterplots: the study's, else the first."""
        if self.record.study.analysis.key_output:
            return self.record.study.analysis.key_output
        outs = self.outputs
        return outs[0] if outs else None

    @property
    def outputs(self) -> list[str]:
        """Model outputs in results.nc, in file order."""
        return [v for v, da in self.results.data_vars.items()
                if da.attrs.get("role") == "output"]

    @property
    def conf_level(self) -> float:
        return float(self.record.study.analysis.conf_level)

    # -- samples --------------------------------------------------------------------
    def independent(self) -> xr.Dataset:
        """Samples that are independent draws from the joint input distribution.

        In a Saltelli design only the A and B matrices are; the AB/BA blocks re-use their
        columns. Other designs (Latin, Morris) are returned whole. :func:`load_run` reads
        only these rows, so they are :attr:`results` itself.
        """
        return self.results

    # -- indices --------------------------------------------------------------------
    @property
    def dim_columns(self) -> list[str]:
        """Output-dimension columns of indices.csv (e.g. ``actor``, ``phase``)."""
        if self.indices is None:
            return []
        return [c for c in self.indices.columns if c not in INDEX_COLUMNS]

    def rows(self, method: str | None = None, index: str | tuple | None = None,
             output: str | None = None) -> pd.DataFrame:
        """Rows of indices.csv filtered by method, index (one or several) and output."""
        df = self.indices
        if df is None:
            return pd.DataFrame(columns=list(INDEX_COLUMNS))
        mask = np.ones(len(df), bool)
        if method is not None:
            mask &= (df["method"] == method).to_numpy()
        if index is not None:
            idx = (index,) if isinstance(index, str) else tuple(index)
            mask &= df["index"].isin(idx).to_numpy()
        if output is not None:
            mask &= (df["output"] == output).to_numpy()
        return df[mask]

    def has(self, method: str, index: str | None = None) -> bool:
        """Whether indices.csv holds rows for ``method`` (and ``index``)."""
        return len(self.rows(method, index)) > 0


def output_cells(df: pd.DataFrame, dims: list[str]) -> list[dict]:
    """Distinct output-dimension coordinates in ``df`` (``[{}]`` for scalar outputs)."""
    used = [d for d in dims if d in df and df[d].notna().any()]
    if not used or df.empty:
        return [{}]
    keys = df[used].drop_duplicates()
    return [{d: v for d, v in zip(used, r) if pd.notna(v)} for r in keys.itertuples(False)]


def independent_rows(ds: xr.Dataset, limit: int | None = None) -> xr.Dataset:
    """The independent draws of a run (see :mod:`analysis.draws`), each variable read on use;
    the first ``limit`` of them if given."""
    return select_rows(ds, iid_positions(ds, limit))


def select_cell(df: pd.DataFrame, cell: dict, dims: list[str]) -> pd.DataFrame:
    """Rows of ``df`` at output coordinates ``cell`` (other dims must be empty)."""
    mask = np.ones(len(df), bool)
    for d in dims:
        if d not in df:
            continue
        if d in cell:
            mask &= (df[d] == cell[d]).to_numpy()
        else:
            mask &= df[d].isna().to_numpy()
    return df[mask]


def cell_title(cell: dict) -> str:
    """Readable title for an output cell, e.g. ``europe, post``."""
    return ", ".join(coord_label(v) for v in cell.values())


def coord_label(value) -> str:
    """A coordinate value as a name: ``united_states`` -> ``United States``."""
    return " ".join(w[:1].upper() + w[1:] for w in str(value).split("_"))


def _factors(run: Run) -> list[Factor]:
    """The run's parameters, a missing label or group being the parameter's name."""
    return [replace(p, label=p.label or p.name, group=p.group or p.name) for p in run.study.parameters]


def _read_convergence(run: Run) -> xr.Dataset | None:
    """Convergence of the indices as ``<output>__ST`` / ``<output>__ST_conf`` on dim ``N``.

    Read from the variables ``<output>__convergence__<var>`` on dim ``n`` (base rows of
    each replicate design) in ``indices.nc``'s ``/sobol`` group, as ``analysis.sobol``
    writes them; ``N`` is the base sample size of each nested prefix, ``n`` times the
    run's replicates.
    """
    sobol = run.indices_group("sobol")
    if sobol is None:
        return None
    keep = {v: v.replace("__convergence__", "__") for v in sobol.data_vars
            if "__convergence__" in v}
    if not keep:
        return None
    conv = sobol[list(keep)].rename(keep)
    conv = conv.drop_dims([d for d in conv.dims if d not in
                           set().union(*(conv[v].dims for v in conv.data_vars))])
    return conv.assign_coords(n=conv["n"].values * run.study.sampling.replicates).rename(n="N")


def load_run(run) -> RunData:
    """Read a run directory for plotting and reporting.

    Parameters
    ----------
    run : str, Path or analysis.run.Run
        A run directory with at least ``manifest.json`` and ``results.nc``, or its record.

    Returns
    -------
    RunData

    Raises
    ------
    study.errors.RunError
        If the directory is not a run or has no ``results.nc``.
    """
    run = read_run(run)
    # Figures and tables use only the independent draws, at most MAX_DRAWS of them (a
    # balanced prefix, see analysis.draws): what they hold is then bounded at any N.
    with run.open_results() as lazy:
        keep = iid_positions(lazy)
        results = read_selection(lazy, keep[:draws.MAX_DRAWS])
    indices = run.indices()
    if indices is not None:
        indices["param"] = indices["param"].fillna("").astype(str)
    constants = {}
    for name, val in run.document.get("constants", {}).items():
        constants[name] = val if isinstance(val, dict) else {"value": val}
    conv = _read_convergence(run)
    return RunData(path=run.path.resolve(), manifest=run.manifest, study=run.document, results=results,
                   indices=indices, convergence=conv, factors=_factors(run), constants=constants,
                   record=run, n_draws=keep.size)


# -- which outputs each figure and table covers -----------------------------------------
def is_binary(da: xr.DataArray) -> bool:
    """Whether an output only takes the values 0 and 1 (a headline indicator)."""
    v = np.asarray(da.values)
    v = v[np.isfinite(v)] if v.dtype.kind == "f" else v
    return v.size > 0 and bool(np.isin(v, (0, 1)).all())


def analysed_outputs(data: RunData, limit: int = 8) -> list[str]:
    """Outputs whose indices are plotted and tabulated: headline indicators, then the key
    output, then (if those are absent from indices.csv) every output with Sobol rows."""
    have = set(data.rows("sobol", ("S1", "ST"))["output"])
    wanted = [o for o in [*data.headline, data.key_output] if o in have]
    if not wanted:
        wanted = [o for o in dict.fromkeys(data.rows("sobol", "ST")["output"])]
    return list(dict.fromkeys(wanted))[:limit]


def distribution_outputs(data: RunData, limit: int = 6) -> list[str]:
    """Continuous outputs whose distribution is shown.

    Phased outputs (drawn before against after) that the study analyses, directly or
    through their change ``delta_<name>``; then the key output; then, if nothing else,
    every continuous output. Per-term breakdowns go to the decomposition instead.
    """
    ds = data.results
    cont = [o for o in data.outputs if "term" not in ds[o].dims and not is_binary(ds[o])]
    wanted = set(data.study.get("analysis", {}).get("outputs", []))
    phased = [o for o in cont if "phase" in ds[o].dims
              and (not wanted or o in wanted or f"delta_{o}" in wanted)]
    key = [data.key_output] if data.key_output in cont else []
    chosen = list(dict.fromkeys(phased + key))
    return (chosen or cont)[:limit]


def term_outputs(data: RunData) -> list[str]:
    """Outputs holding per-term contributions (a ``term`` dimension)."""
    return [o for o in data.outputs if "term" in data.results[o].dims]


def key_cell(data: RunData, output: str) -> dict:
    """Coordinates of ``output`` used for the scatterplots and the S2 heatmap.

    A scalar output gives ``{}``. For an output with extra dimensions the cell with the
    largest variance over independent draws is taken, because that is where the
    decomposition has the most to explain.
    """
    da = data.independent()[output]
    extra = [d for d in da.dims if d != "sample"]
    if not extra:
        return {}
    var = da.var("sample").stack(_cell=extra)
    best = var["_cell"].values[int(np.nanargmax(var.values))]
    best = best if isinstance(best, tuple) else (best,)
    return {d: (v.item() if hasattr(v, "item") else v) for d, v in zip(extra, best)}
