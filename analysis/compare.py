"""Runs of one model under different study files, side by side.

Each study file of a model is one specification: a structural variant (a switch or an
extension parameter), or the same assumptions with declared rank correlations.
:func:`compare` puts their headline probabilities, with intervals, and their top drivers
into one table; :func:`plot_compare` draws it in the manner of a specification curve
(Simonsohn, Simmons & Nelson 2020): the estimates on top, sorted, and below them which
inputs drive each one.

References
----------
Simonsohn, U., Simmons, J. P., & Nelson, L. D. (2020). Specification curve analysis.
Nature Human Behaviour, 4, 1208-1214. https://doi.org/10.1038/s41562-020-0912-z
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from study.errors import RunError, StudyError
from study.store import write_atomic

from . import METHODS
from .draws import BLOCK_BYTES
from .methods import ranking
from .proportion import share_holds
from .run import Run, read_run
from .textsafe import mathtext_escape, write_csv

TOP = 3
COLUMNS = ("run", "study", "variant", "model", "design", "correlations", "output", "output_label", "n",
           "holds", "p_holds", "ci_low", "ci_high", "conf_level", "ci_method", "drivers_index",
           *(f"driver_{i}{s}" for i in range(1, TOP + 1) for s in ("", "_label", "_value")))


def _correlations(study) -> str:
    return "; ".join(f"{c.params[0]}~{c.params[1]} {c.rank:+.2g}" for c in study.correlations) or "none"


#: The columns of ``indices.csv`` that :func:`_drivers` reads.
_DRIVER_COLUMNS = ["method", "output", "param", "index", "value"]


def _ranking_rows(run: Run):
    """The rows of ``run``'s ``indices.csv`` that can rank drivers (the ranking index of
    each method computed on the draws), or None before the analysis.

    Read once per run, five columns of them: the flagship's file has 6,600 rows of 15
    columns, and reading it whole once per headline output was half of :func:`compare`'s time.
    """
    df = run.indices(keep_default_na=False, na_values=[""], usecols=_DRIVER_COLUMNS)
    if df is None:
        return None
    wanted = {(m.name, m.rank_index) for m in ranking(METHODS, on_draws=True)}
    return df[[(m, i) in wanted for m, i in zip(df["method"], df["index"])]]


def _drivers(df, output: str, labels: dict) -> dict:
    """Top drivers of `output` by total-order index, or by delta where Sobol is absent.

    ``df`` is :func:`_ranking_rows` of the run (None before its analysis).
    """
    out = {"drivers_index": ""}
    if df is None:
        return out
    df = df[df["output"] == output]
    # Methods computed on the draws, in registry order: Sobol' first, delta where it is absent.
    for method, index in ((m.name, m.rank_index) for m in ranking(METHODS, on_draws=True)):
        sel = df[(df["method"] == method) & (df["index"] == index)].sort_values("value", ascending=False)
        if len(sel):
            out["drivers_index"] = index
            for i, (param, value) in enumerate(zip(sel["param"].iloc[:TOP], sel["value"].iloc[:TOP]), start=1):
                out |= {f"driver_{i}": param, f"driver_{i}_label": labels.get(param, param),
                        f"driver_{i}_value": float(value)}
            break
    return out


def _run_rows(run: Run, conf_level: float) -> tuple[str, list[dict]]:
    run_dir, study = run.path, run.study
    with _results(run) as nc:
        attrs = {k: nc.getncattr(k) for k in nc.ncattrs()}
        model = (run.manifest.get("model") or {}).get("ref") or attrs.get("model") or study.model
        headline = json.loads(attrs.get("headline", "[]")) or list(study.analysis.headline)
        if not headline:
            raise RunError(run_dir, "analysis.headline", "must name at least one 0/1 output to compare; got none")
        for name in headline:
            if name not in nc.variables or nc.variables[name].dimensions != ("sample",):
                raise RunError(run_dir, "analysis.headline", f"must name 0/1 outputs along 'sample'; got {name!r}")
        outputs = [nc.variables[name] for name in headline]
        coords = _coordinates(outputs)
        keep = _iid_rows(nc, attrs, coords)
        replicate = _rows(nc.variables["replicate"], keep) if "replicate" in coords else None
        base = {"run": f"{run_dir.parent.name}/{run_dir.name}", "study": study.name,
                "variant": study.description, "model": model,
                "design": attrs.get("design", ""), "correlations": _correlations(study)}
        rows, ranked = [], _ranking_rows(run)
        for name, var in zip(headline, outputs):
            y = _rows(var, keep)
            if not np.all(np.isin(y, (0, 1))):
                raise RunError(run_dir, "analysis.headline", f"must name 0/1 outputs; {name!r} has the value "
                               f"{y[~np.isin(y, (0, 1))][0]!r}")
            p, _, lo, hi, how = share_holds(y == 1, replicate, conf_level)
            rows.append({**base, "output": name, "output_label": _attr(var, "label") or name,
                         "n": int(y.size), "holds": int((y == 1).sum()), "p_holds": p, "ci_low": lo,
                         "ci_high": hi, "conf_level": conf_level, "ci_method": how,
                         **_drivers(ranked, name, _InputLabels(nc))})
    return model, rows


#: netCDF-C's chunk cache for each variable read here (as the results are opened for the
#: analysis): its default, up to 64 MiB a variable, would be kept until the file closes.
_CHUNK_CACHE_BYTES = 4 << 20


@contextmanager
def _results(run: Run):
    """The run's main results file, opened with netCDF4 to read the little compare needs.

    That is the file's attributes, the headline outputs with their labels, the rows that
    count (``matrix``, ``status``), the replicates, and the labels of the top drivers.
    Opened as a Dataset (:meth:`analysis.run.Run.open_results`), the file's every variable
    (72 in the flagship) would be decoded and its index coordinates read (``sample``,
    ``term``): measured on the old flagship's variants, a variant's rows took 54-61 ms of
    CPU that way against 28-32 ms this way. The file was verified when the record was read
    (:func:`analysis.run.read_run`); a missing or unreadable one is reported by the
    record's own opening, in one line.
    """
    import netCDF4

    try:
        nc = netCDF4.Dataset(run.file("results.nc"))
    except OSError:
        run.open_results().close()  # raises the RunError that says what is wrong
        raise
    try:
        nc.set_always_mask(False)  # a plain array unless a value is missing, as xarray reads it
        yield nc
    finally:
        nc.close()


def _attr(var, name: str, default=None):
    return var.getncattr(name) if name in var.ncattrs() else default


def _coordinates(outputs) -> set[str]:
    """The coordinates of the headline outputs (``matrix``, ``replicate``, ...), as xarray
    would find them: the variables their ``coordinates`` attributes name."""
    return {c for var in outputs for c in str(_attr(var, "coordinates", "")).split()}


def _iid_rows(nc, attrs: dict, coords: set[str]) -> np.ndarray:
    """Boolean mask along ``sample`` of the independent, successfully evaluated draws.

    The rows :func:`analysis.draws.iid_rows` keeps (the A and B matrices of a Saltelli
    design, the evaluations whose ``status`` is 0), read from the netCDF file.
    """
    keep = np.ones(len(nc.dimensions["sample"]), bool)
    if "matrix_labels" in attrs and "matrix" in coords:
        labels = json.loads(attrs["matrix_labels"])
        keep &= np.isin(_rows(nc.variables["matrix"]), [labels.index(m) for m in ("A", "B")])
    if "status" in nc.variables:
        keep &= _rows(nc.variables["status"]) == 0
    return keep


def _rows(var, keep: np.ndarray | None = None) -> np.ndarray:
    """A variable along ``sample``, decoded, at the rows ``keep`` marks (every row without it).

    Read a block of rows at a time (:data:`analysis.draws.BLOCK_BYTES`), so that a large
    run's column is never held whole before it is filtered. Missing values are NaN, as
    xarray decodes them.
    """
    var.set_var_chunk_cache(size=_CHUNK_CACHE_BYTES)
    n = var.shape[0]
    step = max(1, BLOCK_BYTES // var.dtype.itemsize)
    parts = []
    for start in range(0, n, step):
        block = var[start:start + step]
        if np.ma.isMaskedArray(block):
            block = np.ma.filled(block.astype(float), np.nan)
        parts.append(block if keep is None else block[keep[start:start + step]])
    return np.concatenate(parts) if parts else np.empty(0, var.dtype)


class _InputLabels:
    """``labels.get(param, param)`` over the inputs of an open results file, reading the
    attributes of the variables asked about only (a run's top drivers, not its 72)."""

    def __init__(self, nc):
        self.nc = nc

    def get(self, param: str, default: str) -> str:
        var = self.nc.variables.get(param)
        if var is None or _attr(var, "role") != "input":
            return default
        return _attr(var, "label") or param


def _model_code(run: Run) -> tuple:
    """The model's recorded hash and those of the sources it loaded (empty if unrecorded)."""
    model = run.manifest.get("model") or {}
    return model.get("sha256"), tuple(sorted((model.get("sources") or {}).items()))


def compare(run_dirs, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Headline probabilities and top drivers of several runs of one model.

    Parameters
    ----------
    run_dirs : sequence of path or analysis.run.Run
        Run directories (``results.nc``, ``manifest.json``, ``study.toml``; ``indices.csv``
        if the run was analysed), or their records.
    conf_level : float
        Level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per run and headline output, in the order given, with the columns of
        :data:`COLUMNS`: ``p_holds = holds / n`` over the i.i.d.-like rows (the A and B
        matrices of a Saltelli design, every row otherwise; failed evaluations left out),
        its interval (:func:`analysis.proportion.share_holds`: a Student-t interval across
        replicate designs when the run has them, a Wilson interval otherwise; named in
        ``ci_method``, the same numbers as the run's ``indices.csv``), and the top three inputs by total-order index (``ST``) from
        ``indices.csv``, or by delta for designs without Sobol indices.

    Raises
    ------
    StudyError
        If fewer than two runs are given or the runs are of different models.
    """
    run_dirs = list(run_dirs)
    if len(run_dirs) < 2:
        raise StudyError("study compare", "RUN_DIR", f"must be two or more run directories; got {len(run_dirs)}")
    models, code, rows = {}, {}, []
    for run in map(read_run, run_dirs):
        model, r = _run_rows(run, conf_level)
        models.setdefault(model, run.path)
        code.setdefault(_model_code(run), run.path)
        rows += r
    if len(models) > 1:
        seen = ", ".join(f"{m!r} ({d})" for m, d in models.items())
        raise StudyError("study compare", "RUN_DIR", f"must all be runs of the same model; got {seen}")
    if len(code) > 1:  # one module:function whose code (or a helper module) differs between runs
        if len({c[0] for c in code}) > 1:
            seen = ", ".join(f"model sha256 {c[0]} ({d})" for c, d in code.items())
        else:
            seen = "one model file but different modules it imports: " + ", ".join(
                f"{dict(c[1])} ({d})" for c, d in code.items())
        raise StudyError("study compare", "RUN_DIR", f"must all be runs of the same model code; got "
                         f"{next(iter(models))!r} with {seen}")
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def _short_names(names) -> list[str]:
    """Study names without the prefix they share (``flagship_kim`` -> ``kim``); a name
    that is the prefix itself (the baseline study) stays whole."""
    names = [str(n) for n in names]
    if len(set(names)) < 2:
        return names
    prefix = os.path.commonprefix(names)
    base = prefix if prefix in names else prefix[: prefix.rfind("_") + 1].rstrip("_")
    if not base or not all(n == base or n.startswith(base + "_") for n in names):
        return names
    return [n if n == base else n[len(base) + 1:] for n in names]


def _driver_rows(sub: pd.DataFrame) -> list[str]:
    """Driver labels ordered by mean rank over the runs (absent = TOP + 1), then by name."""
    ranks = {}
    for i in range(1, TOP + 1):
        for lab in sub[f"driver_{i}_label"].dropna():
            ranks.setdefault(lab, []).append(i)
    mean = {lab: (sum(r) + (TOP + 1) * (len(sub) - len(r))) / len(sub) for lab, r in ranks.items()}
    return sorted(mean, key=lambda lab: (mean[lab], lab))


PAGE_WIDTH = 6.5  # inches: the text width of a letter or A4 page, the widest a journal prints


def run_labels(df: pd.DataFrame) -> dict[str, str]:
    """A reader's name for each run: ``Main run`` for the first one given, the others from
    their study names without the shared prefix (``kim_penalty`` -> ``Kim penalty``)."""
    runs = list(dict.fromkeys(df["run"]))
    study = dict(zip(df["run"], df["study"]))
    short = dict(zip(runs, _short_names([study[r] for r in runs])))
    out = {}
    for k, r in enumerate(runs):
        words = short[r].replace("_", " ")
        out[r] = "Main run" if k == 0 else words[:1].upper() + words[1:]
    return out


def plot_compare(df: pd.DataFrame):
    """Specification-curve figure of a :func:`compare` table, at most a page wide.

    One column per headline output. Top: P(holds) with its interval per run, sorted; the
    main run (the first given) is a larger diamond. Bottom: one row per input that is a
    top driver anywhere, a marker coloured by rank where it is one of the run's top
    drivers; runs ranked by delta instead of the total-order index are marked ``[δ]``.
    Runs are named by :func:`run_labels`; the main run's number of draws N is in the axis
    label, and a run with another N carries its own after its name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .figures.style import PALETTE, figure, style

    outputs = list(dict.fromkeys(df["output"]))
    rows = _driver_rows(df)  # one driver axis for every output, so the rows line up
    main = df["run"].iloc[0]
    names = run_labels(df)
    base_n = int(df.loc[df["run"] == main, "n"].iloc[0])
    with style():
        # A little under the page: the saved box takes in the note under the axes.
        fig, axes = figure(PAGE_WIDTH - 0.1, 2.6 + 0.16 * len(rows), 2, len(outputs), sharex="col",
                           sharey="row", gridspec_kw={"height_ratios": [3, max(1.0, 0.3 * len(rows))]})
        axes = np.asarray(axes).reshape(2, len(outputs))
        for c, o in enumerate(outputs):
            _compare_column(df[df["output"] == o], axes[0, c], axes[1, c], rows, main, names,
                            base_n, PALETTE)
        level = f"{df['conf_level'].iloc[0]:.0%}"
        axes[0, 0].set_ylabel(f"P(holds), {level} interval\nN = {base_n} draws"
                              + ("" if df["n"].nunique() == 1 else " unless marked"))
        axes[1, 0].set_yticks(range(len(rows)), [mathtext_escape(r) for r in rows])
        axes[1, 0].set_ylim(len(rows) - 0.5, -0.5)
        idx = ", ".join(sorted(set(df["drivers_index"].dropna()) - {""})) or "none"
        axes[1, 0].set_ylabel(f"Top drivers ({idx})")
        handles, labels = axes[1, 0].get_legend_handles_labels()
        top_h, top_l = axes[0, 0].get_legend_handles_labels()
        fig.legend(top_h + handles, top_l + labels, loc="outside upper center", frameon=False,
                   ncols=len(handles) + len(top_h))
        fig.text(0.01, 0.0, interval_note(df), fontsize=6, ha="left", va="top", wrap=True)
    return fig


def _compare_column(sub: pd.DataFrame, top, bottom, rows: list[str], main: str,
                    names: dict[str, str], base_n: int, palette) -> None:
    """One headline output: its probabilities (top) and its runs' drivers (bottom)."""
    sub = sub.sort_values("p_holds", kind="stable").reset_index(drop=True)
    x = np.arange(len(sub))
    p = sub["p_holds"].to_numpy(float)
    is_main = (sub["run"] == main).to_numpy()
    err = np.vstack([p - sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float) - p])
    top.errorbar(x, p, yerr=err, fmt="o", ms=3.5, color="0.15", ecolor="0.45", capsize=2,
                 lw=0.8)
    top.plot(x[is_main], p[is_main], ls="", marker="D", ms=6, mfc="none", mec=palette[0],
             mew=1.2, label="Main run")
    top.set_ylim(-0.02, 1.02)
    top.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    top.set_title(mathtext_escape(sub["output_label"].iloc[0]))
    top.grid(axis="y", alpha=0.3, lw=0.5)
    for i in range(1, TOP + 1):
        lab = sub[f"driver_{i}_label"]
        has = lab.notna().to_numpy()
        bottom.scatter(x[has], [rows.index(v) for v in lab[has]], s=22, color=palette[i - 1],
                       label=f"Rank {i}", zorder=3, lw=0)
    # Drivers ranked by a fallback method (delta: no Sobol indices, e.g. a correlated study)
    # are marked with its label: the registry's methods on the draws after the first.
    marks = {m.rank_index: f" [{m.label}]" for m in ranking(METHODS, on_draws=True)[1:]}
    ticks = [names[r] + marks.get(i, "") + ("" if n == base_n else f" (N = {int(n)})")
             for r, i, n in zip(sub["run"], sub["drivers_index"], sub["n"])]
    bottom.set_xticks(x, [mathtext_escape(t) for t in ticks], rotation=40, ha="right",
                      rotation_mode="anchor")
    for t, m in zip(bottom.get_xticklabels(), is_main):
        t.set_fontweight("bold" if m else "normal")
    bottom.set_xlim(-0.5, len(sub) - 0.5)
    bottom.grid(alpha=0.3, lw=0.5)


def interval_note(df: pd.DataFrame) -> str:
    """Which interval each run's probability carries, for the figure's foot."""
    labels = run_labels(df)
    names = {s: labels[r] for r, s in zip(df["run"], df["study"])}
    by_method = df.drop_duplicates("study").groupby("ci_method", sort=False)["study"]
    if by_method.ngroups == 1:
        return f"Intervals: {df['ci_method'].iloc[0]}."
    parts = [f"{method} ({', '.join(names[s] for s in studies)})" for method, studies in by_method]
    return "Intervals: " + "; ".join(parts) + "."


def _save(fig, out_dir: Path) -> None:
    """Write ``compare.pdf`` and a 300-dpi ``compare.png`` of :func:`plot_compare`'s figure.

    Saved in the style (TrueType fonts), with the tight box: it only takes in the interval
    note under the legend, so the figure stays within :data:`PAGE_WIDTH`. As the run's
    figures (:func:`analysis.figures.style.save`), the PDF has no creation date (the same
    runs give the same bytes) and the PNG is compressed at zlib level 3 (the same pixels,
    less time compressing them); the draws are cut as :func:`_measured_by_layout` says.
    """
    from .figures.style import DPI, quiet_fonts, style

    with style(), quiet_fonts(), _measured_by_layout(fig):
        fig.savefig(out_dir / "compare.pdf", dpi=DPI, bbox_inches="tight", pad_inches=0.03,
                    metadata={"CreationDate": None, "Creator": "mcsens"})
        fig.savefig(out_dir / "compare.png", dpi=DPI, bbox_inches="tight", pad_inches=0.03,
                    pil_kwargs={"compress_level": 3})


@contextmanager
def _measured_by_layout(fig):
    """Within the block, ``savefig``'s measuring draw of ``fig`` only lays it out.

    A tight box is measured on the figure laid out, so ``savefig(bbox_inches="tight")``
    draws each file twice: a measuring draw (the layout, then every artist with drawing
    disabled), then the tight box, then the writing draw. The run's figures lay out in
    the writing draw instead (:func:`analysis.figures.style.save`); here that would lay
    the figure out again inside the tight box (measured: other bytes, other pixels). So
    the layout stays in the measuring draw, measuring with that draw's renderer (the
    format's, at its dpi), as the writing draw's layout does for the run's figures, and
    the artists are not drawn there: the tight box measures them itself. The files are
    byte for byte those of the two draws (the PNG pixel for pixel; see the tests) for
    about 15% less CPU. The measuring draw is the one with the layout engine still on the
    figure: ``savefig`` takes it off for the writing draw.
    """
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    engine = fig.get_layout_engine()
    if engine is None or isinstance(engine, PlaceHolderLayoutEngine):
        yield  # nothing to lay out: savefig's draws are left as they are
        return

    def draw(renderer):
        if fig.get_layout_engine() is not engine:  # the writing draw
            type(fig).draw(fig, renderer)
            return
        fig._get_renderer = lambda: renderer  # the engine measures with it
        try:
            engine.execute(fig)
        finally:
            del fig._get_renderer

    fig.draw = draw  # an instance attribute over the class's method, deleted below
    try:
        yield
    finally:
        del fig.draw


def main_compare(run_dirs, out_dir) -> Path:
    """``study compare``: write ``compare.csv`` and ``compare.pdf``/``.png`` to `out_dir`.

    Returns
    -------
    pathlib.Path
        `out_dir`, created if needed.

    Raises
    ------
    RunError
        If `out_dir` already holds a ``compare.csv`` (outputs are never overwritten).
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    if (out_dir / "compare.csv").exists():
        raise RunError(out_dir, "", "already holds compare.csv; choose another output directory")
    df = compare(run_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = plot_compare(df)
    _save(fig, out_dir)
    plt.close(fig)
    write_atomic(out_dir / "compare.csv", lambda tmp: write_csv(df, tmp))
    return out_dir
