"""docs/frame-format.md: its plain-h5py example writes a frame that hpcdl reads."""

import os
import re

import numpy as np

from hpcdl.frame import frame_summary, get_frame

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docs", "frame-format.md")


def test_doc_example_writes_a_valid_frame(tmp_path, monkeypatch):
    with open(DOC) as fh:
        code = re.search(r"```python\n(.*?)```", fh.read(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "frame-format.md", "exec"), {})
    f = get_frame(str(tmp_path / "tiny.h5"))
    assert f.names == ["x", "label"] and list(f.types.values()) == ["real", "enum"] and f.nrow == 3
    head = f.head()  # pandas: NA is NaN in the real column and a missing Categorical value in the enum
    assert head["x"].tolist()[::2] == [1.5, 3.0] and np.isnan(head["x"][1])
    assert head["label"].tolist()[:2] == ["b", "a"] and head["label"].isna().tolist() == [False, False, True]
    s = {c["name"]: c for c in frame_summary(f)["columns"]}
    assert s["x"]["mean"] == f.stats["x"]["mean"] == 2.25
    assert s["label"]["levels"] == [["a", 1], ["b", 1]]
    np.testing.assert_array_equal(f.stats["label"]["counts"], [1, 1])
