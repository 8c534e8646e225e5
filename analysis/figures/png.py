"""A figure's 300-dpi PNG, encoded here rather than by Pillow.

Pillow filters every row of the image five ways to pick the best (PNG's adaptive filter)
and deflates the result with zlib: for a figure of 2161 x 1515 RGBA pixels that is 65 ms,
a seventh of the figure's whole save. A figure is mostly flat colour, where the unfiltered
rows deflate as well as the filtered ones; ISA-L (``isal``, already the run store's
deflate) compresses them at level 1 in 8 ms into a file a few percent smaller. The pixels
are Agg's RGBA buffer as matplotlib hands it to Pillow, so any PNG reader decodes the same
array; only the bytes of the file differ.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["encode_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGBA8 = (8, 6, 0, 0, 0)  # bit depth, colour type (truecolour + alpha), deflate, filters, no interlace


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def encode_png(rgba: np.ndarray, *, dpi: float, text: dict[str, str] | None = None) -> bytes:
    """The PNG file of an 8-bit RGBA image, rows unfiltered, deflated by ISA-L at level 1.

    Parameters
    ----------
    rgba : numpy.ndarray of uint8, shape (height, width, 4)
        The pixels, top row first (Agg's ``buffer_rgba``).
    dpi : float
        Resolution, stored as a ``pHYs`` chunk in pixels per metre, rounded as Pillow does.
    text : dict, optional
        Keyword -> Latin-1 text, stored as ``tEXt`` chunks (e.g. ``{"Software": "mcsens"}``).

    Returns
    -------
    bytes
    """
    from isal import isal_zlib

    rgba = np.asarray(rgba)
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"not an RGBA image of bytes: {rgba.dtype} array of shape {rgba.shape}")
    height, width = rgba.shape[:2]
    rows = np.zeros((height, 1 + width * 4), np.uint8)  # each row opens with filter type 0 (none)
    rows[:, 1:] = rgba.reshape(height, width * 4)
    ppm = int(dpi / 0.0254 + 0.5)
    parts = [_SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, *_RGBA8))]
    parts += [_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1")) for k, v in (text or {}).items()]
    parts += [_chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
              _chunk(b"IDAT", isal_zlib.compress(rows, 1)), _chunk(b"IEND", b"")]
    return b"".join(parts)


class _Pixels(io.BytesIO):
    """A file for ``savefig(format="raw")`` that keeps the RGBA buffer with its shape
    (a BytesIO, since savefig takes only a path or a file it can seek in)."""

    def write(self, buffer) -> int:
        self.rgba = np.array(buffer, np.uint8)  # a copy: the renderer's buffer is reused
        return self.rgba.nbytes


def write_png(fig, path: Path, *, dpi: float, text: dict[str, str] | None = None, **savefig) -> None:
    """Render ``fig`` with Agg at ``dpi`` and write it to ``path`` with :func:`encode_png`.

    The figure is rendered by ``savefig(format="raw")``, the same call (size, dpi,
    facecolour, layout, and any further ``savefig`` arguments, e.g. ``bbox_inches``) that
    writes a PNG, up to the point where Agg's buffer goes to Pillow; here it goes to
    :func:`encode_png` instead. This is how :func:`analysis.figures.style.save` writes
    its PNGs.
    """
    pixels = _Pixels()
    fig.savefig(pixels, format="raw", dpi=dpi, **savefig)
    Path(path).write_bytes(encode_png(pixels.rgba, dpi=dpi, text=text))
