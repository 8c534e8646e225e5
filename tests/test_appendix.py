"""The robustness appendix: files, numbers generated from the run, safe text, and a real
TeX compile whose PDF text is checked with pdftotext."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.appendix import build_appendix, headline_sentences
from analysis.figures import load_run
from analysis.textsafe import latex_escape, markdown_escape
from study.errors import StudyError
from tests.helpers import (ALLIANCE, CHINESE, HOSTILE, ROOT, copy_run, need, parameter_labels,
                           write_study)

LABELS = parameter_labels(ALLIANCE)


@pytest.fixture(scope="module")
def run(alliance_appendix):
    return alliance_appendix


def _expected_headline(run: Path) -> str:
    """The headline sentence, rebuilt here from indices.csv with no appendix code."""
    df = pd.read_csv(run / "indices.csv")
    p = df[df["index"] == "P"].iloc[0]
    st = df[(df["output"] == "europe_flip") & (df["index"] == "ST")]
    st = st[st["influential"].astype(str) == "True"].sort_values("value", ascending=False)
    drivers = [f"{LABELS[r.param]} ({r.value:.2f})" for r in st.head(3).itertuples()]
    body = ", ".join(drivers[:-1]) + " and " + drivers[-1]
    return (f"“Europe: not worth it → worth a try” holds in {100 * p.value:.0f}% of draws "
            f"(95% interval {100 * p.conf_low:.0f}–{100 * p.conf_high:.0f}%); its total-order "
            f"variance is driven mainly by {body}.")


def test_files_are_written(run):
    app = run / "appendix"
    for name in ("appendix.tex", "appendix-body.tex", "appendix.md"):
        assert (app / name).is_file()
    tex = sorted(p.stem for p in (app / "tables").glob("*.tex"))
    csv = sorted(p.stem for p in (app / "tables").glob("*.csv"))
    assert tex == csv
    assert {"factors", "design", "headline", "indices-europe_flip", "grouped-europe_flip",
            "convergence", "triangulation", "run-record"} <= set(tex)
    for t in tex:
        text = (app / "tables" / f"{t}.tex").read_text(encoding="utf-8")
        assert r"\toprule" in text and r"\bottomrule" in text


def test_standalone_wrapper_inputs_the_body(run):
    app = run / "appendix"
    wrapper = (app / "appendix.tex").read_text(encoding="utf-8")
    body = (app / "appendix-body.tex").read_text(encoding="utf-8")
    assert r"\documentclass" in wrapper and r"\input{appendix-body}" in wrapper
    assert r"\documentclass" not in body and r"\begin{document}" not in body
    assert r"%   \input{path/to/run/appendix/appendix-body}" in body
    assert r"\providecommand{\studyrundir}{}" in body
    # Chinese sources: the standalone file insists on XeTeX and loads xeCJK.
    assert r"\RequireXeTeX" in wrapper and r"\usepackage{xeCJK}" in wrapper


def test_headline_sentence_is_generated_from_the_data(run):
    want = _expected_headline(run)
    assert headline_sentences(load_run(run)) == [want]
    body = (run / "appendix" / "appendix-body.tex").read_text(encoding="utf-8")
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert latex_escape(want) in body
    assert markdown_escape(want) in md


def test_index_table_csv_equals_indices_csv(run):
    table = pd.read_csv(run / "appendix" / "tables" / "indices-delta_nb_europe.csv")
    src = pd.read_csv(run / "indices.csv")
    src = src[(src["output"] == "delta_nb_europe") & (src["method"] == "sobol")]
    for idx in ("S1", "ST"):
        want = src[src["index"] == idx].set_index("param")["value"]
        got = table.set_index("param")[idx]
        pd.testing.assert_series_equal(got.loc[want.index], want, check_names=False)
    st = src[src["index"] == "ST"].set_index("param")
    assert table.set_index("param")["influential"].to_dict() == (
        st["influential"].astype(str) == "True").to_dict()


def test_convergence_table_is_on_the_base_sample_size(run):
    import xarray as xr

    table = pd.read_csv(run / "appendix" / "tables" / "convergence.csv")
    conv = xr.load_dataset(run / "indices.nc", group="sobol")
    for out in ("europe_flip", "delta_nb_europe"):
        rows = table[table["output"] == out]
        # indices.nc: 16 and 32 base rows of each of the 4 replicate designs (N = 128).
        assert list(rows["N"]) == [64, 128]
        widest = conv[f"{out}__convergence__ST_conf"].max("param").values
        np.testing.assert_allclose(rows["max_half_width"], widest)


def test_factor_table_lists_every_parameter_with_its_source(run):
    f = pd.read_csv(run / "appendix" / "tables" / "factors.csv", keep_default_na=False)
    assert list(f["name"]) == list(LABELS)
    assert f.set_index("name").loc["russia_capacity", "source"] == f"§3.2.1 ({CHINESE} …)"
    assert f.set_index("name").loc["autonomy", "description"] == HOSTILE
    assert f.set_index("name").loc["china_options", "args"] == "mean 0.15, sd 0.05, low 0, high 0.4"


def test_hostile_text_is_escaped_in_every_format(run):
    app = run / "appendix"
    body = (app / "appendix-body.tex").read_text(encoding="utf-8")
    md = (app / "appendix.md").read_text(encoding="utf-8")
    assert latex_escape(HOSTILE) in body
    assert r"\input{/etc" not in body and r"\write18{" not in body
    assert markdown_escape(HOSTILE) in md


@pytest.fixture
def no_figures(monkeypatch):
    """Skip drawing figures where a test is about the text only (saves ~10 s each)."""
    import analysis.appendix as appendix

    monkeypatch.setattr(appendix, "_main_figures", lambda data: [])


def test_absent_data_give_one_line_notes(latin_run, tmp_path, no_figures):
    run = copy_run(latin_run, tmp_path)
    md = (Path(build_appendix(run)).parent / "appendix.md").read_text(encoding="utf-8")
    for note in ("No convergence data in this run (indices.nc has no convergence of Sobol' indices)",
                 "Only one sensitivity method in this run", "No scenario discovery in this run",
                 "No model variants were compared"):
        assert markdown_escape(note) in md
    assert not (run / "appendix" / "tables" / "triangulation.csv").exists()


def test_scenarios_are_reported_as_scenario_discovery_wrote_them(run):
    boxes = pd.read_csv(run / "scenarios.csv", keep_default_na=False).query("kind == 'chosen'")
    assert set(boxes["output"]) == {"europe_flip"} and len(boxes)
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    first = boxes.iloc[0]
    assert (f"box {first.box}: coverage {100 * first.coverage:.0f}%, density {100 * first.density:.0f}%, "
            f"mass {100 * first.mass:.0f}%, {first.n_restricted} inputs restricted.") in md
    for r in boxes[boxes["param"] != ""].itertuples():  # numbers unescaped, – for no bound
        bounds = [_num(r.low), _num(r.high), _num(r.qp_value)]
        assert f"| europe_flip | {r.box} | {LABELS[r.param]} | {' | '.join(bounds)} |" in md


def _num(value) -> str:
    """A table's number: three decimals with a true minus sign, – where the CSV has none."""
    return "–" if value == "" else f"{float(value):.3f}".replace("-", "\u2212")


