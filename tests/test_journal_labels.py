"""Every flagship input, constant and output carries a label, so no table or figure prints a
bare variable name (issue 18): the parameters the rival readings add (``domestic_push``,
``connectivity_benefit``, ...) included, in English and Chinese."""

from pathlib import Path

import pytest

import study
from study.models import asia_pacification as ap

PARAMS = Path(__file__).resolve().parents[1] / "params"
FILES = sorted(PARAMS.glob("asia_pacification*.toml"))


def test_the_flagship_ships_its_eight_study_files():
    assert [f.stem for f in FILES] == [
        "asia_pacification", "asia_pacification_china_escalation",
        "asia_pacification_china_escalation_no_intimidation", "asia_pacification_connectivity",
        "asia_pacification_divide_and_rule", "asia_pacification_europe_veto",
        "asia_pacification_irrationality", "asia_pacification_readings"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_parameter_has_a_label_in_both_languages_a_unit_and_a_description(path):
    s = study.load_study(path)
    missing = [(p.name, key) for p in s.parameters for key in ("label", "label_zh", "unit", "description")
               if not getattr(p, key)]
    assert missing == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_constant_has_a_label_a_unit_and_a_description(path):
    s = study.load_study(path)
    missing = [(c.name, key) for c in s.constants for key in ("label", "unit", "description")
               if not getattr(c, key)]
    assert missing == []


def test_the_readings_study_labels_the_inputs_its_rivals_add():
    s = study.load_study(PARAMS / "asia_pacification_readings.toml")
    labels = {p.name: (p.label, p.label_zh) for p in s.parameters}
    assert labels["domestic_push"] == ("Domestic push at full war effect (π)", "战争全面生效时的国内推力（π）")
    assert labels["connectivity_benefit"] == ("Connectivity benefit (σ)", "安全联通性的可信度收益（σ）")
    # Under the paper's own reading these inputs are constants: labelled like the rivals' inputs.
    constants = {c.name: c.label for c in s.constants}
    assert constants["europe_veto"] == "Europe's veto (switch)"


def test_every_output_of_the_flagship_model_has_a_label_and_units():
    y = ap.evaluate(ap.nominal_inputs())
    missing = [(name, key) for name, da in y.data_vars.items() for key in ("label", "units", "description")
               if not da.attrs.get(key)]
    assert len(y.data_vars) >= 20 and missing == []
