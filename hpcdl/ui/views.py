"""JSON views of models, jobs and frames for the web UI (plain dicts, browser-safe numbers)."""

from __future__ import annotations

import time

import numpy as np

from ..metrics import metric_keys
from ..store import plain_json

# Scalar metrics shown side by side (training / validation), in H2O's order.
METRIC_KEYS = metric_keys("ui")


def browser_json(obj):
    """Plain JSON values for a browser: numpy -> Python, NaN/inf -> None (JSON has no NaN), others as text."""
    return plain_json(obj, nonfinite=lambda _: None, other=str)


def metrics_view(m: dict | None, domain=None) -> dict | None:
    """Scalar metrics, confusion matrix (with labels) and hit ratios of one metrics dict."""
    if not m:
        return None
    out = {"scalars": {k: m[k] for k in METRIC_KEYS if k in m and m[k] is not None}}
    cm = m.get("confusion_matrix")
    if cm is not None:
        labels = list(m.get("domain") or domain or range(len(cm)))
        out["confusion_matrix"] = {"labels": [str(x) for x in labels], "matrix": np.asarray(cm).tolist()}
        if "max_f1_threshold" in m:
            out["confusion_matrix"]["threshold"] = m["max_f1_threshold"]
    if m.get("hit_ratios"):
        out["hit_ratios"] = list(m["hit_ratios"])
    return out


def history_series(history: list[dict]) -> dict:
    """Scoring history as columns (epochs plus every numeric training_/validation_ metric)."""
    keys = []
    for row in history:
        for k, v in row.items():
            if (
                k not in keys
                and (k.startswith(("training_", "validation_")))
                and k != "training_speed"
                and isinstance(v, (int, float))
            ):
                keys.append(k)
    cols = {k: [row.get(k) for row in history] for k in keys}
    cols["epochs"] = [row.get("epochs") for row in history]
    cols["iterations"] = [row.get("iterations") for row in history]
    cols["samples"] = [row.get("samples") for row in history]
    cols["duration"] = [row.get("duration") for row in history]
    cols["training_speed"] = [row.get("training_speed") for row in history]
    cols["timestamp"] = [row.get("timestamp") for row in history]
    return cols


def default_chart_metric(kind: str, history: list[dict]) -> str:
    """The error plotted first: classification error for classifiers, RMSE otherwise (MSE for autoencoders)."""
    last = history[-1] if history else {}
    for key in (
        ("classification_error", "logloss", "rmse")
        if kind in ("binomial", "multinomial")
        else ("mse", "rmse")
        if kind == "autoencoder"
        else ("rmse", "mse")
    ):
        if f"training_{key}" in last:
            return key
    return "rmse"


def model_view(model, *, key: str, status: str, downloads: list[dict], job: str | None = None) -> dict:
    """Everything the model page shows, from a live or loaded :class:`hpcdl.model.Model`."""
    history = list(model.scoring_events)  # a copy: the trainer may append while we read
    training, validation = model.training_metrics, model.validation_metrics
    domain = model.dinfo.response_domain if model.dinfo.classification else None
    try:
        user = set(model.params.to_dict(user_given_only=True))
    except Exception:  # noqa: BLE001 - a model from an older file may lack the user set
        user = set()
    info = dict(model.run_info)
    return browser_json(
        {
            "key": key,
            "model_id": model.model_id,
            "status": status,
            "job": job,
            "kind": model.kind,
            "response": model.dinfo.response,
            "response_domain": domain,
            "n_inputs": int(model.net.units[0]),
            "n_weights": int(model.net.W.size + model.net.B.size),
            "parameters": [
                {"name": k, "value": v, "user_given": k in user} for k, v in model.effective.to_dict().items()
            ],
            "layers": model.layer_table(),
            "training_metrics": metrics_view(training, domain),
            "validation_metrics": metrics_view(validation, domain),
            "history": history_series(history),
            "history_rows": len(history),
            "chart_metric": default_chart_metric(model.kind, history),
            "variable_importances": (model.variable_importances or [])[:50],
            "n_variable_importances": len(model.variable_importances or []),
            "run_info": {k: v for k, v in info.items() if not isinstance(v, (list, dict))},
            "downloads": downloads,
        }
    )


def progress_view(
    *,
    epochs: float,
    total_epochs: float,
    samples: int,
    train_seconds: float,
    elapsed: float,
    eta: float | None,
    iteration: int,
    ranks: int,
    threads: int,
) -> dict:
    speed = samples / train_seconds if train_seconds > 0 else None
    return browser_json(
        {
            "epochs": epochs,
            "total_epochs": total_epochs,
            "progress": min(1.0, epochs / total_epochs) if total_epochs else None,
            "samples": samples,
            "samples_per_second": speed,
            "elapsed_seconds": elapsed,
            "eta_seconds": eta,
            "iterations": iteration,
            "ranks": ranks,
            "threads": threads,
            "updated": time.time(),
        }
    )
