"""Frames made by H2O-3 3.46's h2o.create_frame, for tests/test_create_frame.py.

Run with H2O-3's Python package (Java 17): /work/h2ovenv/bin/python measure.py
Writes one CSV per case (H2O-3's own export, so the numbers are its doubles as text) and
cases.json (the calls and the column types H2O-3 reported).
"""

import json
from pathlib import Path

import h2o

HERE = Path(__file__).resolve().parent
CASES = {
    "response_enum": dict(
        rows=300, cols=10, seed=1, has_response=True, missing_fraction=0.1, factors=3, response_factors=4
    ),
    "mixed_time": dict(
        rows=200,
        cols=9,
        seed=-7,
        categorical_fraction=0.3,
        integer_fraction=0.2,
        binary_fraction=0.2,
        time_fraction=0.1,
        integer_range=5,
        real_range=2,
        binary_ones_fraction=0.5,
        missing_fraction=0.05,
    ),
    "response_real": dict(
        rows=150,
        cols=6,
        seed=123456789,
        seed_for_column_types=42,
        has_response=True,
        response_factors=1,
        positive_response=True,
        real_range=7,
        missing_fraction=0,
    ),
    "defaults": dict(rows=100, seed=2024),
    "constant": dict(rows=50, cols=4, seed=5, randomize=False, value=3, real_fraction=1.0, missing_fraction=0.2),
    "synthetic_dl": dict(
        rows=120,
        cols=10,
        missing_fraction=0,
        has_response=True,
        response_factors=4,
        integer_range=10,
        seed=99,
        real_fraction=0.3,
        categorical_fraction=0.4,
        integer_fraction=0.3,
        time_fraction=0,
        string_fraction=0,
        binary_fraction=0,
    ),
}


def main():
    h2o.init(nthreads=1, log_level="ERRR")
    h2o.no_progress()
    types = {}
    for name, kw in CASES.items():
        frame = h2o.create_frame(**kw)
        h2o.export_file(frame, str(HERE / f"{name}.csv"), force=True)
        types[name] = {
            "call": kw,
            "types": frame.types,
            "names": frame.names,
            "levels": {c: frame[c].levels()[0] for c in frame.names if frame.types[c] == "enum"},
        }
    (HERE / "cases.json").write_text(json.dumps(types, indent=1) + "\n")
    h2o.cluster().shutdown()


if __name__ == "__main__":
    main()