# ---------------------------------------------------------------------------------------
# Escaping points of the renderers (the whole hostile run is in test_escapes.py).
def test_table_and_figure_names_become_slugs_in_labels_files_and_links():
    from analysis.appendix.blocks import Fig, Table, table_latex, to_latex, to_markdown
    from analysis.textsafe import slug

    bad = r"indices-}\input{x}\label{a/../b"
    t = Table(bad, "cap", ["A"], [["[0.1, 0.2]"], ["*x"]], pd.DataFrame({"a": [1]}))
    tex = table_latex(t, "p-")
    assert rf"\label{{tab:p-{slug(bad, limit=200)}}}" in tex
    assert r"\input" not in tex
    # A cell starting with [ or * after \\ would be \\'s optional argument or star.
    assert "\n{}[0.1, 0.2] \\\\\n{}*x \\\\" in tex
    f = Fig("a/../b", "cap")
    assert rf"figures/{slug('a/../b', limit=200)}.pdf}}" in to_latex([f], prefix="p-")
    assert f"(../figures/{slug('a/../b', limit=200)}.png)" in to_markdown([f])


def test_appendix_tables_with_colliding_names_get_distinct_files(latin_run, tmp_path, no_figures,
                                                                  monkeypatch):
    import analysis.appendix as appendix
    from analysis.appendix.blocks import Table

    extra = [Table(n, "c", ["A"], [["1"]], pd.DataFrame({"a": ["=1+1"]}))
             for n in ("dup", "dup", "DUP")]
    real = appendix.audit
    monkeypatch.setattr(appendix, "audit", lambda data: real(data) + extra)
    run = copy_run(latin_run, tmp_path)
    build_appendix(run)
    tables = run / "appendix" / "tables"
    dups = sorted(p.name for p in tables.glob("*.csv") if p.name.lower().startswith("dup"))
    assert len(dups) == 3 and len({d.casefold() for d in dups}) == 3
    assert (tables / "dup.csv").read_text() == "a\n'=1+1\n"


