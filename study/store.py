"""Run directories: write-once, self-describing, never overwritten.

``runs/<study>/<UTC time>-<short hash>/`` holds ``manifest.json`` (status, argv, seed,
hashes, versions, timings), a verbatim ``study.toml`` and ``results.nc``. Each sample is
written once: while a run is evaluating, each finished chunk is written in place into
``results.nc.partial`` (:class:`ResultsStore`), the file flushed, and the chunk's block
range, row count and the sha256 of its values then appended to ``chunks.jsonl``. A resume
keeps only regions whose values still match that record (HDF5 is not crash-safe: a file a
SIGKILL left unreadable is evaluated again from the start), and the file takes its final
name only when every chunk is in it.

A process evaluating a run holds an exclusive ``flock`` on the run's ``.lock`` file (the
kernel releases it when the process dies, however it dies), and ``.reserve`` keeps a little
disk space back so that the manifest can still say ``failed`` when the disk fills up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import RunError, StudyError

VERSIONED = ("mcsens", "numpy", "scipy", "xarray", "pandas", "netCDF4", "SALib", "dask", "distributed",
             "matplotlib", "seaborn", "scikit-learn")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def versions() -> dict[str, str]:
    """The versions of Python and of the :data:`VERSIONED` packages, for a run's manifest.

    Looked up once per process: each lookup scans the installed distributions (14 ms, which
    every side run a worker process evaluates paid again). A package upgraded under a
    running process keeps the version first looked up; the modules it imported are that one.
    """
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The toolkit's git commit (with ``+dirty`` for uncommitted changes), if it is a checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


CHUNK_INDEX = "chunks.jsonl"
LOCK = ".lock"
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024  # the manifest is a few kB; its atomic rewrite needs a second copy
_FULL = (errno.ENOSPC, errno.EDQUOT)


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB pieces (results files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def temporary_name(path: Path) -> Path:
    """A hidden sibling of `path` no other process can pick: pid plus random bits."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_temporaries(run_dir) -> None:
    """Delete temporary files left by killed processes (call only while holding the lock)."""
    run_dir = Path(run_dir)
    for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob("chunks/.*.tmp")]:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, write) -> None:
    """Write ``path`` whole or not at all: ``write(tmp)`` fills a hidden sibling, renamed over it.

    A reader (or a killed writer) never sees a half-written file; a previous file at
    ``path``, even a read-only one, is replaced. The toolkit's one write-then-rename.
    """
    tmp = temporary_name(Path(path))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"))


@contextlib.contextmanager
def locked(run_dir):
    """Hold the run's exclusive lock for the duration of the block, or refuse.

    The lock is an ``flock`` on ``<run>/.lock``, which records the holder's pid. The file is
    never deleted: unlinking a lock file lets two processes lock two different files.

    Raises
    ------
    RunError
        If another process holds the lock (naming its pid), or the lock file cannot be opened.
    """
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunError(run_dir, "", f"cannot be locked for evaluation: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(run_dir, "", f"is being evaluated by another process (pid {_holder(fd)}); let it "
                           "finish or stop it, then resume") from None
        except OSError as e:
            # Some cluster filesystems (Lustre without -o flock) refuse locks: run, but say so.
            print(f"warning: {run_dir}: this filesystem does not support locks ({e.strerror}); do not "
                  "resume this run twice at once", file=sys.stderr)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    # The holder writes its pid just after locking: give it a moment.
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


def reserve_space(run_dir) -> None:
    """Set aside :data:`RESERVE_BYTES` so the manifest can be rewritten on a full disk.

    Raises
    ------
    RunError
        If the disk is too full to hold even that.
    """
    path = Path(run_dir) / RESERVE
    if path.exists() and path.stat().st_size >= RESERVE_BYTES:
        return
    try:
        path.write_bytes(b"\0" * RESERVE_BYTES)  # written, not sparse: the blocks are really held
    except OSError as e:
        path.unlink(missing_ok=True)
        if e.errno in _FULL:
            raise RunError(run_dir, "", "must be on a disk with free space; got no space left on device") from None
        raise


def release_reserve(run_dir) -> bool:
    """Give the reserved space back (a run that stopped needs none until it is resumed)."""
    path = Path(run_dir) / RESERVE
    if not path.exists():
        return False
    path.unlink()
    return True


