"""h2o.create_frame against frames H2O-3 3.46 made with the same calls (tests/data/h2o_create_frame/:
measure.py ran H2O-3 and exported each frame): the same names, types, levels, values and NAs."""

import json
import os

import numpy as np
import pandas as pd
import pytest

import hpcdl as h2o
from hpcdl.frame.synth import resolve_fractions

HERE = os.path.join(os.path.dirname(__file__), "data", "h2o_create_frame")
CASES = json.load(open(os.path.join(HERE, "cases.json")))


def _texts(series) -> list:
    return [None if pd.isna(v) else str(v) for v in series]


@pytest.mark.parametrize("name", sorted(CASES))
def test_create_frame_is_h2o3s_frame_for_the_same_seed(name):
    case = CASES[name]
    ours = h2o.create_frame(**case["call"])
    assert ours.names == case["names"]
    assert ours.types == case["types"]
    want = pd.read_csv(os.path.join(HERE, f"{name}.csv"), keep_default_na=False, na_values=[""], dtype=str)
    got = ours.as_data_frame()
    for col in ours.names:
        if case["types"][col] == "enum":
            assert ours[col].levels()[0] == case["levels"][col]
            assert _texts(got[col]) == _texts(want[col]), col
        else:
            mine = got[col]
            if case["types"][col] == "time":  # pandas datetimes; H2O-3 exports milliseconds since the epoch
                mine = mine.astype("datetime64[ms]").astype("int64").where(mine.notna())
            mine = mine.to_numpy(dtype=float)
            theirs = want[col].astype(float).to_numpy()
            np.testing.assert_array_equal(mine, theirs, err_msg=col)


def test_fractions_left_open_are_shared_as_h2o3s_client_shares_them():
    # h2o-py/h2o/h2o.py: weights 0.5 real, 0.2 categorical, 0.2 integer, 0.1 binary, 0 time, 0 string
    assert resolve_fractions([None] * 6) == pytest.approx([0.5, 0.2, 0.2, 0.1, 0.0, 0.0])
    assert resolve_fractions([None, 0.6, 0, 0, None, None]) == pytest.approx([0.4, 0.6, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="add up"):
        resolve_fractions([0.5, 0.6, None, None, None, None])


def test_create_frame_refuses_what_h2o3_refuses_and_string_columns():
    with pytest.raises(ValueError, match="randomize"):
        h2o.create_frame(rows=5, cols=2, value=3)
    with pytest.raises(ValueError, match="randomize"):
        h2o.create_frame(rows=5, cols=2, randomize=False, categorical_fraction=0.5)
    with pytest.raises(ValueError, match="no string columns"):
        h2o.create_frame(rows=5, cols=4, string_fraction=0.5, seed=1)
    unseeded = h2o.create_frame(rows=20, cols=3, missing_fraction=0)
    assert unseeded.dim == [20, 3]
