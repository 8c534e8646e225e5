"""Run directories: write-once, self-describing, never overwritten.

``runs/<study>/<UTC time>-<short hash>/`` holds ``manifest.json`` (status, argv, seed,
hashes, versions, timings), a verbatim ``study.toml`` and ``results.nc``. While a run is
evaluating, each finished chunk sits in ``chunks/`` as its own netCDF file written under a
temporary name and renamed into place: a rename is atomic, so a crash (even SIGKILL)
leaves only whole chunks. Each chunk's block range, row count, size and sha256 are then
appended to ``chunks.jsonl``; only chunks that match that record are ever combined, so a
truncated, edited, copied or foreign chunk file is evaluated again instead of trusted.

A process evaluating a run holds an exclusive ``flock`` on the run's ``.lock`` file (the
kernel releases it when the process dies, however it dies), and ``.reserve`` keeps a little
disk space back so that the manifest can still say ``failed`` when the disk fills up.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
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

import xarray as xr

from .errors import RunError

VERSIONED = ("mcsens", "numpy", "scipy", "xarray", "pandas", "netCDF4", "SALib", "dask", "distributed",
             "matplotlib", "seaborn", "scikit-learn")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def versions() -> dict[str, str]:
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
    """Hex sha256 of a file's bytes, read in 1 MiB pieces (chunk files can be large)."""
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
#: Samples per HDF5 chunk of a combined file: reading one output decompresses only it.
STORE_CHUNK = 1 << 16


def storage_encoding(ds: xr.Dataset) -> dict[str, dict]:
    """The netCDF encoding of every variable of `ds` along ``sample`` (see :data:`COMPRESSION`)."""
    out = {}
    for name, var in ds.variables.items():
        if "sample" in var.dims and var.dtype.kind in "biuf":
            sizes = [min(STORE_CHUNK, n) if d == "sample" else n for d, n in zip(var.dims, var.shape)]
            out[name] = {**COMPRESSION, "chunksizes": tuple(sizes)}
    return out


@contextlib.contextmanager
def _small_chunk_cache(size: int = 1 << 20):
    """netCDF-C's chunk cache at `size` bytes per variable for files opened in the block.

    Its default, 64 MiB for each variable of a compressed file, grows with N: writing the
    combined file held about 290 MB more at N = 2^14 (``benchmarks/bench_memory.py``),
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


def chunk_path(run_dir: Path, design: str, b0: int) -> Path:
    return Path(run_dir) / "chunks" / f"{design}-{b0:010d}.nc"


def write_chunk(run_dir: Path, design: str, b0: int, b1: int, ds: xr.Dataset,
                checked: dict | None = None) -> Path:
    """Write blocks ``[b0, b1)`` of a design atomically and append their record to the index.

    ``checked``, if given, receives the new file's :func:`signature` (see :func:`trusted_chunks`).

    Raises
    ------
    DiskFull
        If the disk filled up; nothing half-written is left under the chunk's name.
    """
    path = chunk_path(run_dir, design, b0)
    path.parent.mkdir(exist_ok=True)
    tmp = temporary_name(path)
    try:
        # Chunk files are temporary: stored plain, so the sample is deflated once, when combined.
        ds.to_netcdf(tmp)
        record = {"design": design, "b0": b0, "b1": b1, "rows": int(ds.sizes["sample"]),
                  "first_sample": int(ds["sample"].values[0]), "bytes": tmp.stat().st_size,
                  "sha256": file_sha256(tmp)}
        os.replace(tmp, path)
        if checked is not None:
            checked[path] = signature(path)
        # Renamed first, recorded second: a crash in between leaves an unrecorded file,
        # which is evaluated again; never a record of a file that is not there.
        _append_line(Path(run_dir) / CHUNK_INDEX, json.dumps(record, sort_keys=True))
    except Exception as e:
        full = _disk_full(e, path.parent, ds.nbytes + (1 << 20))  # a netCDF file's overhead is < 1 MiB
        tmp.unlink(missing_ok=True)
        if full:
            raise DiskFull(run_dir, "", f"must be on a disk with room for chunk {path.name}; got no space left "
                           f"on device. The run stays resumable: free some space, then study run --resume "
                           f"{run_dir}") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _append_line(path: Path, line: str) -> None:
    with open(path, "a+b") as f:
        end = f.seek(0, os.SEEK_END)
        torn = end > 0 and f.seek(end - 1) >= 0 and f.read(1) != b"\n"
        # A process killed mid-line leaves a torn last line: end it, or it swallows this one.
        f.write((b"\n" if torn else b"") + line.encode() + b"\n")


def _disk_full(err: Exception, folder: Path, need: int) -> bool:
    # netCDF reports a full disk as "NetCDF: HDF error" without an errno: ask the disk.
    if getattr(err, "errno", None) in _FULL:
        return True
    try:
        return shutil.disk_usage(folder).free < need
    except OSError:
        return False


def chunk_records(run_dir, design: str) -> dict[int, dict]:
    """The latest index record of each chunk of `design`, by first block.

    A line that does not parse (a process killed while appending it) records nothing.
    """
    path = Path(run_dir) / CHUNK_INDEX
    records = {}
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            if rec["design"] == design:
                records[int(rec["b0"])] = rec
        except (ValueError, KeyError, TypeError):
            continue
    return records


def signature(path: Path) -> tuple[int, int, int, int]:
    """Inode, size, mtime and ctime: any write, copy or rename over the file changes one."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def trusted_chunks(run_dir, design: str, ranges, block_size: int,
                   checked: dict | None = None) -> tuple[dict[int, Path], list[str]]:
    """Chunk files of `design` that match their record exactly; every other one is deleted.

    Parameters
    ----------
    run_dir : path
    design : str
    ranges : sequence of (int, int)
        The block ranges ``[b0, b1)`` still to be combined: a file for any other range is a
        duplicate or a leftover and is deleted.
    block_size : int
        Samples per block, to check each record's row count.
    checked : dict, optional
        Path -> :func:`signature` of files this process wrote or hashed already: such a file
        whose signature is unchanged is not hashed again (at 2^18 the chunks hold 17 GB).
        Files that pass are added.

    Returns
    -------
    dict of int to pathlib.Path
        First block -> verified chunk file.
    list of str
        One line per deleted file: which and why.
    """
    ends = dict(ranges)
    records = chunk_records(run_dir, design)
    good, notes = {}, []
    folder = Path(run_dir) / "chunks"
    for path in sorted(folder.glob(f"{design}-*.nc")) if folder.exists() else ():
        b0 = _first_block(path, design)
        why = _distrust(path, b0, ends, records.get(b0), block_size, checked)
        if why is None:
            good[b0] = path
            continue
        path.unlink()
        again = "; deleted, it will be evaluated again" if b0 in ends else "; deleted"
        notes.append(f"{path}: {why}{again}")
    return good, notes