def test_a_study_name_edited_into_markdown_or_tex_is_refused_when_the_run_is_read(latin_run, tmp_path,
                                                                                   no_figures):
    # The appendix reads the run's validated study (analysis.run.read_run): a name that
    # could start a Markdown heading or leave a TeX comment never reaches it.
    run = copy_run(latin_run, tmp_path)
    path = run / "study.toml"
    study = path.read_text(encoding="utf-8")
    path.chmod(0o644)  # the run stores it read-only
    path.write_text(study.replace('name = "latin_delta"', 'name = "s #\\n\\\\input{x} #"'),
                    encoding="utf-8")
    with pytest.raises(StudyError, match=r"study\.toml: study\.name: must be a plain name of 1 to 64 characters"):
        build_appendix(run)
    assert not (run / "appendix" / "appendix.tex").exists()


def _documents(appdir: Path) -> dict[str, bytes]:
    """Every text file of an appendix folder (documents and tables), by relative path."""
    return {str(p.relative_to(appdir)): p.read_bytes() for p in sorted(appdir.rglob("*"))
            if p.suffix in (".tex", ".md", ".csv")}


def test_figures_ready_is_awaited_once_before_any_figure_is_read(run, tmp_path, monkeypatch):
    # study run builds the appendix while other processes still save the figures: until
    # figures_ready returns, the figures are not on disk here (moved aside), and none may
    # be read or drawn; the documents are those of an appendix built on the figures.
    import shutil

    from analysis.figures import figure_specs
    from analysis.run import Run

    copy = copy_run(run, tmp_path)
    want = _documents(copy / "appendix")
    shutil.rmtree(copy / "appendix")
    names = [s.name for s in figure_specs(load_run(copy))]
    aside = tmp_path / "saving"
    aside.mkdir()
    for n in names:
        for ext in (".pdf", ".png"):
            (copy / "figures" / f"{n}{ext}").rename(aside / f"{n}{ext}")
    events, real = [], Run.image_size
    monkeypatch.setattr(Run, "image_size", lambda self, name: events.append(name) or real(self, name))

    def ready():
        events.append("ready")
        assert not any((copy / "figures" / f"{n}.png").exists() for n in names)  # none drawn meanwhile
        for f in aside.iterdir():
            f.rename(copy / "figures" / f.name)

    build_appendix(load_run(copy), figures_ready=ready)  # as study run passes it: read once, for the figures too
    assert events[0] == "ready" and events.count("ready") == 1
    assert sorted(events[1:]) == sorted(f"figures/{n}.png" for n in names)
    assert _documents(copy / "appendix") == want


def test_a_failing_figures_ready_propagates_and_leaves_no_appendix(run, tmp_path):
    class SaveFailed(Exception):
        pass

    def ready():
        raise SaveFailed("figure indices-x could not be saved")

    import shutil

    copy = copy_run(run, tmp_path)
    shutil.rmtree(copy / "appendix")
    with pytest.raises(SaveFailed, match="indices-x could not be saved"):
        build_appendix(copy, figures_ready=ready)
    assert not (copy / "appendix").exists()  # not a file of it written, not even its folder


