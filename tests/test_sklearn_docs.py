"""docs/python-api-sklearn.md's ```python blocks run, in order, in one namespace: the reference cannot drift."""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "python-api-sklearn.md")


def _python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, code) of every fenced ```python block."""
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)
    ]


def test_the_doc_has_examples():
    with open(DOC, encoding="utf-8") as f:
        blocks = _python_blocks(f.read())
    assert len(blocks) >= 8  # one per section that shows code; a broken fence would drop some


def test_every_python_block_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    with open(DOC, encoding="utf-8") as f:
        blocks = _python_blocks(f.read())
    namespace: dict = {"__name__": "python_api_sklearn_doc"}
    for line, code in blocks:
        try:
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)  # noqa: S102 - the repo's own doc
        except Exception as exc:  # noqa: BLE001 - re-raised with the block's place
            pytest.fail(f"docs/python-api-sklearn.md, block at line {line}: {type(exc).__name__}: {exc}")
