"""Run directories: write-once, self-describing, never overwritten.

``runs/<study>/<UTC time>-<short hash>/`` holds ``manifest.json`` (status, argv, seed,
hashes, versions, timings), a verbatim ``study.toml`` and ``results.nc``. While a run is
evaluating, each finished chunk sits in ``chunks/`` as its own netCDF file written under a
temporary name and renamed into place: a rename is atomic, so a crash (even SIGKILL)
leaves only whole chunks, and resuming evaluates exactly the missing ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
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


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


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
        write_json_atomic(self.path, self.data)

    def __getitem__(self, key):
        return self.data[key]


def chunk_path(run_dir: Path, design: str, b0: int) -> Path:
    return Path(run_dir) / "chunks" / f"{design}-{b0:010d}.nc"


def write_chunk(run_dir: Path, design: str, b0: int, ds: xr.Dataset) -> Path:
    path = chunk_path(run_dir, design, b0)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp)
    os.replace(tmp, path)
    return path


def done_chunks(run_dir: Path, design: str) -> set[int]:
    folder = Path(run_dir) / "chunks"
    return {int(p.stem.rsplit("-", 1)[1]) for p in folder.glob(f"{design}-*.nc")} if folder.exists() else set()


def results_name(design: str, main: bool) -> str:
    return "results.nc" if main else f"results-{design}.nc"


def combine_chunks(run_dir: Path, design: str, out_name: str, attrs: dict) -> Path:
    """Concatenate a design's chunk files into one netCDF file, streamed through dask.

    If the file exists already (a design being extended), its samples come first.
    """
    chunks = sorted((Path(run_dir) / "chunks").glob(f"{design}-*.nc"))
    out = Path(run_dir) / out_name
    files = ([out] if out.exists() else []) + chunks
    tmp = out.with_name(f".{out.name}.tmp")
    with xr.open_mfdataset(files, combine="nested", concat_dim="sample", data_vars="minimal",
                           coords="minimal", compat="override", join="override", chunks={}) as ds:
        ds.attrs.update(attrs)
        ds.to_netcdf(tmp)
    os.replace(tmp, out)
    for f in chunks:
        f.unlink()
    if not any(out.parent.joinpath("chunks").iterdir()):
        out.parent.joinpath("chunks").rmdir()
    return out


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
    return xr.open_dataset(path, cache=False)


def seal(run_dir: Path) -> None:
    """Make the raw results and the study copy read-only: derived files stay rebuildable."""
    for name in ("study.toml", "results.nc", "results-morris.nc"):
        p = Path(run_dir) / name
        if p.exists():
            p.chmod(0o444)


def host() -> str:
    return platform.node()


def argv() -> list[str]:
    prog = Path(sys.argv[0]).name
    return ["study" if prog == "__main__.py" else prog, *sys.argv[1:]]
