"""Study files that extend another (`[study] extends`): merge, errors, the stored file, resume."""

import json
import shutil
import tomllib

import pytest

from mcsens import run_study
from study import load_study
from study.errors import RunError, StudyError
from study.extends import dumps
from tests.helpers import MODELS, ROOT, write_study

CHILD = """[study]
name = "child"
extends = "base.toml"

[sampling]
seed = 9

[parameters.x2]
distribution = "uniform"
low = 0.0
high = 2.0
"""


@pytest.fixture
def pair(tmp_path):
    """A base study (three uniform inputs, `x3` fixed as a constant) and a child of it."""
    shutil.copy(MODELS / "broken_models.py", tmp_path)
    base = write_study(tmp_path, "broken_models:raises_late", name="base", samples=128,
                       extra='headline = []\n\n[constants.x3]\nvalue = 0.5\n',
                       params='[parameters.x1]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\n\n'
                              '[parameters.x2]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\n')
    child = tmp_path / "child.toml"
    child.write_text(CHILD)
    return base, child


def test_child_states_only_what_differs_and_inherits_the_rest(pair):
    base, child = pair
    s = load_study(child)
    assert (s.name, s.sampling.seed, s.sampling.samples) == ("child", 9, 128)
    assert s.model == "broken_models:raises_late"
    assert s.parameter("x2").args == {"low": 0.0, "high": 2.0}
    assert s.parameter("x1").args == {"low": 0.0, "high": 1.0}
    assert [c.name for c in s.constants] == ["x3"]


def test_a_parameter_in_the_child_replaces_the_base_constant_of_that_name(pair):
    _, child = pair
    child.write_text(CHILD + '\n[parameters.x3]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\n')
    s = load_study(child)
    assert s.param_names == ("x1", "x2", "x3") and s.constants == ()


def test_flattened_text_is_valid_toml_without_extends_and_loads_to_the_same_study(pair, tmp_path):
    _, child = pair
    s = load_study(child)
    doc = tomllib.loads(s.text)
    assert "extends" not in doc["study"] and doc["sampling"]["seed"] == 9
    flat = tmp_path / "flat.toml"
    flat.write_text(s.text)
    again = load_study(flat)
    assert (again.parameters, again.constants, again.sampling, again.analysis) == \
        (s.parameters, s.constants, s.sampling, s.analysis)


def test_digest_covers_the_whole_chain(pair):
    base, child = pair
    before = load_study(child).sha256
    base.write_text(base.read_text() + "\n# a comment in the base\n")
    assert load_study(child).sha256 != before
    # A file that extends nothing keeps its plain sha256 (existing runs stay resumable).
    import hashlib
    assert load_study(base).sha256 == hashlib.sha256(base.read_bytes()).hexdigest()


@pytest.mark.parametrize("value, shown", [("../base.toml", "'../base.toml'"), ("sub/base.toml", "'sub/base.toml'"),
                                          ("/tmp/base.toml", "'/tmp/base.toml'"), ("base", "'base'"),
                                          ("3", "3")])
def test_extends_must_be_a_plain_file_name_beside_the_study(pair, value, shown):
    _, child = pair
    literal = value if value == "3" else f'"{value}"'
    child.write_text(CHILD.replace('extends = "base.toml"', f"extends = {literal}"))
    with pytest.raises(StudyError) as e:
        load_study(child)
    assert str(e.value) == (f"{child}: study.extends: must be the file name of a study file beside this one "
                            f"(no folders, ending in .toml); got {shown}")


def test_missing_base_is_named(pair):
    _, child = pair
    child.write_text(CHILD.replace("base.toml", "nothere.toml"))
    with pytest.raises(StudyError) as e:
        load_study(child)
    assert str(e.value) == (f"{child}: study.extends: must name an existing study file beside this one; "
                            "got 'nothere.toml', which does not exist")


def test_a_cycle_is_refused_with_its_path(pair):
    base, child = pair
    base.write_text(base.read_text().replace('[study]\n', '[study]\nextends = "child.toml"\n'))
    with pytest.raises(StudyError) as e:
        load_study(child)
    assert str(e.value) == f"{base}: study.extends: must not form a cycle; got child.toml -> base.toml -> child.toml"


def test_unknown_key_from_the_child_is_still_refused(pair):
    _, child = pair
    child.write_text(CHILD.replace("seed = 9", "seeds = 9"))
    with pytest.raises(StudyError, match=r"child\.toml: sampling\.seeds: unknown key \(did you mean 'seed'\?\)"):
        load_study(child)


def test_dumps_round_trips_every_value_a_study_holds():
    doc = {"study": {"name": "n", "description": 'quote " backslash \\ 中文 tab\t'},
           "sampling": {"samples": 64, "second_order": False, "x": 0.1, "big": 1e-300},
           "analysis": {"headline": ["a", "b"], "empty": []},
           "parameters": {"x.y": {"low": -1.5}},
           "correlations": [{"params": ["a", "b"], "rank": 0.3}, {"params": ["c", "d"], "rank": -0.2}]}
    assert tomllib.loads(dumps(doc)) == doc


def test_the_flagship_variants_flatten_to_their_base_plus_their_differences():
    base = load_study(ROOT / "params" / "asia_pacification.toml")
    for name in base.analysis.variants:
        v = load_study(ROOT / "params" / name)
        assert v.name == name.removesuffix(".toml") and v.model == base.model
        assert v.analysis.variants == ()  # a variant runs alone
        assert set(base.param_names) - set(v.param_names) <= {c.name for c in v.constants}


def test_run_stores_the_flattened_file_and_resume_detects_a_changed_base(pair):
    base, child = pair
    with pytest.raises(StudyError):  # raises_late fails a late chunk: an incomplete, resumable run
        run_study(child, out=child.parent / "runs", figures=False, appendix=False)
    run_dir = next((child.parent / "runs").rglob("manifest.json")).parent
    stored = (run_dir / "study.toml").read_text()
    assert stored == load_study(child).text and "extends" not in stored
    assert json.loads((run_dir / "manifest.json").read_text())["study"]["sha256"] == load_study(child).sha256
    base.write_text(base.read_text().replace("samples = 128", "samples = 256"))
    with pytest.raises(RunError) as e:
        run_study(resume=run_dir, figures=False, appendix=False)
    assert str(e.value).startswith(f"{child}: has changed since the run started (sha256 ")


def test_a_declaration_is_replaced_whole_not_mixed_with_the_base(pair):
    base, child = pair
    base.write_text(base.read_text().replace('[parameters.x2]\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0',
                                             '[parameters.x2]\ndistribution = "triangular"\nlow = 0.0\nmode = 0.5\nhigh = 1.0'))
    assert load_study(child).parameter("x2").args == {"low": 0.0, "high": 2.0}
