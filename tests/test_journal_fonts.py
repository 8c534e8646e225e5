"""The appendix and its figures in one serif family, embedded as TrueType (issue 18).

A small appendix (the toolkit's own preamble, a heading, text in three shapes and one
figure drawn in the house style) is compiled with XeLaTeX and read back with ``pdffonts``:
the text's fonts and the figure's are the same STIX files, and no font is Type 3.
"""

import subprocess

import numpy as np

from analysis.appendix import _copy_fonts, _standalone
from analysis.figures.style import figure, save, serif_files, style
from tests.helpers import need, pdf_fonts


def _figure(folder):
    with style():  # as every plot_* function draws
        fig, ax = figure()
        ax.plot(np.linspace(-1, 1, 5), np.linspace(0, 1, 5), label="Median 0.5")
        ax.set_xlabel("Europe's margin (α)")
        ax.set_title("War's effect on NATO depth")
        ax.legend()
    return save(fig, folder, "demo")[0]


def test_the_appendix_text_and_its_figure_share_the_stix_family_without_type3(tmp_path):
    need("xelatex", "pdffonts")
    figure_pdf = _figure(tmp_path / "figures")
    out = tmp_path / "appendix"
    out.mkdir()
    _copy_fonts(out)
    assert sorted(p.name for p in (out / "fonts").iterdir()) == [
        "LICENSE_STIX", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralBolIta.ttf", "STIXGeneralItalic.ttf"]
    (out / "appendix-body.tex").write_text(
        "\\section{Robustness appendix}\nText of the appendix, \\textbf{bold}, \\emph{italic} and "
        "\\textbf{\\emph{both}}; labels as models write them, x₁ and x⁴ (no STIX glyph: set as scripts).\n\\begin{figure}[h]\\centering\n\\includegraphics{\\studyrundir figures/demo.pdf}"
        "\n\\caption{The figure.}\\end{figure}\n", encoding="utf-8")
    (out / "appendix.tex").write_text(_standalone("demo", cjk=False), encoding="utf-8")
    proc = subprocess.run(["xelatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                           "appendix.tex"], cwd=out, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    in_figure, in_pdf = pdf_fonts(figure_pdf), pdf_fonts(out / "appendix.pdf")
    assert {n for n, _ in in_figure} == {"STIXGeneral-Regular"}
    # The page's own text (heading, body, caption, page number) is set in the figure's family.
    assert {n for n, _ in in_pdf} == {"STIXGeneral-Regular", "STIXGeneral-Bold", "STIXGeneral-Italic",
                                      "STIXGeneral-BoldItalic"}
    assert {k for _, k in in_figure + in_pdf} == {"CID TrueType"}  # TrueType outlines, no Type 3
    assert "Missing character" not in (out / "appendix.log").read_text(errors="replace")


def test_the_preamble_loads_the_copied_files_under_xelatex_only():
    tex = _standalone("demo", cjk=False)
    f = {k: p.name for k, p in serif_files().items()}
    line = (f"\\setmainfont{{{f['regular']}}}[Path=fonts/, BoldFont={f['bold']}, ItalicFont={f['italic']}, "
            f"BoldItalicFont={f['bolditalic']}]")
    assert line in tex
    assert tex.index("\\usepackage{fontspec}") < tex.index(line) < tex.index("\\fi")  # pdflatex never reads it


def test_chinese_figure_text_embeds_as_truetype_in_a_song_face(tmp_path):
    need("pdffonts")
    with style():
        fig, ax = figure()
        ax.set_title("各标题结论成立的概率")
        ax.set_xlabel("成立概率（95% 区间）")
    pdf = save(fig, tmp_path, "zh")[0]
    found = pdf_fonts(pdf)
    assert {n for n, _ in found} == {"STIXGeneral-Regular", "BousungEG-Light-GB"}  # AR PL SungtiL GB
    assert {k for _, k in found} == {"CID TrueType"}
