"""The API reference cannot drift: every ```python block of docs/python-api.md runs, in order within
its ``##`` section, in a fresh namespace, in a temporary directory holding copies of the bundled data
sets (docs/python-api.md says so at its top)."""

import os
import re
import shutil
import warnings

import pytest

import hpcdl

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "python-api.md")
DATA = os.path.join(os.path.dirname(hpcdl.__file__), "datasets")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def sections(path: str = DOC) -> dict[str, list[tuple[int, str]]]:
    """``##`` heading -> its python blocks as (line number of the block's first line, code)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    out: dict[str, list[tuple[int, str]]] = {}
    starts = [(m.start(), m.group(1).strip()) for m in re.finditer(r"^## (.+)$", text, re.M)]
    for k, (start, title) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(text)
        body = text[start:end]
        first_line = text.count("\n", 0, start) + 1
        out[title] = [(first_line + body.count("\n", 0, m.start(1)), m.group(1)) for m in BLOCK.finditer(body)]
    return out


def test_the_reference_has_its_sections_with_examples():
    found = sections()
    assert len(found["Frames"]) >= 5 and len(found["Models and estimators"]) >= 10
    assert len(found["scikit-learn estimators (`hpcdl.sklearn`)"]) >= 8  # a broken fence would drop some


@pytest.mark.parametrize("title", [t for t, blocks in sections().items() if blocks])
def test_section_examples_run(title, tmp_path, monkeypatch):
    for name in os.listdir(DATA):
        if name.endswith(".csv"):
            shutil.copy(os.path.join(DATA, name), tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HPCDL_FRAME_DIR", str(tmp_path / "frame-cache"))
    namespace: dict = {"__name__": "__docs__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # a pandas deprecation in an example would rot
        for line, code in sections()[title]:
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)  # a failure names the doc line