# ---------------------------------------------------------------------------------------
# Real TeX. CI installs it (see ../shared/notes/tex.md); a developer machine without TeX
# skips, but CI (env CI set) fails instead, so a missing engine cannot pass silently.
def _compile(appdir: Path, engine: str = "xelatex") -> str:
    """Compile appendix.tex, fail on any LaTeX error, return the PDF's text."""
    need(engine, "pdftotext")
    proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error",
                           "-no-shell-escape", "appendix.tex"], cwd=appdir,
                          capture_output=True, text=True, timeout=300)
    log = (appdir / "appendix.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Missing character" not in log  # a glyph the fonts lack would vanish silently
    assert "(/etc/passwd" not in log  # \input was never executed
    assert not (appdir / "pwned").exists()
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "appendix.pdf", "-"], cwd=appdir,
                          capture_output=True, text=True, check=True).stdout


def _squash(s: str) -> str:
    """PDF text without line breaks, hyphenation or ligatures, for substring checks.

    TeX typesets a straight apostrophe as a right single quote, so both sides use that.
    """
    text = re.sub(r"[\s\-]+", "", unicodedata.normalize("NFKC", s)).replace("'", "\u2019")
    return text.replace("\u2206", "\u0394")  # the fonts' Δ is the glyph pdftotext reads as ∆ (increment)


@pytest.mark.latex
def test_appendix_compiles_with_xelatex_and_prints_what_it_should(run):
    text = _compile(run / "appendix")
    flat = _squash(text)
    assert _squash(_expected_headline(run)) in flat
    assert CHINESE in flat
    assert _squash(HOSTILE) in flat


@pytest.mark.latex
def test_appendix_without_cjk_compiles_with_pdflatex(ascii_run):
    build_appendix(ascii_run)
    assert r"\RequireXeTeX" not in (ascii_run / "appendix" / "appendix.tex").read_text()
    text = _compile(ascii_run / "appendix", engine="pdflatex")
    assert _squash("Robustness appendix: alliance-ascii") in _squash(text)


@pytest.mark.latex
@pytest.mark.slow
def test_flagship_appendix_from_a_fresh_run(tmp_path):
    """The flagship study, run small, must give an appendix that XeLaTeX compiles."""
    study_file = ROOT / "params" / "asia_pacification.toml"
    from mcsens.cli import main

    assert main(["run", str(study_file), "--samples", "64", "--out", str(tmp_path)]) == 0
    (run,) = [p.parent for p in tmp_path.glob("asia_pacification/*/manifest.json")]
    from study.spec import load_study

    variants = load_study(study_file).analysis.variants  # readings factor, each rival reading, escalation
    assert len(list(tmp_path.glob("asia_pacification_*/*/manifest.json"))) == len(variants) == 7
    # [report] languages = ["en", "zh"]: study run compiled the Chinese appendix beside the English one.
    zh_pdf = run / "appendix" / "appendix.zh.pdf"
    assert zh_pdf.exists()
    zh = _squash(subprocess.run(["pdftotext", "-enc", "UTF-8", str(zh_pdf), "-"], capture_output=True,
                                text=True, check=True).stdout)
    build_appendix(run)
    flat = _squash(_compile(run / "appendix"))
    # No float or page too tall, no table or line wider than the text.
    log = (run / "appendix" / "appendix.log").read_text(encoding="utf-8", errors="replace")
    assert re.findall(r"Overfull \\[hv]box.*", log) == []
    for sentence in headline_sentences(load_run(run)):
        assert _squash(sentence) in flat
    from analysis.appendix.sections import pct, probabilities

    printed = [pct(r.value) for r in probabilities(load_run(run)).itertuples()]
    assert len(printed) == 3 and all(_squash(p) in flat and _squash(p) in zh for p in printed)
    assert all(term in zh for term in ("术语表", "区别对待", "合而治之", "战略自主", "边际损失"))  # the glossary
    cjk = [f.source for f in load_run(run).factors if re.search(r"[\u4e00-\u9fff]", f.source)]
    assert cjk and all(_squash(s) in flat for s in cjk[:5])


