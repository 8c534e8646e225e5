"""The robustness appendix, built from a saved run directory alone.

:func:`build_appendix` writes to ``<run>/appendix/``:

- ``appendix-body.tex``: the appendix as a LaTeX body, to ``\\input`` from a paper;
- ``appendix.tex``: a standalone document that inputs the body (``xelatex appendix.tex``
  inside ``appendix/``; plain ``pdflatex`` also works when no CJK text is present);
- ``appendix.md``: the same content in GitHub-flavoured Markdown, with the PNG figures;
- ``tables/<name>.tex`` (booktabs longtable) and ``tables/<name>.csv`` for every table.

Sections whose data are absent (no Morris, no scenario discovery, no variants) are
replaced by a one-line note; nothing is faked.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..figures import figure_specs
from ..figures.data import RunData, load_run
from ..run import Run

from ..figures.parallel import background_saves
from ..figures.style import DPI, save, serif_files
from ..textsafe import plain, unique_names, write_csv
from .blocks import (Fig, Heading, Note, Para, Table, has_cjk, ref_name, table_latex, to_latex,
                     to_markdown)
from .record import audit, convergence, run_record, scenarios, triangulation, variants
from .readings import readings
from .claims import claims
from .robustness import robustness
from .translated import language_blocks, languages
from .sections import (design, factors, grouped, headline_sentences, indices, purpose,
                       uncertainty)

__all__ = ["build_appendix", "appendix_blocks", "headline_sentences"]

_PACKAGES = ["booktabs", "longtable", "array", "graphicx"]
# Caption names of the article class, in the translated appendices.
_LANGUAGE_PREAMBLE = {"zh": (r"\renewcommand{\tablename}{表}", r"\renewcommand{\figurename}{图}")}


def _main_figures(data: RunData) -> list:
    """The run's own figures the appendix refers to (:func:`analysis.figures.figure_specs`).

    Only their names, sections and captions are read here: no figure file is touched, so
    the blocks can be built while the figures are still being saved elsewhere.
    """
    return figure_specs(data)


def _entries(specs: list) -> dict[str, tuple[str, str, None]]:
    """``name -> (section, caption, None)``: the figures as the sections take them, widths unset."""
    return {spec.name: (spec.section, spec.caption, None) for spec in specs}


def _ensure_figures(data: RunData, specs: list) -> dict[str, float]:
    """Width in inches of each of ``specs``' figures, read back from its 300-dpi PNG.

    Figures not yet on disk are drawn first.
    """
    run = data.record
    widths = {}
    for spec in specs:
        if not all(run.has(f"figures/{spec.name}{ext}") for ext in (".pdf", ".png")):
            save(spec.draw(), run.file("figures"), spec.name)
        widths[spec.name] = run.image_size(f"figures/{spec.name}.png")[0] / DPI
    return widths


def _fill_widths(blocks: list, widths: dict[str, float]) -> None:
    """Set the width of every figure block built with its width unset, by figure name.

    The appendix's own figures (drawn while it is built) know their width already and
    are left as they are.
    """
    for b in blocks:
        if isinstance(b, Fig) and b.width_in is None:
            b.width_in = widths[b.name]


def appendix_blocks(data: RunData, figs: dict[str, tuple[str, str, float | None]]) -> list:
    """All appendix blocks, in the order of the checklist in ``docs/``.

    ``figs`` maps each figure's name to its section, caption and width in inches; a
    width of None leaves the figure's block to be filled once the file is on disk.
    """
    name = data.study["study"]["name"]  # required by the loader, which validated the run's study.toml
    blocks = [Heading(f"Robustness appendix: {name}", 1, "appendix"),
              Para(f"Generated from run {data.path.name}. Every number below is read from "
                   "that run directory, and the appendix is rebuilt from it alone.")]
    blocks += purpose(data) + factors(data) + design(data) + uncertainty(data, figs)
    blocks.append(Heading("Scatterplots", 2, "scatter"))
    sc = [Fig(n, c, w) for n, (s, c, w) in figs.items() if s == "scatter"]
    blocks += sc or [Note("No key output with Sobol' indices to plot; section omitted.")]
    blocks += indices(data, figs) + grouped(data, figs) + convergence(data, figs)
    blocks += triangulation(data, figs)
    from ..surrogate_appendix import surrogate_section  # here: it imports .blocks of this package

    blocks += surrogate_section(data, figs)  # empty without surrogate rows
    blocks += scenarios(data) + variants(data) + readings(data)
    blocks += robustness(data) + claims(data)
    blocks += run_record(data) + audit(data)
    # Two outputs or cells may slug to one name (or differ only in case): keep files apart.
    tables = [b for b in blocks if isinstance(b, Table)]
    for t, unique in zip(tables, unique_names([ref_name(t.name) for t in tables])):
        t.name = unique
    return blocks


def _header(name: str, packages: list[str], cjk: bool, body: str = "appendix-body",
            main: str = "appendix.tex") -> str:
    pk = ", ".join(packages)
    lines = [
        f"% Robustness appendix for the study '{name}', generated by mcsens from one run.",
        "% Do not edit: rebuild with `study appendix RUN_DIR`.",
        "%",
        f"% To include it in a paper, \\input THIS file ({body}.tex), not {main}:",
        "%   \\newcommand{\\studyrundir}{path/to/run/}  % folder holding figures/ (default: ./)",
        f"%   \\input{{path/to/run/appendix/{body}}}",
        f"% The paper's preamble must load: {pk}" + (", and xeCJK with a CJK font," if cjk
                                                    else "."),
    ]
    if cjk:
        lines += ["%   e.g. \\usepackage{xeCJK}\\setCJKmainfont{Noto Serif CJK SC},",
                  "% and be compiled with XeLaTeX: the sources quote Chinese text."]
    lines += ["% appendix.tex in the same folder is the standalone version of this body.", ""]
    return "\n".join(lines)


FONTS = "fonts"  # the figures' serif face, copied beside appendix.tex (see _copy_fonts)


def _copy_fonts(out: Path) -> None:
    """Copy the figures' TrueType serif (and its licence, the SIL OFL) into ``appendix/fonts/``.

    The standalone appendix is set in the files the figures use, so text and figures are
    one family; copied, not referred to where matplotlib keeps them, so that the folder
    compiles on any machine (a journal's, Overleaf).
    """
    import shutil

    folder = out / FONTS
    folder.mkdir(exist_ok=True)
    files = list(serif_files().values())
    files += [f.with_name("LICENSE_STIX") for f in files[:1] if f.with_name("LICENSE_STIX").exists()]
    for f in files:
        shutil.copyfile(f, folder / f.name)


# Digits STIX (like Latin Modern) has no glyph for, as labels write them (x₁, m²): XeLaTeX
# has no per-glyph fallback, so each is made a command that raises or lowers a digit.
_SCRIPTS = {**{chr(0x2080 + d): rf"\textsubscript{{{d}}}" for d in range(10)},
            **{chr(0x2070 + d): rf"\textsuperscript{{{d}}}" for d in (0, 4, 5, 6, 7, 8, 9)}}


def _serif_font() -> str:
    """fontspec's lines for the figures' serif, from the copies in ``fonts/`` (XeLaTeX only)."""
    f = {k: p.name for k, p in serif_files().items()}
    lines = [rf"  \setmainfont{{{f['regular']}}}[Path={FONTS}/, BoldFont={f['bold']}, ItalicFont={f['italic']}, "
             rf"BoldItalicFont={f['bolditalic']}]  % the figures' face (pdflatex keeps Latin Modern)"]
    lines += [rf"  \catcode`{c}=\active \protected\def{c}{{{cmd}}}" for c, cmd in _SCRIPTS.items()]
    return "\n".join(lines)


def _standalone(name: str, cjk: bool, body: str = "appendix-body", main: str = "appendix.tex",
                preamble: tuple[str, ...] = ()) -> str:
    engine = "xelatex" if cjk else "xelatex or pdflatex"
    cjk_lines = [r"\RequireXeTeX", r"\usepackage{xeCJK}",
                 r"\setCJKmainfont{Noto Serif CJK SC}",
                 r"\setCJKsansfont{Noto Sans CJK SC}", r"\setCJKmonofont{Noto Sans Mono CJK SC}"] \
        if cjk else []
    return "\n".join([
        f"% Standalone robustness appendix for '{name}'. Compile inside this folder:",
        f"%   {engine} {main}   (twice, for the cross-references)",
        f"% To put the appendix in a paper, \\input {body}.tex instead (see its header).",
        r"\documentclass[11pt,a4paper]{article}",
        r"\usepackage{iftex}",
        r"\ifPDFTeX",
        r"  \usepackage[utf8]{inputenc}",
        r"\else",
        r"  \usepackage{fontspec}",
        _serif_font(),
        r"\fi",
        *cjk_lines,
        r"\usepackage[margin=2.2cm]{geometry}",
        r"\usepackage{" + ",".join(_PACKAGES) + "}",
        r"\newcommand{\studyrundir}{../}",
        # Room to stretch a line before it overflows: model names such as
        # china_escalation_no_intimidation break only at their underscores.
        r"\setlength{\emergencystretch}{2em}",
        *preamble,
        r"\begin{document}",
        r"\input{%s}" % body,
        r"\end{document}",
        "",
    ])


def build_appendix(run, *, figures_ready=None) -> Path:
    """Write the robustness appendix of a run (LaTeX, Markdown and tables).

    Parameters
    ----------
    run : str, Path, analysis.run.Run or analysis.figures.data.RunData
        A run directory (see ``docs/architecture.md``), its record, or the run as
        :func:`analysis.figures.load_run` read it (a stage that has read it for the
        figures passes it on: read again, the flagship's takes 1.1 CPU-s). Figures
        missing from its ``figures/`` folder are drawn first.
    figures_ready : callable, optional
        Called with no arguments, exactly once, when everything that does not need the
        run's own figures is computed (every block, the translations, the tables, the
        appendix's own figures): it must block until the figures of
        :func:`analysis.figures.figure_specs` are on disk, and raise if saving them
        failed. Only then are the figures' files read (for their widths), and the
        appendix written. So the appendix can be built while the figures are saved in
        other processes. Not called if computing the blocks fails (that error is raised
        instead). None (the default): the figures are taken as they are on disk.

    Returns
    -------
    Path
        ``<run>/appendix/appendix.tex``.

    Raises
    ------
    Exception
        Whatever ``figures_ready`` raises; no file of the appendix is written then.
    """
    with background_saves():  # the figures the sections draw are saved while the next is computed
        return _build(run if isinstance(run, RunData) else load_run(run), figures_ready)


def _build(data: RunData, figures_ready=None) -> Path:
    specs = _main_figures(data)
    figs = _entries(specs)
    blocks = appendix_blocks(data, figs)
    translations = {lang: language_blocks(data, figs, lang) for lang in languages(data) if lang != "en"}
    # The name goes into TeX comments only: one line (plain) keeps it inside the comment.
    name = plain(data.study["study"]["name"])  # a plain name of 1 to 64 characters (the loader's rule)
    prefix = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + "-"
    tables = _table_files([b for b in blocks if isinstance(b, Table)], prefix)
    # Nothing below this call reads before it returns: the run's figures may still be saving.
    if figures_ready is not None:
        figures_ready()
    widths = _ensure_figures(data, specs)
    for b in (blocks, *translations.values()):
        _fill_widths(b, widths)
    out = data.path / "appendix"
    (out / "tables").mkdir(parents=True, exist_ok=True)
    _copy_fonts(out)
    for path, text in tables.items():
        # A CSV as pandas writes it to a file: its line ends untranslated (and a cell may hold one).
        _write(out / "tables" / path, text, newline="" if path.endswith(".csv") else None)
    for lang, lang_blocks in translations.items():
        _write_translation(lang_blocks, lang, name, prefix, out)
    body = to_latex(blocks, prefix=prefix)
    cjk = has_cjk(body)
    _write(out / "appendix-body.tex",
           _header(name, _PACKAGES, cjk) + r"\providecommand{\studyrundir}{}" + "\n\n" + body)
    _write(out / "appendix.md", to_markdown(blocks))
    _write(out / "appendix.tex", _standalone(name, cjk))  # last: the file a reader opens first
    return out / "appendix.tex"


def _table_files(tables: list[Table], prefix: str) -> dict[str, str]:
    """Each table's ``<name>.tex`` and ``<name>.csv`` (for ``tables/``), rendered, not yet written."""
    import io

    files = {}
    for t in tables:
        files[f"{t.name}.tex"] = (f"% Table '{t.name}' of the appendix; needs booktabs, longtable and array.\n"
                                  + table_latex(t, prefix) + "\n")
        csv = io.StringIO()
        write_csv(t.data, csv)
        files[f"{t.name}.csv"] = csv.getvalue()
    return files


def _write(path: Path, text: str, newline: str | None = None) -> None:
    with open(path, "w", encoding="utf-8", newline=newline) as f:
        f.write(text)


def _write_translation(blocks: list, lang: str, name: str, prefix: str, out: Path) -> None:
    """``appendix.<lang>.tex`` (standalone), ``appendix-body-<lang>.tex`` and ``appendix.<lang>.md``.

    Its tables' data are those of the English tables (``tables/*.csv``), so none is
    written twice.
    """
    body = f"appendix-body-{lang}"
    tex = to_latex(blocks, prefix=prefix)
    cjk = has_cjk(tex)
    main = f"appendix.{lang}.tex"
    _write(out / f"{body}.tex", _header(name, _PACKAGES, cjk, body, main)
           + r"\providecommand{\studyrundir}{}" + "\n\n" + tex)
    _write(out / main, _standalone(name, cjk, body, main, _LANGUAGE_PREAMBLE.get(lang, ())))
    _write(out / f"appendix.{lang}.md", to_markdown(blocks))


def compile_pdf(run) -> tuple[Path | None, str]:
    """Compile ``appendix/appendix.tex`` to PDF with XeLaTeX, if it is installed.

    Runs without shell escape (a description can never execute anything) and twice, for
    the cross-references; the first pass writes no PDF (``-no-pdf``: only its ``.aux``
    is read). The translated appendices (``[report] languages``) compile at the same
    time as the English one, each XeLaTeX on its own core.

    Returns
    -------
    (pathlib.Path or None, str)
        The PDF (None if not compiled) and a one-line account of what happened: the
        first failure in the order English, then the translations by name.
    """
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    folder = (run.path if isinstance(run, Run) else Path(run)) / "appendix"
    engine = shutil.which("xelatex")
    if engine is None:
        return None, "not compiled: xelatex is not installed (appendix.tex and appendix.md are written)"
    mains = ["appendix.tex", *sorted(p.name for p in folder.glob("appendix.*.tex"))]
    # Each language has its own job name (.aux, .log, .pdf), so the compiles share no file.
    with ThreadPoolExecutor(max_workers=len(mains)) as pool:
        failures = list(pool.map(lambda main: _xelatex(engine, folder, main), mains))
    for main, what in zip(mains, failures):
        if what is not None:
            return (folder / "appendix.pdf" if main != mains[0] else None), f"xelatex failed on {main}: {what}"
    also = "" if len(mains) == 1 else " (also " + ", ".join(m[:-4] + ".pdf" for m in mains[1:]) + ")"
    return folder / "appendix.pdf", "compiled with xelatex" + also


def _xelatex(engine: str, folder: Path, main: str) -> str | None:
    """Both passes over one main file; the first error line (or exit status) if one failed."""
    import subprocess

    for first in (True, False):
        proc = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                               *(["-no-pdf"] if first else []), main], cwd=folder, capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("!")]
            return errors[0] if errors else "exit status " + str(proc.returncode)
    return None
