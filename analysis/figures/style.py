"""Journal figure style: sizes, palette and saving.

Widths follow the common two-column journal page (Elsevier, Springer, AGU): one column is
about 89 mm, two columns about 183 mm. Fonts are 7-8 pt at that size so that nothing is
scaled when the PDF is placed at 100%. The palette is seaborn's ``colorblind`` (after
Wong 2011, *Nature Methods* 8:441), which stays distinct under the common colour-vision
deficiencies; continuous maps are ``cividis`` (Nuñez et al. 2018, *PLoS ONE* 13:e0199239).

Text is set in STIX, matplotlib's own TrueType serif, and the robustness appendix is set in
the same files (:func:`serif_files`; the appendix copies them beside its TeX), so figure
and page share one family. Both embed it as TrueType: matplotlib as Type 42, XeLaTeX as
CID TrueType. Chinese text falls back to AR PL SungtiL GB, a Song face with TrueType
outlines (Debian's ``fonts-arphic-gbsn00lp``, which ``texlive-lang-chinese`` installs):
Noto CJK, the appendix's Chinese face, is CFF-flavoured OpenType, which matplotlib 3.11
writes as a CFF font program under a TrueType font dictionary (``pdffonts``: "Mismatch
between font type and embedded font file"), a PDF that submission checkers may reject.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib.figure import Figure

from .png import write_png

__all__ = ["SINGLE", "DOUBLE", "PALETTE", "CMAP", "DIVERGING", "SERIF", "CJK_SERIF", "figure", "num", "png_width",
           "save", "serif_files", "style"]

MM = 1 / 25.4
SINGLE = 89 * MM
DOUBLE = 183 * MM
PALETTE = sns.color_palette("colorblind")
CMAP = "cividis"
DIVERGING = sns.diverging_palette(250, 30, l=60, s=80, as_cmap=True)  # blue-orange
DPI = 300
SERIF = "STIXGeneral"
CJK_SERIF = "AR PL SungtiL GB"


def _one_weight_note(record) -> bool:
    """Drop matplotlib's note that the Chinese face has no bold (it has one weight, used as is)."""
    return not (record.getMessage().startswith("findfont: Failed to find font weight")
                and CJK_SERIF in record.getMessage())


# Bold titles resolve every face of the family list, the Chinese fallback included, while a
# figure is laid out (before it is saved): the note would reach a -q run's stderr each run.
logging.getLogger("matplotlib.font_manager").addFilter(_one_weight_note)

_RC = {
    # A serif face to sit beside the appendix's roman text. STIX is TrueType, ships with
    # matplotlib (so every install has it) and covers the Greek, dashes and the minus sign
    # that labels use; DejaVu Serif is the fallback for anything STIX lacks.
    "font.family": "serif",
    "font.serif": [SERIF, "DejaVu Serif"],
    "mathtext.fontset": "stix",
    "axes.unicode_minus": True,  # tick labels print U+2212, not a hyphen
    "font.size": 7.5,
    "axes.titlesize": 8,
    "axes.labelsize": 7.5,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    # Never LaTeX for figure text, whatever the user's matplotlibrc says: labels come from
    # study files and models, and only mathtext-escaped text is safe (analysis.textsafe).
    "text.usetex": False,
    "pdf.fonttype": 42,  # embed TrueType so text stays text in the PDF
    "ps.fonttype": 42,
    # No tight bounding box: the saved figure keeps the exact column width.
    "figure.constrained_layout.use": True,
    "figure.constrained_layout.h_pad": 0.02,
    "figure.constrained_layout.w_pad": 0.02,
}


def num(value, digits: int = 3) -> str:
    """A number for figure text: ``digits`` significant digits and a true minus sign.

    Examples
    --------
    >>> num(-0.012345) == "\u2212" "0.0123"
    True
    """
    s = f"{float(value):.{digits}g}"
    if float(s) == 0:
        s = "0"  # never "-0"
    return s.replace("-", "\u2212")


@lru_cache(maxsize=1)
def _rc() -> dict:
    """The rc settings, with the Chinese face as a fallback where it is installed.

    matplotlib falls back glyph by glyph only along a list of named families (a generic
    ``serif`` takes its first face alone); naming a family it cannot find would warn on
    every figure, so the Chinese face is listed only when present.
    """
    from matplotlib import font_manager

    try:
        font_manager.findfont(font_manager.FontProperties(family=CJK_SERIF), fallback_to_default=False)
    except ValueError:
        return _RC
    return {**_RC, "font.family": [SERIF, "DejaVu Serif", CJK_SERIF]}


@contextmanager
def style():
    """Apply the figure style for the duration of a ``with`` block."""
    rc = _rc()
    with sns.axes_style("ticks"), sns.plotting_context("paper", rc=rc), \
            sns.color_palette(PALETTE), plt.rc_context(rc):
        yield


def serif_files() -> dict[str, Path]:
    """The TrueType files of the figures' serif face, by shape, as matplotlib finds them.

    Returns
    -------
    dict
        ``regular``, ``bold``, ``italic`` and ``bolditalic`` -> path of the ``.ttf`` file.

    Examples
    --------
    >>> sorted(p.name for p in serif_files().values())
    ['STIXGeneral.ttf', 'STIXGeneralBol.ttf', 'STIXGeneralBolIta.ttf', 'STIXGeneralItalic.ttf']
    """
    from matplotlib import font_manager

    shapes = {"regular": ("normal", "normal"), "bold": ("bold", "normal"), "italic": ("normal", "italic"),
              "bolditalic": ("bold", "italic")}
    return {k: Path(font_manager.findfont(font_manager.FontProperties(family=SERIF, weight=w, style=s),
                                          fallback_to_default=False)) for k, (w, s) in shapes.items()}


