"""H2O-3 3.46 measurements for hpcdl's parity branch: model.parms, CV prediction/fold frames, multinomial AUC."""

import json
import sys

import h2o
from h2o.estimators import H2OAutoEncoderEstimator, H2ODeepLearningEstimator

h2o.init(ip="127.0.0.1", port=54781, nthreads=2, max_mem_size="1G")
h2o.no_progress()
D = "/work/shared/data/"
pro = h2o.import_file(D + "prostate.csv")
pro["CAPSULE"] = pro["CAPSULE"].asfactor()
iris = h2o.import_file(D + "iris_wheader.csv")
bos = h2o.import_file(D + "BostonHousing.csv")
out = {"version": h2o.__version__, "parms": {}, "cv": {}, "mauc": {}}
E = H2ODeepLearningEstimator
cases = {
    "binomial": (E(hidden=[5], epochs=1, seed=1), pro, "CAPSULE"),
    "binomial_cv": (E(hidden=[5], epochs=1, seed=1, nfolds=3), pro, "CAPSULE"),
    "multinomial": (E(hidden=[5], epochs=1, seed=1, activation="TanhWithDropout"), iris, "class"),
    "multinomial_cv": (E(hidden=[5], epochs=1, seed=1, nfolds=3, fold_assignment="Modulo"), iris, "class"),
    "regression": (E(hidden=[5], epochs=1, seed=1, reproducible=True), bos, "medv"),
    "regression_cv": (E(hidden=[5], epochs=1, seed=1, nfolds=3), bos, "medv"),
    "regression_huber": (E(hidden=[5], epochs=1, seed=1, loss="Huber"), bos, "medv"),
    "manual_rate": (
        E(
            hidden=[5],
            epochs=1,
            seed=1,
            adaptive_rate=False,
            rate=0.01,
            momentum_start=0.5,
            activation="RectifierWithDropout",
            hidden_dropout_ratios=[0.2],
        ),
        bos,
        "medv",
    ),
    "autoencoder": (H2OAutoEncoderEstimator(hidden=[5], epochs=1, seed=1), bos, None),
}
models = {}
for name, (est, frame, y) in cases.items():
    if y is None:
        est.train(x=frame.columns, training_frame=frame)
    else:
        est.train(y=y, training_frame=frame)
    models[name] = est
    out["parms"][name] = {
        k: {"input": v["input_value"], "actual": v["actual_value"], "default": v["default_value"]}
        for k, v in est.parms.items()
    }
    print(name, "done", file=sys.stderr)


# --- CV: per-fold prediction frames and the fold assignment
def frame_info(f):
    if f is None:
        return None
    return {"names": f.names, "types": f.types, "nrow": f.nrow, "data": f.as_data_frame(use_pandas=False)}


for name, frame, y in (("binomial", pro, "CAPSULE"), ("multinomial", iris, "class"), ("regression", bos, "medv")):
    est = E(
        hidden=[5],
        epochs=1,
        seed=1,
        nfolds=3,
        fold_assignment="Modulo",
        keep_cross_validation_predictions=True,
        keep_cross_validation_fold_assignment=True,
    )
    est.train(y=y, training_frame=frame)
    preds = est.cross_validation_predictions()
    out["cv"][name] = {
        "per_fold": [frame_info(p) for p in preds],
        "fold_assignment": frame_info(est.cross_validation_fold_assignment()),
        "holdout": frame_info(est.cross_validation_holdout_predictions()),
        "fold_models_preds": [frame_info(m.predict(frame)) for m in est.cross_validation_models()],
        "parms_keep": {k: est.parms[k] for k in est.parms if k.startswith("keep_cross")},
    }
    print("cv", name, "done", file=sys.stderr)
est = models["binomial_cv"]
for call in (
    "cross_validation_predictions",
    "cross_validation_fold_assignment",
    "cross_validation_holdout_predictions",
):
    try:
        r = getattr(est, call)()
        out["cv"]["without_keep_" + call] = repr(r)[:300] if not isinstance(r, list) else [repr(x)[:100] for x in r]
    except Exception as e:  # noqa
        out["cv"]["without_keep_" + call] = "raised " + type(e).__name__ + ": " + str(e)[:300]


# --- multinomial AUC
def tab(t):
    if t is None or isinstance(t, str):
        return t
    return {"header": t._col_header, "rows": t._cell_values, "title": t._table_header}


for auc_type in ("AUTO", "NONE", "MACRO_OVR", "WEIGHTED_OVR", "MACRO_OVO", "WEIGHTED_OVO"):
    est = E(hidden=[2], epochs=1, seed=1, auc_type=auc_type, reproducible=True)
    est.train(y="class", training_frame=iris)
    perf = est.model_performance(iris)
    rec = {
        "auc": repr(perf.auc()),
        "aucpr": repr(perf.aucpr()),
        "auc_table": tab(perf.multinomial_auc_table()),
        "aucpr_table": tab(perf.multinomial_aucpr_table()),
        "train_auc": repr(est.auc(train=True)),
        "parms_auc_type": est.parms["auc_type"],
        "preds": est.predict(iris).as_data_frame(use_pandas=False),
    }
    try:
        p2 = est.model_performance(iris, auc_type="WEIGHTED_OVO")
        rec["perf_override_weighted_ovo"] = [repr(p2.auc()), repr(p2.aucpr())]
    except Exception as e:  # noqa
        rec["perf_override_weighted_ovo"] = "raised " + str(e)[:200]
    out["mauc"][auc_type] = rec
    print("auc", auc_type, "done", file=sys.stderr)
# binomial: auc_type on a binomial model
est = E(hidden=[2], epochs=1, seed=1, auc_type="MACRO_OVO")
est.train(y="CAPSULE", training_frame=pro)
perf = est.model_performance(pro)
try:
    out["mauc"]["binomial_table"] = repr(perf.multinomial_auc_table())
except Exception as e:  # noqa
    out["mauc"]["binomial_table"] = "raised " + type(e).__name__ + ": " + str(e)[:200]
out["mauc"]["binomial_auc"] = perf.auc()
json.dump(out, open(sys.argv[1], "w"), indent=1, default=str)
h2o.cluster().shutdown()
