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
    width_in: float = 7.2  # the figure's own width; it is placed at that size, not blown up


def _colspec(t: Table) -> str:
    widths = t.widths or [0.3] + [None] * (len(t.header) - 1)
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
            out.append("\n".join([
                r"\begin{figure}[!htbp]", r"\centering",
                # Text width of an A4/letter article is about 6.3 in; a one-column figure
                # keeps its journal size instead of being scaled to the full width.
                r"\includegraphics[width=%.2f\linewidth]{%s%s.pdf}" % (
                    min(b.width_in / 6.3, 1.0), figdir, ref_name(b.name)),
                r"\caption{%s}\label{fig:%s%s}" % (latex_escape(b.caption), prefix,
                                                   ref_name(b.name)),
                r"\end{figure}"]))
        out.append("")
    return "\n".join(out)


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
            out.append("| " + " | ".join(markdown_cell(h) for h in b.header) + " |")
            align = [":--" if w else "--:" for w in (b.widths or [0.3] + [None] * (len(b.header) - 1))]
            out.append("| " + " | ".join(align) + " |")
            out += ["| " + " | ".join(markdown_cell(c) for c in r) + " |" for r in b.rows]
        elif isinstance(b, Fig):
            out.append(f"![{markdown_escape(b.caption)}]({figdir}{ref_name(b.name)}.png)")
            out.append("")
            out.append(f"*{markdown_escape(b.caption)}*")
        out.append("")
    return "\n".join(out)
