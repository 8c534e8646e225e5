"""Format-neutral document blocks for the appendix, and their LaTeX and Markdown renderers.

The appendix is assembled as a list of blocks holding *plain* text; escaping happens
only here, at rendering, through :mod:`analysis.textsafe`. No user string can therefore
reach TeX or Markdown unescaped, whichever section produced it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ..textsafe import latex_escape, markdown_cell, markdown_escape, markdown_heading, slug

__all__ = ["Heading", "Para", "Note", "Table", "Fig", "to_latex", "to_markdown",
           "table_latex", "ref_name", "fmt", "pct", "interval", "has_cjk"]

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds CJK characters (which need XeLaTeX with xeCJK)."""
    return bool(_CJK.search(text))


def fmt(v, digits: int = 2) -> str:
    """A number for a table or sentence: fixed decimals, a true minus sign, no "-0.00"."""
    if v is None or pd.isna(v):
        return "–"
    s = f"{float(v):.{digits}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return s.replace("-", "\u2212")


def pct(p) -> str:
    """A probability as a whole percentage, e.g. ``61%``."""
    return "–" if p is None or pd.isna(p) else f"{100 * float(p):.0f}%"


def interval(lo, hi, as_pct: bool = False) -> str:
    """An interval: ``17–32%`` for probabilities, ``[−0.59, −0.16]`` for values."""
    if as_pct:
        return f"{pct(lo)[:-1]}–{pct(hi)}" if not (pd.isna(lo) or pd.isna(hi)) else "–"
    return f"[{fmt(lo)}, {fmt(hi)}]"


@dataclass
class Heading:
    text: str
    level: int = 2
    key: str = ""


@dataclass
class Para:
    text: str


@dataclass
class Note:
    """A one-line note, e.g. why a section is omitted."""

    text: str


@dataclass
class Table:
    """A table: display strings for the documents, ``data`` for its CSV."""

    name: str
    caption: str
    header: list[str]
    rows: list[list[str]]
    data: pd.DataFrame
    widths: list[float | None] = field(default_factory=list)  # share of \linewidth; None = r


@dataclass
class Fig:
    name: str
    caption: str
    width_in: float | None = 7.2  # the figure's own width (placed at that size, not blown up); None: not read yet


# Natural width of a character of \small text, and a conservative text width (a 6.3 in
# article page, less in most journals' templates), both in points: enough to tell in
# advance whether a table's right-aligned columns leave its paragraph columns room.
_CHAR_PT, _TEXT_PT = 4.8, 450.0


# What TeX cannot break: runs of characters other than spaces and CJK (which breaks between
# any two characters); an underscore ends a run, as the escaping allows a break after it.
_WORD = re.compile(r"[^\s_\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+_?|\S")


def _text_pt(text: str, bold: float = 1.0) -> float:
    return bold * sum(2 if has_cjk(ch) else 1 for ch in str(text)) * _CHAR_PT


def _natural_share(t: Table, j: int, word: bool = False) -> float:
    """Estimated share of the text width that column ``j`` needs: its longest cell (a
    right-aligned column), or with ``word`` its longest word (a paragraph column)."""
    cells = [(t.header[j], 1.1)] + [(r[j], 1.0) for r in t.rows if j < len(r)]
    parts = [(w, b) for c, b in cells for w in (_WORD.findall(str(c)) if word else [c])]
    longest = max([_text_pt(w, b) for w, b in parts] or [0.0])
    return (longest + 12.0) / _TEXT_PT  # plus the two \tabcolsep of 6 pt


def fitted_widths(t: Table) -> list[float | None]:
    """The table's column shares, the paragraph columns narrowed (never below their
    longest word) so that, with the natural width of its right-aligned columns, the
    table is never wider than the text."""
    widths = t.widths or [0.3] + [None] * (len(t.header) - 1)
    room = 0.99 - sum(_natural_share(t, j) for j, w in enumerate(widths) if not w)
    floor = {j: _natural_share(t, j, word=True) for j, w in enumerate(widths) if w}
    pinned = {j for j in floor if widths[j] < floor[j]}  # a word wider than its column
    fitted = [floor[j] if j in pinned else w for j, w in enumerate(widths)]
    for _ in range(len(floor)):  # shrink the others, pinning any that reach their floor
        free = [j for j in floor if j not in pinned]
        spare = room - sum(floor[j] for j in pinned)
        total = sum(widths[j] for j in free)
        scale = min(1.0, spare / total) if total else 1.0
        low = [j for j in free if widths[j] * scale < floor[j]]
        for j in free:
            fitted[j] = widths[j] * scale
        if not low:
            break
        pinned |= set(low)
        for j in low:
            fitted[j] = floor[j]
    return fitted


def _colspec(t: Table) -> str:
    widths = fitted_widths(t)
    return "".join(
        # The padding is taken out of the share, so the shares add up to the full width.
        r">{\raggedright\arraybackslash}p{\dimexpr%.3f\linewidth-2\tabcolsep\relax}" % w
        if w else "r" for w in widths)


def ref_name(name: str) -> str:
    """The form of a table or figure name used in ``\\label``, ``\\ref`` and file names.

    Names are built from slugs (:func:`analysis.textsafe.slug`), so this is the identity
    for them; anything else still comes out ASCII-safe. The limit allows a composite
    name of three slugs.
    """
    return slug(name, limit=200)