# ---------------------------------------------------------------------------------------
# Assumption-shift robustness (analysis.appendix.robustness) on the alliance run.
def _robustness_csv(run, output):
    return pd.read_csv(run / "appendix" / "tables" / f"robustness-{output}.csv")


def test_robustness_table_is_the_reweighted_run(run):
    from analysis.reweight import Reweighter, centre_shift, leading_inputs, narrowed

    rw = Reweighter(run)
    table = _robustness_csv(run, "europe_flip")
    lead = [p for p, _ in leading_inputs(run, "europe_flip")]
    st = pd.read_csv(run / "indices.csv").query("method == 'sobol' and output == 'europe_flip' and index == 'ST'")
    assert lead == list(st.sort_values("value", ascending=False)["param"].head(3))
    assert list(dict.fromkeys(table["param"])) == lead
    for r in table.itertuples(index=False):
        par = rw.study.parameter(r.param)
        shift = narrowed(par, 0.2) if r.shift == "narrowed" else centre_shift(par, float(r.shift))
        want = rw.estimate([shift]).set_index("output").loc["europe_flip"]
        assert r.value == pytest.approx(want["value"]) and r.ess == pytest.approx(want["ess"])
        assert r.args == shift.text
    # The key output (a mean) gets its own table.
    assert set(_robustness_csv(run, "delta_nb_europe")["param"]) == {
        p for p, _ in leading_inputs(run, "delta_nb_europe")}


def test_joint_shift_map_of_the_two_leading_inputs(run):
    from analysis.reweight import Reweighter, centre_shift, leading_inputs

    rw = Reweighter(run)
    (first, _), (second, _) = leading_inputs(run, "europe_flip", 2)
    grid = pd.read_csv(run / "appendix" / "tables" / "robustness-joint-europe_flip.csv")
    assert set(grid["param_1"]) == {first} and set(grid["param_2"]) == {second} and len(grid) == 25
    cell = grid.set_index(["shift_1", "shift_2"])["value"]
    assert cell[0.0, 0.0] == pytest.approx(rw.y["europe_flip"].mean())
    p1, p2 = rw.study.parameter(first), rw.study.parameter(second)
    both = [centre_shift(p1, 0.1), centre_shift(p2, -0.05)]
    assert cell[0.1, -0.05] == pytest.approx(rw.value("europe_flip", both)[0])


def test_robustness_states_the_break_even_shift(run):
    from analysis.reweight import Reweighter, break_even

    rw = Reweighter(run)
    be = break_even(rw, "europe_flip", "commitment")
    assert be.fraction is not None  # the alliance headline can be reversed by this input
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    sentence = (f"{LABELS['commitment']}: a centre shift of +{100 * be.fraction:.1f}% of its range (low 0.3 → "
                f"{be.shift.args['low']:.4g}) brings it to {100 * be.value:.1f}% (ESS {be.ess:.0f})")
    assert markdown_escape(sentence) in md
    # Tri(0.1, 0.3, 0.6): the mode can move down by 40% of the range and up by 60% (searched to 50%).
    assert markdown_escape(f"{LABELS['autonomy']}: not within the reweightable range (centre shifts from "
                           "−40% to +50% of its range do not reverse it)") in md