class DiskFull(RunError):
    """Writing into a run failed because its disk is full; the run stays resumable."""


def new_run_dir(root, study) -> Path:
    """Create ``<root>/<study>/<UTC>-<hash>[-k]/`` atomically; never reuse a directory.

    The hash covers the study file, seed and sample size; two runs started in the same
    second get suffixes because ``mkdir`` without ``exist_ok`` is atomic.
    """
    base = Path(root) / study.name
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    key = f"{study.sha256}:{study.sampling.seed}:{study.sampling.samples}".encode()
    short = hashlib.sha256(key).hexdigest()[:8]
    for k in range(1, 10_000):
        path = base / (f"{stamp}-{short}" if k == 1 else f"{stamp}-{short}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunError(base, "", "could not create a new run directory (10 000 runs in one second?)")


class Manifest:
    """The run's ``manifest.json``, rewritten atomically on every update."""

    def __init__(self, run_dir: Path, data: dict):
        self.path = Path(run_dir) / "manifest.json"
        self.data = data

    @classmethod
    def load(cls, run_dir) -> "Manifest":
        path = Path(run_dir) / "manifest.json"
        try:
            return cls(Path(run_dir), json.loads(path.read_text()))
        except FileNotFoundError:
            raise RunError(run_dir, "", "is not a run directory (no manifest.json)") from None
        except json.JSONDecodeError as e:
            raise RunError(path, f"line {e.lineno}", f"must be valid JSON; got {e.msg}") from None

    def update(self, **fields) -> None:
        for k, v in fields.items():
            if isinstance(v, dict) and isinstance(self.data.get(k), dict):
                self.data[k].update(v)
            else:
                self.data[k] = v
        try:
            write_json_atomic(self.path, self.data)
        except OSError as e:
            # A full disk must not leave the manifest saying "running": spend the reserve.
            if e.errno not in _FULL or not release_reserve(self.path.parent):
                raise
            write_json_atomic(self.path, self.data)

    def __getitem__(self, key):
        return self.data[key]


#: How every variable along ``sample`` is stored: lossless deflate (zlib) at level 1,
#: which netCDF-C, ``ncdump`` and R's ncdf4 read without plugins. Measured on the flagship
#: (``benchmarks/bench_storage.py``): 275 bytes a sample against 1,137 uncompressed. No
#: shuffle: a Saltelli design repeats each input value across its blocks, whole 8-byte
#: values that deflate finds as they are and shuffling splits (391 bytes a sample with it).
COMPRESSION = {"zlib": True, "complevel": 1, "shuffle": False}


@contextlib.contextmanager
def small_chunk_cache(size: int = 1 << 20):
    """netCDF-C's chunk cache at `size` bytes per variable for files opened in the block.

    Its default, 64 MiB for each variable of a compressed file, grows with N: writing a
    combined results file held about 290 MB more at N = 2^14 (``benchmarks/bench_memory.py``),
    and reading could hold 64 MiB for each of the flagship's 62 variables at 2^18. Two
    HDF5 chunks per variable suffice for writes in sample order, a few for block reads.
    """
    import netCDF4

    before = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(size, before[1], before[2])
    try:
        yield
    finally:
        netCDF4.set_chunk_cache(*before)


#: Suffix of a results file while it is evaluated: it takes its final name only when sealed.
PARTIAL = ".partial"
#: Largest HDF5 chunk of one variable, in bytes: a chunk is a whole number of blocks that
#: divides a region, so each region write fills its own chunks and never rewrites a neighbour's.
MAX_HDF5_CHUNK = 4 << 20
#: Whether a region that starts (and ends, or ends the file) on HDF5 chunk boundaries is
#: written chunk by chunk through h5py, deflated by ISA-L (:func:`deflate`), instead of by
#: netCDF4, whose HDF5 deflates with zlib: the same format, which any inflate reads, at a
#: fifth of the CPU time. Other regions, and every region when h5py or isal is missing, take
#: netCDF4's write. Tests set it to False to compare the two paths.
DIRECT_CHUNKS = True
#: ISA-L's compression level: on a flagship results.nc (1 MiB pieces) level 1 deflates
#: 4.16x in 0.39 s, where zlib's level 1 (HDF5's filter as netCDF4 sets it) takes 2.17 s for 4.08x.
DEFLATE_LEVEL = 1
#: Storage of a 0/1 output: a byte, -127 (netCDF's default byte fill) for a failed sample.
FLAG_FILL = -127
#: Largest relative error of ``[storage] precision = "float32"`` (round to nearest: half
#: a unit in the last place of a 24-bit significand), for normal numbers.
FLOAT32_ERROR = 2.0 ** -24
#: How one variable is read back: a packed integer unpacks to float64 (CF: the type of
#: ``scale_factor``), so the analysis sees the same float64 values as before compaction.
_UNPACK = {"scale_factor": np.float64(1.0)}


def _direct_modules():
    """``(h5py, isal.isal_zlib)``, or None if either is not installed (then netCDF4 writes)."""
    try:
        import h5py
        from isal import isal_zlib
    except ImportError:
        return None
    return h5py, isal_zlib


def deflate(raw) -> bytes:
    """A zlib stream of `raw` (bytes-like), as HDF5's deflate filter stores a chunk.

    ISA-L at :data:`DEFLATE_LEVEL`: a zlib header, raw deflate and an Adler-32, which the
    filter's ``inflate`` (netCDF-C, R's ncdf4, h5py) decodes like zlib's own output.

    Examples
    --------
    >>> import zlib
    >>> zlib.decompress(deflate(b"abc" * 1000)) == b"abc" * 1000
    True
    """
    from isal import isal_zlib

    return isal_zlib.compress(raw, level=DEFLATE_LEVEL)


def partial_path(run_dir, out_name: str) -> Path:
    """Where ``out_name`` (``results.nc``, ``results-<design>.nc``) is written before it is sealed."""
    return Path(run_dir) / (out_name + PARTIAL)


def _append_line(path: Path, line: str) -> None:
    with open(path, "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        torn = end > 0 and f.seek(end - 1) >= 0 and f.read(1) != b"\n"
        # A process killed mid-line leaves a torn last line: end it, or it swallows this one.
        f.write((b"\n" if torn else b"") + line.encode() + b"\n")
        f.flush()


def _disk_full(err: Exception, folder: Path, need: int) -> bool:
    # netCDF reports a full disk as "NetCDF: HDF error" without an errno: ask the disk.
    if getattr(err, "errno", None) in _FULL:
        return True
    try:
        return shutil.disk_usage(folder).free < need
    except OSError:
        return False


def region_records(run_dir, design: str, store_id: str) -> dict[int, dict]:
    """The latest ``chunks.jsonl`` record of each region of one partial file, by first block.

    Records of another file (an earlier partial file that could not be opened, or a run of an
    older version) and lines that do not parse (a process killed while appending) are skipped.
    """
    path = Path(run_dir) / CHUNK_INDEX
    records = {}
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            if rec["design"] == design and rec.get("store") == store_id:
                records[int(rec["b0"])] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return records


def storage_kind(name: str, var: xr.Variable, flags=(), precision: str = "float64") -> str:
    """How a variable along ``sample`` is stored: ``"flag"``, ``"integer"``, ``"float32"`` or ``"as is"``.

    A 0/1 output (the model returned booleans, or one of `flags`, the ``headline`` outputs
    the contract holds to 0/1) is a byte; an output the model returned as a narrower
    integer keeps that type (``model_dtype``, recorded by :func:`study.contract.check_result`);
    other float outputs are float32 if `precision` says so. Inputs and coordinates stay float64.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> out = xr.Variable("sample", np.zeros(3), {"role": "output"})
    >>> storage_kind("y", out), storage_kind("y", out, precision="float32"), storage_kind("y", out, ["y"])
    ('as is', 'float32', 'flag')
    >>> storage_kind("k", xr.Variable("sample", np.zeros(3), {"role": "output", "model_dtype": "int16"}))
    'integer'
    >>> storage_kind("x1", xr.Variable("sample", np.zeros(3), {"role": "input"}), precision="float32")
    'as is'
    """
    if var.attrs.get("role") != "output" or var.dtype != np.float64:
        return "as is"
    model = var.attrs.get("model_dtype")
    if model == "bool" or name in flags:
        return "flag"
    if model and np.dtype(model).kind in "iu" and np.dtype(model).itemsize < 8:
        return "integer"
    return "float32" if precision == "float32" else "as is"


def storage_attrs(precision: str) -> dict:
    """What a run records of its storage (the results files' attributes, the manifest's ``storage``).

    Examples
    --------
    >>> storage_attrs("float32")
    {'precision': 'float32', 'max_relative_error': 5.960464477539063e-08}
    >>> storage_attrs("float64")
    {'precision': 'float64', 'max_relative_error': 0.0}
    """
    return {"precision": precision, "max_relative_error": FLOAT32_ERROR if precision == "float32" else 0.0}


def _hdf5_chunk(var: xr.Variable, region_blocks: int, block_size: int, most: int | None = None) -> tuple[int, ...]:
    """HDF5 chunk shape of a variable along ``sample``: the largest divisor of a region (in
    blocks) under :data:`MAX_HDF5_CHUNK` and at most ``most`` blocks, the whole of every other
    dimension."""
    row = var.dtype.itemsize * int(np.prod(var.shape[1:], dtype=np.int64))
    most = region_blocks if most is None else most
    m = next((m for m in range(min(most, region_blocks), 0, -1)
              if region_blocks % m == 0 and m * block_size * row <= MAX_HDF5_CHUNK), 1)
    return (m * block_size, *var.shape[1:])


class ResultsStore:
    """One design's results file, written once per sample: region by region, in place.

    The file is created at the first region as ``<name>.partial``, every variable along an
    unlimited ``sample`` dimension, deflated (:data:`COMPRESSION`). Each chunk of blocks
    ``[b0, b1)`` is written into rows ``[b0 * block_size, b1 * block_size)``, the file is
    flushed, and only then is the region recorded in ``chunks.jsonl`` with the sha256 of
    the values written: a crash between the two leaves an unrecorded region, evaluated
    again. HDF5 is not crash-safe, so a resume (:meth:`resume`) trusts only regions whose
    values still hash to their record, and a partial file it cannot open is deleted and
    evaluated again from the start: a restart, never wrong numbers. :meth:`seal` renames
    the file to its final name, so a file under that name is always whole.

    Parameters
    ----------
    run_dir : path
    design : str
        ``sobol``, ``morris``, ...: the design the regions belong to.
    out_name : str
        ``results.nc`` or ``results-<design>.nc``.
    block_size, region_blocks : int
        Samples per block, and blocks per region (the study's ``chunk_rows``).
    attrs : dict
        The sealed file's global attributes.
    flags : sequence of str
        Outputs held to 0/1 (the ``headline`` outputs), stored as bytes.
    precision : str
        ``"float64"`` or ``"float32"``: how other float outputs are stored.
    """

    def __init__(self, run_dir, design: str, out_name: str, *, block_size: int, region_blocks: int,
                 attrs: dict, flags=(), precision: str = "float64"):
        self.run_dir, self.design = Path(run_dir), design
        self.final = self.run_dir / out_name
        self.path = partial_path(run_dir, out_name)
        self.block_size, self.region_blocks = block_size, region_blocks
        self.attrs, self.flags, self.precision = dict(attrs), set(flags), precision
        self.nc, self.id, self.kinds, self.recorded = None, None, {}, set()
        # At most one of nc (netCDF4) and h5 (h5py) is open: two HDF5 libraries never hold
        # the file for writing at once. layout: each variable's dtype and HDF5 chunk, or None
        # if its chunks cannot be written directly; rows: the file's length along sample.
        self.h5, self.dtypes, self.layout, self.rows = None, {}, {}, 0

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._close_netcdf()
        self._close_hdf5()

    def _close_netcdf(self) -> None:
        if self.nc is not None:
            with contextlib.suppress(Exception):  # a file a full disk broke: resume checks it
                self.nc.close()
            self.nc = None

    def _close_hdf5(self) -> None:
        if self.h5 is not None:
            with contextlib.suppress(Exception):  # as for netCDF4: resume checks what is left
                self.h5.close()
            self.h5 = None

    def resume(self, ranges) -> tuple[set[int], list[str]]:
        """Open the partial file an earlier process left and keep the regions that match their record.

        Parameters
        ----------
        ranges : sequence of (int, int)
            Every region ``[b0, b1)`` of the design: a record of any other is not used.

        Returns
        -------
        set of int
            First blocks of the regions kept.
        list of str
            One line per region (or file) that will be evaluated again, and why.
        """
        if not self.path.exists():
            return set(), []
        try:
            self._open()
        except Exception as e:  # a truncated or half-written HDF5 file: netCDF says "HDF error"
            self.close()
            self.id = None  # the file is gone: the first region writes a new one
            self.path.unlink()
            return set(), [f"{self.path}: cannot be opened ({_reason(e)}); deleted, every chunk of the "
                           f"{self.design} design will be evaluated again"]
        ends, notes = dict(ranges), []
        for b0, rec in sorted(region_records(self.run_dir, self.design, self.id).items()):
            why = self._distrust(b0, rec, ends)
            if why is None:
                self.recorded.add(b0)
            else:
                again = "; they will be evaluated again" if b0 in ends else "; ignored"
                last = rec["b1"] - 1 if isinstance(rec.get("b1"), int) else "?"
                notes.append(f"{self.path}: blocks {b0}–{last} {why}{again}")
        return set(self.recorded), notes

    def _open(self) -> None:
        """Open the partial file with netCDF4 (closing h5py's handle first) and read its schema."""
        import netCDF4

        self._close_hdf5()
        with small_chunk_cache():
            self.nc = netCDF4.Dataset(self.path, "r+")
        self.nc.set_auto_maskandscale(False)  # values as stored: what the records hash
        self.id = str(self.nc.getncattr("store_id"))
        self.kinds = {k: str(v.getncattr("storage")) for k, v in self.nc.variables.items()
                      if "storage" in v.ncattrs()}
        self.dtypes = {k: self.nc.variables[k].dtype for k in self.kinds}
        self.layout = {k: _chunk_layout(self.nc.variables[k]) for k in self.kinds}
        self.rows = self.nc.dimensions["sample"].size

    def _distrust(self, b0: int, rec: dict, ends: dict) -> str | None:
        """Why a recorded region cannot be used, or None if its values hash to the record."""
        b1 = ends.get(b0)
        if b1 is None or rec.get("b1") != b1 or rec.get("rows") != (b1 - b0) * self.block_size:
            return "are not a chunk of this run's design (a forged or foreign record)"
        s0, s1 = b0 * self.block_size, b1 * self.block_size
        if self.nc.dimensions["sample"].size < s1:
            return "lie beyond the end of the file (truncated)"
        try:
            digest = _digest((name, self.nc.variables[name][s0:s1]) for name in sorted(self.kinds))
        except Exception as e:
            return f"cannot be read ({_reason(e)})"
        if digest != rec.get("sha256"):
            return "do not match their recorded sha256 (corrupt or overwritten)"
        return None

    def write(self, b0: int, b1: int, ds: xr.Dataset) -> None:
        """Write blocks ``[b0, b1)`` into their rows, flush, then record the region.

        Raises
        ------
        DiskFull
            If the disk filled up; the region is not recorded and the run stays resumable.
        StudyError
            If an integer output holds a value its storage type cannot (the model broke the
            type it returned on an earlier chunk).
        """
        if ds.sizes["sample"] != (b1 - b0) * self.block_size:
            raise RunError(self.run_dir, "", f"blocks {b0}–{b1 - 1} must hold {(b1 - b0) * self.block_size} "
                           f"samples; got {ds.sizes['sample']}")
        s0, s1 = b0 * self.block_size, b1 * self.block_size
        try:
            if self.id is None:
                self._create(ds, self._chunk_blocks(b0, b1))
            stored = {name: self._stored(name, ds.variables[name], kind) for name, kind in self.kinds.items()}
            self._put(s0, s1, stored)
            record = {"design": self.design, "b0": b0, "b1": b1, "rows": s1 - s0, "first_sample": s0,
                      "store": self.id, "sha256": _digest(sorted(stored.items()))}
            _append_line(self.run_dir / CHUNK_INDEX, json.dumps(record, sort_keys=True))
        except StudyError:
            raise
        except Exception as e:
            if _disk_full(e, self.run_dir, ds.nbytes + (1 << 20)):
                raise DiskFull(self.run_dir, "", f"must be on a disk with room for blocks {b0}–{b1 - 1} of "
                               f"{self.path.name}; got no space left on device. The run stays resumable: free "
                               f"some space, then study run --resume {self.run_dir}") from None
            raise
        self.recorded.add(b0)

    def _put(self, s0: int, s1: int, stored: dict) -> None:
        """Write rows ``[s0, s1)`` of each variable and flush: on disk before the record says so."""
        direct = self._direct(s0, s1, stored)
        if direct is None:
            self._put_netcdf(s0, s1, stored)
        else:
            self._put_chunks(s0, s1, direct)

    def _put_netcdf(self, s0: int, s1: int, stored: dict) -> None:
        if self.nc is None:
            self._open()
        for name, values in stored.items():
            self.nc.variables[name][s0:s1] = values
        self.nc.sync()
        self.rows = self.nc.dimensions["sample"].size

    def _direct(self, s0: int, s1: int, stored: dict) -> dict | None:
        """`stored` in each variable's file dtype if rows ``[s0, s1)`` can be written as whole
        HDF5 chunks, else None (netCDF4 writes the region).

        Every chunk the region touches must be its own: the region starts on a chunk
        boundary of every variable and ends on one, or ends the file (its last chunk is
        padded; HDF5 stores whole chunks and reads none of it past the file's length).
        """
        if not DIRECT_CHUNKS or _direct_modules() is None:
            return None
        out = {}
        for name, values in stored.items():
            layout = self.layout.get(name)
            if layout is None:
                return None
            dtype, chunk = layout
            rows = chunk[0]
            if values.shape[1:] != chunk[1:] or not np.can_cast(values.dtype, dtype, "safe"):
                return None
            if s0 % rows or (s1 % rows and s1 < self.rows):
                return None
            # A safe cast (a boolean to its byte) gives the values netCDF4's own write stores.
            out[name] = np.ascontiguousarray(values, dtype=dtype)
        return out

    def _put_chunks(self, s0: int, s1: int, stored: dict) -> None:
        """Deflate each HDF5 chunk of rows ``[s0, s1)`` and write it as is, then flush."""
        h5 = self._hdf5()
        if s1 > self.rows:
            # netCDF reads an unlimited dimension's length from its variables and its
            # dimension scale: every dataset along it grows, as netCDF4's own write does.
            for dset in h5.values():
                if getattr(dset, "maxshape", (0,))[:1] == (None,):
                    dset.resize(s1, axis=0)
            self.rows = s1
        for name, values in stored.items():
            _write_chunks(h5[name], s0, values)
        h5.flush()

    def _hdf5(self):
        """The partial file opened by h5py, netCDF4's handle closed first."""
        if self.h5 is None:
            h5py, _ = _direct_modules()
            self._close_netcdf()
            # best-effort: a filesystem without locks is warned of by locked(); the run's
            # flock already keeps a second writer out. No chunk cache: no chunk is read.
            try:
                self.h5 = h5py.File(self.path, "r+", locking="best-effort", rdcc_nbytes=0)
            except ValueError:  # an HDF5 older than 1.12.1 has no such option: its default
                self.h5 = h5py.File(self.path, "r+", rdcc_nbytes=0)
        return self.h5

    def _chunk_blocks(self, b0: int, b1: int) -> int:
        """At most how many blocks an HDF5 chunk of the file holds, from the first region written.

        A region, unless region 0 is shorter: then the whole design (or the design a run
        extends) is smaller than a region, and chunks sized for a region would be mostly
        fill, deflated all the same (a variant run's 64 blocks in chunks of 512: 35% more
        write time, a 4% larger file). Chunks still divide a region (:func:`_hdf5_chunk`).
        """
        return b1 if b0 == 0 and b1 < self.region_blocks else self.region_blocks

    def _create(self, ds: xr.Dataset, chunk_blocks: int) -> None:
        """Create the empty partial file from a first region's variables (its schema)."""
        template = ds.isel(sample=slice(0, 0)).transpose("sample", ...)
        self.id = secrets.token_hex(8)
        template.attrs = {**self.attrs, **storage_attrs(self.precision), "store_id": self.id}
        cf_attributes(template)
        encoding = {}
        for name, var in template.variables.items():
            if "sample" not in var.dims:
                continue
            kind = storage_kind(name, var, self.flags, self.precision)
            if kind == "integer" and "status" in template:  # failures recorded: NaN needs a float
                kind = "as is"
            var.attrs["storage"] = kind
            enc = {**COMPRESSION, "chunksizes": _hdf5_chunk(var, self.region_blocks, self.block_size, chunk_blocks)}
            if kind == "flag":
                enc.update(dtype="int8", _FillValue=np.int8(FLAG_FILL), **_UNPACK)
            elif kind == "integer":
                enc.update(dtype=np.dtype(var.attrs["model_dtype"]), **_UNPACK)
            elif kind == "float32":
                enc.update(dtype="float32", _FillValue=np.float32("nan"))
                var.attrs["max_relative_error"] = FLOAT32_ERROR
            encoding[name] = enc
        write_atomic(self.path, lambda tmp: _write_template(template, tmp, encoding))
        self._open()

    def _stored(self, name: str, var: xr.Variable, kind: str) -> np.ndarray:
        # The Variable, not a DataArray built and transposed for each of the flagship's 83
        # (0.3 ms each, a third of a shift re-run's write): sample is first nearly always.
        if var.dims[:1] != ("sample",):
            var = var.transpose("sample", ...)
        values = np.ascontiguousarray(var.values)
        if kind == "float32":
            return values.astype(np.float32)
        if kind not in ("flag", "integer"):
            return values
        dtype = np.dtype("int8") if kind == "flag" else self.dtypes[name]
        missing = np.isnan(values)
        low, high = (0, 1) if kind == "flag" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
        ok = missing | ((values >= low) & (values <= high) & (values == np.round(values)))
        if kind == "integer":
            ok &= ~missing  # stored as an integer only where no sample may fail (no status)
        if not ok.all():
            bad = float(values[~ok].flat[0])
            raise StudyError(self.path, f"output {name!r}", f"must hold values its storage type "
                             f"{'(0/1)' if kind == 'flag' else str(dtype)} holds exactly; got {bad!r}")
        out = np.where(missing, FLAG_FILL, values).astype(dtype) if kind == "flag" else values.astype(dtype)
        return out

    def adopt(self, old: Path, ranges) -> None:
        """Copy the regions ``ranges`` of a sealed file this design extends (``--until-converged``)."""
        with xr.open_dataset(old, cache=False) as ds:
            for b0, b1 in ranges:
                part = ds.isel(sample=slice(b0 * self.block_size, b1 * self.block_size)).load()
                for var in part.variables.values():
                    var.encoding = {}
                    var.attrs.pop("storage", None)
                    var.attrs.pop("max_relative_error", None)
                part.attrs = {}
                self.write(b0, b1, part)

    def missing(self, ranges) -> list[int]:
        """First blocks of the regions in ``ranges`` this file does not hold."""
        return [b0 for b0, _ in ranges if b0 not in self.recorded]

    def seal(self) -> Path:
        """Give the file its final name; the only way it gets that name.

        It keeps its ``store_id``: killed between the flush and the rename, the partial file
        is whole and its records still name it, so a resume only renames it.
        """
        self.close()
        os.replace(self.path, self.final)
        return self.final


def _write_template(template: xr.Dataset, tmp: Path, encoding: dict) -> None:
    import warnings

    with small_chunk_cache(), warnings.catch_warnings():
        # An integer output has no fill value (a failed sample has nowhere to go: see
        # ResultsStore._stored); xarray warns of it, for a template that holds no value.
        warnings.filterwarnings("ignore", "saving variable .* as an integer dtype without any _FillValue")
        template.to_netcdf(tmp, engine="netcdf4", encoding=encoding, unlimited_dims=["sample"])


def _chunk_layout(var) -> tuple[np.dtype, tuple[int, ...]] | None:
    """A netCDF4 variable's dtype and HDF5 chunk shape if its chunks can be written
    directly: numeric, along ``sample`` first, chunked whole in its other dimensions, and
    deflated (or not filtered) with nothing else (no shuffle, no checksum)."""
    chunk = var.chunking()
    filters = var.filters() or {}
    others = [k for k, v in filters.items() if v and k not in ("zlib", "complevel")]
    if (chunk == "contiguous" or var.dimensions[:1] != ("sample",) or var.dtype.kind not in "biuf"
            or tuple(chunk[1:]) != var.shape[1:] or others):
        return None
    return np.dtype(var.dtype), tuple(int(c) for c in chunk)


def _write_chunks(dset, s0: int, values: np.ndarray) -> None:
    """Write `values` into `dset` from row `s0` as whole chunks, deflated if `dset` is.

    `s0` is on a chunk boundary; a last partial chunk is padded with the fill value.
    """
    rows, tail = dset.chunks[0], dset.chunks[1:]
    filtered = dset.id.get_create_plist().get_nfilters() > 0  # deflate only: _chunk_layout
    for r in range(0, values.shape[0], rows):
        piece = values[r:r + rows]
        if piece.shape[0] < rows:
            pad = np.full((rows - piece.shape[0], *tail), dset.fillvalue, dtype=values.dtype)
            piece = np.concatenate([piece, pad])
        raw = memoryview(np.ascontiguousarray(piece)).cast("B")
        dset.id.write_direct_chunk((s0 + r, *(0,) * len(tail)), deflate(raw) if filtered else raw.tobytes(),
                                   filter_mask=0)


def _digest(items) -> str:
    """sha256 of ``(name, values)`` pairs as stored: names and C-order bytes, in the given order."""
    h = hashlib.sha256()
    for name, values in items:
        h.update(name.encode() + b"\0")
        values = np.ascontiguousarray(values)
        # A numeric array's own buffer is its C-order bytes: no copy (tobytes() makes one).
        h.update(values if values.dtype.kind in "biuf" else values.tobytes())
    return h.hexdigest()


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def results_name(design: str, main: bool) -> str:
    return "results.nc" if main else f"results-{design}.nc"


def cf_attributes(ds: xr.Dataset) -> None:
    """Mark ``ds`` as CF-1.10 and give each variable a ``long_name`` (its label or
    description) where the model gave none, so that CF readers label it."""
    ds.attrs["Conventions"] = "CF-1.10"
    for da in ds.data_vars.values():
        name = da.attrs.get("long_name") or da.attrs.get("label") or da.attrs.get("description")
        if name:
            da.attrs["long_name"] = str(name)


def open_run(run_dir, design: str | None = None) -> xr.Dataset:
    """Open a run's results (``results.nc``, or ``results-<design>.nc``) as a Dataset.

    Parameters
    ----------
    run_dir : str or pathlib.Path
        A run directory written by ``study run``.
    design : str, optional
        An auxiliary design's results (e.g. ``"morris"``) instead of the main one.

    Returns
    -------
    xarray.Dataset
        Inputs, constants and outputs along ``sample``, lazily loaded.
    """
    run_dir = Path(run_dir)
    name = f"results-{design}.nc" if design else "results.nc"
    path = run_dir / name
    if not path.exists():
        status = Manifest.load(run_dir)["status"]
        raise RunError(run_dir, "", f"has no {name} (run status: {status})")
    # cache=False: a variable read with .values is not kept, so reading outputs one by one
    # holds one at a time (measured at N = 2^18: 9.3 GB peak with the cache, 2.4 GB without).
    with small_chunk_cache(4 << 20):  # the cache is sized as each file is opened
        return xr.open_dataset(path, cache=False)


#: The raw results files a run seals (and records a checksum of).
SEALED_RESULTS = ("results.nc", "results-morris.nc", "results-surrogate.nc")
#: Group of a results file holding the unit-cube points of its design (Morris, surrogate),
#: which the analysis reads instead of rebuilding the design from the seed.
DESIGN_GROUP = "design"


def has_design_points(path: Path) -> bool:
    """Whether ``path`` holds the ``/design`` group :func:`write_design_points` writes."""
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        return DESIGN_GROUP.strip("/") in nc.groups


def write_design_points(path: Path, design) -> None:
    """Store ``design``'s unit-cube points (the ones evaluated) in ``path``'s ``/design`` group.

    Called on a results file just combined, before it is sealed; a Saltelli design keeps
    its layout in the ``row``/``replicate``/``matrix`` coordinates instead.
    """
    u, _ = design.unit(0, design.n_blocks)
    xr.Dataset({"unit": (("sample", "param"), u)}, coords={"param": list(design.params)}).to_netcdf(
        path, mode="a", group=DESIGN_GROUP)


def seal(run_dir: Path) -> dict[str, dict]:
    """Make the raw results and the study copy read-only: derived files stay rebuildable.

    Returns
    -------
    dict
        For each results file sealed, its ``sha256``, ``size`` and ``mtime_ns``: the
        manifest's ``sealed`` record, against which a reader checks the file it opens.
    """
    record = {}
    for name in ("study.toml", *SEALED_RESULTS):
        p = Path(run_dir) / name
        if p.exists():
            p.chmod(0o444)
            if name in SEALED_RESULTS:
                st = p.stat()
                record[name] = {"sha256": file_sha256(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return record


def host() -> str:
    return platform.node()


def argv() -> list[str]:
    prog = Path(sys.argv[0]).name
    return ["study" if prog == "__main__.py" else prog, *sys.argv[1:]]
