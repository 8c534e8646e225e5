"""Reading a results file's deflated HDF5 chunks directly: h5py for the bytes, ISA-L to inflate.

netCDF4 inflates each chunk with zlib, holding the interpreter lock: 0.7 CPU-s to read a
flagship ``results.nc`` (65 MB on disk) once, and the run reads it whole several times (the
analysis, the figures, the appendix's record of it). The store writes each region's chunks
deflated, with nothing else (no shuffle, no checksum: :func:`study.store.deflate`), and
ISA-L inflates such a stream at about a third of zlib's cost. The bytes are the stored
values, exactly what netCDF4 returns with its automatic masking and scaling off.

A variable is read this way only when its chunks are exactly those values
(:func:`chunk_layout`); any other variable, or every one when h5py or isal is missing or
h5py cannot open the file, is left to netCDF4.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["ChunkFile", "ChunkLayout", "chunk_layout"]

#: HDF5's identifier of the deflate filter.
DEFLATE = 1


class ChunkLayout:
    """How one variable's values lie in its HDF5 chunks: whole chunks of ``rows`` rows along
    the first dimension, every other dimension whole, ``deflated`` or stored as they are."""

    def __init__(self, dset, deflated: bool):
        self.dset = dset
        self.deflated = deflated
        self.shape = tuple(dset.shape)
        self.dtype = np.dtype(dset.dtype)
        self.rows = int(dset.chunks[0])
        self.tail = self.shape[1:]
        self.chunk_bytes = self.rows * self.dtype.itemsize * int(np.prod(self.tail, dtype=np.int64))

    @property
    def row_bytes(self) -> int:
        return self.chunk_bytes // self.rows

    def count(self) -> int:
        """Chunks of the variable's extent."""
        return -(-self.shape[0] // self.rows)


def chunk_layout(dset, shape, dtype) -> ChunkLayout | None:
    """The :class:`ChunkLayout` of the h5py dataset ``dset``, or None if its chunks are not
    exactly the values netCDF4 gives as ``shape`` and ``dtype``.

    They are when the dataset is numeric in native byte order with netCDF4's dtype and
    shape, chunked along its first dimension only (whole in the others), deflated and
    nothing else or not filtered at all, and holds every chunk of its extent (a chunk never
    written reads as fill values, which netCDF4 supplies and a chunk read would not).
    """
    if not hasattr(dset, "id") or dset.chunks is None or len(shape) == 0 or shape[0] == 0:
        return None
    kind = np.dtype(dset.dtype)
    if (kind.kind not in "biuf" or not kind.isnative or kind != np.dtype(dtype)
            or tuple(dset.shape) != tuple(shape) or tuple(dset.chunks[1:]) != tuple(dset.shape[1:])):
        return None
    plist = dset.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if codes not in ([], [DEFLATE]):
        return None
    layout = ChunkLayout(dset, deflated=bool(codes))
    return layout if dset.id.get_num_chunks() == layout.count() else None


class ChunkFile:
    """A results file open through h5py, for reading its variables' chunks (a context manager).

    A second, read-only handle, of h5py's own HDF5 library: netCDF4's handle on the same
    file is unaffected. :meth:`layout` says which variables can be read; :meth:`chunk`,
    :meth:`pieces` and :meth:`rows` read them. The last chunk inflated of each variable is
    kept until the file closes, as netCDF-C's chunk cache keeps it (the 4 MiB a variable
    :func:`study.store.open_run` gives it; the store's chunks are at most that): the
    analysis reads each input and output several times (per method, per output), and a
    flagship variable is one chunk, inflated once. Safe to use from several threads: h5py
    serialises its own calls.
    """

    def __init__(self, path):
        self.path = path
        self.h5 = self._inflate = None
        self._lock = threading.Lock()
        self._last: dict = {}  # dataset id -> (chunk index, its bytes)

    def __enter__(self) -> "ChunkFile":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> "ChunkFile":
        """Open the file; without h5py or isal, or a file h5py cannot open, no variable has a layout."""
        try:
            import h5py
            from isal import isal_zlib
        except ImportError:
            return self
        try:
            self.h5 = h5py.File(self.path, "r", locking=False)  # the file is sealed (read-only)
        except OSError:
            return self
        self._inflate = isal_zlib.decompress
        return self

    def close(self) -> None:
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None
        self._last = {}

    def layout(self, group_path: str, name: str, shape, dtype) -> ChunkLayout | None:
        """:func:`chunk_layout` of variable ``name`` of the netCDF group at ``group_path``, or None."""
        if self.h5 is None:
            return None
        dset = self.h5.get(f"{group_path.rstrip('/')}/{name}")
        return None if dset is None else chunk_layout(dset, shape, dtype)

    def chunk(self, layout: ChunkLayout, index: int, keep: bool = True) -> memoryview:
        """The raw bytes of chunk ``index`` of ``layout``'s variable, whole (the last one padded);
        kept as the variable's last chunk unless ``keep`` is false."""
        key = layout.dset.id.id
        with self._lock:
            kept = self._last.get(key)
            if kept is not None and kept[0] == index:
                return kept[1]
        start = index * layout.rows
        mask, data = layout.dset.id.read_direct_chunk((start, *(0,) * len(layout.tail)))
        if layout.deflated and not mask & 1:  # bit 0 set: the filter was skipped for this chunk
            data = self._inflate(data, bufsize=layout.chunk_bytes)
        if len(data) != layout.chunk_bytes:
            raise OSError(f"{self.path}: chunk {index} of {layout.dset.name} holds {len(data)} bytes, "
                          f"not {layout.chunk_bytes}")
        view = memoryview(data)
        if keep:
            with self._lock:
                self._last[key] = (index, view)
        return view

    def pieces(self, layout: ChunkLayout):
        """The variable's values as C-order bytes, chunk by chunk (the padding left out), none
        kept: a reader of the whole file once (its digest) would hold a chunk of every variable."""
        n = layout.shape[0]
        for index in range(layout.count()):
            rows = min(layout.rows, n - index * layout.rows)
            yield self.chunk(layout, index, keep=False)[:rows * layout.row_bytes]

    def rows(self, layout: ChunkLayout, lo: int, hi: int) -> np.ndarray:
        """Rows ``[lo, hi)`` of the variable as a new array."""
        out = np.empty((hi - lo, *layout.tail), dtype=layout.dtype)
        if out.size == 0:
            return out
        flat = out.reshape(-1).view(np.uint8)
        r = layout.row_bytes
        for index in range(lo // layout.rows, -(-hi // layout.rows)):
            c0 = index * layout.rows
            a, b = max(lo, c0), min(hi, c0 + layout.rows)
            flat[(a - lo) * r:(b - lo) * r] = np.frombuffer(self.chunk(layout, index), np.uint8,
                                                            (b - a) * r, (a - c0) * r)
        return out