# ---------------------------------------------------------------------------------------
# Claims and observations, from a real run and its variant run.
CLAIM_MODEL = '''
import xarray as xr

CLAIMS = {
    "claim_a": ("tested", "x1 exceeds 0.2", "x1 大于 0.2", "§1"),
    "claim_b": ("tested", "x1 exceeds 0.7", "x1 大于 0.7", "§2"),
    "check_c": ("built_in", "x1 is not negative", "x1 非负", "§0"),
}


def evaluate(x):
    out = {}
    for name, (kind, en, zh, sec) in CLAIMS.items():
        y = {"claim_a": x.x1 > 0.2, "claim_b": x.x1 > 0.7, "check_c": x.x1 >= 0}[name]
        out[name] = y.astype(float).assign_attrs(role="claim", kind=kind, statement=en, statement_zh=zh,
                                                 passage="「原文」", section=sec)
    obs = {"obs_up": x.x2 + 0.5 * x.r > 0.5, "obs_down": x.x1 < 0.5 - 0.3 * x.r}
    for name, y in obs.items():
        out[name] = y.astype(float).assign_attrs(role="observation", statement=f"{name} is seen",
                                                 statement_zh=f"观察到 {name}", passage="「原文」",
                                                 section="§4")
    return xr.Dataset(out)
'''


def _claim_study(folder, name, r, variants=""):
    return write_study(folder, "claim_model:evaluate", name=name, description=f"reading r = {r}", samples=512,
                       seed=5, chunk_rows=4096, extra=f'headline = ["claim_a"]\n{variants}',
                       constants=f"[constants]\nr = {r}")


@pytest.fixture(scope="module")
def claim_run(tmp_path_factory):
    import analysis.appendix as appendix
    from mcsens.runner import run_study

    folder = tmp_path_factory.mktemp("claims")
    (folder / "claim_model.py").write_text(CLAIM_MODEL)
    _claim_study(folder, "cl_rival", 0.3)
    main = _claim_study(folder, "cl_main", 0.0, variants='variants = ["cl_rival.toml"]')
    run = run_study(main, out=folder / "runs", figures=False, appendix=False)
    keep, appendix._main_figures = appendix._main_figures, lambda data: []
    try:
        build_appendix(run)
    finally:
        appendix._main_figures = keep
    return run


def test_a_run_keeps_the_role_a_model_declares(claim_run):
    from study import open_run

    with open_run(claim_run) as ds:
        assert ds["claim_b"].attrs["role"] == "output"  # every other reader still sees an output
        assert ds["claim_b"].attrs["model_role"] == "claim"
        assert ds["obs_up"].attrs["model_role"] == "observation"
        assert "model_role" not in ds["x1"].attrs