def _first_block(path: Path, design: str) -> int | None:
    digits = path.stem[len(design) + 1:]
    return int(digits) if digits.isdigit() and path.name == chunk_path(".", design, int(digits)).name else None


def _distrust(path: Path, b0, ends: dict, record, block_size: int, checked: dict | None) -> str | None:
    """Why a chunk file cannot be used, or None if it matches its record."""
    if b0 is None or b0 not in ends:
        return "is not a chunk this run still needs (a duplicate, a leftover or a foreign file)"
    if record is None:
        return "is not in the run's chunk index (written by another process, or killed before it was recorded)"
    if (record.get("b1"), record.get("rows")) != (ends[b0], (ends[b0] - b0) * block_size):
        return (f"is recorded for blocks {b0}–{record.get('b1')} ({record.get('rows')} rows), not the "
                f"{b0}–{ends[b0]} this run needs")
    size = path.stat().st_size
    if size != record.get("bytes"):
        return f"has {size} bytes, {record.get('bytes')} recorded (truncated or overwritten)"
    sig = signature(path)
    if checked is not None and checked.get(path) == sig:
        return None
    if file_sha256(path) != record.get("sha256"):
        return "does not match its recorded sha256 (corrupt or replaced)"
    if checked is not None:
        checked[path] = sig
    return None


def results_name(design: str, main: bool) -> str:
    return "results.nc" if main else f"results-{design}.nc"


def combine_chunks(run_dir: Path, out_name: str, attrs: dict, chunks: list[Path], rows: int) -> Path:
    """Concatenate verified chunk files, in order, into one netCDF file, streamed through dask.

    If the file exists already (a design being extended), its samples come first.

    Parameters
    ----------
    run_dir : path
    out_name : str
        ``results.nc`` or ``results-<design>.nc``.
    attrs : dict
        Global attributes of the combined file.
    chunks : list of pathlib.Path
        The chunk files (from :func:`trusted_chunks`), in block order.
    rows : int
        Samples the combined file must hold; anything else is refused before it is renamed
        into place.
    """
    out = Path(run_dir) / out_name
    files = ([out] if out.exists() else []) + list(chunks)
    tmp = temporary_name(out)
    try:
        with xr.open_mfdataset(files, combine="nested", concat_dim="sample", data_vars="minimal",
                               coords="minimal", compat="override", join="override", chunks={}) as ds:
            if ds.sizes["sample"] != rows:
                raise RunError(run_dir, "", f"chunks must hold {rows} samples in all; got {ds.sizes['sample']}")
            ds.attrs.update(attrs)
            cf_attributes(ds)
            with _small_chunk_cache():
                ds.to_netcdf(tmp, encoding=storage_encoding(ds))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    for f in chunks:
        f.unlink()
    if not any(out.parent.joinpath("chunks").iterdir()):
        out.parent.joinpath("chunks").rmdir()
    return out


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
    with _small_chunk_cache(4 << 20):  # the cache is sized as each file is opened
        return xr.open_dataset(path, cache=False)


#: The raw results files a run seals (and records a checksum of).
SEALED_RESULTS = ("results.nc", "results-morris.nc", "results-surrogate.nc")
#: Group of a results file holding the unit-cube points of its design (Morris, surrogate),
#: which the analysis reads instead of rebuilding the design from the seed.
DESIGN_GROUP = "design"


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
