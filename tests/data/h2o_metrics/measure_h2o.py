"""Measure H2O-3's own metrics on its own predictions (prostate, iris, BostonHousing), with and
without observation weights; write predictions + reported figures for hpcdl's tests."""

import json
import sys

import h2o
from h2o.estimators import H2ODeepLearningEstimator

OUT = sys.argv[1]
h2o.init(ip="127.0.0.1", nthreads=2, max_mem_size="1G")
h2o.no_progress()
D = "/work/shared/data/"
res = {"h2o_version": h2o.__version__}


def dl(**kw):
    return H2ODeepLearningEstimator(hidden=[8], epochs=3, seed=1, reproducible=True, **kw)


def figures(perf, kind):
    f = {"MSE": perf.mse(), "RMSE": perf.rmse(), "nobs": perf.nobs()}
    if kind != "autoencoder":
        f["r2"] = perf.r2()
    if kind == "regression":
        f.update(MAE=perf.mae(), RMSLE=perf.rmsle(), mean_residual_deviance=perf.mean_residual_deviance())
    if kind in ("binomial", "multinomial"):
        f.update(logloss=perf.logloss())
        cm = perf.confusion_matrix()
        cm = cm.table if hasattr(cm, "table") else cm
        f["confusion_matrix"] = [
            [float(v) for v in row[:-2]] if not isinstance(row[0], str) else [float(v) for v in row[1:-2]]
            for row in cm.cell_values[:-1]
        ]
    if kind == "binomial":
        f.update(
            AUC=perf.auc(),
            pr_auc=perf.aucpr(),
            max_f1=perf.F1()[0][1],
            max_f1_threshold=perf.F1()[0][0],
            mean_per_class_error=perf.mean_per_class_error()[0][1],
            lift_top_group=perf._metric_json["gains_lift_table"]["lift"][0],
            default_mpce=perf._metric_json["mean_per_class_error"],
            accuracy=perf.accuracy()[0],
            mcc=perf.mcc()[0],
            min_per_class_accuracy=perf.metric("min_per_class_accuracy")[0],
        )
    if kind == "multinomial":
        f.update(
            mean_per_class_error=perf.mean_per_class_error(),
            hit_ratios=[float(v) for v in perf.hit_ratio_table()["hit_ratio"]],
        )
    return f


def run(name, frame, y, kind, weighted, **kw):
    x = [c for c in frame.columns if c not in (y, "w", "ID")]
    m = dl(**kw, weights_column="w" if weighted else None)
    m.train(x=x, y=y, training_frame=frame)
    pred = m.predict(frame)
    both = frame[[y, "w"]].cbind(pred)
    path = f"{OUT}/{name}.csv"
    h2o.export_file(both, path, force=True)
    res[name] = {
        "kind": kind,
        "params": {k: str(v) for k, v in kw.items()},
        "weighted": weighted,
        "perf": figures(m.model_performance(frame), kind),
    }
    print(name, res[name]["perf"])


pro = h2o.import_file(D + "prostate.csv")
pro["CAPSULE"] = pro["CAPSULE"].asfactor()
pro["w"] = (pro["ID"] % 3).asnumeric()  # weights 0, 1, 2: a third of the rows count for nothing
run("prostate", pro, "CAPSULE", "binomial", False)
run("prostate_w", pro, "CAPSULE", "binomial", True)

iris = h2o.import_file(D + "iris_wheader.csv")
iris["w"] = h2o.H2OFrame([[i % 4 * 0.5] for i in range(150)])  # 0, .5, 1, 1.5
run("iris", iris, "class", "multinomial", False)
run("iris_w", iris, "class", "multinomial", True)

bos = h2o.import_file(D + "BostonHousing.csv")
bos["w"] = h2o.H2OFrame([[float(i % 3)] for i in range(bos.nrow)])
for dist in ("gaussian", "poisson", "gamma", "tweedie", "laplace", "quantile", "huber"):
    extra = {"quantile": {"quantile_alpha": 0.3}, "huber": {"huber_alpha": 0.7}, "tweedie": {"tweedie_power": 1.4}}.get(
        dist, {}
    )
    run(f"boston_{dist}", bos, "medv", "regression", False, distribution=dist, **extra)
    run(f"boston_{dist}_w", bos, "medv", "regression", True, distribution=dist, **extra)

# r2 on subsets, the check (a model scored on the first 5, 10, 88 rows)
m = dl()
m.train(x=bos.columns[:-2], y="medv", training_frame=bos)
for k in (5, 10, 88):
    sub = bos[:k, :]
    p = m.predict(sub)
    h2o.export_file(sub[["medv"]].cbind(p), f"{OUT}/boston_first{k}.csv", force=True)
    res[f"boston_first{k}"] = {"kind": "regression", "perf": figures(m.model_performance(sub), "regression")}

json.dump(res, open(f"{OUT}/h2o_figures.json", "w"), indent=1)
h2o.cluster().shutdown()
