"""The appendix in another language than English (``[report] languages``), from the catalogue.

The translated appendix holds the sections a reader of that language needs to judge the
headline: the headline probabilities, the uncertain inputs, the assumption-shift
robustness, the claims and observations, and a glossary of the paper's terms. Every
sentence, header and caption comes from :mod:`analysis.appendix.lang`; the sections that
are shared with the English appendix (robustness, claims) are the same functions called
with another ``lang``. Labels use ``label_zh`` (parameters, in the study file) and the
``label_zh`` attribute (outputs), falling back to the English label. Its figures (the
headline probabilities, the output distributions) are drawn again with those labels and
the catalogue's words, as ``figures/<name>-<lang>.pdf``: Chinese text in them is set in a
TrueType Song face (see :mod:`analysis.figures.style`).
"""

from __future__ import annotations

import pandas as pd

from ..figures import _stem
from ..figures.data import RunData, distribution_outputs
from ..figures.parallel import save_soon
from ..figures.style import png_width, quiet_fonts, save
from ..figures.uncertainty import plot_distribution, plot_probability
from .blocks import Fig, Heading, Para, Table, fmt, interval, pct
from .claims import claims
from .lang import GLOSSARY, distribution_text, figure_words, method_name, output_label, param_label, tr
from .robustness import robustness
from .sections import _dist_text, _join, claim, probabilities

__all__ = ["language_blocks", "languages"]


def languages(data: RunData) -> tuple[str, ...]:
    """The run's ``[report] languages`` (validated when the run started; default English)."""
    return tuple(data.study.get("report", {}).get("languages", ["en"]))


def _drivers(data: RunData, output: str, lang: str, k: int = 3) -> list[str]:
    """Up to ``k`` influential inputs by ST, labelled in ``lang``, with their ST."""
    from .sections import drivers

    by_label = {lab: name for name, lab in data.labels.items()}
    return [f"{param_label(data, by_label.get(lab, lab), lang)} ({fmt(v)})" for lab, v in drivers(data, output, {}, k)]


def _joined(items: list[str], lang: str) -> str:
    return "、".join(items) if lang == "zh" else _join(items)


def _figure(data: RunData, name: str, lang: str, draw) -> tuple[str, float]:
    """Draw a figure in ``lang`` as ``figures/<name>-<lang>``; its name and width in inches."""
    name = f"{name}-{lang}"
    with quiet_fonts():  # matplotlib resolves the Chinese face's (absent) bold while drawing
        fig = draw()
    save_soon(fig, data.path / "figures", name, save)  # on the other core, inside build_appendix
    return name, png_width(fig)


def _headline(data: RunData, figs: dict, lang: str) -> list:
    blocks = [Heading(tr(lang, "headline_h"), 2, "uncertainty")]
    level = f"{data.conf_level:.0%}"
    prob = probabilities(data)
    rows = []
    for r in prob.itertuples(index=False):
        what = output_label(data, r.output, lang, claim(data, r.output))
        s = tr(lang, "headline_sentence", claim=what, p=pct(r.value), level=level,
               interval=interval(r.conf_low, r.conf_high, as_pct=True))
        d = _drivers(data, r.output, lang)
        end = tr(lang, "headline_drivers", drivers=_joined(d, lang)) if d else tr(lang, "full_stop")
        blocks.append(Para(s + end))
        rows.append([what, pct(r.value), interval(r.conf_low, r.conf_high, True), method_name(r.method or "", lang)])
    if rows:
        blocks.append(Table("headline", tr(lang, "headline_caption", level=level),
                            [tr(lang, k) for k in ("col_result", "col_p", "col_interval", "col_method")],
                            rows, prob, [0.5, None, None, 0.2]))
    words = figure_words(lang)
    if "probability" in figs:
        labels = {o: output_label(data, o, lang, data.label(o)) for o in prob["output"]}
        name, width = _figure(data, "probability", lang, lambda: plot_probability(
            data.rows(index="P"), labels=labels, conf_level=data.conf_level, words=words))
        blocks.append(Fig(name, tr(lang, "fig_probability", level=level), width))
    ind = data.independent()
    for o in distribution_outputs(data):
        stem = _stem("distribution", o)
        if stem in figs:
            label = output_label(data, o, lang, data.label(o))
            name, width = _figure(data, stem, lang, lambda: plot_distribution(ind[o], label=label, words=words))
            blocks.append(Fig(name, tr(lang, "fig_distribution", what=label), width))
    return blocks


def _factors(data: RunData, lang: str) -> list:
    rows = [[f"{param_label(data, f.name, lang)} ({f.name})", distribution_text(f.distribution, f.args, lang),
             f.source] for f in data.factors]
    recs = pd.DataFrame([{"name": f.name, "label": param_label(data, f.name, lang), "distribution": f.distribution,
                          "args": _dist_text("", f.args), "source": f.source} for f in data.factors])
    return [Heading(tr(lang, "factors_h"), 2, "factors"), Para(tr(lang, "factors_para", n=len(data.factors))),
            Table("factors", tr(lang, "factors_caption"),
                  [tr(lang, k) for k in ("col_input", "col_distribution", "col_source")], rows, recs,
                  [0.34, 0.3, 0.34])]


def _glossary(lang: str) -> list:
    rows = [list(pair) for pair in GLOSSARY]
    return [Heading(tr(lang, "glossary_h"), 2, "glossary"), Para(tr(lang, "glossary_para")),
            Table("glossary", tr(lang, "glossary_caption"), [tr(lang, "col_term"), tr(lang, "col_english")],
                  rows, pd.DataFrame(rows, columns=["term", "english"]), [0.3, 0.6])]


def language_blocks(data: RunData, figs: dict, lang: str) -> list:
    """All blocks of the appendix in ``lang``."""
    name = data.study["study"]["name"]  # required by the loader, which validated the run's study.toml
    blocks = [Heading(tr(lang, "title", name=name), 1, "appendix"),
              Para(tr(lang, "generated", run=data.path.name))]
    if tr(lang, "zh_scope"):
        blocks.append(Para(tr(lang, "zh_scope")))
    blocks += _headline(data, figs, lang) + _factors(data, lang)
    blocks += robustness(data, lang) + claims(data, lang) + _glossary(lang)
    return blocks
