"""The one way a saved run is read: :func:`read_run` gives a frozen :class:`Run`.

Every stage of the analysis (indices, scenario discovery, figures, the appendix, compare,
reweighting) takes a :class:`Run` and reads the run directory through it only: the
manifest and the study are read and validated once, here; each stage opens the results
lazily when it needs them (:meth:`Run.open_results`) and closes them when it is done. The
derived files (``scenarios.csv``, ``compare.csv``), a design's stored unit-cube points,
the digests the run record shows and the records of related runs (variants) come through
accessors that read on first use and keep what they read (:meth:`Run.table`,
:meth:`Run.design_points`, :meth:`Run.sha256`, :meth:`Run.related`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from study.errors import RunError
from study.spec import Study, load_study, samples_key
from study.store import (DESIGN_GROUP, SEALED_RESULTS, Manifest, small_chunk_cache, file_sha256, open_run,
                         results_name)
from xarray.backends import BackendArray
from xarray.backends.netCDF4_ import NetCDF4DataStore
from xarray.core import indexing

from .chunks import ChunkFile
from .methods import check_study
from .textsafe import read_csv

__all__ = ["Run", "read_run", "content_sha256", "PROVENANCE"]

#: Where the derived tables live, in the order they are looked for: ``study run`` writes
#: the comparison with the variants to ``variants/``, an older layout beside the results.
TABLES = {"scenarios": ("scenarios.csv",), "compare": ("variants/compare.csv", "compare.csv")}


@dataclass(frozen=True)
class Run:
    """A run directory as the analysis sees it.

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    manifest : dict
        ``manifest.json`` as read when the record was made.
    study : study.spec.Study
        The run's own ``study.toml``, validated, with the overrides the manifest records
        (``--samples``, ``--seed``): the study as it was run.
    document : dict
        The same ``study.toml`` as parsed TOML, for the descriptive fields the validated
        study does not keep (a constant's description, ``[report]``).
    """

    path: Path
    manifest: dict
    study: Study
    document: dict
    # What the accessors read, kept for the next caller (keyed by the file's size and mtime
    # where the file may be rewritten while the record lives: scenarios.csv after analysis).
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def open_results(self, design: str | None = None):
        """The results of the main design (or of ``design``), opened lazily: close them after use.

        Use it as ``with run.open_results() as ds:``. The record holds no file open: with
        netCDF4, a second handle on a file that another part of the process closes
        crashes the interpreter (measured: a segmentation fault in the figures' tests).
        """
        return _open(self.path, design)

    @property
    def overrides(self) -> dict:
        """The command-line overrides the run recorded (``samples``, ``seed``)."""
        return self.manifest.get("overrides") or {}

    def indices(self, **read_options):
        """``indices.csv`` as a DataFrame (as it is now on disk), or None before the analysis.

        ``read_options`` go to :func:`analysis.textsafe.read_csv` (e.g. ``keep_default_na``).
        """
        path = self.path / "indices.csv"
        return read_csv(path, **read_options) if path.exists() else None

    def indices_group(self, name: str):
        """Group ``name`` of ``indices.nc``, loaded, or None if the file or group is absent."""
        path = self.path / "indices.nc"
        if not path.exists():
            return None
        try:
            return xr.load_dataset(path, group=name)
        except OSError:  # netCDF4 raises OSError for a missing group
            return None

    def file(self, name: str) -> Path:
        """Path of a file of the run directory (for the stages that write next to it)."""
        return self.path / name

    def has(self, name: str) -> bool:
        """Whether the run directory holds the file ``name`` (a path relative to it)."""
        return (self.path / name).is_file()

    def table(self, name: str, **read_options):
        """A derived table of the run (``"scenarios"``, ``"compare"``) as a DataFrame, or None.

        Read on first use and kept while the file is unchanged; ``compare`` is
        ``variants/compare.csv`` (what ``study run`` writes), else a ``compare.csv``
        beside the results. ``read_options`` go to :func:`analysis.textsafe.read_csv`.
        """
        path = next((self.path / f for f in TABLES[name] if (self.path / f).is_file()), None)
        if path is None:
            return None
        return self._kept(("table", path, tuple(sorted(read_options.items()))), path,
                          lambda: read_csv(path, **read_options)).copy()

    def sha256(self, name: str) -> str:
        """Hex sha256 of the bytes of the run's file ``name`` (kept while it is unchanged)."""
        path = self.path / name
        return self._kept(("sha256", name), path, lambda: file_sha256(path))

    def content_sha256(self, name: str) -> str:
        """:func:`content_sha256` of the run's netCDF file ``name`` (kept while it is unchanged)."""
        path = self.path / name
        return self._kept(("content", name), path, lambda: content_sha256(path))

    def design_points(self, design: str | None = None):
        """The unit-cube points the run's ``design`` was evaluated at, as stored, or None.

        ``study run`` stores them (Morris and surrogate designs) in the group
        ``/design`` of the design's results file (``unit`` on ``(sample, param)``).
        None for a design without stored points (a run written before they were stored).

        Returns
        -------
        (numpy.ndarray, list of str) or None
            The points, one row per sample, and the parameter of each column.
        """
        key = ("points", design)
        if key not in self._cache:
            self._cache[key] = _read_points(self.path / results_name(design or "", design is None))
        return self._cache[key]

    def design(self, kind: str, samples: int | None = None):
        """The study's ``kind`` design of ``samples`` blocks (:func:`study.sampling.make_design`), made once.

        Only for a run whose results do not store their points (see :meth:`design_points`).
        """
        key = ("design", kind, samples)
        if key not in self._cache:
            from study.sampling import make_design

            self._cache[key] = make_design(self.study, kind, samples)
        return self._cache[key]

    def related(self, run_dir) -> "Run":
        """The record of another run this one refers to (a variant, a re-run), read once."""
        path = Path(run_dir)
        key = ("related", path.resolve())
        if key not in self._cache:
            self._cache[key] = read_run(path)
        return self._cache[key]

    def image_size(self, name: str) -> tuple[int, int]:
        """Pixel width and height of an image of the run (e.g. ``figures/x.png``), from its header.

        Kept while the file keeps its size and mtime (a figure drawn again is read again).
        """
        path = self.path / name
        return self._kept(("image", path), path, lambda: _image_size(path))

    def _kept(self, key, path: Path, read):
        """``read()``, kept under ``key`` while ``path`` keeps its size and mtime."""
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        got = self._cache.get(key)
        if got is None or got[0] != stamp:
            got = self._cache[key] = (stamp, read())
        return got[1]


def read_run(run, *, verified: dict | None = None) -> Run:
    """Read a run directory once: manifest, validated study, and its results on demand.

    Parameters
    ----------
    run : str, pathlib.Path or Run
        A run directory written by ``study run``; a :class:`Run` is returned as it is.
    verified : dict, optional
        The ``sealed`` record that :func:`study.store.seal` returned to the caller in this
        process (``study run`` right after sealing the results). A results file whose
        manifest entry equals it and whose size and mtime are the ones sealed is not
        hashed again; any other file, and every file of a run read without it, is.

    Returns
    -------
    Run

    Raises
    ------
    study.errors.RunError
        If the directory has no readable ``manifest.json``.
    study.errors.StudyError
        If the run's ``study.toml`` does not validate.
    """
    if isinstance(run, Run):
        return run
    path = Path(run)
    manifest = Manifest.load(path).data
    _verify_sealed(path, manifest, verified or {})
    over = manifest.get("overrides") or {}
    study = load_study(path / "study.toml", samples=over.get("samples"), seed=over.get("seed"))
    check_study(study, where_n=samples_key(over.get("samples")))  # before the scope narrows its methods
    study = study.scoped(manifest.get("analysis_scope"))  # a variant run computes what its comparison reads
    document = tomllib.loads((path / "study.toml").read_text(encoding="utf-8"))
    return Run(path=path, manifest=manifest, study=study, document=document)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image  # only the appendix asks (for a figure's width)

    with Image.open(path) as im:
        return im.size


def _open(run_dir: Path, design: str | None = None) -> xr.Dataset:
    """Open a results file, or say in one line that it is not a readable netCDF file.

    As :func:`study.store.open_run` opens it (netCDF4, lazily, nothing cached), except that
    the variables whose chunks are their stored values are read from those chunks
    (:mod:`analysis.chunks`): the same values, decoded by xarray alike, for a third of the
    CPU that netCDF4's inflate takes.
    """
    try:
        path = Path(run_dir) / results_name(design or "", design is None)
        if not path.is_file():
            return open_run(run_dir, design)  # its one-line error for a run without the file
        with small_chunk_cache(CHUNK_CACHE_BYTES):  # netCDF4's, for the variables it still reads
            ds = xr.open_dataset(_ChunkStore.open_chunked(path), cache=False)
        ds.encoding["source"] = os.path.abspath(path)  # as xarray records a file it opens by name
        return ds
    except OSError as e:  # netCDF4's "[Errno -101] NetCDF: HDF error" for a truncated file
        name = f"results-{design}.nc" if design else "results.nc"
        raise RunError(run_dir / name, "", f"is not a readable netCDF file (truncated or damaged?): {e}") from None


class _ChunkStore(NetCDF4DataStore):
    """xarray's netCDF4 store, whose variables with a :class:`analysis.chunks.ChunkLayout`
    read their chunks instead (:class:`_ChunkArray`); attributes, encoding and decoding are
    netCDF4's."""

    @classmethod
    def open_chunked(cls, path: Path) -> "_ChunkStore":
        store = cls.open(path, mode="r")
        try:
            store.chunks = ChunkFile(path).open()
        except BaseException:
            store.close()
            raise
        return store

    def open_store_variable(self, name: str, var):
        variable = super().open_store_variable(name, var)
        layout = self.chunks.layout(var.group().path, name, var.shape, var.dtype)
        if layout is None:
            return variable
        data = indexing.LazilyIndexedArray(_ChunkArray(self.chunks, layout))
        return xr.Variable(variable.dims, data, variable.attrs, variable.encoding)

    def close(self, **kwargs) -> None:
        super().close(**kwargs)
        self.chunks.close()


class _ChunkArray(BackendArray):
    """A variable read from its chunks (:meth:`analysis.chunks.ChunkFile.rows`), by xarray's
    basic indexing: integers and slices; xarray applies any other indexer to what it returns."""

    def __init__(self, chunks: ChunkFile, layout):
        self.chunks, self.layout = chunks, layout
        self.shape, self.dtype = layout.shape, layout.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._getitem)

    def _getitem(self, key: tuple) -> np.ndarray:
        first, rest = key[0], tuple(key[1:])
        picked = range(self.shape[0])[first]  # an int (IndexError past the end) or a range
        if isinstance(picked, int):
            return self.chunks.rows(self.layout, picked, picked + 1)[(0, *rest)]
        if len(picked) == 0:
            return self.chunks.rows(self.layout, 0, 0)[(slice(None), *rest)]
        lo, hi = min(picked[0], picked[-1]), max(picked[0], picked[-1]) + 1
        block = self.chunks.rows(self.layout, lo, hi)
        rows = slice(None) if picked.step == 1 else np.asarray(picked) - lo
        return block[(rows, *rest)]


def _read_points(path: Path):
    """The ``/design`` group of a results file as ``(points, params)``, or None without one."""
    if not path.is_file():
        return None
    try:
        ds = xr.load_dataset(path, group=DESIGN_GROUP)
    except OSError:  # netCDF4 raises OSError for a missing group
        return None
    return np.asarray(ds["unit"].values, dtype=float), [str(p) for p in ds["param"].values]


def _unchanged(path: Path, entry: dict, verified: dict) -> bool:
    """Whether this process sealed ``path`` as ``entry`` and it still has the sealed size and mtime."""
    if not entry or verified.get(path.name) != entry:
        return False
    st = path.stat()
    return st.st_size == entry.get("size") and st.st_mtime_ns == entry.get("mtime_ns")


def _verify_sealed(run_dir: Path, manifest: dict, verified: dict) -> None:
    """Refuse a results file that is not the one the run sealed (swapped, edited, truncated).

    Each file is hashed in full: measured at N = 2^16 (16.8 MB of results), the sha256
    takes 32 ms against 250 ms to open the file and read one output; a size-and-mtime
    check would pass a same-sized copy whose mtime was carried over (``touch -r``).
    """
    sealed = manifest.get("sealed")
    for name in SEALED_RESULTS:
        path = run_dir / name
        if not path.exists():
            continue
        if sealed is None:  # sealed before checksums were recorded
            if name == "results.nc":
                print(f"warning: {path}: has no checksum in manifest.json (sealed by an older version); "
                      "read unverified", file=sys.stderr)
            continue
        entry = sealed.get(name) or {}
        if _unchanged(path, entry, verified):  # hashed by the seal a moment ago, in this process
            continue
        want = entry.get("sha256")
        got = file_sha256(path)
        if got == want:
            continue
        _open(run_dir, name[len("results-"):-3] if name != "results.nc" else None).close()  # unreadable: say so
        expected = f"sha256 {want}" if want else "none: the run sealed no such file"
        raise RunError(path, "", f"must be the results this run sealed ({expected}); got a file with sha256 {got}")


#: Attributes :func:`content_sha256` leaves out: where and when a file was written (the run
#: folder's name, the hash of a manifest that every stage updates, the random id the store
#: gives each partial file so that a resume trusts only its own chunk records), not what it
#: holds.
PROVENANCE = frozenset({"run_dir", "source_manifest_sha256", "created", "history", "store_id"})


#: Chunk cache of each variable while :func:`content_sha256` reads it.
CHUNK_CACHE_BYTES = 4 << 20


def content_sha256(path: Path, *, block_bytes: int = 64 << 20) -> str:
    """Hex SHA-256 of what a netCDF file holds, not of its bytes.

    Every group, variable (name, dimensions, dtype, raw values) and attribute is hashed in
    name order, except the attributes in :data:`PROVENANCE`. A file rewritten with the same
    data (re-analysis, a resumed run, another compression level or chunking) keeps its
    hash; a changed value or label changes it. Values are read ``block_bytes`` at a time
    (about; whole rows), which does not change the digest.
    """
    import netCDF4

    h = hashlib.sha256()

    def feed(*parts) -> None:
        for p in parts:
            b = p if isinstance(p, bytes) else repr(p).encode()
            h.update(len(b).to_bytes(8, "little") + b)  # length-prefixed: no ambiguity

    def walk(group) -> None:
        feed("group", group.path)
        feed(*[(k, _attr(group.getncattr(k))) for k in sorted(group.ncattrs())
               if k not in PROVENANCE])
        feed(*[(d, len(group.dimensions[d])) for d in sorted(group.dimensions)])
        for name in sorted(group.variables):
            v = group.variables[name]
            v.set_auto_maskandscale(False)
            # netCDF-C's default chunk cache (up to 64 MiB a variable of a compressed file)
            # is kept for every variable until the file closes: 1.2 GB to hash one flagship
            # results.nc at N = 2^14, growing with N. Blocks are read in row order, so a
            # few chunks' worth is enough.
            v.set_var_chunk_cache(size=CHUNK_CACHE_BYTES)
            layout = raw.layout(group.path, name, v.shape, v.dtype)
            if layout is not None:  # its chunks inflated by ISA-L: the same bytes, for a third of the CPU
                _feed_chunks(h, feed, name, v, raw, layout)
            else:
                _feed_values(h, feed, name, v, block_bytes)
            feed(*[(k, _attr(v.getncattr(k))) for k in sorted(v.ncattrs())])
        for sub in sorted(group.groups):
            walk(group.groups[sub])

    with netCDF4.Dataset(path) as ds, ChunkFile(path) as raw:
        walk(ds)
    return h.hexdigest()


def _feed_values(h, feed, name: str, v, block_bytes: int = 64 << 20) -> None:
    """Hash a variable's name, dimensions, dtype and raw values, reading blocks of rows.

    The bytes hashed are those of the whole C-order array behind its length prefix, so the
    digest is that of reading it whole, without holding it whole (one flagship variable
    is 9.6 GiB at N = 2^18).
    """
    n = v.shape[0] if v.ndim else 0
    row = int(np.prod(v.shape[1:], dtype=np.int64)) if v.ndim else 1
    step = max(1, block_bytes // max(1, row * 8))
    first = v[0:min(step, n)] if n else None
    if first is None or first.dtype == object:  # scalars, empty and string variables: whole
        values = np.ascontiguousarray(v[...])
        feed("var", name, v.dimensions, str(values.dtype),
             values.tobytes() if values.dtype != object else repr(values.tolist()))
        return
    feed("var", name, v.dimensions, str(first.dtype))
    h.update((first.itemsize * row * n).to_bytes(8, "little"))  # the length prefix of the whole
    h.update(_raw(first))
    for start in range(len(first), n, step):
        h.update(_raw(v[start:start + step]))


def _feed_chunks(h, feed, name: str, v, raw: ChunkFile, layout) -> None:
    """Hash a variable as :func:`_feed_values` does, from its chunks' bytes."""
    n = v.shape[0]
    row = int(np.prod(v.shape[1:], dtype=np.int64))
    dtype = np.dtype(v.dtype)
    feed("var", name, v.dimensions, str(dtype))
    h.update((dtype.itemsize * row * n).to_bytes(8, "little"))
    for piece in raw.pieces(layout):
        h.update(piece)


def _raw(values: np.ndarray) -> memoryview:
    """The bytes of ``values`` in C order, as a view: ``tobytes`` would copy every block read
    (a copy of the whole file's data, 0.1 CPU-s of 0.8 for the flagship's results.nc)."""
    return memoryview(np.ascontiguousarray(values).reshape(-1).view(np.uint8))


def _attr(value):
    """An attribute in a form whose repr is stable (arrays as lists)."""
    return value.tolist() if hasattr(value, "tolist") else value
