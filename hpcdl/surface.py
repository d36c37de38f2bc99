"""H2O-3 calls hpcdl does not have, with the reason: one table for the module, frames, models and
metrics, so that an H2O-3 script gets a one-line reason instead of a bare AttributeError
(docs/python-api.md, "The H2O-3 surface", lists the same).
"""

from __future__ import annotations

ONNX = "export it to ONNX: hpcdl.export.export_onnx(model, path) or `hpcdl export MODEL --format onnx` (docs/export.md)"

# where -> {H2O-3 name: why hpcdl does not have it}
REFUSED: dict[str, dict[str, str]] = {
    "module": {
        "download_mojo": f"hpcdl models are not MOJOs; {ONNX}",
        "import_mojo": f"hpcdl cannot read MOJOs; {ONNX} for the other way round",
        "upload_mojo": f"hpcdl cannot read MOJOs; {ONNX} for the other way round",
        "download_pojo": f"hpcdl models are not POJOs; {ONNX}",
        "connect": "there is no H2O server to connect to: hpcdl trains in this process (and its MPI ranks)",
        "automl": "hpcdl trains Deep Learning models only",
        "estimate_cluster_mem": "there is no cluster: hpcdl trains in this process",
        "flow": "there is no H2O Flow: `hpcdl train JOB --ui` serves hpcdl's own view (docs/ui.md)",
        "import_sql_table": "hpcdl reads CSV, Parquet, SVMLight and IDX files (docs/frame-format.md)",
        "import_sql_select": "hpcdl reads CSV, Parquet, SVMLight and IDX files (docs/frame-format.md)",
        "import_hive_table": "hpcdl reads CSV, Parquet, SVMLight and IDX files (docs/frame-format.md)",
        "parse_raw": "import files with hpcdl.import_file",
        "lazy_import": "import files with hpcdl.import_file",
        "rapids": "there is no Rapids server; frame operations run in this process",
        "set_timezone": "time columns are UTC milliseconds (docs/frame-format.md)",
        "upload_custom_metric": "hpcdl has no custom metrics (docs/differences.md, Not supported)",
    },
    "model": {
        "download_mojo": f"hpcdl models are not MOJOs; {ONNX}",
        "save_mojo": f"hpcdl models are not MOJOs; {ONNX}",
        "download_pojo": f"hpcdl models are not POJOs; {ONNX}",
        "get_mojo": f"hpcdl models are not MOJOs; {ONNX}",
        "explain": "H2O-3's explain module is not part of hpcdl; varimp() and model_performance() are",
        "shap_summary_plot": "hpcdl has no SHAP contributions",
        "predict_contributions": "hpcdl has no SHAP contributions",
        "partial_plot": "hpcdl draws no partial-dependence plots",
        "varimp_plot": "draw importances with `hpcdl varimp MODEL --plot FILE` (docs/model-selection.md)",
        "learning_curve_plot": "plot scoring_history() with pandas/matplotlib",
        "download_model": "use hpcdl.save_model(model, path) (H2O-3's download_model is the same here)",
    },
    "frame": {
        "asdate": "hpcdl reads times at import (time columns); convert text dates before importing",
        "strsplit": "hpcdl frames have no string columns (enum levels only)",
        "gsub": "hpcdl frames have no string columns (enum levels only)",
        "sub": "hpcdl frames have no string columns (enum levels only)",
        "tokenize": "hpcdl frames have no string columns (enum levels only)",
        "apply": "use the frame's column operations, or as_data_frame() and pandas",
        "kfold_column": "give nfolds= (or fold_column=) to training; hpcdl assigns H2O-3's folds",
        "stratified_split": "use split_frame(), or nfolds with fold_assignment='Stratified'",
        "pivot": "use as_data_frame() and pandas' pivot",
        "topN": "use sort() and head()",
        "difflag1": "use as_data_frame() and pandas' diff()",
        "cumsum": "use as_data_frame() and pandas' cumsum()",
        "refresh": "frames are files: there is nothing to refresh",
    },
    "metrics": {
        "plot": "hpcdl draws no ROC plots here: plot perf.roc() with matplotlib",
        "gains_lift_plot": "plot perf.gains_lift() with matplotlib",
    },
}


def refusal(where: str, owner: str, name: str) -> AttributeError:
    """The AttributeError for ``owner.name``: the reason if H2O-3 has the call, else Python's message."""
    reason = REFUSED.get(where, {}).get(name)
    if reason is None:
        return AttributeError(f"{owner!s} has no attribute {name!r}")
    return AttributeError(f"{name}(): not available in hpcdl: {reason}")