def test_claims_are_reported_with_their_probability_and_failures_named(claim_run):
    tested = pd.read_csv(claim_run / "appendix" / "tables" / "claims-tested.csv").set_index("output")
    built = pd.read_csv(claim_run / "appendix" / "tables" / "claims-built-in.csv").set_index("output")
    assert list(tested.index) == ["claim_a", "claim_b"] and list(built.index) == ["check_c"]
    # x1 ~ U(0, 1): P(x1 > 0.2) = 0.8, P(x1 > 0.7) = 0.3, P(x1 >= 0) = 1.
    for name, want in (("claim_a", 0.8), ("claim_b", 0.3)):
        assert tested.loc[name, "conf_low"] <= want <= tested.loc[name, "conf_high"]
        assert tested.loc[name, "p_holds"] == pytest.approx(want, abs=0.03)
    assert built.loc["check_c", "p_holds"] == 1.0
    md = (claim_run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    p = tested.loc["claim_b"]
    fails = (f"The tested claim “x1 exceeds 0.7” (§2) fails: it holds in only {100 * p.p_holds:.0f}% of draws "
             f"({100 * p.conf_low:.0f}–{100 * p.conf_high:.0f}%).")
    assert markdown_escape(fails) in md
    assert "x1 exceeds 0\\.2” \\(§1\\) fails" not in md
    assert md.index("### Tested claims") < md.index("### Implementation checks")


def test_observations_name_the_reading_they_support(claim_run):
    obs = pd.read_csv(claim_run / "appendix" / "tables" / "observations.csv")
    p = obs.set_index(["output", "reading"])["p"]
    # x2 ~ Tri(0, 0.3, 1): P(x2 > 0.5) = 0.5² / 0.7 (main); P(x2 > 0.35) = 0.65² / 0.7 (rival).
    assert p["obs_up", "cl_main"] == pytest.approx(0.5**2 / 0.7, abs=0.03)
    assert p["obs_up", "cl_rival"] == pytest.approx(0.65**2 / 0.7, abs=0.03)
    assert p["obs_down", "cl_main"] == pytest.approx(0.5, abs=0.03)
    assert p["obs_down", "cl_rival"] == pytest.approx(0.41, abs=0.03)
    md = (claim_run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    up, down = (p["obs_up", "cl_main"], p["obs_up", "cl_rival"]), (p["obs_down", "cl_main"], p["obs_down", "cl_rival"])
    assert markdown_escape(f"“obs_up is seen” supports cl_rival: {100 * up[1]:.0f}% against {100 * up[0]:.0f}% "
                           f"under the main reading (ratio {up[1] / up[0]:.2f}).") in md
    assert markdown_escape(f"“obs_down is seen” is most probable under the main reading ({100 * down[0]:.0f}%); "
                           f"the nearest rival, cl_rival, gives {100 * down[1]:.0f}%.") in md


def test_a_copied_run_says_its_variant_runs_are_not_beside_it(claim_run, tmp_path):
    # Copied without its variants' folders, the run's compare.csv still names cl_rival: the
    # observations section must say that run is missing, not that none was compared.
    import analysis.appendix as appendix

    copy = copy_run(claim_run, tmp_path / "elsewhere")
    keep, appendix._main_figures = appendix._main_figures, lambda data: []
    try:
        build_appendix(copy)
    finally:
        appendix._main_figures = keep
    md = (copy / "appendix" / "appendix.md").read_text(encoding="utf-8")
    said = (f"1 of the variant runs this run was compared with are not beside it (under {tmp_path.name}/, as its "
            "variants/compare.csv names them: a moved or copied run directory?), so their probabilities are not shown.")
    assert markdown_escape(said) in md
    assert "No variant runs were compared" not in md
    obs = pd.read_csv(copy / "appendix" / "tables" / "observations.csv")
    assert set(obs["reading"]) == {"cl_main"}


def test_variants_are_reported_as_the_comparison_wrote_them(claim_run):
    compare = pd.read_csv(claim_run / "variants" / "compare.csv")
    assert list(compare["study"]) == ["cl_main", "cl_rival"]
    md = (claim_run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    for r, this in zip(compare.itertuples(), (" (this run)", "")):
        # x1 ~ U(0, 1) under both readings: P(x1 > 0.2) = 0.8.
        assert r.p_holds == pytest.approx(0.8, abs=0.03)
        assert (f"| {r.study}{this} | claim_a | {100 * r.p_holds:.0f}% | {100 * r.ci_low:.0f}–"
                f"{100 * r.ci_high:.0f}% | x1 |") in md
    assert "The headline results under 2 model variants, side by side" in md
    assert "cl_main: reading r = 0.0" in md and "cl_rival: reading r = 0.3" in md


def test_runs_without_declared_claims_say_so(run):
    md = (run / "appendix" / "appendix.md").read_text(encoding="utf-8")
    assert "*" + markdown_escape("No output of this run is declared a claim or an observation (attribute role); "
                                 "section omitted.") + "*" in md


def _overfull_in(appdir: Path, first: str, last: str) -> list[str]:
    """Overfull-box lines of the TeX log that fall between two headings of the body."""
    body = (appdir / "appendix-body.tex").read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(body, 1) if ln.startswith(r"\subsection{" + first))
    stop = next(i for i, ln in enumerate(body, 1) if ln.startswith(r"\subsection{" + last))
    log = (appdir / "appendix.log").read_text(encoding="utf-8", errors="replace")
    return [m.group(0) for m in re.finditer(r"Overfull \\hbox .*? at lines (\d+)--(\d+)", log)
            if start <= int(m.group(1)) < stop]


@pytest.mark.latex
def test_new_sections_compile_without_overfull_boxes(claim_run, run):
    texts = {}
    for r in (claim_run, run):
        texts[r] = _squash(_compile(r / "appendix"))
        assert _squash("Assumption-shift robustness") in texts[r]
        assert _overfull_in(r / "appendix", "Assumption-shift robustness", "Run record") == []
    assert _squash("“x1 exceeds 0.7” (§2) fails") in texts[claim_run]