def figure(width: float = SINGLE, height: float | None = None, nrows: int = 1,
           ncols: int = 1, ax=None, **kw):
    """Return ``(fig, axes)``; reuse ``ax`` (an Axes or a sequence of them) if given."""
    if ax is not None:
        axes = ax
        first = ax if hasattr(ax, "figure") else list(ax)[0]
        return first.figure, axes
    height = height if height is not None else width * 0.75
    # A bare Figure, not pyplot: no global figure registry to leak, no backend switch in
    # the user's session; savefig renders through Agg/PDF directly.
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    if nrows * ncols == 1:
        return fig, axes[0, 0]
    return fig, axes


@contextmanager
def quiet_fonts():
    """Keep fontTools' subsetting notes out of the run's standard error while saving.

    Subsetting AR PL SungtiL GB logs "too much 'glyf' table data" and "mort NOT subset"
    warnings (its glyf table has 4 bytes of padding; mort is a table PDF viewers never read);
    the embedded subset is complete, and the lines would reach a ``-q`` run's stderr. The
    face has no bold: matplotlib's note that a bold title falls back to its regular weight
    (the only weight there is) is kept off stderr too.
    """
    import logging

    logs = [logging.getLogger(name) for name in ("fontTools", "matplotlib.font_manager")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)


def save(fig, directory: Path, name: str) -> list[Path]:
    """Write ``fig`` as ``<name>.pdf`` and a 300-dpi ``<name>.png``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.pdf", directory / f"{name}.png"]
    # Tick labels, and the PDF's font embedding, are made while saving, from the rc
    # settings of that moment: save inside the style, or the PDF gets Type 3 fonts.
    with style(), quiet_fonts(), _font_lookups_kept(), _layout_in_draw(fig):
        # A fixed creation date keeps the PDF byte-stable across rebuilds of the same run.
        fig.savefig(paths[0], metadata={"CreationDate": None, "Creator": "mcsens"})
        # Pillow's pixels, encoded an eighth as long (analysis.figures.png).
        write_png(fig, paths[1], dpi=DPI, text={"Software": "mcsens"})
    return paths


# The rc settings findfont's answer depends on besides the properties (it keys its own cache on them).
_FONT_RC = ("font.serif", "font.sans-serif", "font.cursive", "font.fantasy", "font.monospace")


@contextmanager
def _font_lookups_kept():
    """Within the block, the font manager answers each font lookup once per font.

    Every text that is measured or drawn asks ``fontManager._find_fonts_by_props`` for its
    files: one ``findfont`` per family of the style's list (STIX, DejaVu Serif, the Chinese
    face), each copying the properties and reading the rc settings before its own cache
    answers. That is 5% of a figure's save; kept by the properties and those rc settings,
    a lookup returns the same files (a copy of the same list), so the output is unchanged.
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if "_find_fonts_by_props" in vars(manager) or not hasattr(manager, "_find_fonts_by_props"):
        yield  # a block inside another keeps the outer one; a matplotlib without it saves as it is
        return
    plain = manager._find_fonts_by_props
    kept = {}

    def find(prop, *args, **kw):
        if not isinstance(prop, font_manager.FontProperties) or args or kw:
            return plain(prop, *args, **kw)
        key = (prop.copy(), tuple(tuple(mpl.rcParams[k]) for k in _FONT_RC))
        if key not in kept:
            kept[key] = plain(prop)
        return list(kept[key])

    manager._find_fonts_by_props = find
    try:
        yield
    finally:
        del manager._find_fonts_by_props


@contextmanager
def _layout_in_draw(fig):
    """Within the block, ``fig`` is laid out by the draw that writes each file, not before it.

    ``savefig`` of a figure with a layout engine draws it twice: a measuring draw that runs
    the layout, then the draw that writes the file, with the engine off. Here the engine is
    taken off the figure, so ``savefig`` goes straight to the writing draw, and that draw
    runs the same engine first, measuring with its own renderer (the format's, at its dpi):
    each format keeps its own layout, the files are byte for byte those of two draws, and
    a save costs a fifth less CPU. (Reusing the PDF's layout for the PNG would save more,
    but Agg's hinted text at 300 dpi measures apart from the PDF's: the layouts differ by
    up to 23 pixels.) The engine and the class's ``draw`` are back when the block ends.
    """
    engine = fig.get_layout_engine()
    if engine is None:
        yield  # savefig draws once already
        return

    def draw(renderer):
        if fig.axes:  # as Figure.draw runs its engine (a no-op for "none"), ValueError included
            # The engine measures with fig._get_renderer(), for a PDF a new renderer (and
            # file) each time; the writing one measures alike, and the text sizes it
            # caches as it lays out serve its draw.
            fig._get_renderer = lambda: renderer
            try:
                engine.execute(fig)
            except ValueError:
                pass
            finally:
                del fig._get_renderer
        type(fig).draw(fig, renderer)

    # Setting no engine falls back to the rc settings, and the style's turn on constrained
    # layout: off for the block, since savefig too sets "none" and puts back what it found.
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)
        fig.draw = draw  # an instance attribute over the class's method, deleted below
        try:
            yield
        finally:
            del fig.draw
            fig.set_layout_engine(engine)


def png_width(fig) -> float:
    """Width in inches of the 300-dpi PNG :func:`save` writes of ``fig``, known before it is written.

    Agg makes the canvas ``int(width * dpi)`` pixels wide (the figure keeps its size: no
    tight bounding box), so this is the PNG's pixel width over :data:`DPI`, the width the
    appendix reads back from a PNG already on disk.

    Examples
    --------
    >>> png_width(Figure(figsize=(SINGLE, 2))) == 1051 / DPI
    True
    """
    return int(fig.get_figwidth() * DPI) / DPI