def _cell(text: str) -> str:
    # After "\\" a cell starting with "[" or "*" would be read as that command's optional
    # argument or star (and vanish or fail); an empty group in front stops the look-ahead.
    s = latex_escape(text)
    return "{}" + s if s[:1] in "[*" else s


def table_latex(t: Table, prefix: str = "") -> str:
    """A booktabs ``longtable`` (breaks across pages; needs booktabs, longtable, array)."""
    head = " & ".join(r"\textbf{%s}" % latex_escape(h) for h in t.header) + r" \\"
    body = "\n".join(" & ".join(_cell(c) for c in r) + r" \\" for r in t.rows)
    return "\n".join([
        r"\begingroup\small",
        r"\begin{longtable}{%s}" % _colspec(t),
        r"\caption{%s}\label{tab:%s%s}\\" % (latex_escape(t.caption), prefix, ref_name(t.name)),
        r"\toprule", head, r"\midrule", r"\endfirsthead",
        r"\toprule", head, r"\midrule", r"\endhead",
        r"\bottomrule", r"\endlastfoot",
        body,
        r"\end{longtable}",
        r"\endgroup",
    ])


def figure_latex(b: Fig, prefix: str, figdir: str) -> str:
    """A figure where it stands in the text, captioned and numbered like a float.

    Not a float: the tables are longtables, and longtable (before v4.18) misplaces the
    page's text when a float sits at the top of a page it starts on, pushing it past the
    bottom (``Overfull \\vbox`` ~180 pt). A minipage keeps figure and caption together;
    the height cap keeps both on one page.
    """
    return "\n".join([
        r"\par\medskip\noindent\begin{minipage}{\linewidth}\centering",
        # \@captype without \makeatletter: \caption then numbers it as a figure.
        r"\expandafter\def\csname @captype\endcsname{figure}",
        # Text width of an A4/letter article is about 6.3 in; a one-column figure
        # keeps its journal size instead of being scaled to the full width.
        r"\includegraphics[width=%.2f\linewidth,height=0.72\textheight,"
        r"keepaspectratio]{%s%s.pdf}" % (min(b.width_in / 6.3, 1.0), figdir, ref_name(b.name)),
        r"\caption{%s}\label{fig:%s%s}" % (latex_escape(b.caption), prefix, ref_name(b.name)),
        r"\end{minipage}\par\medskip"])


def to_latex(blocks: list, *, prefix: str, figdir: str = r"\studyrundir figures/") -> str:
    """Render blocks as a LaTeX body (sections, paragraphs, tables, figures)."""
    out = []
    cmd = {1: "section", 2: "subsection", 3: "subsubsection"}
    for b in blocks:
        if isinstance(b, Heading):
            label = r"\label{sec:%s%s}" % (prefix, b.key) if b.key else ""
            out.append(r"\%s{%s}%s" % (cmd[b.level], latex_escape(b.text), label))
        elif isinstance(b, Para):
            out.append(latex_escape(b.text))
        elif isinstance(b, Note):
            out.append(r"\emph{%s}" % latex_escape(b.text))
        elif isinstance(b, Table):
            out.append(table_latex(b, prefix))
        elif isinstance(b, Fig):
            out.append(figure_latex(b, prefix, figdir))
        out.append("")
    return "\n".join(out)


# Numbers in escaped brackets not followed by "(" or "[" (which would make them a link).
_NUMERIC_BRACKETS = re.compile(r"\\\[([0-9.,%\s\u2212\u2013-]+)\\\](?![(\[]|\\\[)")


def md_cell(text) -> str:
    """A table cell escaped for Markdown, without the escapes a reader would have to skip.

    An interval ``[0.13, 0.45]`` is kept as written: numbers in brackets not followed by
    ``(`` or ``[`` cannot be a link (no link definition can exist: every other ``[`` stays
    escaped). A lone ``*`` (``Morris μ*``) has no partner to open or close emphasis with.
    """
    cell = _NUMERIC_BRACKETS.sub(r"[\1]", markdown_cell(text))
    if cell.count("*") == 1 and "\\*" in cell:
        cell = cell.replace("\\*", "*")
    return cell


def to_markdown(blocks: list, *, figdir: str = "../figures/") -> str:
    """Render blocks as GitHub-flavoured Markdown (figures as PNG links)."""
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + markdown_heading(b.text))
        elif isinstance(b, Para):
            out.append(markdown_escape(b.text))
        elif isinstance(b, Note):
            out.append("*" + markdown_escape(b.text) + "*")
        elif isinstance(b, Table):
            out.append(f"**{markdown_escape(b.caption)}**")
            out.append("")
            out.append("| " + " | ".join(md_cell(h) for h in b.header) + " |")
            align = [":--" if w else "--:" for w in (b.widths or [0.3] + [None] * (len(b.header) - 1))]
            out.append("| " + " | ".join(align) + " |")
            out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in b.rows]
        elif isinstance(b, Fig):
            out.append(f"![{markdown_escape(b.caption)}]({figdir}{ref_name(b.name)}.png)")
            out.append("")
            out.append(f"*{markdown_escape(b.caption)}*")
        out.append("")
    return "\n".join(out)
