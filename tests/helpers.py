"""Small study files written on the fly for the run tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "data" / "models"

PARAMS = """
[parameters.x1]
distribution = "uniform"
low = 0.0
high = 1.0

[parameters.x2]
distribution = "triangular"
low = 0.0
mode = 0.3
high = 1.0
"""


def write_study(folder: Path, model: str, *, name="t", samples=64, seed=3, methods='["sobol"]',
                extra="", params=PARAMS, replicates=4, chunk_rows=4) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""[study]
name = "{name}"
model = "{model}"

[sampling]
method = "sobol"
samples = {samples}
seed = {seed}
second_order = false
replicates = {replicates}
chunk_rows = {chunk_rows}

[analysis]
methods = {methods}
{extra}
{params}""")
    return path
