"""H2O-3 3.46's weights/offset semantics for hpcdl issue 25 item 3: run with /work/h2ovenv's python,
``python measure_h2o.py h2o_3_46.json`` (starts H2O-3 on 127.0.0.1 and shuts it down). Records the
offsets' effect on predictions, H2O-3's refusals, and weighted metrics with H2O-3's own predictions."""

import json
import sys

import h2o
import numpy as np
from h2o.estimators import H2ODeepLearningEstimator as DL

h2o.init(ip="127.0.0.1", nthreads=2, max_mem_size="1G")
h2o.no_progress()
res = {"h2o_version": h2o.__version__}
D = "/work/shared/data/"


def err(f):
    try:
        f()
        return None
    except Exception as e:
        return str(e).splitlines()[0][:300] if str(e) else repr(e)


b = h2o.import_file(D + "BostonHousing.csv")
n = b.nrow
rng = np.random.default_rng(7)
off = rng.normal(0, 2, n).round(3)
b["o"] = h2o.H2OFrame(off.reshape(-1, 1).tolist())
b["w"] = h2o.H2OFrame(rng.integers(0, 4, n).astype(float).reshape(-1, 1).tolist())
x = [c for c in b.columns if c not in ("medv", "o", "w")]
m = DL(hidden=[8], epochs=3, seed=1, reproducible=True, offset_column="o")
m.train(x=x, y="medv", training_frame=b)
# offsets in scoring: replace offsets by 0, -5, +5: is the prediction shifted by the offset?
preds = {}
for v in (0.0, -5.0, 5.0, 0.001):
    f = b[x + ["medv"]]
    f["o"] = v
    preds[str(v)] = m.predict(f).as_data_frame()["predict"].tolist()[:5]
res["offset_preds_first5"] = preds
f = b[x + ["medv"]]
res["missing_offset_in_scoring"] = err(lambda: m.predict(f))
res["offset_bernoulli"] = err(
    lambda: DL(hidden=[4], epochs=1, offset_column="o").train(
        x=x, y="chas_f", training_frame=b.cbind(b["chas"].asfactor().set_names(["chas_f"]))
    )
)
# weights: NA / negative / all zero refused?
bb = b[x + ["medv"]]
bb["wna"] = b["w"]
bb[3, "wna"] = float("nan")
res["weights_na"] = err(lambda: DL(hidden=[4], epochs=1, weights_column="wna").train(x=x, y="medv", training_frame=bb))
bb["wneg"] = b["w"] - 1
res["weights_negative"] = err(
    lambda: DL(hidden=[4], epochs=1, weights_column="wneg").train(x=x, y="medv", training_frame=bb)
)
bb["wzero"] = b["w"] * 0
res["weights_all_zero"] = err(
    lambda: DL(hidden=[4], epochs=1, weights_column="wzero").train(x=x, y="medv", training_frame=bb)
)
# weights column in x: predictor or not?
mw = DL(hidden=[4], epochs=1, seed=1, reproducible=True, weights_column="w")
mw.train(x=x + ["w"], y="medv", training_frame=b)
res["weights_in_x_varimp_names"] = [r[0] for r in mw.varimp()]
# weighted metrics on prostate with a weights column (incl. zeros and NA in the scoring frame)
p = h2o.import_file(D + "prostate.csv")
p["CAPSULE"] = p["CAPSULE"].asfactor()
pw = rng.integers(0, 5, p.nrow).astype(float) / 2
p["w"] = h2o.H2OFrame(pw.reshape(-1, 1).tolist())
xp = [c for c in p.columns if c not in ("ID", "CAPSULE", "w")]
mp = DL(hidden=[8], epochs=5, seed=1, reproducible=True, weights_column="w")
mp.train(x=xp, y="CAPSULE", training_frame=p)
perf = mp.model_performance(p)
res["prostate"] = {
    "w": pw.tolist(),
    "p1": mp.predict(p).as_data_frame()["p1"].tolist(),
    "AUC": perf.auc(),
    "AUCPR": perf.aucpr(),
    "logloss": perf.logloss(),
    "MSE": perf.mse(),
    "RMSE": perf.rmse(),
    "r2": perf.r2(),
    "mpce": perf.mean_per_class_error()[0][1],
    "nobs": perf.nobs(),
}
p2 = p[xp + ["CAPSULE"]]
res["prostate_no_weights_column_in_scoring_nobs"] = mp.model_performance(p2).nobs()
# regression with weights + offsets: metrics on its own predictions
mr = DL(hidden=[8], epochs=3, seed=1, reproducible=True, weights_column="w", offset_column="o")
mr.train(x=x, y="medv", training_frame=b)
pr = mr.model_performance(b)
res["boston_w_o"] = {
    "w": b["w"].as_data_frame()["w"].tolist(),
    "o": off.tolist(),
    "pred": mr.predict(b).as_data_frame()["predict"].tolist(),
    "MSE": pr.mse(),
    "MAE": pr.mae(),
    "RMSLE": pr.rmsle(),
    "deviance": pr.mean_residual_deviance(),
    "r2": pr.r2(),
    "nobs": pr.nobs(),
}
res["boston_w_o"]["medv"] = b["medv"].as_data_frame()["medv"].tolist()
json.dump(res, open(sys.argv[1], "w"))
h2o.cluster().shutdown()
